package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/internal/signing"
)

// The simulator's webhook calls are signed as casebridge checks them
// (internal/signing), and a backlog goes in pages.
func TestWebhookSignedAsCasebridgeChecks(t *testing.T) {
	var mu sync.Mutex
	var errs []error
	var sizes []int
	nonces := &signing.MemoryNonces{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := signing.Verify(r.Context(), "hook-secret", r.Header, body, time.Now(), nonces)
		var page struct{ Changes []Change }
		json.Unmarshal(body, &page)
		mu.Lock()
		errs = append(errs, err)
		sizes = append(sizes, len(page.Changes))
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
	// 60 jobs raised: a backlog, sent in pages.
	for i := range 60 {
		resp, err := http.Post(api.URL+"/jobs", "application/json", strings.NewReader(fmt.Sprintf(`{"ref":"CB-%d","easting":529000,"northing":183000}`, i)))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	hw.Advance(time.Now())
	hw.Advance(time.Now().Add(time.Minute))
	mu.Lock()
	defer mu.Unlock()
	if want := []int{50, 10, 50, 10}; !slices.Equal(sizes, want) {
		t.Fatalf("webhook calls of %v changes, want %v (60 jobs raised, then 60 inspected, in pages of 50)", sizes, want)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d refused: %v", i+1, err)
		}
	}
}
