package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/sla"
)

// demoPolicy is a ladder in seconds, as the demo council's demo-seconds policy.
func demoPolicy() *sla.Policy {
	secs := func(n int) *sla.Target { return &sla.Target{Amount: n, Unit: sla.CalendarSeconds} }
	return &sla.Policy{Name: "demo-seconds", Version: 2, Target: sla.Target{Amount: 60, Unit: sla.CalendarSeconds}, Warning: 0.5,
		Escalation: []sla.Level{
			{Name: "warning", OfTarget: 0.5, Actions: sla.Actions{Notify: []sla.Recipient{"assignee"}}},
			{Name: "breach", OfTarget: 1, Actions: sla.Actions{Notify: []sla.Recipient{"assignee", "team_lead", "webhook:demo"}, RaisePriority: cases.PriorityUrgent}},
			{Name: "breach-plus-20s", AfterBreach: secs(20), Actions: sla.Actions{Notify: []sla.Recipient{"head_of_service"}, Reassign: &sla.Reassign{Queue: "supervisors"}}},
			{Name: "breach-plus-40s", Clock: sla.Citizen, AfterBreach: secs(40), Actions: sla.Actions{
				Publish: &sla.Publish{Status: cases.StatusInvestigating, Note: "Sorry for the delay"}}},
		}}
}

// workingPolicy is five working days with a breach level.
func workingPolicy() *sla.Policy {
	return &sla.Policy{Name: "pothole", Version: 1, Target: sla.Target{Amount: 5, Unit: sla.WorkingDays},
		Escalation: []sla.Level{{Name: "breach", OfTarget: 1, Actions: sla.Actions{Notify: []sla.Recipient{"team_lead"}}}}}
}

type notices struct {
	mu   sync.Mutex
	sent []effects.Notice
	fail map[string]error // by recipient
}

func (n *notices) deliver(_ context.Context, x effects.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fail[x.Recipient]; err != nil {
		return err
	}
	n.sent = append(n.sent, x)
	return nil
}

func routeWith(p *sla.Policy, dept string) func(context.Context, effects.RouteRequest) (effects.Routed, error) {
	return func(context.Context, effects.RouteRequest) (effects.Routed, error) {
		return effects.Routed{Decision: cases.Decision{RuleSet: "routing", Version: 1, RuleID: "r", Department: dept, Team: "roads-north",
			Priority: cases.PriorityNormal, SLAPolicy: p.Name}, Policy: p}, nil
	}
}

func (h *harness) withNotices() *notices {
	n := &notices{fail: map[string]error{}}
	h.env.RegisterActivityWithOptions(n.deliver, activity.RegisterOptions{Name: effects.ActivityNotify})
	return n
}

func TestLadderClimbsEveryLevel(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	n := h.withNotices()
	var at10s, end cases.Case
	h.env.RegisterDelayedCallback(func() { at10s = h.query() }, 10*time.Second)
	h.env.RegisterDelayedCallback(func() { end = h.query() }, 3*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if p := at10s.Promise; p == nil || p.Policy != "demo-seconds" || p.Version != 2 ||
		!at10s.DueAt.Equal(t0.Add(time.Minute)) || !p.DueSoonAt.Equal(t0.Add(30*time.Second)) || at10s.State(t0.Add(10*time.Second)) != "on_track" {
		t.Fatalf("promise at 10s: due %v, %+v", at10s.DueAt, at10s.Promise)
	}
	want := []struct {
		level string
		at    time.Duration
	}{{"warning", 30 * time.Second}, {"breach", time.Minute}, {"breach-plus-20s", 80 * time.Second}, {"breach-plus-40s", 100 * time.Second}}
	esc := end.Promise.Escalations
	if len(esc) != len(want) {
		t.Fatalf("escalations = %+v, want %d", esc, len(want))
	}
	for i, w := range want {
		if esc[i].Seq != i+1 || esc[i].Level != w.level || !esc[i].At.Equal(t0.Add(w.at)) {
			t.Errorf("escalation %d = %s at %v, want %s at +%v", i+1, esc[i].Level, esc[i].At.Sub(t0), w.level, w.at)
		}
	}
	if end.Priority != cases.PriorityUrgent || end.Team != "supervisors" || end.Status != cases.StatusInvestigating {
		t.Errorf("after the ladder: priority %s, team %s, status %s", end.Priority, end.Team, end.Status)
	}
	// The publish reached the citizen's feed.
	ups := end.PublicUpdates()
	if len(ups) == 0 || ups[len(ups)-1].Description != "Sorry for the delay" {
		t.Errorf("public updates = %+v", ups)
	}
	// Every notice once, each with its own key.
	keys := map[string]bool{}
	for _, x := range n.sent {
		if keys[x.Key] {
			t.Errorf("notice %s sent twice", x.Key)
		}
		keys[x.Key] = true
	}
	if len(n.sent) != 5 {
		t.Errorf("%d notices, want 5 (1 warning, 3 breach, 1 head of service): %+v", len(n.sent), n.sent)
	}
	if end.State(t0.Add(3*time.Minute)) != "breached" {
		t.Errorf("state = %s, want breached", end.State(t0.Add(3*time.Minute)))
	}
}

func TestPauseMovesTheDueTime(t *testing.T) {
	// Monday 4 March 2030, 09:00 London; 5 working days of 09:00-17:00 end at
	// the close of Friday 8 March (the same working time as Monday 09:00).
	h := newHarness(t, routeWith(workingPolicy(), "highways"))
	h.withNotices()
	var before, paused, resumed cases.Case
	var wait, resume outcome
	h.env.RegisterDelayedCallback(func() { before = h.query() }, time.Minute)
	h.update(24*time.Hour, UpdateTransition, cases.Change{To: cases.StatusWaitingOnCitizen, Note: "Which lamp post?", Actor: "staff:amy"}, &wait)
	h.env.RegisterDelayedCallback(func() { paused = h.query() }, 25*time.Hour)
	// Resumed 24 hours later: one working day (Tue 09:00 → Wed 09:00) paused.
	h.update(48*time.Hour, UpdateTransition, cases.Change{To: cases.StatusInProgress, Actor: "staff:amy"}, &resume)
	h.env.RegisterDelayedCallback(func() { resumed = h.query() }, 49*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 50*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if want := time.Date(2030, 3, 8, 17, 0, 0, 0, time.UTC); !before.DueAt.Equal(want) {
		t.Errorf("due = %v, want %v", before.DueAt, want)
	}
	if !paused.DueAt.IsZero() || !paused.Promise.Paused || paused.State(t0.Add(25*time.Hour)) != "paused" {
		t.Errorf("while waiting: due %v, promise %+v", paused.DueAt, paused.Promise)
	}
	if want := time.Date(2030, 3, 11, 17, 0, 0, 0, time.UTC); !resumed.DueAt.Equal(want) {
		t.Errorf("after a working day's pause, due = %v, want %v", resumed.DueAt, want)
	}
}

func TestTransferRestartsOnlyTheDepartmentClock(t *testing.T) {
	h := newHarness(t, routeWith(workingPolicy(), "highways"))
	h.withNotices()
	var tr outcome
	var after cases.Case
	h.update(48*time.Hour, UpdateTransfer, cases.Transfer{Department: "street-lighting", Note: "It's the lamp post", Actor: "staff:amy"}, &tr)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 49*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 50*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if tr.err != nil {
		t.Fatal(tr.err)
	}
	// Citizen: Mon 09:00 + 5 working days; department: from the transfer on
	// Wednesday 09:00, + 5 working days.
	citizen, dept := time.Date(2030, 3, 8, 17, 0, 0, 0, time.UTC), time.Date(2030, 3, 12, 17, 0, 0, 0, time.UTC)
	if !after.DueAt.Equal(citizen) || !after.Promise.DepartmentDueAt.Equal(dept) || after.Department != "street-lighting" {
		t.Errorf("after transfer: citizen due %v (want %v), department due %v (want %v), dept %s",
			after.DueAt, citizen, after.Promise.DepartmentDueAt, dept, after.Department)
	}
}

func TestOutcomeMetMissedAndReopen(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	h.withNotices()
	var fixed, reopened, missed cases.Case
	var a, b, c outcome
	h.update(20*time.Second, UpdateTransition, cases.Change{To: cases.StatusFixed, Note: "Done", Public: true}, &a)
	h.env.RegisterDelayedCallback(func() { fixed = h.query() }, 21*time.Second)
	h.update(25*time.Second, UpdateCitizen, cases.CitizenUpdate{UpdateID: "1", Status: "REOPEN", Description: "No it isn't"}, &b)
	h.env.RegisterDelayedCallback(func() { reopened = h.query() }, 26*time.Second)
	h.update(5*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Note: "Done now", Public: true}, &c)
	h.env.RegisterDelayedCallback(func() { missed = h.query() }, 6*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if fixed.Promise.Outcome != cases.OutcomeMet {
		t.Errorf("fixed in 20s of 60: outcome %q", fixed.Promise.Outcome)
	}
	// Closed from 20 s to 25 s: the warning due at 30 s cannot have fired, and
	// after the reopen it is due at 35 s.
	if n := len(reopened.Promise.Escalations); n != 0 {
		t.Errorf("%d escalations on a case closed before any was due", n)
	}
	if esc := missed.Promise.Escalations; len(esc) == 0 || esc[0].Level != "warning" || !esc[0].Due.Equal(t0.Add(35*time.Second)) {
		t.Errorf("after the reopen, escalations = %+v, want the warning due at +35s", esc)
	}
	// Reopened: the 5 seconds it was closed do not count against the council.
	if reopened.Promise.Outcome != "" || !reopened.DueAt.Equal(t0.Add(65*time.Second)) {
		t.Errorf("reopened: outcome %q, due %v (want +65s)", reopened.Promise.Outcome, reopened.DueAt.Sub(t0))
	}
	if missed.Promise.Outcome != cases.OutcomeMissed {
		t.Errorf("fixed after the due time: outcome %q", missed.Promise.Outcome)
	}
}

func TestRecategoriseReroutesWithTheNewPolicy(t *testing.T) {
	calls := 0
	h := newHarness(t, func(_ context.Context, req effects.RouteRequest) (effects.Routed, error) {
		calls++
		if req.Case.Service.Code == "GRO" {
			p := &sla.Policy{Name: "graffiti-offensive", Version: 1, Target: sla.Target{Amount: 1, Unit: sla.WorkingDays}}
			return effects.Routed{Decision: cases.Decision{RuleID: "offensive", Department: "waste", Team: "graffiti", Priority: cases.PriorityHigh}, Policy: p}, nil
		}
		return routeWith(workingPolicy(), "highways")(context.Background(), req)
	})
	h.withNotices()
	var rc outcome
	var after cases.Case
	h.update(time.Hour, UpdateRecategorise, cases.Recategorisation{Service: cases.Service{Code: "GRO", Name: "Offensive graffiti"}, Actor: "staff:amy"}, &rc)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 2*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 3*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if rc.err != nil || calls != 2 {
		t.Fatalf("recategorise: %v, routing ran %d times", rc.err, calls)
	}
	// The promise runs from the report, under the new policy: 1 working day,
	// the close of Monday.
	if after.Department != "waste" || after.Promise.Policy != "graffiti-offensive" || !after.DueAt.Equal(t0.Add(8*time.Hour)) {
		t.Errorf("after recategorising: dept %s, policy %s, due %v", after.Department, after.Promise.Policy, after.DueAt)
	}
}

func TestSentBackToTriageIsNotRoutedBack(t *testing.T) {
	h := newHarness(t, routeWith(workingPolicy(), "highways"))
	h.withNotices()
	var tr outcome
	var after cases.Case
	h.update(time.Hour, UpdateTransfer, cases.Transfer{Note: "Not a highways matter", Actor: "staff:hal"}, &tr)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 2*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 3*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if tr.err != nil || after.Department != "triage" || len(after.Routing.Explanation) == 0 || !strings.Contains(after.Routing.Explanation[0], "sent the case back") {
		t.Errorf("sent back: err %v, department %s, explanation %v", tr.err, after.Department, after.Routing.Explanation)
	}
}

func TestAcknowledgeAndFailedNotice(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	n := h.withNotices()
	n.fail["webhook:demo"] = temporal.NewNonRetryableApplicationError("webhook demo has no URL", effects.ErrTypeNotifyPermanent, nil)
	var ack, again, bogus outcome
	h.update(2*time.Minute, UpdateAcknowledge, cases.Acknowledgement{Seq: 2, Note: "On it", Actor: "staff:sue"}, &ack)
	h.update(2*time.Minute+time.Second, UpdateAcknowledge, cases.Acknowledgement{Seq: 2, Actor: "staff:sue"}, &again)
	h.update(2*time.Minute+2*time.Second, UpdateAcknowledge, cases.Acknowledgement{Seq: 9, Actor: "staff:sue"}, &bogus)
	var end cases.Case
	h.env.RegisterDelayedCallback(func() { end = h.query() }, 3*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if ack.err != nil || end.Promise.Escalations[1].Acknowledged == nil || end.Promise.Escalations[1].Acknowledged.By != "staff:sue" {
		t.Errorf("acknowledge: %v, %+v", ack.err, end.Promise.Escalations[1])
	}
	for name, o := range map[string]outcome{"twice": again, "unknown": bogus} {
		var ae *temporal.ApplicationError
		if !o.rejected || !errors.As(o.err, &ae) || ae.Type() != ErrTypeInput {
			t.Errorf("acknowledge %s: rejected %v, %v", name, o.rejected, o.err)
		}
	}
	var failed bool
	for _, e := range end.Timeline {
		failed = failed || strings.Contains(e.Note, "Could not notify webhook:demo")
	}
	if !failed {
		t.Error("an undeliverable notice left no trace on the timeline")
	}
}

func TestPriorityChangeReArmsTheLadder(t *testing.T) {
	p := workingPolicy()
	p.ByPriority = map[cases.Priority]sla.Target{cases.PriorityUrgent: {Amount: 4, Unit: sla.CalendarHours}}
	h := newHarness(t, routeWith(p, "highways"))
	n := h.withNotices()
	var pr outcome
	var after cases.Case
	h.update(time.Hour, UpdatePrioritise, cases.Prioritisation{Priority: cases.PriorityUrgent, Note: "Near a school", Actor: "staff:amy"}, &pr)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 5*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 6*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	if pr.err != nil {
		t.Fatal(pr.err)
	}
	// Urgent: 4 calendar hours from the report, so the breach fires at +4h,
	// not at the close of Friday.
	if !after.DueAt.Equal(t0.Add(4*time.Hour)) || after.Promise.Target != "4 calendar_hours" {
		t.Errorf("due %v (want +4h), target %q", after.DueAt.Sub(t0), after.Promise.Target)
	}
	if esc := after.Promise.Escalations; len(esc) != 1 || esc[0].Level != "breach" || !esc[0].At.Equal(t0.Add(4*time.Hour)) {
		t.Errorf("escalations = %+v, want the breach at +4h", esc)
	}
	if len(n.sent) != 1 || n.sent[0].Recipient != "team_lead" {
		t.Errorf("notices = %+v", n.sent)
	}
}
