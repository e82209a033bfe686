package workflows

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/sla"
)

// SLAState is a case's promise as the workflow keeps it: the policy version the
// case runs against and its clocks. It is carried over continue-as-new.
type SLAState struct {
	Policy sla.Policy `json:"policy"`
	Clocks sla.Clocks `json:"clocks"`
	// Overdue is set once the citizen's due time has passed (the Overdue search
	// attribute); it clears if a pause or reopen moves the due time on.
	Overdue bool `json:"overdue"`
}

// applyPolicy starts the case's SLA on its first policy, or moves it to another
// policy (after recategorisation) keeping its clocks: the citizen's promise
// runs from the report, whatever the category turns out to be.
func (r *run) applyPolicy(p *sla.Policy, now time.Time) {
	if p == nil {
		return
	}
	if r.sla == nil {
		r.sla = &SLAState{Policy: *p}
		r.sla.Clocks.Start(r.c.ReceivedAt)
		r.sla.Clocks.Touch(r.c.ReceivedAt)
		r.sla.Clocks.Follow(r.c.Status, now)
	} else if r.sla.Policy.Name != p.Name {
		r.sla.Policy = *p
	} else {
		return
	}
	if r.c.Promise == nil {
		r.c.Promise = &cases.Promise{}
	}
	// A new policy keeps the escalations already climbed under the old one.
	r.c.Promise.Policy, r.c.Promise.Version = p.Name, p.Version
}

// policy is the case's policy as it applies to its priority now.
func (r *run) policy() sla.Policy { return r.sla.Policy.For(r.c.Priority) }

// touched records staff activity at now: the clocks follow the status (a
// waiting state pauses them, closing stops them, reopening resumes them) and
// the dormant reminder starts counting again.
func (r *run) touched(now time.Time) {
	if r.sla == nil {
		return
	}
	r.sla.Clocks.Touch(now)
	r.statusChanged(now)
}

// statusChanged brings the clocks in line with the case's status.
func (r *run) statusChanged(now time.Time) {
	if r.sla == nil {
		return
	}
	r.sla.Clocks.Follow(r.c.Status, now)
	r.refresh(now)
}

// refresh recomputes the promise readers see from the clocks: due times (zero
// while paused), when it turns amber, and, once resolved, whether it was met.
func (r *run) refresh(now time.Time) {
	if r.sla == nil {
		return
	}
	p, k := r.policy(), r.sla.Clocks
	pr := r.c.Promise
	pr.Target = p.Target.String()
	r.c.DueAt = sla.Due(r.cal, p, k.Citizen)
	pr.DepartmentDueAt = sla.Due(r.cal, p, k.Department)
	warn := p.Warning
	if warn == 0 {
		warn = sla.DefaultWarning
	}
	pr.DueSoonAt = sla.LevelAt(r.cal, p, sla.Level{OfTarget: warn}, k.Citizen)
	pr.Paused = k.Citizen.Paused()
	pr.Outcome = ""
	if k.Citizen.Stopped() && !r.c.DueAt.IsZero() {
		pr.Outcome = cases.OutcomeMet
		if k.Citizen.StoppedAt.After(r.c.DueAt) {
			pr.Outcome = cases.OutcomeMissed
		}
	}
	r.overdueChanged(now)
}

// overdueChanged updates the Overdue flag at now, reporting whether it changed.
func (r *run) overdueChanged(now time.Time) bool {
	if r.sla == nil {
		return false
	}
	over := !r.c.Status.Closed() && !r.c.DueAt.IsZero() && !now.Before(r.c.DueAt)
	if over == r.sla.Overdue {
		return false
	}
	r.sla.Overdue = over
	return true
}

// nextStep returns the next escalation step of the ladder, if any, and when
// it is due.
func (r *run) nextStep() (sla.Step, bool) {
	if r.sla == nil {
		return sla.Step{}, false
	}
	step, ok := sla.Next(r.cal, r.policy(), r.sla.Clocks)
	return step, ok && !step.At.IsZero()
}

// ladderLevel is how many rungs of the ladder have fired (reminders aside).
func (r *run) ladderLevel() int {
	n := 0
	if r.c.Promise != nil {
		for _, e := range r.c.Promise.Escalations {
			if e.Level != sla.DormantStep {
				n++
			}
		}
	}
	return n
}

// escalate carries out a due step of the ladder: raise the priority, reassign,
// publish an update to the citizen, notify each recipient, and record it all
// in the timeline. Notices go out in the background, so an unreachable mail
// server or webhook never holds up the case.
func (r *run) escalate(ctx workflow.Context, step sla.Step, now time.Time) {
	c := r.c
	a := step.Actions
	var done []string
	if p := a.Priority(c.Priority); p != c.Priority {
		// A new priority may bring its own target (Policy.ByPriority); the
		// refresh below works the due times out again from it.
		c.Priority = p
		done = append(done, "raised the priority to "+string(p))
	}
	if ra := a.Reassign; ra != nil {
		switch {
		case ra.Person != "":
			c.Assignee = ra.Person
			done = append(done, "reassigned to "+ra.Person)
		case ra.Queue != "":
			c.Team, c.Assignee = ra.Queue, ""
			done = append(done, "moved to the "+ra.Queue+" queue")
		}
	}
	if pub := a.Publish; pub != nil && pub.Note != "" {
		// Only a case nobody has picked up yet changes status; otherwise the
		// citizen gets the note without staff's status being overridden.
		if (c.Status == cases.StatusOpen || c.Status == cases.StatusForTriage) && pub.Status != "" && cases.CheckTransition(c.Status, pub.Status) == nil {
			c.Apply(cases.Change{To: pub.Status, Note: pub.Note, Public: true, Actor: "escalation"}, now)
			r.sla.Clocks.Follow(c.Status, now)
		} else {
			c.Append(cases.Entry{At: now, Actor: "escalation", Kind: cases.KindComment, Note: pub.Note, Public: true})
		}
		done = append(done, "published an update to the citizen")
	}
	var names []string
	for _, rcp := range a.Notify {
		names = append(names, recipientName(string(rcp)))
	}
	if len(names) > 0 {
		done = append(done, "notified "+strings.Join(names, ", "))
	}
	r.sla.Clocks.Fire(step)
	seq := len(c.Promise.Escalations) + 1
	c.Promise.Escalations = append(c.Promise.Escalations, cases.Escalation{Seq: seq, Level: step.Name, Clock: string(step.Clock), Due: step.At, At: now, Done: done})
	what := "Escalation " + strconv.Itoa(seq) + " (" + step.Name + ")"
	if step.Name == sla.DormantStep {
		what = "Reminder: no activity since " + r.sla.Clocks.LastActivity.In(r.cal.Location()).Format("Mon 2 Jan 15:04")
	}
	if len(done) == 0 {
		done = []string{"nothing to do"}
	}
	c.Append(cases.Entry{At: now, Actor: "escalation", Kind: cases.KindEscalation, Note: what + ": " + strings.Join(done, "; ")})
	r.refresh(now)
	for _, rcp := range a.Notify {
		r.notify(ctx, effects.Notice{
			Key: fmt.Sprintf("%s:%d:%s", c.Ref, seq, rcp), Ref: c.Ref, Seq: seq, Level: step.Name, Recipient: string(rcp),
			Department: c.Department, Team: c.Team, Assignee: c.Assignee, Service: c.Service.Name,
			Status: c.Status, Priority: c.Priority, DueAt: c.DueAt, At: now, Done: done,
		})
	}
}

func recipientName(r string) string {
	switch r {
	case "team_lead":
		return "the team lead"
	case "head_of_service":
		return "the head of service"
	case "assignee":
		return "the assignee"
	}
	return r
}
