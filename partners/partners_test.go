package partners

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/internal/signing"
)

const secret = "a-partner-secret-of-some-length"

func partnerConfig(url string) *config.Config {
	return &config.Config{Partners: []config.Partner{
		{Code: "met-police", Name: "Police", URL: url, Secret: secret, Deadline: config.Duration(time.Hour)},
		{Code: "ukpn", Name: "UK Power Networks"},
	}}
}

func TestPostReachesTheSimulatorSignedAndItCallsBack(t *testing.T) {
	var mu sync.Mutex
	var got []Callback
	// casebridge's callback endpoint, checking what the simulator signs.
	rs := redistest.Start(t)
	cfg := partnerConfig("")
	v := &Verifier{Config: cfg, Nonces: NewNonces(rs.Client(), "test:")}
	cbSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cb, err := v.Verify(r.Context(), "met-police", r.Header, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, cb)
		mu.Unlock()
	}))
	defer cbSrv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := NewSim(ctx, map[string]string{"met-police": secret})
	sim.Delay = 10 * time.Millisecond
	sim.Flaky = true
	sim.SetMode("met-police", "auto")
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()
	cfg.Partners[0].URL = simSrv.URL + "/partners/met-police/handoffs"

	p := &Poster{Config: cfg, CallbackBase: cbSrv.URL}
	if !p.TakesHandoffs("met-police") || p.TakesHandoffs("ukpn") || p.TakesHandoffs("nobody") {
		t.Fatal("only met-police has a url, so only it takes hand-offs")
	}
	lat, long := 51.5, -0.1
	h := NewHandoff("handoff-CB-1-3", "CB-1", "met-police", cases.Service{Code: "ABV", Name: "Abandoned vehicle"},
		cases.Report{Description: "Burnt-out car", Location: cases.Location{Lat: &lat, Long: &long},
			Reporter: cases.Reporter{Email: "citizen@example.org"}}, time.Now())
	// The simulator is flaky: the first attempt is a 503, worth a retry.
	if _, err := p.Post(ctx, h); err == nil || IsPermanent(err) {
		t.Fatalf("first post: %v, want a retryable 503", err)
	}
	silence, err := p.Post(ctx, h)
	if err != nil || silence != time.Hour {
		t.Fatalf("retry: %v, silence %s; want taken, an hour", err, silence)
	}
	if _, err := p.Post(ctx, h); err != nil {
		t.Fatalf("a repeated hand-off: %v, want it answered", err)
	}
	taken := sim.Handoffs()
	if len(taken) != 1 || taken[0].Handoff.Ref != "CB-1" || taken[0].Handoff.CallbackURL != cbSrv.URL+"/api/v1/partners/met-police/callbacks" {
		t.Fatalf("simulator took %+v, want one hand-off of CB-1 calling back to casebridge", taken)
	}
	if b, _ := json.Marshal(taken[0].Handoff); strings.Contains(string(b), "citizen@example.org") {
		t.Error("the hand-off carries the reporter's email; the council stays the citizen's contact")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].Event != "accepted" || got[1].Event != "completed" || got[0].Handoff != "handoff-CB-1-3" {
		t.Fatalf("callbacks %+v, want accepted then completed for the hand-off", got)
	}

	// A partner answering 4xx refuses for good.
	bad := &Poster{Config: partnerConfig(simSrv.URL + "/partners/nobody/handoffs")}
	if _, err := bad.Post(ctx, h); !IsPermanent(err) {
		t.Errorf("a 404 from the partner: %v, want permanent", err)
	}
	sim.Wait()
}

func TestVerifyRefusesBadOldAndReplayedCallbacks(t *testing.T) {
	rs := redistest.Start(t)
	now := time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
	v := &Verifier{Config: partnerConfig("https://police.example/handoffs"), Nonces: NewNonces(rs.Client(), "test:"), Now: func() time.Time { return now }}
	ctx := context.Background()
	body := `{"handoff":"handoff-CB-1-3","event":"accepted"}`
	const nonce = "nonce-0001-of-the-partner"
	signed := func(secret string, at time.Time, body string) http.Header {
		h := http.Header{}
		ts := strconv.FormatInt(at.Unix(), 10)
		h.Set(signing.HeaderTimestamp, ts)
		h.Set(signing.HeaderNonce, nonce)
		h.Set(signing.HeaderSignature, signing.Sign(secret, ts, nonce, []byte(body)))
		return h
	}
	for _, tc := range []struct {
		name, partner string
		h             http.Header
		body          string
		want          error
		field         string
	}{
		{"unknown partner", "ukpn", signed(secret, now, body), body, ErrUnknownPartner, ""},
		{"bad signature", "met-police", signed("another secret", now, body), body, signing.ErrBadSignature, ""},
		{"no signature", "met-police", http.Header{}, body, signing.ErrBadSignature, ""},
		{"body changed", "met-police", signed(secret, now, body), body + " ", signing.ErrBadSignature, ""},
		{"old timestamp", "met-police", signed(secret, now.Add(-10*time.Minute), body), body, signing.ErrStale, ""},
		{"bad event", "met-police", signed(secret, now, `{"handoff":"handoff-x","event":"maybe"}`), `{"handoff":"handoff-x","event":"maybe"}`, nil, "event"},
		{"no hand-off", "met-police", signed(secret, now, `{"event":"accepted"}`), `{"event":"accepted"}`, nil, "handoff"},
	} {
		_, err := v.Verify(ctx, tc.partner, tc.h, []byte(tc.body))
		var ie *cases.InputError
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.field)
		}
	}
	// None of the refused ones used up the nonce: the good one passes, once.
	cb, err := v.Verify(ctx, "met-police", signed(secret, now, body), []byte(body))
	if err != nil || cb.Event != "accepted" || cb.Handoff != "handoff-CB-1-3" || cb.Nonce != nonce {
		t.Fatalf("good callback: %+v, %v", cb, err)
	}
	if _, err := v.Verify(ctx, "met-police", signed(secret, now, body), []byte(body)); !errors.Is(err, signing.ErrReplayed) {
		t.Fatalf("replayed: %v, want ErrReplayed", err)
	}
	// A nonce released (its callback could not be applied) may be sent again.
	if err := v.Release(ctx, "met-police", nonce); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, "met-police", signed(secret, now, body), []byte(body)); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
