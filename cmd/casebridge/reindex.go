package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/workflows"
)

// reindexParallel is how many cases reindex reads from Temporal at once.
const reindexParallel = 8

// reindexQueryTimeout bounds the wait for one case's state: a query waits for
// a worker to answer it.
const reindexQueryTimeout = 30 * time.Second

// runReindex rebuilds what Redis holds from Temporal, the source of truth. The
// rule sets: every published version and the active one (rulearchive.Sync).
// The read model: every case workflow, running or finished within retention, is asked for its
// state and stored again. It works in place while workers run: nothing is
// cleared first, so lists never go empty, and a case a worker has projected
// since reindex read it keeps the newer version. Cases Temporal no longer
// holds (finished, past retention) keep their stored snapshot, whose indexes
// are rebuilt from it first. Workers must be running to
// answer the queries.
func runReindex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, e, err := open(ctx, "reindex", args, getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	// Rule sets first, so cases route by the right version again at once.
	synced, rerr := rulearchive.Sync(ctx, e.rules, e.archive)
	for _, s := range synced {
		fmt.Fprintln(stdout, s)
	}
	if rerr != nil {
		fmt.Fprintf(stdout, "rule sets: %v\n", rerr)
	}
	restored, aerr := e.accounts.Sync(ctx)
	fmt.Fprintf(stdout, "staff accounts: %d restored from Temporal\n", restored)
	rerr = errors.Join(rerr, aerr)
	// Every stored case's indexes from its own snapshot first: fast (no
	// worker is asked), and it reaches the cases Temporal no longer holds.
	var sp *progress
	rebuilt, serr := e.store.RebuildStored(ctx, func(n, total int) {
		if sp == nil {
			sp = newProgress(stdout, "stored cases", total, time.Now)
		}
		sp.add(n)
	})
	if sp != nil {
		sp.finish()
	}
	fmt.Fprintf(stdout, "rebuilt the indexes of %d stored cases\n", rebuilt)
	if serr != nil {
		return errors.Join(rerr, serr)
	}
	n, err := reindexCases(ctx, e, stdout, time.Now)
	fmt.Fprintf(stdout, "reindexed %d cases\n", n)
	return errors.Join(rerr, err)
}

// caseRun is one case workflow's latest run.
type caseRun struct{ id, runID string }

// reindexCases stores every case Temporal holds in the read model again,
// reindexParallel at a time, showing progress on out. It returns how many it
// stored; a case it could not read is named on out and counted in the error.
func reindexCases(ctx context.Context, e *engine, out io.Writer, now func() time.Time) (int, error) {
	// Continue-as-new leaves earlier runs behind; only the latest run holds
	// the case as it is now.
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus != 'ContinuedAsNew'", workflows.WorkflowName)
	total := 0
	if resp, err := e.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query}); err == nil {
		total = int(resp.GetCount())
	}
	p := newProgress(out, "cases", total, now)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	runs := make(chan caseRun)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stored  int
		skipped int
	)
	for range reindexParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range runs {
				if ctx.Err() != nil {
					continue // stopping: drain without reading
				}
				c, err := readCase(ctx, e, r)
				if err == nil {
					if err = e.store.Rebuild(ctx, c); err != nil {
						cancel(err) // Redis is failing: stop rather than skip every case
						return
					}
				}
				mu.Lock()
				if err != nil {
					skipped++
					p.note("skip %s: %v", r.id, err)
				} else {
					stored++
				}
				mu.Unlock()
				p.add(1)
			}
		}()
	}
	listErr := listCases(ctx, e, query, runs)
	close(runs)
	wg.Wait()
	p.finish()
	switch {
	case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return stored, context.Cause(ctx)
	case listErr != nil:
		return stored, listErr
	case skipped > 0:
		return stored, fmt.Errorf("%d cases could not be read from Temporal (named above); run reindex again once workers answer", skipped)
	}
	return stored, nil
}

// listCases sends every case workflow's latest run the query finds to runs.
func listCases(ctx context.Context, e *engine, query string, runs chan<- caseRun) error {
	var token []byte
	for {
		resp, err := e.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: query, PageSize: 500, NextPageToken: token,
		})
		if err != nil {
			return fmt.Errorf("list cases: %w", err)
		}
		for _, x := range resp.GetExecutions() {
			select {
			case runs <- caseRun{id: x.GetExecution().GetWorkflowId(), runID: x.GetExecution().GetRunId()}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// readCase asks a case's workflow for its state.
func readCase(ctx context.Context, e *engine, r caseRun) (*cases.Case, error) {
	ctx, cancel := context.WithTimeout(ctx, reindexQueryTimeout)
	defer cancel()
	v, err := e.temporal.QueryWorkflow(ctx, r.id, r.runID, workflows.QueryState)
	if err != nil {
		return nil, err
	}
	var c cases.Case
	if err := v.Get(&c); err != nil {
		return nil, err
	}
	return &c, nil
}
