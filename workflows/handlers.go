package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
)

// update registers a validated update whose handler changes the case
// synchronously and returns it. The validator runs the domain's check, so a
// refused change is answered with the reason and never enters the history.
func update[T any](ctx workflow.Context, r *run, name, desc string, check func(T) error, apply func(T, time.Time)) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, arg T) (*cases.Case, error) {
			apply(arg, workflow.Now(ctx))
			return r.c.Clone(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, arg T) error { return rejection(check(arg)) }, Description: desc},
	)
}

func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*cases.Case, error) { return r.c, nil }); err != nil {
		return err
	}
	c := r.c
	regs := []error{
		update(ctx, r, UpdateTransition, "Move the case to a new status", c.Check, func(ch cases.Change, now time.Time) {
			c.Apply(ch, now)
			r.touched(now)
		}),
		update(ctx, r, UpdateComment, "Add a note to the case", c.CheckComment, func(cm cases.Comment, now time.Time) {
			c.AddComment(cm, now)
			r.touched(now)
		}),
		update(ctx, r, UpdateAssign, "Give the case to a person or queue", c.CheckAssign, func(a cases.Assignment, now time.Time) {
			c.Assign(a, now)
			r.touched(now)
		}),
		update(ctx, r, UpdateTransfer, "Move the case to another department or team, or back to triage", c.CheckTransfer, func(t cases.Transfer, now time.Time) {
			from := c.ApplyTransfer(t, now)
			if t.Department == "" {
				// Routing decides again, and never returns the case to the
				// department that sent it back.
				r.sentBackBy, r.reroute = from, true
			} else if from != t.Department && r.sla != nil {
				r.sla.Clocks.Transfer(now)
			}
			r.touched(now)
		}),
		update(ctx, r, UpdateRecategorise, "File the case under another service and route it again", c.CheckRecategorise, func(rc cases.Recategorisation, now time.Time) {
			c.Recategorise(rc, now)
			r.reroute = true
			r.touched(now)
		}),
		update(ctx, r, UpdatePrioritise, "Change how pressing the case is", c.CheckPrioritise, func(p cases.Prioritisation, now time.Time) {
			// The new priority may have its own SLA target: touched works the
			// due times and ladder out again.
			c.Prioritise(p, now)
			r.touched(now)
		}),
		update(ctx, r, UpdateAcknowledge, "Acknowledge an escalation", c.CheckAcknowledge, func(a cases.Acknowledgement, now time.Time) {
			c.Acknowledge(a, now)
		}),
	}
	for _, err := range regs {
		if err != nil {
			return err
		}
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCitizen,
		func(ctx workflow.Context, u cases.CitizenUpdate) (cases.CitizenResult, error) {
			now := workflow.Now(ctx)
			res := c.ApplyCitizen(u, now)
			if res.Reopened {
				r.statusChanged(now)
			}
			return res, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, u cases.CitizenUpdate) error {
			return rejection(c.CheckCitizen(u))
		}, Description: "Record an update the citizen sent through FixMyStreet"},
	)
}
