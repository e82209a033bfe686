package sim

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/signing"
)

// The simulator's webhook calls are signed as casebridge checks them
// (internal/signing), and a call it sends again is a new call.
func TestWebhookSignedAsCasebridgeChecks(t *testing.T) {
	var mu sync.Mutex
	var errs []error
	nonces := &signing.MemoryNonces{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := signing.Verify(r.Context(), "hook-secret", r.Header, body, time.Now(), nonces)
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	}))
	defer hook.Close()
	hw := NewHighways("", time.Minute, 1)
	hw.Webhook(hook.URL, "hook-secret")
	api := httptest.NewServer(hw.Handler())
	defer api.Close()
	resp, err := http.Post(api.URL+"/jobs", "application/json", strings.NewReader(`{"ref":"CB-1","easting":529000,"northing":183000}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %v %v", resp, err)
	}
	resp.Body.Close()
	hw.Advance(time.Now())
	hw.Advance(time.Now().Add(time.Minute))
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 {
		t.Fatalf("%d webhook calls, want 2 (the job raised, then inspected)", len(errs))
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d refused: %v", i+1, err)
		}
	}
}
