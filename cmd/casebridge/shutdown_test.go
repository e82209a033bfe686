package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/workflows"
)

// TestGracefulShutdown sends SIGTERM to real `api` and `worker` processes
// (this test binary run as casebridge) in the middle of their work, as an
// orchestrator stopping a container does:
//
//   - the api answers /readyz with 503 at once, keeps serving through its
//     drain delay, and finishes a request whose body was still arriving when
//     the signal came; then it exits 0;
//   - the worker answers /readyz with 503, lets the webhook notice it is
//     sending finish instead of cancelling it, and exits 0; the next worker
//     does not send that notice again.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops casebridge processes")
	}
	ctx := context.Background()
	rs := redistest.Start(t)
	ts, err := devserver.Start(ctx, devserver.Options{SearchAttributes: workflows.SearchAttributes})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()

	// A webhook receiver that takes 3 s over each notice, and says whether the
	// sender hung up on it.
	type delivery struct {
		key               string
		finished, dropped bool
	}
	var mu sync.Mutex
	var deliveries []*delivery
	arrived := make(chan struct{}, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		d := &delivery{key: r.Header.Get("Idempotency-Key")}
		mu.Lock()
		deliveries = append(deliveries, d)
		mu.Unlock()
		arrived <- struct{}{}
		select {
		case <-time.After(3 * time.Second):
			w.WriteHeader(http.StatusNoContent)
			mu.Lock()
			d.finished = true
			mu.Unlock()
		case <-r.Context().Done():
			mu.Lock()
			d.dropped = true
			mu.Unlock()
		}
	}))
	defer hook.Close()

	// Every case is on a policy whose one escalation, a second after the case
	// opens, notifies that receiver.
	demo, key, token := demoConfig()
	for old, new := range map[string]string{
		"\nareas: areas.geojson\n": "\n",
		"  default_policy: triage\n  policies:\n": "  default_policy: quick\n  policies:\n" +
			"    - name: quick\n      description: shutdown test\n      target: {amount: 2, unit: calendar_seconds}\n" +
			"      escalation:\n        - name: warning\n          of_target: 0.5\n          notify: [\"webhook:demo\"]\n",
		`url: ""            # point at a local receiver to watch the demo ladder`: `url: "` + hook.URL + `"`,
	} {
		if !bytes.Contains(demo, []byte(old)) {
			t.Fatalf("the demo configuration no longer has %q", old)
		}
		demo = bytes.Replace(demo, []byte(old), []byte(new), 1)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "casebridge.yaml")
	if err := os.WriteFile(cfgPath, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := []string{"CASEBRIDGE_TEST_MAIN=1", "TEMPORAL_ADDRESS=" + ts.FrontendAddr(), "TEMPORAL_NAMESPACE=" + ts.Namespace(),
		"REDIS_URL=" + rs.URL(), "CASEBRIDGE_CONFIG=" + cfgPath, "CASEBRIDGE_LOG_LEVEL=warn"}

	worker := startProcess(t, vars, "worker")
	api := startProcess(t, vars, "api", "--drain-delay", "1s")

	// The api: a report whose body is half sent when SIGTERM arrives.
	body := report(key, "4242", "LIT", nil).Encode()
	conn, err := net.Dial("tcp", strings.TrimPrefix(api.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /open311/v2/requests.xml HTTP/1.1\r\nHost: casebridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:len(body)/2])
	time.Sleep(200 * time.Millisecond)
	api.signal(t, syscall.SIGTERM)
	if code := statusWithin(api.base+"/readyz", http.StatusServiceUnavailable, 800*time.Millisecond); code != http.StatusServiceUnavailable {
		t.Errorf("api /readyz during its drain delay: %d, want 503", code)
	}
	if code := getStatus(api.base + "/open311/v2/services.json"); code != http.StatusOK {
		t.Errorf("api during its drain delay: GET services %d, want 200 (it keeps serving)", code)
	}
	time.Sleep(2 * time.Second) // past the drain delay: the server is shutting down
	if _, err := io.WriteString(conn, body[len(body)/2:]); err != nil {
		t.Fatalf("finishing the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the request in flight: %d %s", resp.StatusCode, answer)
	}
	ref := receiptID(t, answer)
	if err := api.wait(20 * time.Second); err != nil {
		t.Errorf("api after SIGTERM: %v, want exit 0", err)
	}

	// The worker: SIGTERM while it is sending that case's notice.
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("no notice reached the webhook")
	}
	worker.signal(t, syscall.SIGTERM)
	if code := statusWithin(worker.base+"/readyz", http.StatusServiceUnavailable, time.Second); code != http.StatusServiceUnavailable {
		t.Errorf("worker /readyz while stopping: %d, want 503", code)
	}
	if err := worker.wait(40 * time.Second); err != nil {
		t.Errorf("worker after SIGTERM: %v, want exit 0", err)
	}
	mu.Lock()
	first := *deliveries[0]
	mu.Unlock()
	if !first.finished || first.dropped {
		t.Fatalf("the notice in flight at SIGTERM: finished %v, dropped %v: the worker cut it off", first.finished, first.dropped)
	}

	// A new worker and api carry on: the case records the notice as sent, and
	// it was delivered once.
	startProcess(t, vars, "worker")
	api = startProcess(t, vars, "api")
	var notified bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !notified; time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, api.base+"/api/v1/notifications?recipient=webhook:demo", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var out struct {
			Notifications []struct {
				Status   string `json:"status"`
				Attempts int    `json:"attempts"`
				Notice   struct {
					Ref string `json:"ref"`
				} `json:"notice"`
			} `json:"notifications"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		for _, n := range out.Notifications {
			if n.Notice.Ref == ref && n.Status == "sent" {
				notified = true
				if n.Attempts != 1 {
					t.Errorf("the notice sent during shutdown took %d attempts, want 1", n.Attempts)
				}
			}
		}
	}
	if !notified {
		t.Errorf("the notice sent during shutdown is not recorded as sent for %s", ref)
	}
	time.Sleep(3 * time.Second) // time for a second delivery, were one coming
	mu.Lock()
	defer mu.Unlock()
	seen := map[string]int{}
	for _, d := range deliveries {
		if seen[d.key]++; seen[d.key] > 1 {
			t.Errorf("notice %s delivered %d times", d.key, seen[d.key])
		}
	}
}

// process is a casebridge command running as its own OS process.
type process struct {
	base string
	cmd  *exec.Cmd
	done chan error
	out  *syncBuffer
}

// startProcess runs this test binary as `casebridge command --addr ...` and
// waits for its /readyz.
func startProcess(t *testing.T, vars []string, command string, args ...string) *process {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1), out: &syncBuffer{}}
	p.cmd = exec.Command(os.Args[0], append([]string{command, "--addr", strings.TrimPrefix(p.base, "http://")}, args...)...)
	p.cmd.Env = append(os.Environ(), vars...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s's output:\n%s", command, p.out.String())
		}
	})
	waitReady(t, p.base, p.done)
	return p
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait returns how the process exited, or an error if it did not within limit.
func (p *process) wait(limit time.Duration) error {
	select {
	case err := <-p.done:
		return err
	case <-time.After(limit):
		return fmt.Errorf("still running %s later", limit)
	}
}

// statusWithin asks url until it answers want or limit has passed (a signal
// is taken asynchronously), and returns its last answer.
func statusWithin(url string, want int, limit time.Duration) int {
	code := 0
	for deadline := time.Now().Add(limit); ; time.Sleep(20 * time.Millisecond) {
		if code = getStatus(url); code == want || time.Now().After(deadline) {
			return code
		}
	}
}

func getStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
