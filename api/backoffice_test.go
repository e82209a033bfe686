package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/internal/signing"
	"github.com/casebridge/casebridge/metrics"
)

type signalled struct {
	mu  sync.Mutex
	got []cases.JobChange
}

func (s *signalled) signal(_ context.Context, ref string, ch cases.JobChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, ch)
	return nil
}

func TestBackOfficeWebhook(t *testing.T) {
	rs := redistest.Start(t)
	cfg := config.Demo()
	b, _ := cfg.BackOffice("highways")
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sig := &signalled{}
	store := backoffice.NewStore(rs.Client(), "cb:")
	in := &backoffice.Inbound{System: "highways", Map: b.StatusMap, Signal: sig.signal, Store: store,
		Connector: &backoffice.REST{Name: "highways", Location: time.UTC}}
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), cfg, Deps{Metrics: metrics.New(), Now: func() time.Time { return now },
		BackOffices: BackOffices{Inbound: map[string]*backoffice.Inbound{"highways": in}, Store: store,
			Secret: func(string) string { return "webhook-secret" }}}))
	defer srv.Close()

	body := []byte(`{"changes":[{"id":"HW-c2","job_id":"HW-00001","ref":"CB-7KQ2M9","status":"INSP","note":"Inspected","at":"2026-12-07 11:59:00"}]}`)
	post := func(path string, body []byte, ts int64, nonce, secret string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		s := strconv.FormatInt(ts, 10)
		req.Header.Set(signing.HeaderTimestamp, s)
		req.Header.Set(signing.HeaderNonce, nonce)
		req.Header.Set(signing.HeaderSignature, signing.Sign(secret, s, nonce, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.String()
	}
	const path = "/api/v1/backoffices/highways/events"
	tests := []struct {
		name      string
		path      string
		body      []byte
		ts        int64
		nonce     string
		secret    string
		status    int
		wantField string
	}{
		{"good", path, body, now.Unix(), "nonce-0000000000000001", "webhook-secret", 200, ""},
		{"replayed nonce", path, body, now.Unix(), "nonce-0000000000000001", "webhook-secret", 409, `"field":"X-Casebridge-Nonce"`},
		{"wrong secret", path, body, now.Unix(), "nonce-0000000000000002", "guess", 401, `"field":"X-Casebridge-Signature"`},
		{"old", path, body, now.Add(-6 * time.Minute).Unix(), "nonce-0000000000000003", "webhook-secret", 401, `"field":"X-Casebridge-Timestamp"`},
		{"bad body", path, []byte(`{"changes":[{"id":"x"}]}`), now.Unix(), "nonce-0000000000000004", "webhook-secret", 422, `"field":"changes"`},
		{"unknown system", "/api/v1/backoffices/parks/events", body, now.Unix(), "nonce-0000000000000005", "webhook-secret", 404, `"field":"name"`},
		{"same change, new call", path, body, now.Unix(), "nonce-0000000000000006", "webhook-secret", 200, `"delivered":0`},
	}
	for _, tt := range tests {
		status, got := post(tt.path, tt.body, tt.ts, tt.nonce, tt.secret)
		if status != tt.status || !strings.Contains(got, tt.wantField) {
			t.Errorf("%s: %d %s, want %d naming %s", tt.name, status, got, tt.status, tt.wantField)
		}
	}
	if len(sig.got) != 1 {
		t.Fatalf("signalled %d changes, want the one, once: %+v", len(sig.got), sig.got)
	}
	if c := sig.got[0]; c.ID != "HW-c2" || c.Code != "INSP" || c.Status != cases.StatusInvestigating || !c.At.Equal(time.Date(2026, 12, 7, 11, 59, 0, 0, time.UTC)) {
		t.Errorf("signalled %+v, want INSP mapped to investigating", c)
	}
}
