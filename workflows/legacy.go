package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/sla"
)

// The case loop as it was before the one-owner loop, kept so that histories it
// wrote still replay (workflows/testdata/v0-* and case-*, recorded before the
// version marker). It waited on routing and on each projection, and applied
// changes in the update handlers. Cases it started run on it until they
// continue as new; every new run takes the one-owner loop. Do not change the
// commands it issues or their order.

func (r *run) legacyLoop(ctx workflow.Context) error {
	r.wantRoute = false
	if r.c.Routing == nil {
		r.legacyRoute(ctx, false)
	}
	for {
		now := workflow.Now(ctx)
		switch {
		case r.wantRoute:
			r.wantRoute = false
			r.legacyRoute(ctx, true)
			continue
		case r.c.Version > r.projected:
			r.legacyProject(ctx)
			continue
		case r.finished(now):
			return workflow.Await(ctx, func() bool { return len(r.notices) == 0 })
		}
		step, hasStep := r.nextStep()
		if hasStep && !now.Before(step.At) {
			r.escalate(ctx, step, now)
			continue
		}
		if r.overdueChanged(now) {
			r.upsertSearchAttributes(ctx)
			continue
		}
		if r.shouldContinueAsNew(ctx) {
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && len(r.notices) == 0 }); err != nil {
				return err
			}
			if r.c.Version > r.projected || r.wantRoute {
				continue
			}
			return workflow.NewContinueAsNewError(ctx, WorkflowName, Input{Case: r.c, Service: r.c.Service, SLA: r.sla, Settings: r.settings})
		}
		wake := func() bool { return r.wantRoute || r.c.Version > r.projected || r.shouldContinueAsNew(ctx) }
		if d, ok := r.legacyTimer(now, step, hasStep); ok {
			if _, err := workflow.AwaitWithTimeout(ctx, d, wake); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return err
		}
	}
}

func (r *run) legacyRoute(ctx workflow.Context, again bool) {
	var res effects.Routed
	err := workflow.ExecuteLocalActivity(routeOptions(ctx), effects.ActivityRoute, effects.RouteRequest{Case: *r.c}).Get(ctx, &res)
	if err != nil {
		res = effects.Routed{Decision: r.settings.DefaultRoute}
		res.Error = "routing failed, default route taken: " + err.Error()
	}
	now := workflow.Now(ctx)
	res = r.notBackToSender(res, again)
	from := r.c.Department
	r.c.Route(res.Decision, now)
	r.applyPolicy(res.Policy, now)
	if again && from != r.c.Department && r.sla != nil {
		r.sla.Clocks.Transfer(now)
	}
	r.refresh(now)
}

func (r *run) legacyProject(ctx workflow.Context) {
	c := r.c
	r.upsertSearchAttributes(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	version := c.Version
	if err := workflow.ExecuteActivity(actx, effects.ActivityProject, c).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("project case", "ref", c.Ref, "error", err)
	}
	r.projected = version
}

func (r *run) legacyTimer(now time.Time, step sla.Step, hasStep bool) (time.Duration, bool) {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if r.c.ClosedAt != nil {
		earliest(r.c.ClosedAt.Add(r.settings.ReopenWindow))
	}
	if hasStep {
		earliest(step.At)
	}
	if r.sla != nil && !r.sla.Overdue && !r.c.Status.Closed() {
		earliest(r.c.DueAt)
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(now), time.Millisecond), true
}
