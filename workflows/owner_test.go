package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// slowRouter answers only once released, so a test can send staff changes
// while routing is under way, as happens when a change reaches a case in the
// same workflow task as its start.
type slowRouter struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	calls   []cases.Case
	answer  func(cases.Case) effects.Routed
}

func newSlowRouter(answer func(cases.Case) effects.Routed) *slowRouter {
	return &slowRouter{release: make(chan struct{}), answer: answer}
}

func (s *slowRouter) route(ctx context.Context, req effects.RouteRequest) (effects.Routed, error) {
	s.mu.Lock()
	s.calls = append(s.calls, req.Case)
	first := len(s.calls) == 1
	s.mu.Unlock()
	if first {
		select {
		case <-s.release:
		case <-time.After(10 * time.Second):
			return effects.Routed{}, errors.New("test never released the router")
		}
	}
	return s.answer(req.Case), nil
}

func (s *slowRouter) let() { s.once.Do(func() { close(s.release) }) }

func highwaysRoute(cases.Case) effects.Routed {
	return effects.Routed{Decision: cases.Decision{RuleSet: "routing", Version: 3, RuleID: "potholes", Department: "highways", Team: "roads-north", Priority: cases.PriorityHigh}}
}

// updateNow sends an update from a callback and releases the router once the
// update has been answered, so the answer is known before routing finishes.
func (h *harness) updateThenRelease(s *slowRouter, name string, arg any, out *outcome) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected = true; out.err = err; s.let() },
			OnComplete: func(v any, err error) {
				out.result, out.err = v, err
				s.let()
			},
		}, arg)
	}, 0)
}

func TestTransferDuringFirstRoutingIsKept(t *testing.T) {
	s := newSlowRouter(highwaysRoute)
	h := newHarness(t, s.route)
	var tr outcome
	h.updateThenRelease(s, UpdateTransfer, cases.Transfer{Department: "parks", Team: "trees", Actor: "staff:amy"}, &tr)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if tr.err != nil {
		t.Fatalf("transfer: %v", tr.err)
	}
	if got, ok := tr.result.(*cases.Case); !ok || got.Department != "parks" {
		t.Fatalf("transfer answered %#v, want the case in parks", tr.result)
	}
	if c.Department != "parks" || c.Team != "trees" {
		t.Errorf("after routing answered: %s / %s, want parks / trees as staff:amy left it", c.Department, c.Team)
	}
	if c.Priority != cases.PriorityHigh {
		t.Errorf("priority %s: nobody set one by hand, so the rules' high applies", c.Priority)
	}
	if c.Routing == nil || c.Routing.RuleID != "potholes" {
		t.Errorf("routing decision %+v, want the rules' advice recorded", c.Routing)
	}
	last := c.Timeline[len(c.Timeline)-1]
	if last.Kind != cases.KindRouted || !strings.Contains(last.Note, "advised highways") || !strings.Contains(last.Note, "kept with parks") {
		t.Errorf("last entry %q, want the rules' answer recorded as advice", last.Note)
	}
	if h.rm.latest.Department != "parks" || h.rm.latest.Version != c.Version {
		t.Errorf("read model has %s v%d, case is parks v%d", h.rm.latest.Department, h.rm.latest.Version, c.Version)
	}
}

func TestPriorityDuringRoutingIsKept(t *testing.T) {
	s := newSlowRouter(highwaysRoute)
	h := newHarness(t, s.route)
	var pr outcome
	h.updateThenRelease(s, UpdatePrioritise, cases.Prioritisation{Priority: cases.PriorityUrgent, Actor: "staff:amy"}, &pr)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if pr.err != nil {
		t.Fatal(pr.err)
	}
	if c.Department != "highways" || c.Priority != cases.PriorityUrgent {
		t.Errorf("department %s priority %s, want highways (the rules) and urgent (staff:amy)", c.Department, c.Priority)
	}
}

func TestSendBackDuringRoutingIsRefused(t *testing.T) {
	s := newSlowRouter(highwaysRoute)
	h := newHarness(t, s.route)
	var back outcome
	h.updateThenRelease(s, UpdateTransfer, cases.Transfer{Actor: "staff:amy"}, &back)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	var ae *temporal.ApplicationError
	if !back.rejected || !errors.As(back.err, &ae) || ae.Type() != ErrTypeTransition {
		t.Errorf("send back while routing: rejected %v err %v, want a %s", back.rejected, back.err, ErrTypeTransition)
	}
	if c.Department != "highways" {
		t.Errorf("department %q, want highways", c.Department)
	}
}

func TestRecategoriseDuringRoutingRoutesTheNewCategory(t *testing.T) {
	s := newSlowRouter(func(c cases.Case) effects.Routed {
		if c.Service.Code == "GRAF" {
			return effects.Routed{Decision: cases.Decision{RuleID: "graffiti", Department: "waste", Team: "graffiti", Priority: cases.PriorityNormal}}
		}
		return highwaysRoute(c)
	})
	h := newHarness(t, s.route)
	var rc outcome
	h.updateThenRelease(s, UpdateRecategorise, cases.Recategorisation{Service: cases.Service{Code: "GRAF", Name: "Graffiti"}, Actor: "staff:amy"}, &rc)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if rc.err != nil {
		t.Fatal(rc.err)
	}
	if c.Department != "waste" || c.Routing == nil || c.Routing.RuleID != "graffiti" {
		t.Errorf("department %s by %+v: the answer for the old category must not stand", c.Department, c.Routing)
	}
	var routed int
	for _, e := range c.Timeline {
		if e.Kind == cases.KindRouted {
			routed++
		}
	}
	if routed != 1 {
		t.Errorf("%d routed entries, want 1: the stale answer is dropped, not applied and then undone", routed)
	}
}

// TestEscalationsFireWhileTheReadModelIsAway keeps Redis away for the first
// 100 seconds of a demo-seconds case: every rung of the ladder due in that
// time fires on time, the case shows that its read model is behind, and the
// read model has the case as it stands soon after Redis returns.
func TestEscalationsFireWhileTheReadModelIsAway(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	h.withNotices()
	back := t0.Add(100 * time.Second)
	rm := &fakeReadModel{}
	h.env.RegisterActivityWithOptions(func(ctx context.Context, c *cases.Case) error {
		if h.env.Now().Before(back) {
			return errors.New("dial tcp 127.0.0.1:6379: connection refused")
		}
		return rm.project(ctx, c)
	}, activity.RegisterOptions{Name: effects.ActivityProject})
	var during, after cases.Case
	h.env.RegisterDelayedCallback(func() { during = h.query() }, 90*time.Second)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 3*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	escalatedOnTime(t, after, 4, "the read model was away")
	if w, ok := during.Waiting(cases.WaitReadModel); !ok || w.Error == "" {
		t.Errorf("at 90 s the case does not show its read model is behind: %+v", during.Waits)
	}
	if _, ok := after.Waiting(cases.WaitReadModel); ok {
		t.Errorf("at 3 min the read model is back but the case still waits: %+v", after.Waits)
	}
	if rm.latest.Version != after.Version {
		t.Errorf("read model at v%d, case at v%d", rm.latest.Version, after.Version)
	}
	if len(rm.latest.Waits) != 0 {
		t.Errorf("the read model holds a wait on itself: %+v", rm.latest.Waits)
	}
}

func TestRequestAppliedOnceAcrossContinueAsNew(t *testing.T) {
	h := newHarness(t, nil)
	in := input()
	var first outcome
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(UpdateComment, "staff:amy:comment:k1", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { first.err = err },
			OnComplete: func(v any, err error) { first.result, first.err = v, err },
		}, cases.Comment{Note: "Called the contractor", Actor: "staff:amy"})
	}, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.SetCurrentHistoryLength(in.Settings.MaxHistoryEvents + 1) }, 2*time.Minute)
	h.env.ExecuteWorkflow(WorkflowName, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if first.err != nil {
		t.Fatal(first.err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, nil)
	var retried, other outcome
	send := func(id string, out *outcome) func() {
		return func() {
			h2.env.UpdateWorkflow(UpdateComment, id, &testsuite.TestUpdateCallback{
				OnAccept: func() { out.accepted = true }, OnReject: func(err error) { out.rejected, out.err = true, err },
				OnComplete: func(v any, err error) { out.result, out.err = v, err },
			}, cases.Comment{Note: "Called the contractor", Actor: "staff:amy"})
		}
	}
	h2.env.RegisterDelayedCallback(send("staff:amy:comment:k1", &retried), time.Minute)
	h2.env.RegisterDelayedCallback(send("staff:bob:comment:k1", &other), 2*time.Minute)
	var c cases.Case
	h2.env.RegisterDelayedCallback(func() { c = h2.query() }, 3*time.Minute)
	h2.env.RegisterDelayedCallback(func() { h2.env.CancelWorkflow() }, time.Hour)
	h2.env.ExecuteWorkflow(WorkflowName, next)
	if !retried.accepted || retried.err != nil || other.err != nil {
		t.Fatalf("retry: accepted %v err %v; other: %v", retried.accepted, retried.err, other.err)
	}
	var notes int
	for _, e := range c.Timeline {
		if e.Kind == cases.KindComment {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("%d notes, want 2: amy's retry after continue-as-new applies once, bob's own request applies", notes)
	}
}

// TestCompletionWaitsForALateNotice closes a case whose notice is still being
// retried when its reopen window ends: the case waits for it, and the read
// model hears that it could not be delivered.
func TestCompletionWaitsForALateNotice(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	n := h.withNotices()
	n.fail["webhook:demo"] = errors.New("connection refused")
	in := input()
	in.Settings.ReopenWindow = 10 * time.Minute
	var closeIt outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "staff:amy"}, &closeIt)
	h.env.ExecuteWorkflow(WorkflowName, in)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v err %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	last := h.rm.latest.Timeline[len(h.rm.latest.Timeline)-1]
	if !strings.Contains(last.Note, "Could not notify webhook:demo") || last.At.Before(t0.Add(12*time.Minute)) {
		t.Errorf("read model's last entry %q at +%v, want the notice that failed after the window", last.Note, last.At.Sub(t0))
	}
}

// TestCompletionDoesNotWaitForeverForANotice closes a case whose notice is
// still being retried past the finishing grace: the case gives up on it,
// records that, projects it, and completes.
func TestCompletionDoesNotWaitForeverForANotice(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	n := h.withNotices()
	n.fail["webhook:demo"] = errors.New("connection refused")
	in := input()
	in.Settings.ReopenWindow = 10 * time.Minute
	in.Settings.FinishGrace = 5 * time.Minute
	var closeIt outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "staff:amy"}, &closeIt)
	h.env.ExecuteWorkflow(WorkflowName, in)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed %v err %v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	if took, want := h.env.Now().Sub(t0), 17*time.Minute; took < want || took > want+time.Minute {
		t.Errorf("completed %v after start, want %v: closed at 2m, window 10m, grace 5m", took, want)
	}
	last := h.rm.latest.Timeline[len(h.rm.latest.Timeline)-1]
	if !strings.Contains(last.Note, "Stopped waiting to notify webhook:demo") {
		t.Errorf("read model's last entry %q, want the notice given up", last.Note)
	}
}

// escalatedOnTime checks that c's escalations are the n its ladder promises,
// each fired at the moment it was due, while something outside was failing.
func escalatedOnTime(t *testing.T, c cases.Case, n int, while string) {
	t.Helper()
	esc := c.Promise.Escalations
	if len(esc) != n {
		t.Fatalf("%d escalations, want %d: %+v", len(esc), n, esc)
	}
	for _, e := range esc {
		if late := e.At.Sub(e.Due); late != 0 {
			t.Errorf("escalation %d (%s) fired %v late while %s", e.Seq, e.Level, late, while)
		}
	}
}
