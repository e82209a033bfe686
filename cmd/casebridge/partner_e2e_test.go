package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/internal/signing"
)

const policeSecret = "police-secret-for-the-e2e-test"

// startPartnerDev runs `casebridge dev` on the demo council with the police's
// secret known to the test and a short deadline, so silence escalates within
// the test; it returns dev and its partner simulator's address.
func startPartnerDev(t testing.TB) (*devProcess, string) {
	t.Helper()
	rs := redistest.Start(t)
	dir := t.TempDir()
	demo, key, token := demoConfig()
	demo = regexp.MustCompile(`(- code: met-police\n)`).ReplaceAll(demo, []byte("${1}    secret: "+policeSecret+"\n    deadline: 8s\n"))
	if !strings.Contains(string(demo), policeSecret) {
		t.Fatal("could not give met-police a secret")
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
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &syncBuffer{}
	go func() {
		done <- run(ctx, []string{"dev", "--addr", addr, "--data-dir", dir, "--config", cfgPath,
			"--temporal-ui-addr=", "--temporal-port", "0", "--log-level", "warn"}, env(map[string]string{"REDIS_URL": rs.URL()}), out, io.Discard)
	}()
	t.Cleanup(func() { cancel(); <-done })
	d := &devProcess{t: t, base: "http://" + addr, token: token, key: key, stdout: out}
	waitReady(t, d.base, done)
	var sim string
	eventually(t, "dev prints the partner simulator's address", func() error {
		m := regexp.MustCompile(`Partner sim\s+(http://\S+)/handoffs`).FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("not in %q", out.String())
		}
		sim = m[1]
		return nil
	})
	return d, sim
}

type handoffView struct {
	Ref      string `json:"ref"`
	Status   string `json:"status"`
	Dept     string `json:"department"`
	Partner  string `json:"partner"`
	Priority string `json:"priority"`
	Handoff  *struct {
		ID         string    `json:"id"`
		At         time.Time `json:"at"`
		AnsweredAt time.Time `json:"answered_at"`
		Answer     string    `json:"answer"`
		Note       string    `json:"note"`
		Deadline   time.Time `json:"deadline"`
		Delivered  time.Time `json:"delivered_at"`
	} `json:"handoff"`
	Timeline []struct {
		Kind string `json:"kind"`
		Note string `json:"note"`
	} `json:"timeline"`
}

func (d *devProcess) handoffCase(ref string) handoffView {
	d.t.Helper()
	code, body := d.staff(http.MethodGet, "/api/v1/cases/"+ref, "")
	var v handoffView
	if code != 200 || json.Unmarshal(body, &v) != nil {
		d.t.Fatalf("GET case %s: %d %s", ref, code, body)
	}
	return v
}

// burntOutCar reports a burnt-out car, which the demo rules hand to the police.
func (d *devProcess) burntOutCar(id string) string {
	d.t.Helper()
	v := report(d.key, id, "ABV", map[string]string{"condition": "burnt"})
	v.Set("description", "Burnt out car on the verge "+id)
	code, body := postForm(d.t, d.base+"/open311/v2/requests.xml", v)
	if code != 200 {
		d.t.Fatalf("POST report: %d %s", code, body)
	}
	return receiptID(d.t, body)
}

func simCall(t testing.TB, method, u, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevPartnerHandoffs(t *testing.T) {
	d, sim := startPartnerDev(t)
	if code, body := simCall(t, http.MethodPut, sim+"/partners/met-police/mode", `{"mode":"manual"}`); code != 200 {
		t.Fatalf("sim mode: %d %s", code, body)
	}

	// 1. Callbacks from outside: only the good one changes the case.
	ref := d.burntOutCar("pol-1")
	var c handoffView
	eventually(t, "the case is handed to the police", func() error {
		c = d.handoffCase(ref)
		if c.Status != "waiting_on_partner" || c.Handoff == nil || c.Handoff.Delivered.IsZero() {
			return fmt.Errorf("status %s, hand-off %+v", c.Status, c.Handoff)
		}
		return nil
	})
	if c.Partner != "met-police" || c.Handoff.Answer != "pending" {
		t.Fatalf("case %+v", c)
	}
	before := len(c.Timeline)
	callback := func(ts, secret, nonce, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, d.base+"/api/v1/partners/met-police/callbacks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(signing.HeaderTimestamp, ts)
		req.Header.Set(signing.HeaderNonce, nonce)
		req.Header.Set(signing.HeaderSignature, signing.Sign(secret, ts, nonce, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10)
	accepted := `{"handoff":"` + c.Handoff.ID + `","event":"accepted","note":"Crime ref 99"}`
	for _, tc := range []struct {
		name, ts, secret string
		want             int
	}{
		{"bad signature", now, "a guessed secret", 401},
		{"old timestamp", old, policeSecret, 401},
		{"good", now, policeSecret, 200},
		{"replayed nonce", now, policeSecret, 409},
	} {
		if code, body := callback(tc.ts, tc.secret, "e2e-nonce-accept-1", accepted); code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	eventually(t, "the acceptance reaches the case", func() error {
		if c = d.handoffCase(ref); c.Handoff.Answer != "accepted" {
			return fmt.Errorf("answer %s", c.Handoff.Answer)
		}
		return nil
	})
	n := 0
	for _, e := range c.Timeline[before:] {
		if strings.Contains(e.Note, "accepted the hand-off") {
			n++
		}
	}
	if n != 1 || c.Status != "waiting_on_partner" {
		t.Errorf("after four callbacks the case has %d acceptances and is %s, want 1, still waiting", n, c.Status)
	}
	// The partner completes through the simulator: the case is resolved.
	if code, body := simCall(t, http.MethodPost, sim+"/handoffs/"+c.Handoff.ID+"/reply", `{"event":"completed","note":"Vehicle removed"}`); code != 200 || !strings.Contains(body, `"status":200`) {
		t.Fatalf("sim completed: %d %s", code, body)
	}
	eventually(t, "the completion resolves the case", func() error {
		if c = d.handoffCase(ref); c.Status != "fixed" {
			return fmt.Errorf("status %s", c.Status)
		}
		return nil
	})

	// 2. A rejection sends the case back to triage with the reason.
	simCall(t, http.MethodPut, sim+"/partners/met-police/mode", `{"mode":"reject","delay_ms":100}`)
	rej := d.burntOutCar("pol-2")
	eventually(t, "the rejection reaches the case", func() error {
		if c = d.handoffCase(rej); c.Status != "for_triage" {
			return fmt.Errorf("status %s", c.Status)
		}
		return nil
	})
	if c.Dept != "triage" || c.Partner != "" || !strings.Contains(c.Timeline[len(c.Timeline)-1].Note, "private land") {
		t.Errorf("rejected case: %+v", c)
	}

	// 3. A partner that never answers: the case escalates at the deadline (8 s).
	simCall(t, http.MethodPut, sim+"/partners/met-police/mode", `{"mode":"silent"}`)
	quiet := d.burntOutCar("pol-3")
	eventually(t, "the quiet case is handed over", func() error {
		if c = d.handoffCase(quiet); c.Handoff == nil || c.Handoff.Delivered.IsZero() {
			return fmt.Errorf("hand-off %+v", c.Handoff)
		}
		return nil
	})
	if c.Status != "waiting_on_partner" {
		t.Fatalf("quiet case %s before its deadline", c.Status)
	}
	eventually(t, "silence escalates the case", func() error {
		if c = d.handoffCase(quiet); c.Status != "for_triage" || c.Handoff.Answer != "silent" {
			return fmt.Errorf("status %s answer %s", c.Status, c.Handoff.Answer)
		}
		return nil
	})
	escalated := false
	for _, e := range c.Timeline {
		escalated = escalated || (e.Kind == "escalation" && strings.Contains(e.Note, "has not answered"))
	}
	if !escalated {
		t.Errorf("no escalation on the quiet case's timeline: %+v", c.Timeline)
	}
	// A late word from the partner is refused: the hand-off is over.
	late := `{"handoff":"` + c.Handoff.ID + `","event":"accepted"}`
	if code, body := callback(strconv.FormatInt(time.Now().Unix(), 10), policeSecret, "e2e-nonce-late-1", late); code != 409 {
		t.Errorf("late callback: %d %s, want 409", code, body)
	}
}

// BenchmarkHandoffRoundTrip measures a hand-off to a partner and back in
// dev: from the moment the case hands itself over to the moment it has
// applied the partner's acceptance (the simulator accepting at once), as the
// case records both, over 40 reports; and, beside it, from the Open311 POST
// to the acceptance showing in the staff API.
//
//	go test ./cmd/casebridge -run '^$' -bench HandoffRoundTrip -benchtime 1x
func BenchmarkHandoffRoundTrip(b *testing.B) {
	d, sim := startPartnerDev(b)
	if code, body := simCall(b, http.MethodPut, sim+"/partners/met-police/mode", `{"mode":"accept","delay_ms":0}`); code != 200 {
		b.Fatalf("sim mode: %d %s", code, body)
	}
	var inCase, outside []time.Duration
	for i := range 40 * b.N {
		start := time.Now()
		ref := d.burntOutCar(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
		var c handoffView
		for c.Handoff == nil || c.Handoff.Answer != "accepted" {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("case %s never heard the acceptance: %+v", ref, c.Handoff)
			}
			time.Sleep(5 * time.Millisecond)
			c = d.handoffCase(ref)
		}
		outside = append(outside, time.Since(start))
		inCase = append(inCase, c.Handoff.AnsweredAt.Sub(c.Handoff.At))
	}
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"handoff", inCase}, {"post", outside}} {
		slices.Sort(m.ds)
		b.ReportMetric(float64(m.ds[len(m.ds)/2].Milliseconds()), m.name+"-p50-ms")
		b.ReportMetric(float64(m.ds[len(m.ds)*99/100].Milliseconds()), m.name+"-p99-ms")
	}
}
