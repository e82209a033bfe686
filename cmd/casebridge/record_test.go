package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/casebridge/casebridge/activities"
	"github.com/casebridge/casebridge/api"
	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/partners"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/worker"
	"github.com/casebridge/casebridge/workflows"
)

var record = flag.Bool("record", false, "record case workflow histories into workflows/testdata for the replay test")

// TestRecordHistories runs real cases on the embedded server and saves their
// histories, which workflows.TestReplay replays against today's workflow code.
// Run it when the workflow changes in a way old histories need not follow,
// after renaming the current case-*.json to the next v<N>- prefix: the old
// files stay, to guard the cases that were started on them.
//
//	go test ./cmd/casebridge -run TestRecordHistories -record
func TestRecordHistories(t *testing.T) {
	ctx, rs, c := recorder(t)
	route := cases.Decision{RuleSet: "default", RuleID: "default", Department: "triage", Priority: cases.PriorityNormal}
	cfg := config.Demo()
	// Every case below runs on the demo-seconds policy, so its ladder climbs
	// while the recorder watches; notices go to the outbox (no URLs set).
	w := worker.New(c, &activities.Activities{
		Router:    activities.StaticRouter{Decision: cases.Decision{RuleSet: "default", RuleID: "default", Department: "triage", Priority: cases.PriorityNormal, SLAPolicy: "demo-seconds"}},
		Projector: readmodel.New(rs.Client(), "cb:"),
		Notifier:  notify.NewDispatcher(cfg, notify.NewStore(rs.Client(), "cb:"), func(string) string { return "" }, nil),
		Policies:  cfg.SLA.Policies,
		Log:       slog.New(slog.DiscardHandler),
	}, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	settings := workflows.Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 2000, DefaultRoute: route, Calendar: cfg.Calendar}
	lat, long := 51.53, -0.14
	rep := func(key string) cases.Report {
		return cases.Report{IntakeKey: key, Source: cases.SourceFixMyStreet, ExternalID: key, ServiceCode: "POT", Description: "Deep hole",
			Location: cases.Location{Lat: &lat, Long: &long}, Attributes: cases.Attributes{"dangerous": {"yes"}}, ReceivedAt: time.Now().UTC()}
	}
	svc := cases.Service{Code: "POT", Name: "Pothole", Group: "Roads and pavements"}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A whole life: comments, status changes, a refused change, a citizen's
	// update and reopen.
	flow := caseflow.New(c, workflows.TaskQueue, "CB-", settings)
	life, err := flow.Start(ctx, rep("record-life"), svc)
	must(nil, err)
	// A transfer sent the moment the case is acknowledged reaches it while
	// routing is under way: the person's choice stands.
	must(flow.Transfer(ctx, life.Ref, cases.Transfer{Department: "parks", Team: "trees", Actor: "staff:amy"}, "staff:amy:transfer:r1"))
	must(flow.Prioritise(ctx, life.Ref, cases.Prioritisation{Priority: cases.PriorityHigh, Note: "Near a school", Actor: "staff:amy"}, ""))
	must(flow.Comment(ctx, life.Ref, cases.Comment{Note: "Inspector booked", Actor: "staff:amy"}, ""))
	must(flow.Transition(ctx, life.Ref, cases.Change{To: cases.StatusInProgress, Note: "Crew on the way", Public: true, Actor: "staff:amy"}, "t1"))
	if _, err := flow.Transition(ctx, life.Ref, cases.Change{To: cases.StatusInProgress, Actor: "staff:amy"}, ""); err == nil {
		t.Fatal("a refused transition was accepted")
	}
	must(flow.Citizen(ctx, life.Ref, cases.CitizenUpdate{UpdateID: "fms-1", Status: "OPEN", Description: "It's getting bigger", At: time.Now(), Client: "fixmystreet"}))
	must(flow.Assign(ctx, life.Ref, cases.Assignment{Assignee: "amy@council.example", Actor: "staff:amy"}, ""))
	must(flow.Transition(ctx, life.Ref, cases.Change{To: cases.StatusWaitingOnCitizen, Note: "Which side of the road?", Public: true, Actor: "staff:amy"}, ""))
	time.Sleep(2 * time.Second)
	must(flow.Transition(ctx, life.Ref, cases.Change{To: cases.StatusInProgress, Actor: "staff:amy"}, ""))
	must(flow.Transfer(ctx, life.Ref, cases.Transfer{Department: "highways", Team: "roads-north", Actor: "staff:amy"}, ""))
	// Let the ladder warn (30 s) and breach (60 s), with notices.
	time.Sleep(65 * time.Second)
	must(flow.Acknowledge(ctx, life.Ref, cases.Acknowledgement{Seq: 1, Note: "seen", Actor: "staff:sue"}, ""))
	must(flow.Recategorise(ctx, life.Ref, cases.Recategorisation{Service: cases.Service{Code: "PAV", Name: "Damaged pavement"}, Actor: "staff:amy"}, ""))
	time.Sleep(time.Second) // let routing answer before the case is sent back
	must(flow.Transfer(ctx, life.Ref, cases.Transfer{Note: "Not ours", Actor: "staff:pat"}, ""))
	time.Sleep(time.Second)
	must(flow.Transition(ctx, life.Ref, cases.Change{To: cases.StatusFixed, Note: "Filled in", Public: true, Actor: "staff:amy"}, "t2"))
	must(flow.Citizen(ctx, life.Ref, cases.CitizenUpdate{UpdateID: "fms-2", Status: "REOPEN", Description: "Came back", At: time.Now(), Client: "fixmystreet"}))
	save(t, c, life.Ref, "case-life.json")

	// A closed case whose reopen window runs out: the workflow completes.
	short := caseflow.New(c, workflows.TaskQueue, "CB-", workflows.Settings{ReopenWindow: 2 * time.Second, MaxHistoryEvents: 2000, DefaultRoute: route, Calendar: cfg.Calendar})
	done, err := short.Start(ctx, rep("record-complete"), svc)
	must(nil, err)
	must(short.Transition(ctx, done.Ref, cases.Change{To: cases.StatusNotCouncilsResponsibility, Note: "Private road", Public: true, Actor: "staff:amy"}, ""))
	waitStatus(t, c, done.Ref, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	save(t, c, done.Ref, "case-complete.json")

	// A long history that continues as new.
	long2 := caseflow.New(c, workflows.TaskQueue, "CB-", workflows.Settings{ReopenWindow: time.Hour, MaxHistoryEvents: 40, DefaultRoute: route, Calendar: cfg.Calendar})
	can, err := long2.Start(ctx, rep("record-can"), svc)
	must(nil, err)
	for i := range 12 {
		if _, err := long2.Comment(ctx, can.Ref, cases.Comment{Note: fmt.Sprintf("chasing contractor %d", i), Actor: "staff:amy"}, ""); err != nil {
			for _, e := range history(t, c, can.Ref, "").Events {
				if f := e.GetWorkflowTaskFailedEventAttributes(); f != nil {
					t.Logf("task failed: %v", f.GetFailure())
				}
			}
			t.Fatal(err)
		}
	}
	saveFirstRun(t, c, can.Ref, "case-continue-as-new.json")
}

func waitStatus(t *testing.T, c client.Client, ref string, want enumspb.WorkflowExecutionStatus) {
	t.Helper()
	for range 100 {
		d, err := c.DescribeWorkflowExecution(context.Background(), cases.WorkflowID(ref), "")
		if err == nil && d.GetWorkflowExecutionInfo().GetStatus() == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("case %s never reached %s", ref, want)
}

func history(t *testing.T, c client.Client, ref, runID string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), cases.WorkflowID(ref), runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

func write(t *testing.T, h *historypb.History, name string) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "workflows", "testdata", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d events", path, len(h.Events))
}

func save(t *testing.T, c client.Client, ref, name string) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let the last workflow task and projection finish
	write(t, history(t, c, ref, ""), name)
}

// saveFirstRun saves the first run of a case that continued as new.
func saveFirstRun(t *testing.T, c client.Client, ref, name string) {
	t.Helper()
	for range 100 {
		d, err := c.DescribeWorkflowExecution(context.Background(), cases.WorkflowID(ref), "")
		if err != nil {
			t.Fatal(err)
		}
		if first := d.GetWorkflowExecutionInfo().GetFirstRunId(); first != d.GetWorkflowExecutionInfo().GetExecution().GetRunId() {
			write(t, history(t, c, ref, first), name)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the case did not continue as new")
}

// TestRecordPartnerHistories records cases handed to a partner agency (the
// partner simulator over real HTTP): accepted then completed, rejected, and
// silent past its deadline; and one hand-off workflow's own history. They go
// to workflows/testdata/partner-*.json.
//
//	go test ./cmd/casebridge -run TestRecordPartnerHistories -record
func TestRecordPartnerHistories(t *testing.T) {
	ctx, rs, c := recorder(t)

	// The partner: the simulator, answering by hand, with a 3 s deadline.
	simCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sim := partners.NewSim(simCtx, map[string]string{"met-police": "record-secret"})
	sim.SetMode("met-police", "manual")
	simSrv := httptest.NewServer(sim.Handler())
	defer simSrv.Close()
	cfg := config.Demo()
	for i := range cfg.Partners {
		if cfg.Partners[i].Code == "met-police" {
			cfg.Partners[i].URL = simSrv.URL + "/partners/met-police/handoffs"
			cfg.Partners[i].Secret = "record-secret"
			cfg.Partners[i].Deadline = config.Duration(3 * time.Second)
		}
	}
	route := cases.Decision{RuleSet: "default", RuleID: "default", Department: "triage", Priority: cases.PriorityNormal}
	settings := workflows.Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 2000, DefaultRoute: route, Calendar: cfg.Calendar}
	flow := caseflow.New(c, workflows.TaskQueue, "CB-", settings)
	// casebridge's callback endpoint, as the api serves it.
	api := httptest.NewServer(apiForPartners(cfg, flow, rs))
	defer api.Close()
	w := worker.New(c, &activities.Activities{
		Router: activities.StaticRouter{Decision: cases.Decision{RuleSet: "routing", Version: 1, RuleID: "burnt-out", Department: "parking",
			Team: "abandoned-vehicles", Partner: "met-police", Priority: cases.PriorityHigh, SLAPolicy: "demo-seconds"}},
		Projector: readmodel.New(rs.Client(), "cb:"),
		Notifier:  notify.NewDispatcher(cfg, notify.NewStore(rs.Client(), "cb:"), func(string) string { return "" }, nil),
		Partners:  &partners.Poster{Config: cfg, CallbackBase: api.URL},
		Policies:  cfg.SLA.Policies,
		Log:       slog.New(slog.DiscardHandler),
	}, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	lat, long := 51.53, -0.14
	svc := cases.Service{Code: "ABV", Name: "Abandoned vehicle"}
	start := func(key string) (string, string) {
		t.Helper()
		res, err := flow.Start(ctx, cases.Report{IntakeKey: key, Source: cases.SourceFixMyStreet, ExternalID: key, ServiceCode: "ABV",
			Description: "Burnt out car", Location: cases.Location{Lat: &lat, Long: &long}, ReceivedAt: time.Now().UTC()}, svc)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			k, err := flow.Get(ctx, res.Ref)
			if err == nil && k.Handoff != nil && !k.Handoff.Delivered.IsZero() {
				return res.Ref, k.Handoff.ID
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("case %s was never handed over", res.Ref)
		return "", ""
	}
	reply := func(id, event, note string) {
		t.Helper()
		if sent, ok := sim.Reply(id, partners.Callback{Event: event, Note: note}); !ok || sent.Status != 200 {
			t.Fatalf("reply %s to %s: %+v", event, id, sent)
		}
	}
	waitAnswer := func(ref, answer string) {
		t.Helper()
		for range 100 {
			if k, err := flow.Get(ctx, ref); err == nil && k.Handoff != nil && k.Handoff.Answer == answer {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("case %s never heard %s", ref, answer)
	}

	done, doneID := start("record-partner-done")
	reply(doneID, "accepted", "Incident 4711")
	reply(doneID, "progress", "Owner traced")
	reply(doneID, "completed", "Vehicle removed")
	waitAnswer(done, "completed")
	save(t, c, done, "partner-completed.json")
	time.Sleep(500 * time.Millisecond)
	writeWorkflow(t, c, doneID, "partner-handoff-completed.json")

	rej, rejID := start("record-partner-rejected")
	reply(rejID, "rejected", "Not stolen")
	waitAnswer(rej, "rejected")
	save(t, c, rej, "partner-rejected.json")

	quiet, _ := start("record-partner-silent")
	waitAnswer(quiet, "silent")
	save(t, c, quiet, "partner-silent.json")
}

// recorder skips unless -record is given, and starts what a recording runs
// on: Redis, the embedded Temporal server and a client of it, stopped when
// the test ends.
func recorder(t *testing.T) (context.Context, *redistest.Server, client.Client) {
	t.Helper()
	if !*record {
		t.Skip("pass -record to record histories")
	}
	rs := redistest.Start(t)
	_, c := embeddedTemporal(t, "")
	return context.Background(), rs, c
}

// embeddedTemporal starts the embedded Temporal server with casebridge's
// search attributes, its database in dbFile ("" for memory), and a client of
// it, both stopped when t ends.
func embeddedTemporal(t testing.TB, dbFile string) (*devserver.Server, client.Client) {
	t.Helper()
	ts, err := devserver.Start(context.Background(), devserver.Options{DatabaseFile: dbFile, SearchAttributes: workflows.SearchAttributes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Stop() })
	c, err := client.Dial(client.Options{HostPort: ts.FrontendAddr(), Namespace: ts.Namespace(), Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return ts, c
}

// writeWorkflow saves the history of any workflow by its ID.
func writeWorkflow(t *testing.T, c client.Client, id, name string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	write(t, h, name)
}

// apiForPartners serves the partner callback route the way `casebridge api` does.
func apiForPartners(cfg *config.Config, flow *caseflow.Client, rs *redistest.Server) http.Handler {
	return api.NewServer(slog.New(slog.DiscardHandler), cfg, api.Deps{Cases: flow, Metrics: metrics.New(), Handoffs: flow,
		Partners: &partners.Verifier{Config: cfg, Nonces: partners.NewNonces(rs.Client(), "cb:")}})
}

// TestRecordDuplicateHistories records duplicates: a parent and a report
// linked to it at intake (then confirmed), and a case merged by hand and the
// merge undone. They go to workflows/testdata/partner-duplicate-*.json.
//
//	go test ./cmd/casebridge -run TestRecordDuplicateHistories -record
func TestRecordDuplicateHistories(t *testing.T) {
	ctx, rs, c := recorder(t)
	cfg := config.Demo()
	store := readmodel.New(rs.Client(), "cb:")
	w := worker.New(c, &activities.Activities{
		Router: activities.StaticRouter{Decision: cases.Decision{RuleSet: "routing", Version: 1, RuleID: "road-sign", Department: "highways",
			Team: "signs-and-lines", Priority: cases.PriorityLow, DuplicateRadius: 25}},
		Projector:  store,
		Duplicates: store,
		Notifier:   notify.NewDispatcher(cfg, notify.NewStore(rs.Client(), "cb:"), func(string) string { return "" }, nil),
		Policies:   cfg.SLA.Policies,
		Log:        slog.New(slog.DiscardHandler),
	}, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	route := cases.Decision{RuleSet: "default", RuleID: "default", Department: "triage", Priority: cases.PriorityNormal}
	flow := caseflow.New(c, workflows.TaskQueue, "CB-", workflows.Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 2000, DefaultRoute: route, Calendar: cfg.Calendar})
	svc := cases.Service{Code: "SGN", Name: "Damaged road sign"}
	start := func(key string, lat float64) string {
		t.Helper()
		long := -0.14
		res, err := flow.Start(ctx, cases.Report{IntakeKey: key, Source: cases.SourceFixMyStreet, ExternalID: key, ServiceCode: "SGN",
			Description: "Sign down", Location: cases.Location{Lat: &lat, Long: &long}, ReceivedAt: time.Now().UTC()}, svc)
		if err != nil {
			t.Fatal(err)
		}
		return res.Ref
	}
	until := func(ref string, ok func(*cases.Case) bool) {
		t.Helper()
		for range 100 {
			if k, err := flow.Get(ctx, ref); err == nil && ok(k) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("case %s never got there", ref)
	}
	parent := start("record-dup-parent", 51.53)
	until(parent, func(k *cases.Case) bool { return k.Routing != nil })
	time.Sleep(500 * time.Millisecond) // projected
	child := start("record-dup-child", 51.53001)
	until(parent, func(k *cases.Case) bool { return len(k.Duplicates) == 1 })
	if _, err := flow.ConfirmDuplicate(ctx, child, cases.DuplicateLink{Actor: "staff:sue"}, "staff:sue:confirm-duplicate:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := flow.Transition(ctx, parent, cases.Change{To: cases.StatusFixed, Note: "Sign replaced", Public: true, Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	save(t, c, parent, "partner-duplicate-parent.json")
	save(t, c, child, "partner-duplicate-child.json")

	other := start("record-dup-other", 51.60)
	until(other, func(k *cases.Case) bool { return k.Routing != nil })
	third := start("record-dup-third", 51.70)
	until(third, func(k *cases.Case) bool { return k.Routing != nil })
	if _, err := flow.Merge(ctx, third, cases.DuplicateLink{Parent: other, Note: "same sign", Actor: "staff:sue"}, ""); err != nil {
		t.Fatal(err)
	}
	until(other, func(k *cases.Case) bool { return len(k.Duplicates) == 1 })
	if _, err := flow.Unlink(ctx, third, cases.DuplicateLink{Actor: "staff:sue"}, ""); err != nil {
		t.Fatal(err)
	}
	until(other, func(k *cases.Case) bool { return len(k.Duplicates) == 0 })
	save(t, c, third, "partner-duplicate-merged-undone.json")
}
