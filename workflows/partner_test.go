package workflows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// partnerPost stands in for the partner's webhook: it takes every hand-off and
// gives the partner two hours' silence before the case escalates.
type partnerPost struct {
	mu    sync.Mutex
	posts []effects.Handoff
}

func (p *partnerPost) post(_ context.Context, h effects.Handoff) (effects.HandedOff, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.posts = append(p.posts, h)
	return effects.HandedOff{Silence: 2 * time.Hour}, nil
}

func policeRoute(context.Context, effects.RouteRequest) (effects.Routed, error) {
	return effects.Routed{HandOff: true, Decision: cases.Decision{RuleSet: "routing", Version: 3, RuleID: "abandoned", Department: "parking",
		Team: "abandoned-vehicles", Partner: "met-police", Priority: cases.PriorityNormal}}, nil
}

func newPartnerHarness(t *testing.T) (*harness, *partnerPost) {
	h := newHarness(t, policeRoute)
	p := &partnerPost{}
	h.env.RegisterWorkflowWithOptions(New().Handoff, workflow.RegisterOptions{Name: HandoffWorkflowName})
	h.env.RegisterActivityWithOptions(p.post, activity.RegisterOptions{Name: effects.ActivityHandoff})
	return h, p
}

// callback sends the partner's callback to the case's current hand-off at
// the given time.
func (h *harness) callback(at time.Duration, ev cases.PartnerEvent, out *outcome) {
	h.env.RegisterDelayedCallback(func() {
		c := h.query()
		if c.Handoff == nil {
			h.t.Errorf("at %s: the case has no hand-off", at)
			return
		}
		if ev.Partner == "" {
			ev.Partner = "met-police"
		}
		err := h.env.UpdateWorkflowByID(c.Handoff.ID, UpdateCallback, "cb-"+at.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() { out.accepted = true },
			OnReject: func(err error) { out.rejected = true; out.err = err },
			OnComplete: func(v any, err error) {
				out.result = v
				if err != nil {
					out.err = err
				}
			},
		}, ev)
		if err != nil {
			out.err = err
		}
	}, at)
}

func (h *harness) queryAt(at time.Duration, c *cases.Case) {
	h.env.RegisterDelayedCallback(func() { *c = h.query() }, at)
}

func TestHandoffAcceptedThenCompleted(t *testing.T) {
	h, p := newPartnerHarness(t)
	var handed, accepted, progressed, done cases.Case
	var acc, prog, bad, comp, late outcome
	h.queryAt(time.Minute, &handed)
	h.callback(10*time.Minute, cases.PartnerEvent{Event: cases.PartnerAccepted, Note: "Incident 4711"}, &acc)
	h.queryAt(11*time.Minute, &accepted)
	h.callback(100*time.Minute, cases.PartnerEvent{Event: "teleported"}, &bad)
	// Each word moves the deadline on: 3h is past the first deadline (2h).
	h.callback(110*time.Minute, cases.PartnerEvent{Event: cases.PartnerProgress, Note: "Officer attended; owner traced", Public: true}, &prog)
	h.queryAt(111*time.Minute, &progressed)
	h.callback(3*time.Hour, cases.PartnerEvent{Event: cases.PartnerCompleted, Note: "Vehicle removed by the owner"}, &comp)
	h.queryAt(3*time.Hour+time.Minute, &done)
	h.env.RegisterDelayedCallback(func() {
		// The hand-off is over: its workflow has finished, so a late
		// callback reaches nothing.
		if err := h.env.UpdateWorkflowByID(handed.Handoff.ID, UpdateCallback, "late", &testsuite.TestUpdateCallback{
			OnAccept: func() { late.accepted = true }, OnReject: func(err error) { late.rejected = true; late.err = err },
			OnComplete: func(any, error) {},
		}, cases.PartnerEvent{Partner: "met-police", Event: cases.PartnerProgress, Note: "again"}); err != nil {
			late.err = err
		}
	}, 4*time.Hour)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 5*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if len(p.posts) != 1 || p.posts[0].Partner != "met-police" || p.posts[0].Ref != "CB-TEST01" {
		t.Fatalf("posts %+v, want one hand-off of CB-TEST01 to met-police", p.posts)
	}
	if handed.Status != cases.StatusWaitingOnPartner || handed.Handoff == nil || handed.Handoff.Answer != cases.HandoffPending {
		t.Fatalf("after routing: status %s hand-off %+v, want waiting_on_partner, pending", handed.Status, handed.Handoff)
	}
	if want := t0.Add(2 * time.Hour); handed.Handoff.Deadline.Before(want) || handed.Handoff.Deadline.After(want.Add(time.Minute)) {
		t.Errorf("deadline %s, want two hours after the hand-off (%s)", handed.Handoff.Deadline, want)
	}
	if acc.err != nil || prog.err != nil || comp.err != nil {
		t.Fatalf("callbacks: accepted %v, progress %v, completed %v", acc.err, prog.err, comp.err)
	}
	if accepted.Handoff.Answer != cases.PartnerAccepted || accepted.Status != cases.StatusWaitingOnPartner {
		t.Errorf("after accepted: %s, %+v", accepted.Status, accepted.Handoff)
	}
	if !bad.rejected {
		t.Errorf("an unknown event was not refused: %+v", bad)
	}
	if progressed.Status != cases.StatusWaitingOnPartner {
		t.Errorf("at 111 min the case is %s, want still waiting: the acceptance moved the deadline on", progressed.Status)
	}
	last := progressed.Timeline[len(progressed.Timeline)-1]
	if !last.Public || !strings.Contains(last.Note, "owner traced") {
		t.Errorf("progress note %+v, want it public", last)
	}
	if done.Status != cases.StatusFixed || done.Handoff.Answer != cases.PartnerCompleted {
		t.Errorf("after completed: %s %+v, want fixed", done.Status, done.Handoff)
	}
	if n := done.LastPublicNote(); n != "Vehicle removed by the owner" {
		t.Errorf("public note %q, want the partner's", n)
	}
	if !late.rejected && late.err == nil {
		t.Errorf("a callback after completion was taken: %+v", late)
	}
}

func TestHandoffRejectedGoesBackToTriage(t *testing.T) {
	h, _ := newPartnerHarness(t)
	var c cases.Case
	var rej, noReason, other outcome
	h.callback(5*time.Minute, cases.PartnerEvent{Event: cases.PartnerRejected}, &noReason)
	h.callback(6*time.Minute, cases.PartnerEvent{Partner: "thames-water", Event: cases.PartnerAccepted}, &other)
	h.callback(10*time.Minute, cases.PartnerEvent{Event: cases.PartnerRejected, Note: "Not stolen: report to parking"}, &rej)
	h.queryAt(11*time.Minute, &c)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if !noReason.rejected || !strings.Contains(noReason.err.Error(), "say why") {
		t.Errorf("a rejection without a reason: %+v", noReason)
	}
	if !other.rejected {
		t.Errorf("another partner's callback was taken: %+v", other)
	}
	if rej.err != nil {
		t.Fatal(rej.err)
	}
	if c.Status != cases.StatusForTriage || c.Department != "triage" || c.Partner != "" {
		t.Fatalf("after rejection: %s in %s with %q, want for_triage in triage, no partner", c.Status, c.Department, c.Partner)
	}
	if last := c.Timeline[len(c.Timeline)-1]; !strings.Contains(last.Note, "Not stolen: report to parking") {
		t.Errorf("last entry %q, want the partner's reason", last.Note)
	}
}

func TestHandoffSilenceEscalatesAtDeadline(t *testing.T) {
	h, _ := newPartnerHarness(t)
	var before, after cases.Case
	h.queryAt(2*time.Hour-time.Minute, &before)
	h.queryAt(2*time.Hour+time.Minute, &after)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 3*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())

	if before.Status != cases.StatusWaitingOnPartner {
		t.Fatalf("before the deadline the case is %s", before.Status)
	}
	if after.Status != cases.StatusForTriage || after.Handoff.Answer != cases.PartnerSilent {
		t.Fatalf("after the deadline: %s %+v, want for_triage, silent", after.Status, after.Handoff)
	}
	if after.Priority != cases.PriorityHigh {
		t.Errorf("priority %s, want raised from normal to high", after.Priority)
	}
	var escalated bool
	for _, e := range after.Timeline {
		escalated = escalated || (e.Kind == cases.KindEscalation && strings.Contains(e.Note, "met-police has not answered"))
	}
	if !escalated {
		t.Errorf("no escalation on the timeline: %+v", after.Timeline)
	}
}

// A partner that writes and writes: the hand-off continues as new and goes
// on taking callbacks, its deadline carried over.
func TestHandoffContinuesAsNewAndGoesOn(t *testing.T) {
	defer func(n int) { handoffCallbacks = n }(handoffCallbacks)
	handoffCallbacks = 5
	h, p := newPartnerHarness(t)
	outs := make([]outcome, 12)
	for i := range outs {
		h.callback(time.Duration(i+1)*5*time.Minute, cases.PartnerEvent{Event: cases.PartnerProgress, Note: fmt.Sprintf("note %d", i)}, &outs[i])
	}
	var done outcome
	var c cases.Case
	h.callback(2*time.Hour, cases.PartnerEvent{Event: cases.PartnerCompleted, Note: "all done"}, &done)
	h.queryAt(2*time.Hour+time.Minute, &c)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, 3*time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, input())
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("callback %d: %v", i, o.err)
		}
	}
	if done.err != nil || c.Status != cases.StatusFixed {
		t.Fatalf("completion: %v; case %s, want fixed", done.err, c.Status)
	}
	if len(p.posts) != 1 {
		t.Errorf("the hand-off was posted %d times, want once: a new run does not post again", len(p.posts))
	}
	notes := 0
	for _, e := range c.Timeline {
		if strings.Contains(e.Note, "progress: note") {
			notes++
		}
	}
	if notes != 12 {
		t.Errorf("%d progress notes reached the case, want 12", notes)
	}
}
