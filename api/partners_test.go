package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/internal/signing"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/partners"
)

// handoffRecorder stands in for the hand-off workflows: it records what
// reached them, and answers as a finished hand-off for "handoff-over".
type handoffRecorder struct {
	mu   sync.Mutex
	got  []cases.PartnerEvent
	fail error
}

func (r *handoffRecorder) PartnerCallback(_ context.Context, id string, ev cases.PartnerEvent, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.fail != nil:
		return r.fail
	case id == "handoff-over":
		return fmt.Errorf("%s: %w", id, caseflow.ErrHandoffOver)
	case id == "handoff-none":
		return cases.ErrNotFound
	}
	ev.Handoff = id
	r.got = append(r.got, ev)
	return nil
}

func TestPartnerCallbacks(t *testing.T) {
	const secret = "police-secret-0123456789"
	rs := redistest.Start(t)
	cfg := config.Demo()
	for i := range cfg.Partners {
		if cfg.Partners[i].Code == "met-police" {
			cfg.Partners[i].URL, cfg.Partners[i].Secret = "https://police.example/handoffs", secret
		}
	}
	rec := &handoffRecorder{}
	now := time.Now()
	s := NewServer(slog.New(slog.DiscardHandler), cfg, Deps{Metrics: metrics.New(), Handoffs: rec,
		Partners: &partners.Verifier{Config: cfg, Nonces: partners.NewNonces(rs.Client(), "cb:"), Now: func() time.Time { return now }}})
	srv := httptest.NewServer(s)
	defer srv.Close()

	// send posts a callback signed with secret at the time given, as
	// internal/signing says.
	send := func(partner, secret string, at time.Time, nonce, body string) (int, Problem) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/partners/"+partner+"/callbacks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		ts := strconv.FormatInt(at.Unix(), 10)
		req.Header.Set(signing.HeaderTimestamp, ts)
		req.Header.Set(signing.HeaderNonce, nonce)
		req.Header.Set(signing.HeaderSignature, signing.Sign(secret, ts, nonce, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p Problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return resp.StatusCode, p
	}
	cb := func(handoff, event, note string) string {
		b, _ := json.Marshal(partners.Callback{Handoff: handoff, Event: event, Note: note})
		return string(b)
	}
	good := cb("handoff-CB-1-4", "rejected", "Not a stolen vehicle")
	for _, tc := range []struct {
		name            string
		partner, secret string
		at              time.Time
		nonce, body     string
		status          int
		field           string
	}{
		{"bad signature", "met-police", "not the secret", now, "nonce-good-0001-x", good, 401, signing.HeaderSignature},
		{"old timestamp", "met-police", secret, now.Add(-time.Hour), "nonce-good-0001-x", good, 401, signing.HeaderTimestamp},
		{"short nonce", "met-police", secret, now, "nonce-1", good, 401, signing.HeaderNonce},
		{"partner without hand-offs", "ukpn", secret, now, "nonce-good-0001-x", good, 404, "partner"},
		{"no reason", "met-police", secret, now, "nonce-noreason-01", cb("handoff-CB-1-4", "rejected", ""), 422, "note"},
		{"good", "met-police", secret, now, "nonce-good-0001-x", good, 200, ""},
		{"replayed nonce", "met-police", secret, now, "nonce-good-0001-x", good, 409, signing.HeaderNonce},
		{"not a hand-off", "met-police", secret, now, "nonce-case-0001-x", cb("case-CB-1", "accepted", ""), 404, "handoff"},
		{"hand-off over", "met-police", secret, now, "nonce-over-0001-x", cb("handoff-over", "progress", "more"), 409, "handoff"},
		{"unknown hand-off", "met-police", secret, now, "nonce-none-0001-x", cb("handoff-none", "accepted", ""), 404, "handoff"},
	} {
		code, p := send(tc.partner, tc.secret, tc.at, tc.nonce, tc.body)
		if code != tc.status || p.Field != tc.field {
			t.Errorf("%s: %d %+v, want %d naming %q", tc.name, code, p, tc.status, tc.field)
		}
	}
	if len(rec.got) != 1 || rec.got[0].Event != "rejected" || rec.got[0].Partner != "met-police" || rec.got[0].Note != "Not a stolen vehicle" {
		t.Fatalf("reached the hand-offs: %+v, want only the good callback", rec.got)
	}

	// The engine away: 503, and the nonce stays usable for the retry.
	rec.fail = fmt.Errorf("temporal unavailable")
	retry := cb("handoff-CB-1-4", "progress", "on it")
	if code, _ := send("met-police", secret, now, "nonce-retry-0001-x", retry); code != 503 {
		t.Fatalf("engine down: %d, want 503", code)
	}
	rec.fail = nil
	if code, p := send("met-police", secret, now, "nonce-retry-0001-x", retry); code != 200 {
		t.Fatalf("retry after the engine came back: %d %+v", code, p)
	}
}

// caseflowDuplicates stands in for caseflow.Client's merge, confirm and undo
// where only the routes matter.
type caseflowDuplicates struct{}

func (caseflowDuplicates) Merge(context.Context, string, cases.DuplicateLink, string) (*cases.Case, error) {
	return nil, cases.ErrNotFound
}

func (caseflowDuplicates) ConfirmDuplicate(context.Context, string, cases.DuplicateLink, string) (*cases.Case, error) {
	return nil, cases.ErrNotFound
}

func (caseflowDuplicates) Unlink(context.Context, string, cases.DuplicateLink, string) (*cases.Case, error) {
	return nil, cases.ErrNotFound
}

// Merge, confirm and undo are supervisors' (admins') alone, and a merge
// names a parent that exists.
func TestDuplicateRoutesNeedASupervisor(t *testing.T) {
	h := newHarness(t)
	s := NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{Cases: h.engine, ReadModel: h.store, Metrics: metrics.New(), Duplicates: caseflowDuplicates{}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	h.srv = srv
	ref := h.postReport(pothole("dup-roles-1"))
	for _, tc := range []struct {
		token, path, body string
		want              int
		field             string
	}{
		{"agent-token", "/duplicate", `{"parent":"CB-AAAAAA"}`, 403, ""},
		{"agent-token", "/duplicate/confirm", `{}`, 403, ""},
		{"agent-token", "/duplicate/undo", `{}`, 403, ""},
		{testToken, "/duplicate", `{"parent":"not a ref"}`, 422, "parent"},
		{testToken, "/duplicate", `{"parent":"` + ref + `"}`, 422, "parent"},
		{testToken, "/duplicate", `{"parent":"CB-AAAAAA"}`, 422, "parent"},
		{testToken, "/duplicate/confirm", `{}`, 409, ""}, // the stand-in finds no workflow
	} {
		r := h.staff(http.MethodPost, "/api/v1/cases/"+ref+tc.path, tc.body, tc.token)
		var p Problem
		_ = json.Unmarshal(r.body, &p)
		if r.status != tc.want || p.Field != tc.field {
			t.Errorf("%s %s %s: %d %s, want %d naming %q", tc.token, tc.path, tc.body, r.status, r.body, tc.want, tc.field)
		}
	}
}
