package workflows

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// t0 is in the future on purpose: the test environment checks local-activity
// deadlines, set on its mock clock, against the wall clock.
var t0 = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

// fakeReadModel records projections the way the real read model keeps them:
// newest version wins.
type fakeReadModel struct {
	mu       sync.Mutex
	versions []int64
	latest   cases.Case
}

func (f *fakeReadModel) project(_ context.Context, c *cases.Case) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions = append(f.versions, c.Version)
	if c.Version > f.latest.Version {
		f.latest = *c
	}
	return nil
}

type harness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	rm  *fakeReadModel
}

func newHarness(t *testing.T, route func(context.Context, effects.RouteRequest) (effects.Routed, error)) *harness {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "case-CB-TEST01"})
	env.RegisterWorkflowWithOptions(New().Case, workflow.RegisterOptions{Name: WorkflowName})
	rm := &fakeReadModel{}
	if route == nil {
		route = func(_ context.Context, req effects.RouteRequest) (effects.Routed, error) {
			return effects.Routed{Decision: cases.Decision{RuleSet: "routing", Version: 3, RuleID: "potholes", Department: "highways", Team: "roads-north", Priority: cases.PriorityHigh}}, nil
		}
	}
	env.RegisterActivityWithOptions(route, activity.RegisterOptions{Name: effects.ActivityRoute})
	env.RegisterActivityWithOptions(rm.project, activity.RegisterOptions{Name: effects.ActivityProject})
	return &harness{t: t, env: env, rm: rm}
}

func report() *cases.Report {
	lat, long := 51.53, -0.14
	return &cases.Report{IntakeKey: "fixmystreet:x:1", Source: cases.SourceFixMyStreet, ExternalID: "1", ServiceCode: "POT",
		Description: "Deep hole", Location: cases.Location{Lat: &lat, Long: &long}, ReceivedAt: t0}
}

func input() Input {
	return Input{Report: report(), Service: cases.Service{Code: "POT", Name: "Pothole", Group: "Roads and pavements"},
		Settings: Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 10000,
			DefaultRoute: cases.Decision{RuleSet: "default", Department: "triage", Priority: cases.PriorityNormal}}}
}

func (h *harness) query() cases.Case {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryState)
	if err != nil {
		h.t.Fatalf("query: %v", err)
	}
	var c cases.Case
	if err := v.Get(&c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// update sends an update at the given delay and records how it ended.
type outcome struct {
	accepted, rejected bool
	err                error
	result             any
}

func (h *harness) update(at time.Duration, name string, arg any, out *outcome) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected = true; out.err = err },
			OnComplete: func(v any, err error) {
				out.result = v
				if err != nil {
					out.err = err
				}
			},
		}, arg)
	}, at)
}

func TestNewCaseIsRoutedAndProjected(t *testing.T) {
	h := newHarness(t, nil)
	var got cases.Case
	h.env.RegisterDelayedCallback(func() { got = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if got.Ref != "CB-TEST01" {
		t.Errorf("ref = %q, want CB-TEST01 (from workflow ID case-CB-TEST01)", got.Ref)
	}
	if got.Department != "highways" || got.Team != "roads-north" || got.Priority != cases.PriorityHigh {
		t.Errorf("after routing: department %q team %q priority %q", got.Department, got.Team, got.Priority)
	}
	if got.Routing == nil || got.Routing.RuleID != "potholes" || got.Routing.DecidedAt.IsZero() {
		t.Errorf("routing decision not recorded: %+v", got.Routing)
	}
	if len(got.Timeline) != 2 || got.Timeline[0].Kind != cases.KindReceived || got.Timeline[1].Kind != cases.KindRouted {
		t.Errorf("timeline = %+v, want received then routed", got.Timeline)
	}
	if h.rm.latest.Version != got.Version || h.rm.latest.Department != "highways" {
		t.Errorf("read model has version %d (%q), case is at %d", h.rm.latest.Version, h.rm.latest.Department, got.Version)
	}
}

func TestTransitionsAndRejections(t *testing.T) {
	h := newHarness(t, nil)
	var fixed, again, bogus, reopened outcome
	var afterReject cases.Case
	h.update(time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Note: "Filled in", Public: true, Actor: "agent:amy"}, &fixed)
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "agent:amy"}, &again)
	h.update(3*time.Minute, UpdateTransition, cases.Change{To: "resolved", Actor: "agent:amy"}, &bogus)
	h.env.RegisterDelayedCallback(func() { afterReject = h.query() }, 4*time.Minute)
	h.update(5*time.Minute, UpdateTransition, cases.Change{To: cases.StatusInProgress, Note: "Not done properly", Actor: "supervisor:sam"}, &reopened)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if !fixed.accepted || fixed.err != nil {
		t.Fatalf("open → fixed: accepted %v err %v", fixed.accepted, fixed.err)
	}
	if c, ok := fixed.result.(*cases.Case); !ok || c.Status != cases.StatusFixed {
		t.Errorf("update result = %#v, want the case, fixed", fixed.result)
	}
	for name, o := range map[string]outcome{"fixed → fixed": again, "→ resolved": bogus} {
		var ae *temporal.ApplicationError
		if !o.rejected || !errors.As(o.err, &ae) || ae.Type() != ErrTypeTransition {
			t.Errorf("%s: rejected %v err %v, want a %s rejection", name, o.rejected, o.err, ErrTypeTransition)
		}
	}
	// A rejected update leaves no trace: the case is exactly as the fix left it.
	if afterReject.Status != cases.StatusFixed || len(afterReject.Timeline) != 3 || afterReject.ClosedAt == nil {
		t.Errorf("after rejections: status %s, %d entries, closed_at %v", afterReject.Status, len(afterReject.Timeline), afterReject.ClosedAt)
	}
	if !reopened.accepted || reopened.err != nil {
		t.Errorf("fixed → in_progress (reopen): %v", reopened.err)
	}
	if last := h.rm.latest.Timeline[len(h.rm.latest.Timeline)-1]; last.Kind != cases.KindReopened || last.Actor != "supervisor:sam" {
		t.Errorf("last projected entry = %+v, want the reopen by supervisor:sam", last)
	}
}

func TestReopenWindowThenComplete(t *testing.T) {
	h := newHarness(t, nil)
	in := input()
	in.Settings.ReopenWindow = 7 * 24 * time.Hour
	var closeIt, citizenReopen outcome
	h.update(time.Hour, UpdateTransition, cases.Change{To: cases.StatusNoFurtherAction, Note: "Private land", Public: true}, &closeIt)
	// Six days later the citizen says it's still there: reopened, window cleared.
	h.update(6*24*time.Hour, UpdateCitizen, cases.CitizenUpdate{UpdateID: "fms-77", Status: "REOPEN", Description: "Still there", Client: "fixmystreet"}, &citizenReopen)
	var closeAgain outcome
	h.update(8*24*time.Hour, UpdateTransition, cases.Change{To: cases.StatusFixed, Note: "Done"}, &closeAgain)
	h.env.ExecuteWorkflow(WorkflowName, in)

	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v err %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if r, ok := citizenReopen.result.(cases.CitizenResult); !ok || !r.Reopened {
		t.Errorf("citizen REOPEN result = %#v", citizenReopen.result)
	}
	// Closed at day 8, window 7 days: complete at day 15, not at day 7.
	if got, want := h.env.Now().Sub(t0), 15*24*time.Hour; got < want || got > want+time.Minute {
		t.Errorf("workflow completed %v after start, want %v", got, want)
	}
	if h.rm.latest.Status != cases.StatusFixed {
		t.Errorf("read model status %s, want fixed", h.rm.latest.Status)
	}
}

func TestCitizenUpdateIsIdempotent(t *testing.T) {
	h := newHarness(t, nil)
	var first, resent, fixedByUser outcome
	u := cases.CitizenUpdate{UpdateID: "fms-9", Status: "OPEN", Description: "It's getting bigger", Client: "fixmystreet"}
	h.update(time.Minute, UpdateCitizen, u, &first)
	h.update(2*time.Minute, UpdateCitizen, u, &resent)
	h.update(3*time.Minute, UpdateCitizen, cases.CitizenUpdate{UpdateID: "fms-10", Status: "FIXED", Description: "Looks done"}, &fixedByUser)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, 4*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	a, b := first.result.(cases.CitizenResult), resent.result.(cases.CitizenResult)
	if a.UpdateID == "" || a.UpdateID != b.UpdateID {
		t.Errorf("update ids %q and %q, want the same id for a resent update", a.UpdateID, b.UpdateID)
	}
	var citizen int
	for _, e := range c.Timeline {
		if e.Kind == cases.KindCitizen {
			citizen++
		}
	}
	if citizen != 2 {
		t.Errorf("%d citizen entries, want 2 (the resend must not add one)", citizen)
	}
	if c.Status != cases.StatusOpen {
		t.Errorf("status %s: a citizen saying FIXED must not close the council's case", c.Status)
	}
}

func TestRoutingFailureTakesDefaultRoute(t *testing.T) {
	h := newHarness(t, func(context.Context, effects.RouteRequest) (effects.Routed, error) {
		return effects.Routed{}, errors.New("rules store unreachable")
	})
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if c.Department != "triage" || c.Routing == nil || c.Routing.Error == "" {
		t.Errorf("department %q, routing %+v: want the default route with the error recorded", c.Department, c.Routing)
	}
}

func TestContinueAsNewCarriesTheCase(t *testing.T) {
	h := newHarness(t, nil)
	in := input()
	in.Settings.MaxHistoryEvents = 40
	for i := range 10 {
		var o outcome
		h.update(time.Duration(i+1)*time.Minute, UpdateComment, cases.Comment{Note: "chasing contractor", Actor: "agent"}, &o)
	}
	// The test environment does not count history events: say the history has
	// grown past the limit.
	h.env.RegisterDelayedCallback(func() { h.env.SetCurrentHistoryLength(41) }, 10*time.Minute+30*time.Second)
	h.env.ExecuteWorkflow(WorkflowName, in)
	err := h.env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Case == nil || next.Report != nil || next.Case.Department != "highways" || len(next.Case.Timeline) != 12 {
		t.Fatalf("carried input: report %v, case %+v", next.Report, next.Case)
	}
	if h.rm.latest.Version != next.Case.Version {
		t.Errorf("read model at v%d, carried case at v%d: everything must be projected before continue-as-new", h.rm.latest.Version, next.Case.Version)
	}

	// The new run picks up where the old one stopped, without routing again.
	h2 := newHarness(t, func(context.Context, effects.RouteRequest) (effects.Routed, error) {
		t.Error("routing ran again after continue-as-new")
		return effects.Routed{}, nil
	})
	var c cases.Case
	h2.env.RegisterDelayedCallback(func() { c = h2.query() }, time.Minute)
	h2.env.RegisterDelayedCallback(func() { h2.env.CancelWorkflow() }, time.Hour)
	h2.env.ExecuteWorkflow(WorkflowName, next)
	if c.Version != next.Case.Version || c.Department != "highways" {
		t.Errorf("after continue-as-new: version %d department %q", c.Version, c.Department)
	}
}
