package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
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
}

// Input starts a case: either a new report, or (after continue-as-new) the case
// as it stood.
type Input struct {
	Report   *cases.Report `json:"report,omitempty"`
	Service  cases.Service `json:"service"`
	Case     *cases.Case   `json:"case,omitempty"`
	Settings Settings      `json:"settings"`
}

// RouteRequest asks the routing activity where a case should go.
type RouteRequest struct {
	Case cases.Case `json:"case"`
}

// Comment is a note added to a case without changing its status.
type Comment struct {
	Note   string `json:"note"`
	Public bool   `json:"public"`
	Actor  string `json:"actor"`
}

// Error types a validator rejects with, so clients can map them to HTTP statuses.
const (
	ErrTypeTransition = "TransitionError"
	ErrTypeInput      = "InputError"
)

// Case is the workflow of one case, for its whole life: it routes the case, keeps
// the read model and search attributes current, applies staff and citizen changes
// through validated updates, and completes once a closed case's reopen window
// has passed.
func Case(ctx workflow.Context, in Input) error {
	r := &run{settings: in.Settings}
	if in.Case != nil {
		r.c = in.Case
	} else {
		if in.Report == nil {
			return temporal.NewNonRetryableApplicationError("case started with neither a report nor a case", ErrTypeInput, nil)
		}
		r.c = cases.New(strings.TrimPrefix(workflow.GetInfo(ctx).WorkflowExecution.ID, "case-"), *in.Report, in.Service, workflow.Now(ctx))
	}
	if err := r.register(ctx); err != nil {
		return err
	}
	if r.c.Routing == nil {
		r.route(ctx)
	}
	return r.loop(ctx)
}

// run is the state of one workflow run. Handlers only change it synchronously,
// never blocking, so they cannot interleave with each other halfway.
type run struct {
	c         *cases.Case
	settings  Settings
	projected int64 // the newest version written to the read model
}

func (r *run) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*cases.Case, error) { return r.c, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTransition,
		func(ctx workflow.Context, ch cases.Change) (*cases.Case, error) {
			r.c.Apply(ch, workflow.Now(ctx))
			return r.c.Clone(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, ch cases.Change) error {
			return rejection(r.c.Check(ch))
		}, Description: "Move the case to a new status"},
	); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateComment,
		func(ctx workflow.Context, cm Comment) (*cases.Case, error) {
			r.c.Append(cases.Entry{At: workflow.Now(ctx), Actor: cm.Actor, Kind: cases.KindComment, Note: cm.Note, Public: cm.Public})
			return r.c.Clone(), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, cm Comment) error {
			return rejection(checkComment(cm))
		}, Description: "Add a note to the case"},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCitizen,
		func(ctx workflow.Context, u cases.CitizenUpdate) (cases.CitizenResult, error) {
			return r.c.ApplyCitizen(u, workflow.Now(ctx)), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, u cases.CitizenUpdate) error {
			return rejection(r.c.CheckCitizen(u))
		}, Description: "Record an update the citizen sent through FixMyStreet"},
	)
}

// checkComment validates a note added without a status change.
func checkComment(cm Comment) error {
	if strings.TrimSpace(cm.Note) == "" {
		return &cases.InputError{Field: "note", Reason: "is empty"}
	}
	if len(cm.Note) > cases.MaxNote {
		return &cases.InputError{Field: "note", Reason: fmt.Sprintf("is longer than %d characters", cases.MaxNote)}
	}
	return nil
}

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

// route asks the routing activity where the case goes and records the answer. If
// routing cannot answer at all, the default route is taken and the failure
// recorded, so a case is never left unrouted or stalled.
func (r *run) route(ctx workflow.Context) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	var d cases.Decision
	if err := workflow.ExecuteLocalActivity(lctx, ActivityRoute, RouteRequest{Case: *r.c}).Get(ctx, &d); err != nil {
		d = r.settings.DefaultRoute
		d.Error = "routing failed, default route taken: " + err.Error()
	}
	r.c.Route(d, workflow.Now(ctx))
}

// loop waits for changes and timers until the case is finished, projecting each
// change and continuing-as-new before the history grows large.
func (r *run) loop(ctx workflow.Context) error {
	for {
		if r.c.Version > r.projected {
			r.project(ctx)
			continue
		}
		if r.finished(workflow.Now(ctx)) {
			return nil
		}
		if r.shouldContinueAsNew(ctx) {
			// Let in-flight updates finish, and write what they changed, first.
			if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
				return err
			}
			if r.c.Version > r.projected {
				continue
			}
			return workflow.NewContinueAsNewError(ctx, WorkflowName, Input{Case: r.c, Service: r.c.Service, Settings: r.settings})
		}
		wake := func() bool { return r.c.Version > r.projected || r.shouldContinueAsNew(ctx) }
		if d, ok := r.nextTimer(workflow.Now(ctx)); ok {
			if _, err := workflow.AwaitWithTimeout(ctx, d, wake); err != nil {
				return err
			}
		} else if err := workflow.Await(ctx, wake); err != nil {
			return err
		}
	}
}

// nextTimer is how long to sleep before something is due: for now, the end of a
// closed case's reopen window.
func (r *run) nextTimer(now time.Time) (time.Duration, bool) {
	if r.c.ClosedAt == nil {
		return 0, false
	}
	return max(r.c.ClosedAt.Add(r.settings.ReopenWindow).Sub(now), time.Millisecond), true
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
// go on for as long as Redis is away, because losing a projection loses nothing
// that `casebridge reindex` could not rebuild, but giving up would leave the
// read model stale.
func (r *run) project(ctx workflow.Context) {
	c := r.c
	if err := workflow.UpsertTypedSearchAttributes(ctx, searchAttributes(c)...); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
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

func searchAttributes(c *cases.Case) []temporal.SearchAttributeUpdate {
	u := []temporal.SearchAttributeUpdate{
		SAStatus.ValueSet(string(c.Status)),
		SADepartment.ValueSet(c.Department),
		SAServiceCode.ValueSet(c.Service.Code),
		SAPriority.ValueSet(string(c.Priority)),
		SASource.ValueSet(string(c.Report().Source)),
		SAReceivedAt.ValueSet(c.ReceivedAt),
	}
	u = append(u, keywordOrUnset(SATeam, c.Team), keywordOrUnset(SAAssignee, c.Assignee))
	if c.Routing != nil && c.Routing.RuleID != "" {
		u = append(u, SARoutingRule.ValueSet(c.Routing.RuleID))
	}
	if c.DueAt.IsZero() {
		u = append(u, SADueAt.ValueUnset())
	} else {
		u = append(u, SADueAt.ValueSet(c.DueAt))
	}
	return u
}

func keywordOrUnset(k temporal.SearchAttributeKeyKeyword, v string) temporal.SearchAttributeUpdate {
	if v == "" {
		return k.ValueUnset()
	}
	return k.ValueSet(v)
}
