package main

import (
	"context"
	"fmt"
	"io"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// runReindex rebuilds the Redis read model from Temporal, the source of truth:
// every case workflow, running or finished within retention, is asked for its
// state and projected again. Workers must be running to answer the queries.
func runReindex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, e, err := open(ctx, "reindex", args, getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	n, err := reindex(ctx, e, stdout)
	fmt.Fprintf(stdout, "reindexed %d cases\n", n)
	return err
}

func reindex(ctx context.Context, e *engine, out io.Writer) (int, error) {
	if err := e.store.Reset(ctx); err != nil {
		return 0, fmt.Errorf("clear read model: %w", err)
	}
	var token []byte
	n := 0
	for {
		resp, err := e.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName),
			PageSize:      500,
			NextPageToken: token,
		})
		if err != nil {
			return n, fmt.Errorf("list cases: %w", err)
		}
		for _, x := range resp.GetExecutions() {
			id := x.GetExecution().GetWorkflowId()
			// Continue-as-new leaves earlier runs behind; only the latest run
			// holds the case as it is now.
			if x.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				continue
			}
			v, err := e.temporal.QueryWorkflow(ctx, id, x.GetExecution().GetRunId(), workflows.QueryState)
			if err != nil {
				fmt.Fprintf(out, "skip %s: %v\n", id, err)
				continue
			}
			var c cases.Case
			if err := v.Get(&c); err != nil {
				fmt.Fprintf(out, "skip %s: %v\n", id, err)
				continue
			}
			if _, err := e.store.Project(ctx, &c); err != nil {
				return n, fmt.Errorf("project %s: %w", c.Ref, err)
			}
			n++
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return n, nil
		}
	}
}
