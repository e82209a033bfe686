package devserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/devserver"
)

const taskQueue = "devserver-test"

var caseStatus = temporal.NewSearchAttributeKeyKeyword("CaseStatus")

// caseWorkflow stands in for a case: it waits to be closed, by the "close" update or
// signal, and returns the status it was closed with.
func caseWorkflow(ctx workflow.Context) (string, error) {
	var status string
	err := workflow.SetUpdateHandler(ctx, "close", func(ctx workflow.Context, s string) (string, error) {
		status = s
		return "closing as " + s, nil
	})
	if err != nil {
		return "", err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		workflow.GetSignalChannel(ctx, "close").Receive(ctx, &status)
	})
	if err := workflow.Await(ctx, func() bool { return status != "" }); err != nil {
		return "", err
	}
	return status, nil
}

// warnLogger keeps test output readable: the server and SDK are chatty below Warn.
func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func start(t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	o.Logger = warnLogger()
	begin := time.Now()
	s, err := devserver.Start(ctx, o)
	if err != nil {
		t.Fatalf("Start(%+v): %v", o, err)
	}
	t.Logf("Start (file %q, UI %q) took %v", o.DatabaseFile, o.UIAddr, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func dial(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddr(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(warnLogger()),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendAddr(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func startWorker(t *testing.T, c client.Client) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(caseWorkflow)
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// waitListed waits until visibility lists workflow id for query, which is eventually
// consistent.
func waitListed(ctx context.Context, t *testing.T, c client.Client, query, id string) {
	t.Helper()
	var ids []string
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatalf("ListWorkflow(%q): %v", query, err)
		}
		ids = ids[:0]
		for _, e := range resp.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if slices.Contains(ids, id) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ListWorkflow(%q) = %v, want it to contain %s", query, ids, id)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestStartInMemoryRunsWorkflowWithUpdateWithStart(t *testing.T) {
	s := start(t, devserver.Options{
		SearchAttributes: map[string]enums.IndexedValueType{caseStatus.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD},
	})
	if got := s.Namespace(); got != "default" {
		t.Errorf("Namespace() = %q, want default", got)
	}
	if got := s.FrontendAddr(); !strings.HasPrefix(got, "127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Errorf("FrontendAddr() = %q, want 127.0.0.1:<port>", got)
	}
	if got := s.UIURL(); got != "" {
		t.Errorf("UIURL() = %q without a UI, want empty", got)
	}

	c := dial(t, s)
	startWorker(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	startOp := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       "case-CB-MEM001",
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(caseStatus.ValueSet("open")),
	}, caseWorkflow)
	update, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: startOp,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   "close",
			Args:         []any{"fixed"},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		t.Fatalf("UpdateWithStartWorkflow: %v", err)
	}
	var reply string
	if err := update.Get(ctx, &reply); err != nil || reply != "closing as fixed" {
		t.Fatalf("update result = %q, %v; want %q", reply, err, "closing as fixed")
	}
	run, err := startOp.Get(ctx)
	if err != nil {
		t.Fatalf("start operation: %v", err)
	}
	var result string
	if err := run.Get(ctx, &result); err != nil || result != "fixed" {
		t.Fatalf("workflow result = %q, %v; want fixed", result, err)
	}

	waitListed(ctx, t, c, `CaseStatus = "open"`, "case-CB-MEM001")
}

func TestRestartOnFileKeepsWorkflowsAndSearchAttributes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "temporal.db")
	keyword := enums.INDEXED_VALUE_TYPE_KEYWORD
	const id = "case-CB-FILE01"
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()

	first := start(t, devserver.Options{
		DatabaseFile:     file,
		SearchAttributes: map[string]enums.IndexedValueType{"CaseStatus": keyword},
	})
	c1 := dial(t, first)
	w1 := startWorker(t, c1)
	_, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(caseStatus.ValueSet("open")),
	}, caseWorkflow)
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	waitListed(ctx, t, c1, `CaseStatus = "open"`, id)
	w1.Stop()
	c1.Close()
	if err := first.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Errorf("second Stop: %v, want the first result (nil)", err)
	}

	// The restart adds Department, as when a new release declares one more attribute.
	second := start(t, devserver.Options{
		DatabaseFile:     file,
		SearchAttributes: map[string]enums.IndexedValueType{"CaseStatus": keyword, "Department": keyword},
	})
	c2 := dial(t, second)
	desc, err := c2.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution after restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetStatus(); got != enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("status after restart = %v, want RUNNING", got)
	}
	sa, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: second.Namespace()})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for _, name := range []string{"CaseStatus", "Department"} {
		if got := sa.GetCustomAttributes()[name]; got != keyword {
			t.Errorf("search attribute %s after restart = %v, want %v", name, got, keyword)
		}
	}
	waitListed(ctx, t, c2, `CaseStatus = "open"`, id)
	if _, err := c2.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: `Department = "highways"`}); err != nil {
		t.Errorf("query on the attribute added at restart: %v", err)
	}

	w2 := startWorker(t, c2)
	if err := c2.SignalWorkflow(ctx, id, "", "close", "fixed"); err != nil {
		t.Fatalf("SignalWorkflow: %v", err)
	}
	var result string
	if err := c2.GetWorkflow(ctx, id, "").Get(ctx, &result); err != nil || result != "fixed" {
		t.Fatalf("workflow result after restart = %q, %v; want fixed", result, err)
	}
	w2.Stop()
	if err := second.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// An attribute cannot change type under existing data.
	s, err := devserver.Start(ctx, devserver.Options{
		DatabaseFile:     file,
		SearchAttributes: map[string]enums.IndexedValueType{"CaseStatus": enums.INDEXED_VALUE_TYPE_INT},
	})
	if err == nil {
		s.Stop()
		t.Fatal("Start with CaseStatus re-typed as Int succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "CaseStatus") {
		t.Errorf("Start with CaseStatus re-typed: error %q does not name the attribute", err)
	}
}

func TestUIServesPagesAndReachesFrontend(t *testing.T) {
	s := start(t, devserver.Options{UIAddr: "127.0.0.1:0"})
	if got := s.UIURL(); !strings.HasPrefix(got, "http://127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Fatalf("UIURL() = %q, want http://127.0.0.1:<port>", got)
	}

	if body := get(t, s.UIURL()); !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("GET %s: body is not an HTML page: %.200q", s.UIURL(), body)
	}
	var settings struct{ DefaultNamespace string }
	if err := json.Unmarshal([]byte(get(t, s.UIURL()+"/api/v1/settings")), &settings); err != nil {
		t.Fatalf("decode UI settings: %v", err)
	}
	if settings.DefaultNamespace != s.Namespace() {
		t.Errorf("UI default namespace = %q, want %q", settings.DefaultNamespace, s.Namespace())
	}
	// The UI's API proxies to the frontend; describing the namespace proves the link.
	var ns struct {
		NamespaceInfo struct{ Name string }
	}
	if err := json.Unmarshal([]byte(get(t, s.UIURL()+"/api/v1/namespaces/"+s.Namespace())), &ns); err != nil {
		t.Fatalf("decode namespace from UI: %v", err)
	}
	if ns.NamespaceInfo.Name != s.Namespace() {
		t.Errorf("namespace through the UI = %q, want %q", ns.NamespaceInfo.Name, s.Namespace())
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if resp, err := http.Get(s.UIURL()); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s after Stop: %s, want the UI gone", s.UIURL(), resp.Status)
	}
}

func TestStartRejectsBadOptionsWithoutStartingServer(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		o    devserver.Options
		want string
	}{
		{"UI port in use", devserver.Options{UIAddr: busy.Addr().String()}, busy.Addr().String()},
		{"frontend port in use", devserver.Options{Port: busy.Addr().(*net.TCPAddr).Port}, "reserve port"},
		{"missing database directory", devserver.Options{DatabaseFile: filepath.Join(t.TempDir(), "nope", "t.db")}, "database directory"},
		{"bad IP", devserver.Options{IP: "localhost"}, "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			s, err := devserver.Start(ctx, tt.o)
			if err == nil {
				s.Stop()
				t.Fatalf("Start(%+v) succeeded, want an error containing %q", tt.o, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start(%+v) = %v, want an error containing %q", tt.o, err, tt.want)
			}
		})
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, want 200 OK: %.200s", url, resp.Status, body)
	}
	return string(body)
}
