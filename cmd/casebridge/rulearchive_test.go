package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/workflows"
)

// temporalWithWorker starts the embedded Temporal server and a worker on
// casebridge's task queue with the workflows register adds, both stopped when
// t ends, and returns a client of it.
func temporalWithWorker(t *testing.T, register func(sdkworker.Worker)) (*devserver.Server, client.Client) {
	t.Helper()
	ts, err := devserver.Start(context.Background(), devserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Stop() })
	c, err := client.Dial(client.Options{HostPort: ts.FrontendAddr(), Namespace: ts.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{})
	register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return ts, c
}

// TestRuleArchiveOnTemporal records versions and many activations on the real
// server: the rule-set workflow continues as new along the way, and what is
// read back is every record, whatever run it landed in.
func TestRuleArchiveOnTemporal(t *testing.T) {
	ctx := context.Background()
	_, c := temporalWithWorker(t, func(w sdkworker.Worker) {
		w.RegisterWorkflowWithOptions(rulearchive.SetWorkflow, workflow.RegisterOptions{Name: rulearchive.SetWorkflowName})
		w.RegisterWorkflowWithOptions(rulearchive.VersionWorkflow, workflow.RegisterOptions{Name: rulearchive.VersionWorkflowName})
	})
	a := rulearchive.New(c, workflows.TaskQueue)

	at := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	texts := []string{string(rules.DemoYAML()), "name: routing\ndefault: {department: triage}\n"}
	for i, text := range texts {
		v := rules.Version{Name: rules.Routing, Number: i + 1, Author: "alice", At: at.Add(time.Duration(i) * time.Minute), YAML: text}
		act := rules.Activation{Version: v.Number, Action: rules.ActionPublish, Author: "alice", At: v.At}
		if err := a.Record(ctx, rules.Routing, &v, &act); err != nil {
			t.Fatal(err)
		}
		// A retry records nothing twice.
		if err := a.Record(ctx, rules.Routing, &v, &act); err != nil {
			t.Fatalf("recording version %d again: %v", v.Number, err)
		}
	}
	clash := rules.Version{Name: rules.Routing, Number: 2, Author: "mallory", At: at, YAML: texts[0]}
	if err := a.Record(ctx, rules.Routing, &clash, nil); !errors.Is(err, rules.ErrConflict) {
		t.Errorf("another text under version 2: %v, want rules.ErrConflict", err)
	}
	const rollbacks = 400
	for i := range rollbacks {
		act := rules.Activation{Version: 1 + i%2, Action: rules.ActionRollback, Author: "bob", At: at.Add(time.Hour + time.Duration(i)*time.Second), Comment: fmt.Sprint("flip ", i)}
		if err := a.Record(ctx, rules.Routing, nil, &act); err != nil {
			t.Fatal(err)
		}
	}

	var set rulearchive.Set
	eventually(t, "every record read back", func() error {
		var err error
		set, err = a.Load(ctx, rules.Routing)
		if err != nil {
			return err
		}
		if len(set.Versions) != 2 || len(set.Log)+set.Dropped != 2+rollbacks || set.Active() != 2 {
			return fmt.Errorf("versions %v, %d activations kept and %d dropped, active %d", set.Versions, len(set.Log), set.Dropped, set.Active())
		}
		return nil
	})
	runs, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", rulearchive.SetWorkflowID(rules.Routing))})
	if err != nil || runs.GetCount() < 2 {
		t.Errorf("the rule-set workflow ran %d times (%v); want it to have continued as new", runs.GetCount(), err)
	}
	for i, text := range texts {
		if v, err := a.Version(ctx, rules.Routing, i+1); err != nil || v.YAML != text || v.Author != "alice" {
			t.Errorf("version %d read back = %+v, %v", i+1, v, err)
		}
	}
	if names, err := a.Names(ctx); err != nil || len(names) != 1 || names[0] != rules.Routing {
		t.Errorf("Names = %v, %v", names, err)
	}
	if _, err := a.Load(ctx, "parking"); !errors.Is(err, rules.ErrNotFound) {
		t.Errorf("Load of a rule set never recorded = %v, want rules.ErrNotFound", err)
	}
}
