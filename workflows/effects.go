package workflows

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// The effects a case asks of the outside world. Each starts from the loop,
// runs in the background, and hands its answer back through the inbox; the
// loop never waits on one.

// routing is a routing decision under way.
type routing struct {
	// stale is set when the case changed so that the answer on its way no
	// longer fits (recategorised): it is dropped and routing runs again.
	stale bool
	// again is set for every routing after the first: moving departments then
	// restarts the department's clock.
	again bool
}

// routingUnderWay reports whether the rules are deciding, or about to decide,
// where the case goes.
func (r *run) routingUnderWay() bool { return r.wantRoute || r.routing != nil }

// reroute asks for routing to run again. An answer already on its way was
// worked out for the case as it was, so it is dropped when it arrives.
func (r *run) reroute() {
	if r.routing != nil {
		r.routing.stale = true
	}
	r.wantRoute = true
}

// startRouting asks the routing local activity where the case goes, if it is
// wanted and none is under way.
func (r *run) startRouting(ctx workflow.Context) {
	if !r.wantRoute || r.routing != nil {
		return
	}
	r.wantRoute = false
	rt := &routing{again: r.c.Routing != nil}
	r.routing = rt
	f := workflow.ExecuteLocalActivity(routeOptions(ctx), effects.ActivityRoute, effects.RouteRequest{Case: *r.c.Clone(), FindDuplicate: !rt.again})
	workflow.Go(ctx, func(ctx workflow.Context) {
		var res effects.Routed
		err := f.Get(ctx, &res)
		r.inbox.push(func(now time.Time) {
			if r.routing != rt {
				return // abandoned as the case completed
			}
			r.routing = nil
			if rt.stale {
				return // wantRoute is set: routing runs again for the case as it is
			}
			r.routed(res, err, rt, now)
		})
	})
}

func routeOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
}

// routed applies a routing answer. If routing could not answer at all, the
// default route is taken and the failure recorded, so a case is never left
// unrouted. Moving to another department restarts the department's SLA
// clock; the citizen's runs on.
func (r *run) routed(res effects.Routed, err error, rt *routing, now time.Time) {
	if err != nil {
		res = effects.Routed{Decision: r.settings.DefaultRoute}
		res.Error = "routing failed, default route taken: " + err.Error()
	}
	res = r.notBackToSender(res, rt.again)
	// A partner is handed the case only if nobody moved it meanwhile.
	r.wantHandoff = res.HandOff && res.Partner != "" && r.kept.Department == ""
	if !rt.again && res.DuplicateOf != "" && res.DuplicateOf != r.c.Ref {
		r.wantLink = res.DuplicateOf
	}
	from := r.c.Department
	r.c.RouteKeeping(res.Decision, r.kept, now)
	r.kept = cases.Kept{}
	r.applyPolicy(res.Policy, now)
	if rt.again && from != r.c.Department && r.sla != nil {
		r.sla.Clocks.Transfer(now)
	}
	r.refresh(now)
}

// notBackToSender sends the case to the triage queue, for a person to decide,
// when the rules choose the department that has just sent it back.
func (r *run) notBackToSender(res effects.Routed, again bool) effects.Routed {
	sender := r.sentBackBy
	r.sentBackBy = ""
	if !again || sender == "" || res.Department != sender {
		return res
	}
	d := r.settings.DefaultRoute
	d.Explanation = append([]string{"rules chose " + res.Department + ", which sent the case back; taking the triage route"}, res.Explanation...)
	return effects.Routed{Decision: d, Policy: res.Policy}
}

// projectTimeout bounds one projection attempt series: within it, attempts
// are retried every few seconds, so the read model catches up within seconds
// of Redis returning; past it, the case records that it waits and starts a
// new projection of the case as it then is.
const projectTimeout = 2 * time.Minute

// startProjection writes the case to the read model if the read model is
// behind and no projection is under way.
func (r *run) startProjection(ctx workflow.Context) {
	if r.projecting != 0 || r.c.Version <= r.projected {
		return
	}
	snap := r.c.Clone()
	snap.Answered(cases.WaitReadModel) // a read model holding it has caught up
	r.projecting = snap.Version
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: projectTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 5 * time.Second,
			NonRetryableErrorTypes: []string{effects.ErrTypeProjectInput}},
	})
	f := workflow.ExecuteActivity(actx, effects.ActivityProject, snap)
	workflow.Go(ctx, func(ctx workflow.Context) {
		err := f.Get(ctx, nil)
		r.inbox.push(func(now time.Time) {
			r.projecting = 0
			if err != nil {
				r.c.Failed(cases.WaitReadModel, err.Error(), now)
				if isInputError(err) {
					// The same snapshot cannot succeed: try again only once
					// the case has changed.
					r.projected = snap.Version
				}
				return
			}
			r.projected = max(r.projected, snap.Version)
			if r.projected >= r.c.Version {
				r.c.Answered(cases.WaitReadModel)
			}
		})
	})
}

func isInputError(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == effects.ErrTypeProjectInput
}

// resumeNotices delivers the notices the previous run handed over.
func (r *run) resumeNotices(ctx workflow.Context) {
	for _, n := range r.carried {
		r.notify(ctx, n)
	}
	r.carried = nil
}

// notify sends one notice in the background. Delivery is retried for a day;
// a notice that cannot be delivered is recorded on the timeline.
func (r *run) notify(ctx workflow.Context, n effects.Notice) {
	if r.notices == nil {
		r.notices = map[string]effects.Notice{}
	}
	r.notices[n.Key] = n
	// The activity is scheduled from its own goroutine: histories from before
	// the one-owner loop have it scheduled there, after the loop's own commands.
	workflow.Go(ctx, func(ctx workflow.Context) {
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			// SMTP alone may take 30 s, and a crashed attempt holds the
			// notice's lease for a minute.
			StartToCloseTimeout:    2 * time.Minute,
			ScheduleToCloseTimeout: 24 * time.Hour,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: 10 * time.Minute,
				NonRetryableErrorTypes: []string{effects.ErrTypeNotifyPermanent}},
		})
		err := workflow.ExecuteActivity(actx, effects.ActivityNotify, n).Get(ctx, nil)
		r.settle(ctx, func(now time.Time) {
			delete(r.notices, n.Key)
			if err != nil {
				r.c.Append(cases.Entry{At: now, Actor: "escalation", Kind: cases.KindComment,
					Note: "Could not notify " + recipientName(n.Recipient) + " of escalation " + strconv.Itoa(n.Seq) + ": " + err.Error()})
			}
		})
	})
}

// settle hands an effect's answer to the loop. Histories from before the
// one-owner loop applied it where it arrived.
func (r *run) settle(ctx workflow.Context, apply func(now time.Time)) {
	if r.legacy {
		apply(workflow.Now(ctx))
		return
	}
	r.inbox.push(apply)
}

// syncSearchAttributes upserts the search attributes when they differ from
// those last sent, so a case's history holds one upsert per real change.
func (r *run) syncSearchAttributes(ctx workflow.Context) {
	sig := r.searchSignature()
	if sig == r.saSent {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, r.searchAttributes()...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		return
	}
	r.saSent = sig
}

// sortedKeys lists a map's keys in order, so iterating it is deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// timer is the loop's one durable timer, for the next instant something
// falls due. It is re-armed only when that instant moves, so a busy case's
// history does not fill with timers started and cancelled.
type timer struct {
	at     time.Time
	cancel workflow.CancelFunc
	fired  bool
}

// arm sets the timer for at (zero: none), replacing one set for another time.
func (t *timer) arm(ctx workflow.Context, at, now time.Time) {
	if at.Equal(t.at) {
		return
	}
	if t.cancel != nil {
		t.cancel()
		t.cancel = nil
	}
	t.at = at
	if at.IsZero() {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	t.cancel = cancel
	// A timer for an instant already past fires at once.
	f := workflow.NewTimer(tctx, max(at.Sub(now), time.Millisecond))
	workflow.Go(ctx, func(ctx workflow.Context) {
		if f.Get(ctx, nil) == nil && t.at.Equal(at) {
			t.fired, t.at, t.cancel = true, time.Time{}, nil
		}
	})
}
