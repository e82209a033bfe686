// Package activities is the code that touches the outside world on behalf of a
// case workflow: routing, the read model, and (in time) back-office systems,
// partners and notifications. Each activity is idempotent and says how.
package activities

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// Router decides where a case goes.
type Router interface {
	Route(ctx context.Context, c cases.Case) (cases.Decision, error)
}

// Projector writes a case to the read model, keeping only its newest version.
type Projector interface {
	Project(ctx context.Context, c *cases.Case) (bool, error)
}

// Activities holds what the activities need; the worker registers its methods.
type Activities struct {
	Router    Router
	Projector Projector
	Log       *slog.Logger
}

// RouteCase decides where a case goes. It runs as a local activity, so its answer
// is recorded in the case's history and replay never re-evaluates the rules. It
// reads only, so running it twice is harmless.
func (a *Activities) RouteCase(ctx context.Context, req workflows.RouteRequest) (cases.Decision, error) {
	d, err := a.Router.Route(ctx, req.Case)
	if err != nil {
		return cases.Decision{}, fmt.Errorf("route case %s: %w", req.Case.Ref, err)
	}
	return d, nil
}

// ProjectCase writes a case snapshot to the read model. Idempotent by the case's
// version: the read model ignores a version it already has or one older than it
// has, so a retry or a late duplicate never regresses what staff see.
func (a *Activities) ProjectCase(ctx context.Context, c *cases.Case) error {
	applied, err := a.Projector.Project(ctx, c)
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
