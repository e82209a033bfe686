// Package caseflowtest provides an in-memory stand-in for the case workflows, so
// HTTP tests run without a Temporal server. It applies the same domain rules (the
// cases package) synchronously; end-to-end tests use the real engine.
package caseflowtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// Engine keeps cases in memory.
type Engine struct {
	// Route is where every new case goes.
	Route cases.Decision
	// Project, when set, is called with every changed case, as the workflow's
	// projection activity would.
	Project func(context.Context, *cases.Case) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Down, when set, makes every call fail as if Temporal were unreachable.
	Down bool

	prefix string
	mu     sync.Mutex
	cases  map[string]*cases.Case
	keys   map[string]string // intake key → ref
	ids    map[string]any    // update ids already applied → their result
}

// New returns an empty engine issuing references with prefix.
func New(prefix string, route cases.Decision) *Engine {
	return &Engine{Route: route, prefix: prefix, cases: map[string]*cases.Case{}, keys: map[string]string{}, ids: map[string]any{}}
}

// ErrDown is returned while the engine is Down.
var ErrDown = errors.New("caseflowtest: engine down")

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) project(ctx context.Context, c *cases.Case) error {
	if e.Project == nil {
		return nil
	}
	return e.Project(ctx, c.Clone())
}

// Start opens a case for a report, once per intake key.
func (e *Engine) Start(ctx context.Context, rep cases.Report, svc cases.Service) (caseflow.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.Down {
		return caseflow.Result{}, ErrDown
	}
	if ref, ok := e.keys[rep.IntakeKey]; ok {
		return caseflow.Result{Ref: ref}, nil
	}
	ref := ""
	for n := 0; ref == "" || e.cases[ref] != nil; n++ {
		ref = cases.RefCandidate(e.prefix, rep.IntakeKey, n)
	}
	now := e.now()
	c := cases.New(ref, rep, svc, now)
	c.Route(e.Route, now)
	e.cases[ref], e.keys[rep.IntakeKey] = c, ref
	return caseflow.Result{Ref: ref, Created: true}, e.project(ctx, c)
}

func (e *Engine) find(ref string) (*cases.Case, error) {
	if e.Down {
		return nil, ErrDown
	}
	c, ok := e.cases[ref]
	if !ok {
		return nil, fmt.Errorf("case %s: %w", ref, cases.ErrNotFound)
	}
	return c, nil
}

// Get returns a copy of a case.
func (e *Engine) Get(_ context.Context, ref string) (*cases.Case, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	return c.Clone(), nil
}

// Transition moves a case to a new status, once per request id.
func (e *Engine) Transition(ctx context.Context, ref string, ch cases.Change, requestID string) (*cases.Case, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	if r, ok := e.ids[ref+"/"+requestID]; ok && requestID != "" {
		return r.(*cases.Case), nil
	}
	if err := c.Check(ch); err != nil {
		return nil, err
	}
	c.Apply(ch, e.now())
	out := c.Clone()
	if requestID != "" {
		e.ids[ref+"/"+requestID] = out
	}
	return out, e.project(ctx, c)
}

// Comment adds a note to a case.
func (e *Engine) Comment(ctx context.Context, ref string, cm workflows.Comment, requestID string) (*cases.Case, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	c.Append(cases.Entry{At: e.now(), Actor: cm.Actor, Kind: cases.KindComment, Note: cm.Note, Public: cm.Public})
	return c.Clone(), e.project(ctx, c)
}

// Citizen records a citizen's update, once per update id.
func (e *Engine) Citizen(ctx context.Context, ref string, u cases.CitizenUpdate) (cases.CitizenResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return cases.CitizenResult{}, err
	}
	if err := c.CheckCitizen(u); err != nil {
		return cases.CitizenResult{}, err
	}
	r := c.ApplyCitizen(u, e.now())
	return r, e.project(ctx, c)
}
