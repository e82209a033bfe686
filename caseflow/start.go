package caseflow

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// maxCandidates bounds the walk over reference candidates. With a billion
// references, a tenth collision in a row means something else is wrong.
const maxCandidates = 10

// Result says which case a report went to.
type Result struct {
	Ref string
	// Created is false when the report had been submitted before.
	Created bool
}

// Start starts the case workflow for a report, or finds the one an earlier
// submission with the same intake key started. It returns once Temporal has
// durably recorded the workflow, so an acknowledged case survives any crash.
func (s *Client) Start(ctx context.Context, rep cases.Report, svc cases.Service) (Result, error) {
	if rep.IntakeKey == "" {
		return Result{}, errors.New("report has no intake key")
	}
	for n := range maxCandidates {
		ref := cases.RefCandidate(s.prefix, rep.IntakeKey, n)
		opts := client.StartWorkflowOptions{
			ID:        cases.WorkflowID(ref),
			TaskQueue: s.taskQueue,
			// A reference is never reused, even after its case finished, so a late
			// retry still finds the old case instead of opening a new one.
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			Memo:                                     map[string]any{workflows.MemoIntakeKey: rep.IntakeKey},
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SAStatus.ValueSet(string(cases.StatusOpen)),
				workflows.SAServiceCode.ValueSet(svc.Code),
				workflows.SASource.ValueSet(string(rep.Source)),
				workflows.SAReceivedAt.ValueSet(rep.ReceivedAt),
			),
			StaticSummary: fmt.Sprintf("%s %s", ref, svc.Name),
		}
		in := workflows.Input{Report: &rep, Service: svc, Settings: s.settings}
		_, err := s.temporal.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, in)
		if err == nil {
			return Result{Ref: ref, Created: true}, nil
		}
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			return Result{}, fmt.Errorf("start case %s: %w", ref, err)
		}
		key, err := s.intakeKey(ctx, ref)
		if err != nil {
			return Result{}, err
		}
		if key == rep.IntakeKey {
			return Result{Ref: ref}, nil
		}
		// Another submission holds this reference: try the next candidate.
	}
	return Result{}, fmt.Errorf("no free reference for intake key after %d candidates", maxCandidates)
}

// intakeKey reads the intake key recorded on an existing case.
func (s *Client) intakeKey(ctx context.Context, ref string) (string, error) {
	d, err := s.temporal.DescribeWorkflowExecution(ctx, cases.WorkflowID(ref), "")
	if err != nil {
		return "", fmt.Errorf("describe case %s: %w", ref, err)
	}
	p := d.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoIntakeKey]
	if p == nil {
		return "", nil
	}
	var key string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &key); err != nil {
		return "", fmt.Errorf("read intake key of case %s: %w", ref, err)
	}
	return key, nil
}
