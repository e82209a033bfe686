package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/workflows"
)

// TestProductionCommands runs casebridge as production does: `worker` and
// `api` as separate commands against an external Temporal (here the embedded
// one, started without casebridge's search attributes, as a fresh production
// namespace is) and Redis; then loses the read model and rebuilds it with
// `reindex`.
func TestProductionCommands(t *testing.T) {
	ctx := context.Background()
	rs := redistest.Start(t)
	ts, err := devserver.Start(ctx, devserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()

	dir := t.TempDir()
	demo, key, token := demoConfig()
	demo = bytes.Replace(demo, []byte("\nareas: areas.geojson\n"), []byte("\n"), 1)
	cfgPath := filepath.Join(dir, "casebridge.yaml")
	if err := os.WriteFile(cfgPath, demo, 0o600); err != nil {
		t.Fatal(err)
	}
	vars := env(map[string]string{"TEMPORAL_ADDRESS": ts.FrontendAddr(), "TEMPORAL_NAMESPACE": ts.Namespace(),
		"REDIS_URL": rs.URL(), "CASEBRIDGE_CONFIG": cfgPath, "CASEBRIDGE_LOG_LEVEL": "warn"})

	start := func(cmd string) (base string, stop func()) {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{cmd, "--addr", fmt.Sprintf("127.0.0.1:%d", port)}, vars, io.Discard, io.Discard)
		}()
		base = fmt.Sprintf("http://127.0.0.1:%d", port)
		path := "/readyz"
		if cmd == "worker" {
			path = "/metrics"
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case err := <-done:
				t.Fatalf("%s stopped: %v", cmd, err)
			default:
			}
			if resp, err := http.Get(base + path); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready", cmd)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return base, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s did not stop cleanly: %v", cmd, err)
			}
		}
	}
	_, stopWorker := start("worker")
	defer stopWorker()
	// The worker registered casebridge's search attributes on the namespace.
	c, err := client.Dial(client.Options{HostPort: ts.FrontendAddr(), Namespace: ts.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ts.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	for name := range workflows.SearchAttributes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s not registered by the worker", name)
		}
	}

	base, stopAPI := start("api")
	defer stopAPI()
	d := &devProcess{t: t, base: base, token: token, key: key}
	code, body := postForm(t, base+"/open311/v2/requests.xml", report(key, "5150", "GRF", map[string]string{"surface": "council"}))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	ref := receiptID(t, body)
	// No rule set is published in production until staff publish one: the
	// case takes the default route, to triage.
	eventually(t, "the case in the read model", func() error {
		code, body := d.staff("GET", "/api/v1/cases?family=open", "")
		if code != 200 || !strings.Contains(string(body), ref) || !strings.Contains(string(body), `"department":"triage"`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})

	// Redis loses the read model; reindex rebuilds it from Temporal.
	if err := rs.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := d.staff("GET", "/api/v1/cases?family=open", ""); code != 200 || strings.Contains(string(body), ref) {
		t.Fatalf("after the flush: %d %s", code, body)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"reindex"}, vars, &out, io.Discard); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "reindexed 1 cases") {
		t.Errorf("reindex said %q", out.String())
	}
	if code, body := d.staff("GET", "/api/v1/cases?family=open", ""); code != 200 || !strings.Contains(string(body), ref) {
		t.Errorf("after reindex: %d %s", code, body)
	}
}
