// Package caseflowtest provides an in-memory stand-in for the case workflows, so
// HTTP tests run without a Temporal server. It applies the same domain rules (the
// cases package) synchronously; end-to-end tests use the real engine.
package caseflowtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
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
	// NoWorker, when set, makes Get fail as a query does when no worker can
	// answer it; Summary still answers, as Temporal's own record does.
	NoWorker bool

	prefix string
	mu     sync.Mutex
	cases  map[string]*cases.Case
	keys   map[string]string // intake key → ref
	// ids holds, per case, the update ids already applied and their results
	// as JSON, as Temporal keeps them: one namespace per case whatever the
	// update's name, the first answer returned to anyone who sends the id
	// again, decoded into whatever they expect.
	ids map[string]map[string][]byte
}

// New returns an empty engine issuing references with prefix.
func New(prefix string, route cases.Decision) *Engine {
	return &Engine{Route: route, prefix: prefix, cases: map[string]*cases.Case{}, keys: map[string]string{}, ids: map[string]map[string][]byte{}}
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

// Forget drops a case as Temporal's retention drops a finished case's
// workflow: from then on every call answers cases.ErrNotFound for it.
func (e *Engine) Forget(ref string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.cases, ref)
}

// Edit changes a case directly, as the workflow's effects do (a back
// office's job recorded, a wait on a system that is down), and projects it.
func (e *Engine) Edit(ctx context.Context, ref string, f func(c *cases.Case)) error {
	e.mu.Lock()
	c, err := e.find(ref)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	f(c)
	c.Version++
	snap := c.Clone()
	e.mu.Unlock()
	return e.project(ctx, snap)
}

// ErrNoWorker is what Get returns while NoWorker is set.
var ErrNoWorker = errors.New("caseflowtest: no worker answered the query")

// Get returns a copy of a case.
func (e *Engine) Get(_ context.Context, ref string) (*cases.Case, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.NoWorker && !e.Down {
		if _, err := e.find(ref); err != nil {
			return nil, err
		}
		return nil, ErrNoWorker
	}
	c, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	return c.Clone(), nil
}

// Summary is what Temporal records of a case: its search attributes, no
// timeline or reports.
func (e *Engine) Summary(_ context.Context, ref string) (*cases.Case, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.find(ref)
	if err != nil {
		return nil, err
	}
	return &cases.Case{Ref: c.Ref, Status: c.Status, Service: cases.Service{Code: c.Service.Code}, Department: c.Department,
		Team: c.Team, Priority: c.Priority, ReceivedAt: c.ReceivedAt, UpdatedAt: c.ReceivedAt, DueAt: c.DueAt}, nil
}

// update runs a validated update on a case, as Temporal does: an id seen
// before on the case answers with the first result, whatever the update, and
// nothing runs; otherwise check refuses or apply changes the case, and its
// result is kept under the id. A refused update keeps nothing.
func update[T, R any](e *Engine, ctx context.Context, ref, id string, arg T, check func(*cases.Case, T) error, apply func(*cases.Case, T, time.Time) R) (R, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out R
	c, err := e.find(ref)
	if err != nil {
		return out, err
	}
	if b, ok := e.ids[ref][id]; ok && id != "" {
		err := json.Unmarshal(b, &out)
		return out, err
	}
	if err := check(c, arg); err != nil {
		return out, err
	}
	out = apply(c, arg, e.now())
	if id != "" {
		b, err := json.Marshal(out)
		if err != nil {
			return out, err
		}
		if e.ids[ref] == nil {
			e.ids[ref] = map[string][]byte{}
		}
		e.ids[ref][id] = b
	}
	return out, e.project(ctx, c)
}

// change is an update that answers with the case after it.
func change[T any](e *Engine, ctx context.Context, ref, requestID string, arg T, check func(*cases.Case, T) error, apply func(*cases.Case, T, time.Time)) (*cases.Case, error) {
	return update(e, ctx, ref, requestID, arg, check, func(c *cases.Case, arg T, now time.Time) *cases.Case {
		apply(c, arg, now)
		return c.Clone()
	})
}

// Transition moves a case to a new status.
func (e *Engine) Transition(ctx context.Context, ref string, ch cases.Change, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, ch, (*cases.Case).Check, func(c *cases.Case, ch cases.Change, now time.Time) { c.Apply(ch, now) })
}

// Comment adds a note to a case.
func (e *Engine) Comment(ctx context.Context, ref string, cm cases.Comment, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, cm, (*cases.Case).CheckComment, func(c *cases.Case, cm cases.Comment, now time.Time) { c.AddComment(cm, now) })
}

// Assign gives a case to a person or queue.
func (e *Engine) Assign(ctx context.Context, ref string, a cases.Assignment, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, a, (*cases.Case).CheckAssign, func(c *cases.Case, a cases.Assignment, now time.Time) { c.Assign(a, now) })
}

// Transfer moves a case to another department; back to triage takes the
// engine's Route (there are no rules here).
func (e *Engine) Transfer(ctx context.Context, ref string, t cases.Transfer, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, t, (*cases.Case).CheckTransfer, func(c *cases.Case, t cases.Transfer, now time.Time) {
		c.ApplyTransfer(t, now)
		if t.Department == "" {
			c.Route(e.Route, now)
		}
	})
}

// Recategorise files a case under another service and routes it again.
func (e *Engine) Recategorise(ctx context.Context, ref string, rc cases.Recategorisation, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, rc, (*cases.Case).CheckRecategorise, func(c *cases.Case, rc cases.Recategorisation, now time.Time) {
		c.Recategorise(rc, now)
		c.Route(e.Route, now)
	})
}

// Prioritise changes how pressing a case is.
func (e *Engine) Prioritise(ctx context.Context, ref string, p cases.Prioritisation, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, p, (*cases.Case).CheckPrioritise, func(c *cases.Case, p cases.Prioritisation, now time.Time) { c.Prioritise(p, now) })
}

// Acknowledge records a supervisor acknowledging an escalation.
func (e *Engine) Acknowledge(ctx context.Context, ref string, a cases.Acknowledgement, requestID string) (*cases.Case, error) {
	return change(e, ctx, ref, requestID, a, (*cases.Case).CheckAcknowledge, func(c *cases.Case, a cases.Acknowledgement, now time.Time) { c.Acknowledge(a, now) })
}

// Citizen records a citizen's update, once per update id, under the update
// id caseflow gives it.
func (e *Engine) Citizen(ctx context.Context, ref string, u cases.CitizenUpdate) (cases.CitizenResult, error) {
	return update(e, ctx, ref, caseflow.CitizenUpdateID(u), u, (*cases.Case).CheckCitizen, (*cases.Case).ApplyCitizen)
}
