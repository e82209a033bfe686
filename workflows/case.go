package workflows

import (
	"errors"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/sla"
)

// Settings are the parts of configuration a case needs for its whole life. They
// are fixed when the case starts (and carried over continue-as-new), so replay
// never depends on a configuration file that has since changed.
type Settings struct {
	// ReopenWindow is how long a closed case can be reopened before it completes.
	ReopenWindow time.Duration `json:"reopen_window"`
	// MaxHistoryEvents makes the case continue-as-new past this history length.
	MaxHistoryEvents int `json:"max_history_events"`
	// DefaultRoute is taken when routing itself fails.
	DefaultRoute cases.Decision `json:"default_route"`
	// Calendar is the council's working time, for SLAs counted in working time.
	Calendar calendar.Config `json:"calendar"`
}

// Input starts a case: either a new report, or (after continue-as-new) the case
// as it stood, with its SLA clocks.
type Input struct {
	Report   *cases.Report `json:"report,omitempty"`
	Service  cases.Service `json:"service"`
	Case     *cases.Case   `json:"case,omitempty"`
	SLA      *SLAState     `json:"sla,omitempty"`
	Settings Settings      `json:"settings"`
}

// RouteRequest asks the routing activity where a case should go.
type RouteRequest struct {
	Case cases.Case `json:"case"`
}

// Routed is the routing activity's answer: the decision and, when it names one,
// the SLA policy as configured today. The case keeps that version of the policy,
// so a later change to it applies to new cases only.
type Routed struct {
	cases.Decision
	Policy *sla.Policy `json:"policy,omitempty"`
}

// Workflows is the case workflow together with what it shares across the cases
// of one worker process: parsed calendars, which are immutable, so sharing them
// cannot make a replay differ.
type Workflows struct {
	calendars *calendar.Cache
}

// New returns the case workflows, ready to register on a worker.
func New() *Workflows { return &Workflows{calendars: calendar.NewCache()} }

// Case is the workflow of one case, for its whole life: it routes the case, runs
// its SLA clocks and escalation ladder on durable timers, keeps the read model
// and search attributes current, applies staff and citizen changes through
// validated updates, and completes once a closed case's reopen window has passed.
func (w *Workflows) Case(ctx workflow.Context, in Input) error {
	r := &run{settings: in.Settings, sla: in.SLA}
	if in.Case != nil {
		r.c = in.Case
	} else {
		if in.Report == nil {
			return temporal.NewNonRetryableApplicationError("case started with neither a report nor a case", ErrTypeInput, nil)
		}
		r.c = cases.New(strings.TrimPrefix(workflow.GetInfo(ctx).WorkflowExecution.ID, "case-"), *in.Report, in.Service, workflow.Now(ctx))
	}
	cal, err := w.calendars.Get(in.Settings.Calendar)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("calendar: "+err.Error(), ErrTypeInput, err)
	}
	r.cal = cal
	if err := r.register(ctx); err != nil {
		return err
	}
	if r.c.Routing == nil {
		r.route(ctx, false)
	}
	return r.loop(ctx)
}

// run is the state of one workflow run. Handlers only change it synchronously,
// never blocking, so they cannot interleave with each other halfway.
type run struct {
	c         *cases.Case
	settings  Settings
	sla       *SLAState // nil when no policy applies
	cal       *calendar.Calendar
	projected int64 // the newest version written to the read model
	// reroute is set by a handler that wants routing to run again: after a
	// change of category, or a department sending the case back to triage.
	reroute    bool
	sentBackBy string // the department that sent the case back, if any
	notices    int    // notification activities still running
}

// route asks the routing activity where the case goes and records the answer. If
// routing cannot answer at all, the default route is taken and the failure
// recorded, so a case is never left unrouted or stalled. Moving to another
// department restarts the department's SLA clock; the citizen's runs on.
func (r *run) route(ctx workflow.Context, again bool) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	var res Routed
	if err := workflow.ExecuteLocalActivity(lctx, ActivityRoute, RouteRequest{Case: *r.c}).Get(ctx, &res); err != nil {
		res = Routed{Decision: r.settings.DefaultRoute}
		res.Error = "routing failed, default route taken: " + err.Error()
	}
	now := workflow.Now(ctx)
	if again && r.sentBackBy != "" && res.Department == r.sentBackBy {
		// The rules chose the department that has just said the case is not
		// theirs: send it to the triage queue for a person to decide.
		d := r.settings.DefaultRoute
		d.Explanation = append([]string{"rules chose " + res.Department + ", which sent the case back; taking the triage route"}, res.Explanation...)
		res = Routed{Decision: d, Policy: res.Policy}
	}
	r.sentBackBy = ""
	from := r.c.Department
	r.c.Route(res.Decision, now)
	r.applyPolicy(res.Policy, now)
	if again && from != r.c.Department && r.sla != nil {
		r.sla.Clocks.Transfer(now)
	}
	r.refresh(now)
}

// loop waits for changes and timers until the case is finished: it projects
// each change, fires each escalation when due, and continues-as-new before the
// history grows large.
func (r *run) loop(ctx workflow.Context) error {
	for {
		now := workflow.Now(ctx)
		switch {
		case r.reroute:
			r.reroute = false
			r.route(ctx, true)
			continue
		case r.c.Version > r.projected:
			r.project(ctx)
			continue
		case r.finished(now):
			// Let notices already under way be delivered before completing.
			return workflow.Await(ctx, func() bool { return r.notices == 0 })
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
			// Let in-flight updates and notices finish, and write what they
			// changed, first.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.notices == 0 }); err != nil {
				return err
			}
			if r.c.Version > r.projected || r.reroute {
				continue
			}
			return workflow.NewContinueAsNewError(ctx, WorkflowName, Input{Case: r.c, Service: r.c.Service, SLA: r.sla, Settings: r.settings})
		}
		wake := func() bool { return r.reroute || r.c.Version > r.projected || r.shouldContinueAsNew(ctx) }
		if d, ok := r.nextTimer(now, step, hasStep); ok {
			if _, err := workflow.AwaitWithTimeout(ctx, d, wake); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return err
		}
	}
}

// nextTimer is how long to sleep before something is due: the next escalation
// step (as nextStep found it), the citizen's due time, or the end of a closed
// case's reopen window.
func (r *run) nextTimer(now time.Time, step sla.Step, hasStep bool) (time.Duration, bool) {
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
	if r.sla != nil {
		if !r.sla.Overdue && !r.c.Status.Closed() {
			earliest(r.c.DueAt)
		}
	}
	if next.IsZero() {
		return 0, false
	}
	// A timer for an instant already past fires at once on the next loop.
	return max(next.Sub(now), time.Millisecond), true
}

func (r *run) finished(now time.Time) bool {
	return r.c.ClosedAt != nil && !now.Before(r.c.ClosedAt.Add(r.settings.ReopenWindow))
}

func (r *run) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() ||
		(r.settings.MaxHistoryEvents > 0 && info.GetCurrentHistoryLength() >= r.settings.MaxHistoryEvents)
}

// project writes the case to the read model and refreshes its search attributes.
// The read model keeps only the newest version, so a retry is harmless; retries
// go on for as long as Redis is away, because giving up would leave the read
// model stale, and `casebridge reindex` can always rebuild it.
func (r *run) project(ctx workflow.Context) {
	c := r.c
	r.upsertSearchAttributes(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute},
	})
	version := c.Version
	if err := workflow.ExecuteActivity(actx, ActivityProject, c).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("project case", "ref", c.Ref, "error", err)
	}
	r.projected = version
}

func (r *run) upsertSearchAttributes(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, r.searchAttributes()...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

func (r *run) searchAttributes() []temporal.SearchAttributeUpdate {
	c := r.c
	u := []temporal.SearchAttributeUpdate{
		SAStatus.ValueSet(string(c.Status)),
		SADepartment.ValueSet(c.Department),
		SAServiceCode.ValueSet(c.Service.Code),
		SAPriority.ValueSet(string(c.Priority)),
		SASource.ValueSet(string(c.Report().Source)),
		SAReceivedAt.ValueSet(c.ReceivedAt),
		keywordOrUnset(SATeam, c.Team),
		keywordOrUnset(SAAssignee, c.Assignee),
	}
	if c.Routing != nil && c.Routing.RuleID != "" {
		u = append(u, SARoutingRule.ValueSet(c.Routing.RuleID))
	}
	if c.DueAt.IsZero() {
		u = append(u, SADueAt.ValueUnset())
	} else {
		u = append(u, SADueAt.ValueSet(c.DueAt))
	}
	if r.sla != nil {
		u = append(u, SAOverdue.ValueSet(r.sla.Overdue), SAEscalationLevel.ValueSet(int64(r.ladderLevel())))
	}
	return u
}

func keywordOrUnset(k temporal.SearchAttributeKeyKeyword, v string) temporal.SearchAttributeUpdate {
	if v == "" {
		return k.ValueUnset()
	}
	return k.ValueSet(v)
}

// Error types a validator rejects with, so clients can map them to HTTP statuses.
const (
	ErrTypeTransition = "TransitionError"
	ErrTypeInput      = "InputError"
)

// rejection turns a domain error into an application error whose type survives
// the trip back to the client.
func rejection(err error) error {
	if err == nil {
		return nil
	}
	var te *cases.TransitionError
	if errors.As(err, &te) {
		return temporal.NewApplicationErrorWithOptions(te.Reason, ErrTypeTransition, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{te}})
	}
	var ie *cases.InputError
	if errors.As(err, &ie) {
		return temporal.NewApplicationErrorWithOptions(ie.Error(), ErrTypeInput, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{ie}})
	}
	return err
}
