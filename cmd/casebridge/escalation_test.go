package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/internal/signing"
	"github.com/casebridge/casebridge/notify"
)

// receiver is a council system receiving casebridge's signed webhooks.
type receiver struct {
	mu     sync.Mutex
	byKey  map[string]int
	levels []string
	bad    []string
	nonces signing.MemoryNonces
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	_, err := signing.Verify(r.Context(), "demo-webhook-secret", r.Header, body, time.Now(), &rc.nonces)
	if err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p struct {
		Level string `json:"level"`
	}
	_ = json.Unmarshal(body, &p)
	rc.byKey[r.Header.Get("Idempotency-Key")]++
	rc.levels = append(rc.levels, p.Level)
	w.WriteHeader(http.StatusNoContent)
}

// TestDevEscalationLadder runs `casebridge dev` with the demo council, its demo
// webhook pointed at a local receiver, and watches a case on the demo-seconds
// policy climb every level of its ladder, each webhook arriving once.
func TestDevEscalationLadder(t *testing.T) {
	if testing.Short() {
		t.Skip("takes two minutes of real time")
	}
	rs := redistest.Start(t)
	rc := &receiver{byKey: map[string]int{}}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	dir := t.TempDir()
	demo, key, token := demoConfig()
	demo = regexp.MustCompile(`(- name: demo\n\s+url: )""`).ReplaceAll(demo, []byte(`${1}"`+hook.URL+`"`))
	if !strings.Contains(string(demo), hook.URL) {
		t.Fatal("could not point the demo webhook at the receiver")
	}
	cfgPath := filepath.Join(dir, "casebridge.yaml")
	if err := os.WriteFile(cfgPath, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "areas.geojson"), areas.DemoGeoJSON(), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dir, "--config", cfgPath,
			"--temporal-ui-addr=", "--temporal-port", "0", "--log-level", "warn"}, env(map[string]string{"REDIS_URL": rs.URL()}), io.Discard, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	waitReady(t, base, done)
	d := &devProcess{t: t, base: base, token: token, key: key}

	code, body := postForm(t, base+"/open311/v2/requests.xml", report(key, "777", "SLADEMO", nil))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	ref := receiptID(t, body)

	type kase struct {
		Status   string `json:"status"`
		Priority string `json:"priority"`
		Team     string `json:"team"`
		DueAt    time.Time
		Received time.Time `json:"received_at"`
		Promise  struct {
			Policy      string `json:"policy"`
			Escalations []struct {
				Seq   int       `json:"seq"`
				Level string    `json:"level"`
				Due   time.Time `json:"due"`
				At    time.Time `json:"at"`
			} `json:"escalations"`
		} `json:"promise"`
	}
	get := func() kase {
		code, body := d.staff("GET", "/api/v1/cases/"+ref, "")
		var k kase
		if err := json.Unmarshal(body, &k); code != 200 || err != nil {
			t.Fatalf("GET case: %d %s", code, body)
		}
		return k
	}
	levels := func(k kase) []string {
		var out []string
		for _, e := range k.Promise.Escalations {
			if e.Level != "dormant" {
				out = append(out, e.Level)
			}
		}
		return out
	}
	start := time.Now()
	var k kase
	for time.Since(start) < 3*time.Minute {
		k = get()
		if len(levels(k)) == 4 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	want := []string{"warning", "breach", "breach-plus-20s", "breach-plus-40s"}
	if strings.Join(levels(k), ",") != strings.Join(want, ",") {
		t.Fatalf("after %v the case climbed %v, want %v", time.Since(start).Round(time.Second), levels(k), want)
	}
	if k.Promise.Policy != "demo-seconds" || k.Priority != "high" || k.Team != "supervisors" || k.Status != "investigating" {
		t.Errorf("after the ladder: policy %s, priority %s, team %s, status %s", k.Promise.Policy, k.Priority, k.Team, k.Status)
	}
	for _, e := range k.Promise.Escalations {
		if late := e.At.Sub(e.Due); late < 0 || late > 10*time.Second {
			t.Errorf("escalation %d (%s) fired %v after it was due", e.Seq, e.Level, late)
		}
	}

	// Each webhook notice arrives once: breach, +20s and +40s notify the demo
	// webhook.
	time.Sleep(3 * time.Second)
	rc.mu.Lock()
	if len(rc.bad) > 0 {
		t.Errorf("webhooks with bad signatures: %v", rc.bad)
	}
	if len(rc.byKey) != 3 {
		t.Errorf("webhook received %d distinct notices (%v), want 3", len(rc.byKey), rc.levels)
	}
	for k, n := range rc.byKey {
		if n != 1 {
			t.Errorf("notice %s arrived %d times", k, n)
		}
	}
	rc.mu.Unlock()

	// Supervisors see every notice in the outbox, email ones waiting for an
	// SMTP server that is not configured.
	code, body = d.staff("GET", "/api/v1/notifications?recipient=webhook:demo", "")
	var out struct {
		Notifications []notify.Entry `json:"notifications"`
	}
	if err := json.Unmarshal(body, &out); code != 200 || err != nil || len(out.Notifications) != 3 {
		t.Errorf("webhook:demo outbox: %d %s", code, body)
	}
	for _, n := range out.Notifications {
		if n.Status != notify.StatusSent {
			t.Errorf("notice %s is %s", n.Key, n.Status)
		}
	}
	code, body = d.staff("GET", "/api/v1/notifications?recipient=demo@casebridge.example.gov.uk", "")
	if err := json.Unmarshal(body, &out); code != 200 || err != nil || len(out.Notifications) != 1 || out.Notifications[0].Status != notify.StatusUndeliverable {
		t.Errorf("email outbox: %d %s", code, body)
	}

	// A supervisor acknowledges the breach.
	code, body = d.staff("POST", "/api/v1/cases/"+ref+"/escalations/2/acknowledge", `{"note":"Crew sent"}`)
	if code != 200 || !strings.Contains(string(body), `"by":"staff:demo-admin"`) {
		t.Errorf("acknowledge: %d %s", code, body)
	}
}
