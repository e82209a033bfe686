// Package activities is the code that touches the outside world on behalf of a
// case workflow: routing, the read model, and (in time) back-office systems,
// partners and notifications. Each activity is idempotent and says how.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/partners"
	"github.com/casebridge/casebridge/sla"
)

// Router decides where a case goes.
type Router interface {
	Route(ctx context.Context, c cases.Case) (cases.Decision, error)
}

// Projector writes a case to the read model, keeping only its newest version.
type Projector interface {
	Project(ctx context.Context, c *cases.Case) (bool, error)
}

// Fallback routes with Router and, when it has no rules to route by (none
// published yet), takes the default route at once instead of failing: a new
// council's cases go to triage from the first day.
type Fallback struct {
	Router  Router
	Default cases.Decision
	// NoRules tells the router's "nothing to route by" error apart.
	NoRules func(error) bool
}

// Route routes c, or takes the default route.
func (f Fallback) Route(ctx context.Context, c cases.Case) (cases.Decision, error) {
	d, err := f.Router.Route(ctx, c)
	if err != nil && f.NoRules != nil && f.NoRules(err) {
		d = f.Default
		d.Explanation = []string{"no routing rules are published yet: every case takes the default route"}
		return d, nil
	}
	return d, err
}

// Counter counts routing decisions by rule set and outcome.
type Counter interface {
	RoutingDecision(ruleSet, outcome string)
}

// Notifier delivers an escalation notice once per key, whatever retries happen
// (notify.Dispatcher).
type Notifier interface {
	Deliver(ctx context.Context, n notify.Notice) (notify.Entry, error)
}

// Partners posts hand-offs to partner agencies (partners.Poster), and says
// which partners take them.
type Partners interface {
	Post(ctx context.Context, h partners.Handoff) (time.Duration, error)
	TakesHandoffs(code string) bool
}

// Duplicates finds the case a new report likely duplicates, atomically with
// making it findable (readmodel.Store).
type Duplicates interface {
	FindParent(ctx context.Context, ref, serviceCode string, lat, long, radiusMetres float64, received time.Time, window time.Duration) (string, error)
}

// DefaultDuplicateWindow is how far back a likely duplicate's parent may
// have been reported when the configuration does not say.
const DefaultDuplicateWindow = 30 * 24 * time.Hour

// Activities holds what the activities need; the worker registers its methods.
type Activities struct {
	Router    Router
	Projector Projector
	Notifier  Notifier
	// Partners hands cases to partner agencies; nil means no partner takes
	// hand-offs.
	Partners Partners
	// Duplicates finds likely duplicates at intake (nil: none are looked
	// for), among cases received within DuplicateWindow
	// (DefaultDuplicateWindow if zero).
	Duplicates      Duplicates
	DuplicateWindow time.Duration
	// CaseLink is where staff open a case, for notices.
	CaseLink func(ref string) string
	// Policies are the SLA policies as configured now; a routed case takes a
	// copy of the one its decision names (or DefaultPolicy).
	Policies      sla.Policies
	DefaultPolicy string
	Metrics       Counter
	Log           *slog.Logger
	// BackOffices are the configured back-office systems, by name.
	BackOffices map[string]BackOffice
	// Inbound brings each back office's changes to the cases, by name.
	Inbound map[string]*backoffice.Inbound
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// RouteCase decides where a case goes and attaches the SLA policy the decision
// names, as configured today. It runs as a local activity, so its answer is
// recorded in the case's history and replay never re-evaluates the rules or
// re-reads the policies. Running it twice is harmless: it reads, but for the
// duplicate look-up, which keeps its first answer for the case.
func (a *Activities) RouteCase(ctx context.Context, req effects.RouteRequest) (effects.Routed, error) {
	d, err := a.Router.Route(ctx, req.Case)
	if err != nil {
		return effects.Routed{}, fmt.Errorf("route case %s: %w", req.Case.Ref, err)
	}
	if a.Metrics != nil {
		outcome := "matched"
		switch {
		case d.Error != "":
			outcome = "error"
		case d.RuleID == "" || d.RuleID == "default":
			outcome = "default"
		}
		a.Metrics.RoutingDecision(d.RuleSet, outcome)
	}
	res := effects.Routed{Decision: d}
	res.HandOff = d.Partner != "" && a.Partners != nil && a.Partners.TakesHandoffs(d.Partner)
	if req.FindDuplicate && d.DuplicateRadius > 0 && a.Duplicates != nil && req.Case.Report().Location.HasPoint() {
		loc := req.Case.Report().Location
		window := a.DuplicateWindow
		if window <= 0 {
			window = DefaultDuplicateWindow
		}
		parent, err := a.Duplicates.FindParent(ctx, req.Case.Ref, req.Case.Service.Code, *loc.Lat, *loc.Long, float64(d.DuplicateRadius), req.Case.ReceivedAt, window)
		if err != nil {
			// The case is routed all the same; a supervisor can still merge it.
			res.Explanation = append(res.Explanation, "could not look for duplicates: "+err.Error())
		}
		res.DuplicateOf = parent
	}
	name := d.SLAPolicy
	if name == "" {
		name = a.DefaultPolicy
	}
	if name != "" {
		p, ok := a.Policies.Find(name)
		if !ok {
			// A rule naming a policy that has since been removed must not leave
			// the case without a promise.
			if p, ok = a.Policies.Find(a.DefaultPolicy); ok {
				res.Explanation = append(res.Explanation, fmt.Sprintf("SLA policy %q does not exist; %q applies", name, a.DefaultPolicy))
			}
		}
		if ok {
			res.Policy = &p
			res.SLAPolicy = p.Name
		}
	}
	return res, nil
}

// NotifyRecipient tells one recipient about one escalation. Idempotent by the
// notice's key: the notifier records each key once and never sends a notice it
// has already sent, so retries and replays deliver it once. A notice no retry
// can deliver (an unknown recipient, a webhook answering 4xx) fails for good.
func (a *Activities) NotifyRecipient(ctx context.Context, n effects.Notice) error {
	notice := notify.Notice{
		Key: n.Key, Ref: n.Ref, Recipient: sla.Recipient(n.Recipient), Department: n.Department, Team: n.Team, Assignee: n.Assignee,
		Level: n.Level, Category: n.Service, Status: n.Status, Priority: n.Priority, DueAt: n.DueAt, At: n.At,
	}
	if a.CaseLink != nil {
		notice.Link = a.CaseLink(n.Ref)
	}
	if _, err := a.Notifier.Deliver(ctx, notice); err != nil {
		if notify.IsPermanent(err) {
			return temporal.NewNonRetryableApplicationError(err.Error(), effects.ErrTypeNotifyPermanent, err)
		}
		return fmt.Errorf("notify %s of %s: %w", n.Recipient, n.Key, err)
	}
	return nil
}

// ProjectCase writes a case snapshot to the read model. Idempotent by the case's
// version: the read model ignores a version it already has or one older than it
// has, so a retry or a late duplicate never regresses what staff see. A case
// the read model refuses as invalid fails for good (no retry can change it);
// anything else, Redis being away above all, is retried.
func (a *Activities) ProjectCase(ctx context.Context, c *cases.Case) error {
	applied, err := a.Projector.Project(ctx, c)
	var invalid *cases.InputError
	if errors.As(err, &invalid) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("project case %s v%d: %v", c.Ref, c.Version, err), effects.ErrTypeProjectInput, err)
	}
	if err != nil {
		return fmt.Errorf("project case %s v%d: %w", c.Ref, c.Version, err)
	}
	if !applied {
		a.Log.DebugContext(ctx, "projection already applied", "ref", c.Ref, "version", c.Version)
	}
	return nil
}

// StaticRouter sends every case to one route. It stands in where no rule set is
// configured, so a case is always routed somewhere staff look.
type StaticRouter struct{ Decision cases.Decision }

// Route returns the fixed route.
func (s StaticRouter) Route(_ context.Context, c cases.Case) (cases.Decision, error) {
	d := s.Decision
	d.Explanation = []string{"no rule set is active: every case takes the default route"}
	d.Facts = cases.Facts{"service_code": c.Service.Code}
	return d, nil
}

// PostPartnerHandoff delivers a hand-off to its partner agency, signed.
// Idempotent by the hand-off's id: every attempt carries it as the
// Idempotency-Key, so a partner takes a retried hand-off once. A hand-off no
// retry can deliver (the partner lacks a url or secret, or answers 4xx) fails
// for good, and the case goes back to triage saying why.
func (a *Activities) PostPartnerHandoff(ctx context.Context, h effects.Handoff) (effects.HandedOff, error) {
	if a.Partners == nil {
		return effects.HandedOff{}, temporal.NewNonRetryableApplicationError("no partner takes hand-offs here", effects.ErrTypeHandoffPermanent, nil)
	}
	silence, err := a.Partners.Post(ctx, partners.NewHandoff(h.ID, h.Ref, h.Partner, h.Service, h.Report, h.At))
	if err != nil {
		if partners.IsPermanent(err) {
			return effects.HandedOff{}, temporal.NewNonRetryableApplicationError(err.Error(), effects.ErrTypeHandoffPermanent, err)
		}
		return effects.HandedOff{}, fmt.Errorf("hand %s to %s: %w", h.Ref, h.Partner, err)
	}
	return effects.HandedOff{Silence: silence}, nil
}
