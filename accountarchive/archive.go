// Package accountarchive keeps staff accounts in Temporal, the durable copy
// accounts.Store records every change in before Redis, and restores from when
// Redis lost them. Temporal is already every council's durable store (cases,
// rule sets), runs embedded in `casebridge dev`, and keeps a history of each
// change; PostgreSQL would be one more thing to run for a few hundred rows.
//
// Each account is a workflow of its own, "account:<login>", which waits for
// ever (so retention never removes it) and is signalled each new version of
// the account, keeping the newest; it continues as new, carrying only that,
// before its history grows long. Reading folds the history with the same
// function, so nothing here needs a worker to answer.
//
// The histories hold password hashes (bcrypt), never passwords: give access
// to Temporal's UI and API only to those who may read the account store.
package accountarchive

import (
	"context"
	"fmt"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/durable"
)

// Names the worker registers and clients use. Changing one orphans what is kept.
const (
	WorkflowName = "AccountWorkflow"
	SignalKeep   = "keep"
	// maxRunEvents is when an account's workflow continues as new.
	maxRunEvents = 500
)

// WorkflowID names an account's workflow. Logins have no ':' of their own
// needs, and no case ("case-…") or rule set ("ruleset:…") starts so.
func WorkflowID(login string) string { return "account:" + login }

// newer keeps the account with the higher version.
func newer(have, got accounts.Account) accounts.Account {
	if got.Version > have.Version {
		return got
	}
	return have
}

// Workflow holds an account's newest version.
func Workflow(ctx workflow.Context, a accounts.Account) error {
	return durable.Fold(ctx, SignalKeep, WorkflowName, maxRunEvents, a, newer)
}

// Archive records accounts in Temporal and reads them back; it is the
// accounts.Archive of the store.
type Archive struct {
	temporal  client.Client
	taskQueue string
	data      converter.DataConverter
}

// New returns an archive whose workflows run on taskQueue.
func New(c client.Client, taskQueue string) *Archive {
	return &Archive{temporal: c, taskQueue: taskQueue, data: converter.GetDefaultDataConverter()}
}

// Keep signals the account's workflow its new version, starting it if need
// be. Durable once Temporal accepts it; a retry keeps nothing twice.
func (a *Archive) Keep(ctx context.Context, acc accounts.Account) error {
	id := WorkflowID(acc.Login)
	_, err := a.temporal.SignalWithStartWorkflow(ctx, id, SignalKeep, acc, client.StartWorkflowOptions{
		ID: id, TaskQueue: a.taskQueue, StaticSummary: "staff account " + acc.Login,
	}, WorkflowName, acc)
	if err != nil {
		return fmt.Errorf("keep account %s in Temporal: %w", acc.Login, err)
	}
	return nil
}

// Get reads one account's newest version from its workflow's history.
func (a *Archive) Get(ctx context.Context, login string) (accounts.Account, error) {
	var acc accounts.Account
	err := durable.History(ctx, a.temporal, WorkflowID(login), accounts.ErrNotFound, func(ev *historypb.HistoryEvent) (bool, error) {
		var got accounts.Account
		var err error
		if start := ev.GetWorkflowExecutionStartedEventAttributes(); start != nil {
			err = a.data.FromPayloads(start.GetInput(), &got)
		} else if sig := ev.GetWorkflowExecutionSignaledEventAttributes(); sig != nil && sig.GetSignalName() == SignalKeep {
			err = a.data.FromPayloads(sig.GetInput(), &got)
		}
		acc = newer(acc, got)
		return true, err
	})
	if err != nil {
		return acc, fmt.Errorf("read account %s from Temporal: %w", login, err)
	}
	return acc, nil
}

// All reads every account Temporal keeps.
func (a *Archive) All(ctx context.Context) ([]accounts.Account, error) {
	logins, err := durable.Running(ctx, a.temporal, WorkflowName, WorkflowID(""))
	if err != nil {
		return nil, fmt.Errorf("list accounts in Temporal: %w", err)
	}
	out := make([]accounts.Account, 0, len(logins))
	for _, login := range logins {
		acc, err := a.Get(ctx, login)
		if err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, nil
}
