package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/internal/redistest"
)

// TestMain lets the end-to-end tests run this test binary as the casebridge
// command itself, so a test can SIGKILL a real casebridge process.
func TestMain(m *testing.M) {
	if os.Getenv("CASEBRIDGE_TEST_MAIN") == "1" {
		main()
		return
	}
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// devProcess is a `casebridge dev` running in this test process.
type devProcess struct {
	t       testing.TB
	base    string
	dataDir string
	token   string
	key     string
	stop    func() error
	stdout  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startDev runs `casebridge dev` in-process on a free port and waits until it
// is ready.
func startDev(t testing.TB, dataDir, redisURL string, extra ...string) *devProcess {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"dev", "--addr", addr, "--data-dir", dataDir, "--temporal-ui-addr=", "--temporal-port", "0", "--log-level", "warn"}, extra...),
			env(map[string]string{"REDIS_URL": redisURL}), out, io.Discard)
	}()
	d := &devProcess{t: t, base: "http://" + addr, dataDir: dataDir, stdout: out}
	var once sync.Once
	var stopErr error
	d.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(60 * time.Second):
				stopErr = fmt.Errorf("dev did not stop within 60s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = d.stop() })
	waitReady(t, d.base, done)
	d.token, d.key = readCredentials(t, dataDir)
	return d
}

func waitReady(t testing.TB, base string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("casebridge stopped before it was ready: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not ready after 90s", base)
}

func readCredentials(t testing.TB, dataDir string) (token, key string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "dev-credentials.txt"))
	if err != nil {
		t.Fatalf("dev wrote no credentials: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "Staff" && f[1] == "token":
			token = f[2]
		case len(f) >= 3 && f[0] == "Open311" && f[1] == "key":
			key = f[2]
		}
	}
	if token == "" || key == "" {
		t.Fatalf("credentials file lacks token or key:\n%s", b)
	}
	return token, key
}

func report(key, fmsID, service string, attrs map[string]string) url.Values {
	v := url.Values{"api_key": {key}, "service_code": {service}, "lat": {"51.5390"}, "long": {"-0.1426"},
		"description": {"Report " + fmsID}, "email": {"someone@example.org"}, "first_name": {"Sam"}, "last_name": {"Jones"}}
	if fmsID != "" {
		v.Set("attribute[fixmystreet_id]", fmsID)
	}
	for k, val := range attrs {
		v.Set("attribute["+k+"]", val)
	}
	return v
}

func postForm(t testing.TB, u string, v url.Values) (int, []byte) {
	t.Helper()
	resp, err := http.PostForm(u, v)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func receiptID(t testing.TB, body []byte) string {
	t.Helper()
	var doc struct {
		IDs []string `xml:"request>service_request_id"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil || len(doc.IDs) != 1 {
		t.Fatalf("receipt %s: %v", body, err)
	}
	return doc.IDs[0]
}

func (d *devProcess) staff(method, path, body string) (int, []byte) {
	req, _ := http.NewRequest(method, d.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// eventually retries check until it passes or the time is up: the read model
// follows the workflow by a few milliseconds.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func TestDevEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	dataDir := t.TempDir()
	d := startDev(t, dataDir, rs.URL())
	if !strings.Contains(d.stdout.String(), "casebridge dev is running") || !strings.Contains(d.stdout.String(), d.token) {
		t.Errorf("dev's banner lacks the running line or the staff token:\n%s", d.stdout.String())
	}
	// Reporters' personal data in the data directory is the owner's alone.
	for _, name := range []string{".", "temporal.db", "casebridge.yaml", "areas.geojson"} {
		info, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil {
			t.Errorf("data directory's %s: %v", name, err)
		} else if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("data directory's %s has mode %v; want readable by its owner only", name, info.Mode().Perm())
		}
	}

	// A FixMyStreet report, posted twice: one case.
	code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, "4242", "POT", map[string]string{"dangerous": "yes"}))
	if code != 200 {
		t.Fatalf("POST requests.xml: %d %s", code, body)
	}
	ref := receiptID(t, body)
	_, body = postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, "4242", "POT", map[string]string{"dangerous": "yes"}))
	if again := receiptID(t, body); again != ref {
		t.Errorf("retried FixMyStreet POST got %s, first got %s", again, ref)
	}
	// A JSON post from another client.
	code, body = postForm(t, d.base+"/open311/v2/requests.json", report(d.key, "", "FLY", map[string]string{"waste_type": "furniture", "amount": "car_boot"}))
	var receipt []map[string]string
	if err := json.Unmarshal(body, &receipt); code != 200 || err != nil || len(receipt) != 1 || receipt[0]["service_request_id"] == "" {
		t.Fatalf("POST requests.json: %d %s", code, body)
	}
	fly := receipt[0]["service_request_id"]

	// Read back through Open311 once the read model has it.
	eventually(t, "GET requests/"+ref, func() error {
		resp, err := http.Get(d.base + "/open311/v2/requests/" + ref + ".json")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var got []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 1 {
			return fmt.Errorf("decode: %v %v", err, got)
		}
		// The demo rules send a dangerous pothole to highways, to be made
		// safe within 24 hours.
		if got[0]["status"] != "open" || got[0]["agency_responsible"] != "Highways and transport" || got[0]["expected_datetime"] == nil {
			return fmt.Errorf("request = %v", got[0])
		}
		return nil
	})

	// Staff read the case from its workflow, and close it with a public note.
	code, body = d.staff("GET", "/api/v1/cases/"+ref, "")
	var kase struct {
		Ref     string `json:"ref"`
		Status  string `json:"status"`
		Routing struct {
			Department string `json:"department"`
			RuleID     string `json:"rule_id"`
			Version    int    `json:"version"`
			SLAPolicy  string `json:"sla_policy"`
		} `json:"routing"`
		Priority string `json:"priority"`
		Reports  []struct {
			Reporter struct {
				Email string `json:"email"`
			} `json:"reporter"`
		} `json:"reports"`
	}
	if err := json.Unmarshal(body, &kase); code != 200 || err != nil || kase.Ref != ref || kase.Routing.Department != "highways" ||
		kase.Routing.RuleID == "" || kase.Routing.Version != 1 || kase.Routing.SLAPolicy != "pothole-dangerous" || kase.Priority != "urgent" {
		t.Fatalf("GET case: %d %s", code, body)
	}
	if kase.Reports[0].Reporter.Email != "someone@example.org" {
		t.Errorf("staff cannot see the reporter's email")
	}
	code, body = d.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"fixed","note":"Filled in this morning","public":true}`)
	if code != 200 || !strings.Contains(string(body), `"status":"fixed"`) {
		t.Fatalf("transition: %d %s", code, body)
	}
	code, body = d.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"waiting_on_citizen"}`)
	if code != 409 {
		t.Errorf("fixed → waiting_on_citizen: %d %s, want 409", code, body)
	}

	// FixMyStreet hears about it in the updates feed.
	eventually(t, "update feed", func() error {
		resp, err := http.Get(d.base + "/open311/v2/servicerequestupdates.xml?api_key=")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "<service_request_id>"+ref+"</service_request_id>") || !strings.Contains(string(b), "<status>fixed</status>") {
			return fmt.Errorf("feed lacks the fix: %s", b)
		}
		return nil
	})

	// Cases are counted by status in /metrics.
	eventually(t, "metrics", func() error {
		code, b := d.staff("GET", "/metrics", "")
		if code != 200 {
			return fmt.Errorf("GET /metrics: %d", code)
		}
		for _, want := range []string{`casebridge_cases{status="fixed"} 1`, `casebridge_intake_total{outcome="duplicate",source="fixmystreet"} 1`, "temporal_"} {
			if !strings.Contains(string(b), want) {
				return fmt.Errorf("metrics lack %s", want)
			}
		}
		return nil
	})

	// Input past its limits is refused naming the field, and kills nothing:
	// an assignee of 3,000 characters (once the end of the case, as a search
	// attribute), then a note on the same case; an address of 3 MiB.
	code, body = d.staff("POST", "/api/v1/cases/"+fly+"/assignment", `{"assignee":"`+strings.Repeat("a", 3000)+`"}`)
	if code != 422 || !strings.Contains(string(body), `"field":"assignee"`) {
		t.Errorf("an assignee of 3,000 characters: %d %s, want 422 naming assignee", code, body)
	}
	if code, body = d.staff("POST", "/api/v1/cases/"+fly+"/comments", `{"note":"Called the reporter"}`); code != 201 {
		t.Errorf("a note after the refused assignment: %d %s", code, body)
	}
	huge := report(d.key, "4243", "POT", map[string]string{"dangerous": "no"})
	huge.Set("address_string", strings.Repeat("a", 3<<20))
	if code, body = postForm(t, d.base+"/open311/v2/requests.xml", huge); code != 400 || !strings.Contains(string(body), "address_string is longer than") {
		t.Errorf("an address of 3 MiB: %d %.300s, want 400 naming address_string", code, body)
	}

	// A clean stop, then a restart on the same data: everything is still there.
	if err := d.stop(); err != nil {
		t.Fatalf("dev did not stop cleanly: %v", err)
	}
	d2 := startDev(t, dataDir, rs.URL())
	if d2.token != d.token {
		t.Errorf("restart generated a new token")
	}
	for _, r := range []string{ref, fly} {
		code, body := d2.staff("GET", "/api/v1/cases/"+r, "")
		if code != 200 {
			t.Errorf("after restart, case %s: %d %s", r, code, body)
		}
	}
	code, body = d2.staff("POST", "/api/v1/cases/"+fly+"/transitions", `{"status":"in_progress","note":"Crew on the way"}`)
	if code != 200 {
		t.Errorf("after restart, a transition: %d %s", code, body)
	}
}

// TestDevSurvivesSIGKILL posts a burst of reports at a real casebridge process,
// kills it with SIGKILL in the middle, restarts it on the same data directory,
// and finds every report that was acknowledged.
func TestDevSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a casebridge process")
	}
	rs := redistest.Start(t)
	dataDir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := func() (*exec.Cmd, chan error) {
		cmd := exec.Command(os.Args[0], "dev", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dataDir,
			"--temporal-ui-addr=", "--temporal-port", "0", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "CASEBRIDGE_TEST_MAIN=1", "REDIS_URL="+rs.URL())
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		waitReady(t, base, done)
		return cmd, done
	}
	cmd, done := start()
	_, key := readCredentials(t, dataDir)

	var mu sync.Mutex
	acked := map[string]string{} // fixmystreet id → ref
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%d%05d", w+1, i)
				resp, err := client.PostForm(base+"/open311/v2/requests.xml", report(key, id, "LIT", nil))
				if err != nil {
					return // the process is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue
				}
				var doc struct {
					IDs []string `xml:"request>service_request_id"`
				}
				if xml.Unmarshal(b, &doc) == nil && len(doc.IDs) == 1 {
					mu.Lock()
					acked[id] = doc.IDs[0]
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d reports acknowledged before the kill; the burst did not get going", len(acked))
	}
	t.Logf("%d reports acknowledged before SIGKILL", len(acked))

	start()
	for id, ref := range acked {
		resp, err := http.Get(base + "/open311/v2/requests/" + ref + ".xml")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("acknowledged report %s (%s) is gone after restart: %d", id, ref, resp.StatusCode)
		}
		// Posting it again finds the same case: nothing is created twice.
		code, body := postForm(t, base+"/open311/v2/requests.xml", report(key, id, "LIT", nil))
		if code != 200 || receiptID(t, body) != ref {
			t.Errorf("re-posting %s after restart: %d %s, want %s", id, code, body, ref)
		}
	}
}
