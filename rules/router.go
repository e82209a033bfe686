package rules

import (
	"context"
	"errors"

	"github.com/casebridge/casebridge/cases"
)

// Active gives the rule set to route with; a Watcher does.
type Active interface {
	Current() *Compiled
}

var _ Active = (*Watcher)(nil)

// ErrNoActive means no version of the rule set is loaded yet.
var ErrNoActive = errors.New("no rule set is active")

// Router routes cases with the active rule set; the routing activity calls it.
type Router struct {
	Rules   Active
	Sources FactSources
}

// Route builds the case's facts and routes them. With no rule set loaded it
// fails with ErrNoActive, and the workflow takes its default route. If the
// count of open cases nearby cannot be had, the case is routed anyway with
// open_nearby as 0, and the explanation says so: one fact must not hold up
// every case.
func (r Router) Route(ctx context.Context, c cases.Case) (cases.Decision, error) {
	set := r.Rules.Current()
	if set == nil {
		return cases.Decision{}, ErrNoActive
	}
	src := r.Sources
	src.Except = c.Ref
	if !set.Uses("open_nearby") {
		src.Nearby = nil // spare the read model a query no rule reads
	}
	f, err := BuildFacts(ctx, c.Report(), c.Service, src)
	d := set.Route(f)
	if err != nil {
		d.Explanation = append(d.Explanation, "open_nearby was taken as 0: "+err.Error())
	}
	return d, nil
}
