// Package durable is how casebridge keeps small records for good in Temporal
// (rule sets in rulearchive, staff accounts in accountarchive): a workflow
// per record that folds in each value signalled to it and continues as new,
// carrying only its state, before its history grows long; and, to read the
// records back without a worker, the history of a workflow's latest run and
// the IDs of the running workflows of a type.
package durable

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// Fold is a keeping workflow's loop: it receives each V signalled on signal
// and applies it to the state, for ever; once the history reaches maxEvents
// (or Temporal suggests it), it applies every V already delivered, so none
// is left behind, and continues as new as workflowName with the state.
func Fold[S, V any](ctx workflow.Context, signal, workflowName string, maxEvents int, state S, apply func(S, V) S) error {
	ch := workflow.GetSignalChannel(ctx, signal)
	for {
		var v V
		ch.Receive(ctx, &v)
		state = apply(state, v)
		info := workflow.GetInfo(ctx)
		if info.GetCurrentHistoryLength() < maxEvents && !info.GetContinueAsNewSuggested() {
			continue
		}
		for {
			var v V
			if !ch.ReceiveAsync(&v) {
				break
			}
			state = apply(state, v)
		}
		return workflow.NewContinueAsNewError(ctx, workflowName, state)
	}
}

// History calls each with the events of a workflow's latest run, in order,
// until it returns false. A workflow Temporal does not know is notFound,
// wrapped with its ID.
func History(ctx context.Context, c client.Client, id string, notFound error, each func(*historypb.HistoryEvent) (bool, error)) error {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return fmt.Errorf("%s: %w", id, notFound)
		}
		if err != nil {
			return err
		}
		more, err := each(ev)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Running returns what follows prefix in the IDs of the running workflows of
// a type (a rule set's name, an account's login), a page of visibility at a
// time.
func Running(ctx context.Context, c client.Client, workflowType, prefix string) ([]string, error) {
	var out []string
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflowType),
			NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, x := range resp.GetExecutions() {
			if rest, ok := strings.CutPrefix(x.GetExecution().GetWorkflowId(), prefix); ok {
				out = append(out, rest)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}
