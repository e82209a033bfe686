package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/readmodel"
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

	// Staff publish rules, a second version, and roll back to the first.
	v1 := "name: routing\ndefault: {department: triage}\nrules:\n  - id: graffiti\n    when: service_code == \"GRF\"\n    then: {department: waste, team: graffiti}\n"
	publishRules(t, d, v1, "graffiti to its team")
	publishRules(t, d, strings.Replace(v1, "team: graffiti", "team: enforcement", 1), "graffiti to enforcement")
	if code, body := d.staff("POST", "/api/v1/rulesets/routing/rollback", `{"version":1,"comment":"enforcement is full"}`); code != 200 || strings.Contains(string(body), "warning") {
		t.Fatalf("rollback: %d %s", code, body)
	}
	routedBy(t, d, "5151", 1, "graffiti")

	// Redis loses everything; reindex rebuilds the read model and the rule
	// sets from Temporal.
	if err := rs.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if code, body := d.staff("GET", "/api/v1/cases?family=open", ""); code != 200 || strings.Contains(string(body), ref) {
		t.Fatalf("after the flush: %d %s", code, body)
	}
	if code, body := d.staff("GET", "/api/v1/rulesets/routing", ""); code != 404 {
		t.Fatalf("rules after the flush: %d %s", code, body)
	}
	// The api says the read model is empty, or behind once a worker has
	// projected a case again, and stays ready.
	readModelSays(t, base, "empty: Temporal holds 2 cases and the read model none", "behind: 1 recent case not in the lists yet")
	// Measured at once, a running case is missing from the lists.
	fresh := &caseflow.Freshness{Temporal: c, Namespace: ts.Namespace(), Read: readmodel.New(rs.Client(), ""), Settle: time.Nanosecond}
	if lag, err := fresh.Check(ctx); err != nil || !lag.Behind() || lag.Cases != 2 || lag.Listed >= 2 || lag.Missing == 0 || lag.Oldest <= 0 {
		t.Errorf("lag after the flush: %+v, %v", lag, err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"reindex"}, vars, &out, io.Discard); err != nil {
		t.Fatalf("reindex: %v\n%s", err, out.String())
	}
	for _, want := range []string{"rule set routing: 2 versions and 3 activations restored into Redis, 0 recorded in Temporal; version 1 is active", "reindexed 2 cases"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reindex did not say %q:\n%s", want, out.String())
		}
	}
	if code, body := d.staff("GET", "/api/v1/cases?family=open", ""); code != 200 || !strings.Contains(string(body), ref) {
		t.Errorf("after reindex: %d %s", code, body)
	}
	readModelSays(t, base, "ok")
	var set struct {
		Versions []struct {
			Number int `json:"number"`
		} `json:"versions"`
	}
	code, body = d.staff("GET", "/api/v1/rulesets/routing/versions", "")
	if err := json.Unmarshal(body, &set); code != 200 || err != nil || len(set.Versions) != 2 {
		t.Errorf("versions after reindex: %d %s", code, body)
	}
	if code, body := d.staff("GET", "/api/v1/rulesets/routing", ""); code != 200 || !strings.Contains(string(body), `"number":1`) {
		t.Errorf("active version after reindex: %d %s", code, body)
	}
	if code, body := d.staff("GET", "/api/v1/rulesets/routing/history", ""); code != 200 || strings.Count(string(body), `"action"`) != 3 {
		t.Errorf("history after reindex: %d %s", code, body)
	}
	routedBy(t, d, "5152", 1, "graffiti")
	// Publishing after the restore numbers on from what Temporal keeps.
	publishRules(t, d, strings.Replace(v1, "team: graffiti", "team: enforcement", 1)+"# again\n", "enforcement has room now")
	if code, body := d.staff("GET", "/api/v1/rulesets/routing", ""); code != 200 || !strings.Contains(string(body), `"number":3`) {
		t.Errorf("a publish after the restore: %d %s", code, body)
	}

	reindexWhileWorking(t, ctx, d, vars)
	retiredCaseStaysVisible(t, ctx, c, d, vars)
}

// publishRules publishes text as the next version of the routing rules.
func publishRules(t *testing.T, d *devProcess, text, why string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"yaml": text})
	if code, body := d.staff("PUT", "/api/v1/rulesets/routing/draft", string(b)); code != 200 {
		t.Fatalf("save draft: %d %s", code, body)
	}
	b, _ = json.Marshal(map[string]string{"comment": why})
	if code, body := d.staff("POST", "/api/v1/rulesets/routing/publish", string(b)); code != 201 || strings.Contains(string(body), "warning") {
		t.Fatalf("publish: %d %s", code, body)
	}
}

// routedBy posts a graffiti report and checks the rules routed it: by which
// version, to which team.
func routedBy(t *testing.T, d *devProcess, fmsID string, version int, team string) {
	t.Helper()
	code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, fmsID, "GRF", map[string]string{"surface": "council"}))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	ref := receiptID(t, body)
	eventually(t, "the case routed by version "+fmt.Sprint(version), func() error {
		code, body := d.staff("GET", "/api/v1/cases/"+ref, "")
		var c cases.Case
		if err := json.Unmarshal(body, &c); code != 200 || err != nil || c.Routing == nil {
			return fmt.Errorf("%d %s", code, body)
		}
		if c.Routing.Version != version || c.Team != team {
			return fmt.Errorf("routed by version %d to team %q, want version %d, team %q", c.Routing.Version, c.Team, version, team)
		}
		return nil
	})
}

// total is how many cases the staff list holds.
func (d *devProcess) total(query string) int {
	code, body := d.staff("GET", "/api/v1/cases?limit=1&"+query, "")
	var page struct {
		Total int `json:"total"`
	}
	if err := json.Unmarshal(body, &page); code != 200 || err != nil {
		d.t.Fatalf("list cases: %d %s", code, body)
	}
	return page.Total
}

// reindexWhileWorking runs reindex while reports arrive and workers project
// them: the lists never shrink, and afterwards hold every case.
func reindexWhileWorking(t *testing.T, ctx context.Context, d *devProcess, vars func(string) string) {
	before := d.total("") + 20
	for i := range 20 {
		if code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, fmt.Sprint(6000+i), "LIT", nil)); code != 200 {
			t.Fatalf("POST: %d %s", code, body)
		}
	}
	eventually(t, "20 more cases in the read model", func() error {
		if n := d.total(""); n != before {
			return fmt.Errorf("%d cases", n)
		}
		return nil
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var posted atomic.Int32
	wg.Add(2)
	go func() { // more reports while reindex runs
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.PostForm(d.base+"/open311/v2/requests.xml", report(d.key, fmt.Sprint(7000+i), "LIT", nil))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					posted.Add(1)
				}
			}
		}
	}()
	shrank := make(chan string, 1)
	go func() { // the list, watched all along
		defer wg.Done()
		last := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := d.total(""); n < last {
				select {
				case shrank <- fmt.Sprintf("the list went from %d to %d cases", last, n):
				default:
				}
			} else {
				last = n
			}
		}
	}()
	var out bytes.Buffer
	err := run(ctx, []string{"reindex"}, vars, &out, io.Discard)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("reindex while working: %v\n%s", err, out.String())
	}
	select {
	case msg := <-shrank:
		t.Errorf("during reindex %s", msg)
	default:
	}
	if !strings.Contains(out.String(), "cases") || !strings.Contains(out.String(), "/s") {
		t.Errorf("reindex showed no progress: %q", out.String())
	}
	want := before + int(posted.Load())
	eventually(t, "every case in the read model after reindex", func() error {
		if n := d.total(""); n != want {
			return fmt.Errorf("%d cases, want %d", n, want)
		}
		return nil
	})
}

// retiredCaseStaysVisible removes a finished case's workflow, as Temporal's
// retention does, then reindexes: the read model keeps the case, and staff read
// it, read-only.
func retiredCaseStaysVisible(t *testing.T, ctx context.Context, c client.Client, d *devProcess, vars func(string) string) {
	code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, "8000", "LIT", nil))
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	ref := receiptID(t, body)
	if code, body := d.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"fixed","note":"Relamped"}`); code != 200 {
		t.Fatalf("fix: %d %s", code, body)
	}
	eventually(t, "the fix in the read model", func() error {
		if code, body := d.staff("GET", "/api/v1/cases?status=fixed", ""); code != 200 || !strings.Contains(string(body), ref) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if _, err := c.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: cases.WorkflowID(ref)},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the workflow gone from Temporal", func() error {
		_, err := c.DescribeWorkflowExecution(ctx, cases.WorkflowID(ref), "")
		var nf *serviceerror.NotFound
		if !errors.As(err, &nf) {
			return fmt.Errorf("describe: %v", err)
		}
		return nil
	})
	before := d.total("")
	if err := run(ctx, []string{"reindex"}, vars, io.Discard, io.Discard); err != nil {
		t.Fatalf("reindex: %v", err)
	}
	if n := d.total(""); n != before {
		t.Errorf("reindex changed the list from %d to %d cases", before, n)
	}
	code, body = d.staff("GET", "/api/v1/cases/"+ref, "")
	if code != 200 || !strings.Contains(string(body), `"status":"fixed"`) {
		t.Fatalf("GET a case past retention: %d %s", code, body)
	}
	code, body = d.staff("POST", "/api/v1/cases/"+ref+"/comments", `{"note":"too late"}`)
	if code != 409 || !strings.Contains(string(body), "no longer keeps its workflow") {
		t.Errorf("a note on a case past retention: %d %s", code, body)
	}
}

// readModelSays waits until the api's /readyz, answering 200, reports the
// read model's freshness starting with one of want (it measures every few
// seconds).
func readModelSays(t *testing.T, base string, want ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("readyz saying the read model is %q", want), func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var status map[string]string
		if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
			return err
		}
		for _, w := range want {
			if resp.StatusCode == 200 && strings.HasPrefix(status["read_model"], w) {
				return nil
			}
		}
		return fmt.Errorf("%d %v", resp.StatusCode, status)
	})
}
