package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
)

// inbox is what the loop has still to apply: staff and citizen changes queued
// by update handlers, and answers from effects. The loop applies them in the
// order they arrived, and only the loop does.
type inbox struct{ items []func(now time.Time) }

func (b *inbox) push(apply func(now time.Time)) { b.items = append(b.items, apply) }

func (b *inbox) empty() bool { return len(b.items) == 0 }

// drain applies everything queued, including what applying queues.
func (b *inbox) drain(now time.Time) {
	for len(b.items) > 0 {
		next := b.items[0]
		b.items = b.items[1:]
		next(now)
	}
}

// Applied is a request the case has applied: Temporal answers a retry with the
// same update id within one run, and this answers it across continue-as-new.
type Applied struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// appliedLog remembers the update ids of recent requests. It keeps at most
// maxApplied, the newest, which covers any client's retry window many times
// over while keeping the continue-as-new input small.
type appliedLog struct {
	order []Applied
	ids   map[string]bool
}

const maxApplied = 500

func newAppliedLog(from []Applied) *appliedLog {
	l := &appliedLog{ids: map[string]bool{}}
	for _, a := range from {
		l.add(a)
	}
	return l
}

func (l *appliedLog) add(a Applied) {
	if a.ID == "" || l.ids[a.ID] {
		return
	}
	l.order = append(l.order, a)
	l.ids[a.ID] = true
	if len(l.order) > maxApplied {
		delete(l.ids, l.order[0].ID)
		l.order = l.order[1:]
	}
}

func (l *appliedLog) has(id string) bool { return id != "" && l.ids[id] }

func (l *appliedLog) list() []Applied { return l.order }

// change registers a validated update for one kind of staff change. The
// validator runs the domain's check, so a refused change is answered with the
// reason and never enters the history. An accepted change is queued for the
// loop, which checks it again (a change queued before it may have moved the
// case on) and applies it; the handler answers with the case as it then
// stands. A retry of a request applied in an earlier run is answered with the
// case and not applied again.
func change[T any](ctx workflow.Context, r *run, name, desc string, check func(T) error, apply func(T, time.Time)) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, arg T) (*cases.Case, error) {
			id := workflow.GetCurrentUpdateInfo(ctx).ID
			var out *cases.Case
			err := r.queue(ctx, func(now time.Time) error {
				if !r.legacy && r.applied.has(id) {
					out = r.c.Clone()
					return nil
				}
				if err := check(arg); err != nil {
					return err
				}
				apply(arg, now)
				r.applied.add(Applied{ID: id, At: now})
				out = r.c.Clone()
				return nil
			})
			return out, rejection(err)
		},
		workflow.UpdateHandlerOptions{Description: desc, Validator: func(ctx workflow.Context, arg T) error {
			if r.applied.has(workflow.GetCurrentUpdateInfo(ctx).ID) {
				return nil
			}
			return rejection(check(arg))
		}},
	)
}

// queue has the loop run f on the case and waits until it has. Histories from
// before the one-owner loop applied changes in the handler itself; they still
// do, so they replay.
func (r *run) queue(ctx workflow.Context, f func(now time.Time) error) error {
	if r.legacy {
		return f(workflow.Now(ctx))
	}
	var err error
	done := false
	r.inbox.push(func(now time.Time) {
		err = f(now)
		done = true
		r.answeredAt = now
	})
	if werr := workflow.Await(ctx, func() bool { return done }); werr != nil {
		return werr
	}
	return err
}

func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*cases.Case, error) { return r.c, nil }); err != nil {
		return err
	}
	c := r.c
	regs := []error{
		change(ctx, r, UpdateTransition, "Move the case to a new status", c.Check, func(ch cases.Change, now time.Time) {
			c.Apply(ch, now)
			r.touched(now)
		}),
		change(ctx, r, UpdateComment, "Add a note to the case", c.CheckComment, func(cm cases.Comment, now time.Time) {
			e := c.AddComment(cm, now)
			r.touched(now)
			r.noteJob(e)
		}),
		change(ctx, r, UpdateAssign, "Give the case to a person or queue", c.CheckAssign, func(a cases.Assignment, now time.Time) {
			c.Assign(a, now)
			r.touched(now)
		}),
		change(ctx, r, UpdateTransfer, "Move the case to another department or team, or back to triage", r.checkTransfer, func(t cases.Transfer, now time.Time) {
			from := c.ApplyTransfer(t, now)
			switch {
			case t.Department == "":
				// Routing decides again, and never returns the case to the
				// department that sent it back.
				r.sentBackBy = from
				r.reroute()
			case r.routingUnderWay():
				// A person's choice beats the rules' answer still to come.
				r.kept.Department = t.Actor
				if from != t.Department && r.sla != nil {
					r.sla.Clocks.Transfer(now)
				}
			case from != t.Department && r.sla != nil:
				r.sla.Clocks.Transfer(now)
			}
			r.touched(now)
		}),
		change(ctx, r, UpdateRecategorise, "File the case under another service and route it again", c.CheckRecategorise, func(rc cases.Recategorisation, now time.Time) {
			c.Recategorise(rc, now)
			r.reroute()
			r.touched(now)
		}),
		change(ctx, r, UpdatePrioritise, "Change how pressing the case is", c.CheckPrioritise, func(p cases.Prioritisation, now time.Time) {
			// The new priority may have its own SLA target: touched works the
			// due times and ladder out again.
			c.Prioritise(p, now)
			if r.routingUnderWay() {
				r.kept.Priority = p.Actor
			}
			r.touched(now)
		}),
		change(ctx, r, UpdateAcknowledge, "Acknowledge an escalation", c.CheckAcknowledge, func(a cases.Acknowledgement, now time.Time) {
			c.Acknowledge(a, now)
		}),
	}
	regs = append(regs, r.registerDuplicates(ctx)...)
	for _, err := range regs {
		if err != nil {
			return err
		}
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCitizen,
		func(ctx workflow.Context, u cases.CitizenUpdate) (cases.CitizenResult, error) {
			// A resent update is recognised by its own id (CheckCitizen and
			// ApplyCitizen answer it from the timeline), across runs too.
			var res cases.CitizenResult
			err := r.queue(ctx, func(now time.Time) error {
				if err := c.CheckCitizen(u); err != nil {
					return err
				}
				if res = c.ApplyCitizen(u, now); res.Reopened {
					r.statusChanged(now)
				}
				return nil
			})
			return res, rejection(err)
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, u cases.CitizenUpdate) error {
			return rejection(c.CheckCitizen(u))
		}, Description: "Record an update the citizen sent through FixMyStreet"},
	)
}

// checkTransfer is the domain's check of a transfer, and one of the loop's
// own: a case cannot be sent back to triage while routing is deciding where
// it goes, because the answer on its way would not know.
func (r *run) checkTransfer(t cases.Transfer) error {
	if err := r.c.CheckTransfer(t); err != nil {
		return err
	}
	if t.Department == "" && !r.legacy && r.routingUnderWay() {
		return &cases.TransitionError{From: r.c.Status, To: r.c.Status,
			Reason: "routing is deciding where the case goes; send it back once it has arrived"}
	}
	return nil
}
