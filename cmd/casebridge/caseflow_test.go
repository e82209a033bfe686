package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/casebridge/casebridge/activities"
	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/worker"
	"github.com/casebridge/casebridge/workflows"
)

// engineForTest runs the embedded server and a worker, and returns a caseflow
// client on them.
func engineForTest(t *testing.T, settings workflows.Settings) (*caseflow.Client, client.Client) {
	t.Helper()
	rs := redistest.Start(t)
	_, c := embeddedTemporal(t, "")
	w := worker.New(c, &activities.Activities{Router: activities.StaticRouter{Decision: settings.DefaultRoute},
		Projector: readmodel.New(rs.Client(), "cb:"), Log: slog.New(slog.DiscardHandler)}, sdkworker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return caseflow.New(c, workflows.TaskQueue, "CB-", settings), c
}

func testReport(key string) cases.Report {
	return cases.Report{IntakeKey: key, Source: cases.SourcePhone, ServiceCode: "POT", Description: "hole", ReceivedAt: time.Now().UTC(),
		Location: cases.Location{Address: "1 High Street"}}
}

// TestCaseflowAgainstTemporal checks the client side of case workflows on the
// real server: a reference collision moves to the next candidate, a retried
// intake finds its case, and Temporal's errors come back as the domain's.
func TestCaseflowAgainstTemporal(t *testing.T) {
	route := cases.Decision{RuleSet: "default", RuleID: "default", Department: "triage", Priority: cases.PriorityNormal}
	flow, c := engineForTest(t, workflows.Settings{ReopenWindow: time.Second, MaxHistoryEvents: 2000, DefaultRoute: route})
	ctx := context.Background()
	svc := cases.Service{Code: "POT", Name: "Pothole"}

	// Another submission already holds the first reference this key would get.
	first := cases.RefCandidate("CB-", "phone:collide", 0)
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: cases.WorkflowID(first), TaskQueue: workflows.TaskQueue,
		Memo: map[string]any{workflows.MemoIntakeKey: "phone:someone-else"}}, workflows.WorkflowName,
		workflows.Input{Report: ptr(testReport("phone:someone-else")), Service: svc, Settings: workflows.Settings{ReopenWindow: time.Hour, DefaultRoute: route}}); err != nil {
		t.Fatal(err)
	}
	res, err := flow.Start(ctx, testReport("phone:collide"), svc)
	if err != nil || !res.Created || res.Ref != cases.RefCandidate("CB-", "phone:collide", 1) {
		t.Fatalf("after a collision: %+v, %v; want the second candidate", res, err)
	}
	again, err := flow.Start(ctx, testReport("phone:collide"), svc)
	if err != nil || again.Created || again.Ref != res.Ref {
		t.Fatalf("retried intake: %+v, %v; want %s, not created", again, err, res.Ref)
	}

	// Errors, as the domain names them.
	if _, err := flow.Get(ctx, "CB-000000"); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	_, err = flow.Transition(ctx, res.Ref, cases.Change{To: cases.StatusOpen, Actor: "t"}, "")
	var te *cases.TransitionError
	if !errors.As(err, &te) || te.Reason == "" || te.From != cases.StatusOpen {
		t.Errorf("open → open = %v, want a TransitionError with its reason", err)
	}
	_, err = flow.Comment(ctx, res.Ref, cases.Comment{Note: "   ", Actor: "t"}, "")
	var ie *cases.InputError
	if !errors.As(err, &ie) || ie.Field != "note" {
		t.Errorf("empty comment = %v, want an InputError on note", err)
	}
	// Temporal keeps one namespace of update IDs per case, whatever the
	// update: an ID seen before answers with the first result and applies
	// nothing. caseflowtest does the same, and the API scopes its keys to the
	// caller and the operation (api.updateID).
	if _, err := flow.Comment(ctx, res.Ref, cases.Comment{Note: "first", Actor: "t"}, "same-id"); err != nil {
		t.Fatal(err)
	}
	if k, err := flow.Assign(ctx, res.Ref, cases.Assignment{Assignee: "amy", Actor: "t"}, "same-id"); err != nil {
		t.Errorf("an assignment with a comment's update ID: %v", err)
	} else if k.Assignee != "" || k.Timeline[len(k.Timeline)-1].Note != "first" {
		t.Errorf("an assignment with a comment's update ID was applied (assignee %q); Temporal answers with the comment", k.Assignee)
	}
	// A field past its limit is refused by the update's validator, naming it,
	// and never reaches a search attribute: the case goes on taking changes.
	_, err = flow.Assign(ctx, res.Ref, cases.Assignment{Assignee: strings.Repeat("a", 3000), Actor: "t"}, "")
	if !errors.As(err, &ie) || ie.Field != "assignee" {
		t.Errorf("an assignee of 3,000 characters = %v, want an InputError on assignee", err)
	}
	if _, err := flow.Comment(ctx, res.Ref, cases.Comment{Note: "still here", Actor: "t"}, ""); err != nil {
		t.Errorf("a note after the refused assignment: %v", err)
	}
	// Closed with a one-second reopen window: then finished, and readable.
	if _, err := flow.Transition(ctx, res.Ref, cases.Change{To: cases.StatusFixed, Note: "done", Actor: "t"}, ""); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, res.Ref, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	// What Temporal records of the case, without a query: enough to show it.
	sum, err := flow.Summary(ctx, res.Ref)
	if err != nil || sum.Status != cases.StatusFixed || sum.Department != "triage" || sum.Service.Code != "POT" || sum.ReceivedAt.IsZero() {
		t.Errorf("Summary = %+v, %v", sum, err)
	}
	if _, err := flow.Summary(ctx, "CB-000000"); !errors.Is(err, cases.ErrNotFound) {
		t.Errorf("Summary(unknown) = %v, want ErrNotFound", err)
	}
	_, err = flow.Transition(ctx, res.Ref, cases.Change{To: cases.StatusOpen, Actor: "t"}, "")
	if !errors.Is(err, cases.ErrFinished) {
		t.Fatalf("after the reopen window: %v, want ErrFinished", err)
	}
	if got, err := flow.Get(ctx, res.Ref); err != nil || got.Status != cases.StatusFixed {
		t.Errorf("a finished case reads back as %+v, %v", got, err)
	}
}

func ptr[T any](v T) *T { return &v }
