// Package caseflow is the client side of case workflows: it starts one per report,
// exactly once per submission, and reads and changes cases through the workflow's
// query and validated updates, translating Temporal's errors into the domain's.
package caseflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// Client talks to case workflows.
type Client struct {
	temporal  client.Client
	taskQueue string
	prefix    string
	settings  workflows.Settings
}

// New returns a Client that starts cases on the task queue, with references
// beginning with prefix and the given lifetime settings.
func New(c client.Client, taskQueue, prefix string, settings workflows.Settings) *Client {
	return &Client{temporal: c, taskQueue: taskQueue, prefix: prefix, settings: settings}
}

// Get returns the case as its workflow holds it now.
func (s *Client) Get(ctx context.Context, ref string) (*cases.Case, error) {
	v, err := s.temporal.QueryWorkflow(ctx, cases.WorkflowID(ref), "", workflows.QueryState)
	if err != nil {
		return nil, s.translate(ctx, ref, err)
	}
	var c cases.Case
	if err := v.Get(&c); err != nil {
		return nil, fmt.Errorf("decode case %s: %w", ref, err)
	}
	return &c, nil
}

// Summary returns what Temporal itself records of a case, without asking its
// workflow: reference, status, service, department, priority, received and due
// times, from the search attributes. It answers even while no worker is free
// to run a query (just after a restart, say), so an acknowledged case can
// always be shown; its timeline and reports are empty.
func (s *Client) Summary(ctx context.Context, ref string) (*cases.Case, error) {
	d, err := s.temporal.DescribeWorkflowExecution(ctx, cases.WorkflowID(ref), "")
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("case %s: %w", ref, cases.ErrNotFound)
		}
		return nil, fmt.Errorf("describe case %s: %w", ref, err)
	}
	info := d.GetWorkflowExecutionInfo()
	sa := indexed(info.GetSearchAttributes().GetIndexedFields())
	c := &cases.Case{Ref: ref, Status: cases.StatusOpen, ReceivedAt: info.GetStartTime().AsTime(),
		Department: sa.keyword(workflows.SADepartment), Team: sa.keyword(workflows.SATeam),
		Priority: cases.Priority(sa.keyword(workflows.SAPriority)), DueAt: sa.time(workflows.SADueAt)}
	if v := cases.Status(sa.keyword(workflows.SAStatus)); v.Valid() {
		c.Status = v
	}
	c.Service.Code = sa.keyword(workflows.SAServiceCode)
	if t := sa.time(workflows.SAReceivedAt); !t.IsZero() {
		c.ReceivedAt = t
	}
	c.UpdatedAt = c.ReceivedAt
	return c, nil
}

// Transition moves a case to a new status. requestID, when set, makes a retried
// request apply once; so for every change below.
func (s *Client) Transition(ctx context.Context, ref string, ch cases.Change, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateTransition, requestID, ch)
}

// Comment adds a note to a case.
func (s *Client) Comment(ctx context.Context, ref string, cm cases.Comment, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateComment, requestID, cm)
}

// Assign gives a case to a person or queue.
func (s *Client) Assign(ctx context.Context, ref string, a cases.Assignment, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateAssign, requestID, a)
}

// Transfer moves a case to another department or team, or back to triage.
func (s *Client) Transfer(ctx context.Context, ref string, t cases.Transfer, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateTransfer, requestID, t)
}

// Recategorise files a case under another service and routes it again.
func (s *Client) Recategorise(ctx context.Context, ref string, rc cases.Recategorisation, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateRecategorise, requestID, rc)
}

// Prioritise changes how pressing a case is.
func (s *Client) Prioritise(ctx context.Context, ref string, p cases.Prioritisation, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdatePrioritise, requestID, p)
}

// Acknowledge records a supervisor acknowledging an escalation.
func (s *Client) Acknowledge(ctx context.Context, ref string, a cases.Acknowledgement, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateAcknowledge, requestID, a)
}

func (s *Client) change(ctx context.Context, ref, name, requestID string, arg any) (*cases.Case, error) {
	var c cases.Case
	if err := s.update(ctx, ref, name, requestID, arg, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Citizen records an update the citizen sent through an Open311 client. The
// client's own update id makes a resend return the same answer.
func (s *Client) Citizen(ctx context.Context, ref string, u cases.CitizenUpdate) (cases.CitizenResult, error) {
	var r cases.CitizenResult
	err := s.update(ctx, ref, workflows.UpdateCitizen, CitizenUpdateID(u), u, &r)
	return r, err
}

// CitizenUpdateID is the Temporal update ID of a citizen's update: the
// client's own id for it, scoped to the client, as Temporal keeps one
// namespace of update IDs per case. An update without an id has none.
func CitizenUpdateID(u cases.CitizenUpdate) string {
	if u.UpdateID == "" {
		return ""
	}
	return "citizen:" + u.Client + ":" + u.UpdateID
}

func (s *Client) update(ctx context.Context, ref, name, id string, arg, out any) error {
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   cases.WorkflowID(ref),
		UpdateID:     id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return s.translate(ctx, ref, err)
	}
	if err := h.Get(ctx, out); err != nil {
		return s.translate(ctx, ref, err)
	}
	return nil
}

// translate maps Temporal's errors onto the domain's, so the API can answer
// 404, 409 or 422 without knowing about Temporal.
func (s *Client) translate(ctx context.Context, ref string, err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		switch ae.Type() {
		case workflows.ErrTypeTransition:
			var te cases.TransitionError
			if ae.HasDetails() && ae.Details(&te) == nil {
				return &te
			}
			return &cases.TransitionError{Reason: ae.Message()}
		case workflows.ErrTypeInput:
			var ie cases.InputError
			if ae.HasDetails() && ae.Details(&ie) == nil {
				return &ie
			}
			return &cases.InputError{Reason: ae.Message()}
		}
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		// Either there never was such a case, or its workflow has completed.
		d, derr := s.temporal.DescribeWorkflowExecution(ctx, cases.WorkflowID(ref), "")
		if derr == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return fmt.Errorf("case %s: %w", ref, cases.ErrFinished)
		}
		return fmt.Errorf("case %s: %w", ref, cases.ErrNotFound)
	}
	return fmt.Errorf("case %s: %w", ref, err)
}

// indexed reads search attributes from a description, as Temporal stores
// them: each a JSON payload.
type indexed map[string]*commonpb.Payload

func (x indexed) keyword(k temporal.SearchAttributeKeyKeyword) string {
	var v string
	if p := x[k.GetName()]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

func (x indexed) time(k temporal.SearchAttributeKeyTime) time.Time {
	var v time.Time
	if p := x[k.GetName()]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

// ErrHandoffOver means a partner's callback came for a hand-off that has
// ended (rejected, completed or gone silent): nothing can change it now.
var ErrHandoffOver = errors.New("the hand-off is over")

// PartnerCallback hands a partner's callback to its hand-off workflow and
// waits until the hand-off has taken it. The update ID is the partner's nonce,
// scoped to the partner, so a resend is answered, not applied twice. A
// callback the hand-off refuses is a *cases.InputError or
// *cases.TransitionError; one for a hand-off that does not exist is
// cases.ErrNotFound, one that has ended ErrHandoffOver.
func (s *Client) PartnerCallback(ctx context.Context, handoffID string, ev cases.PartnerEvent, nonce string) error {
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   handoffID,
		UpdateID:     "partner:" + ev.Partner + ":" + nonce,
		UpdateName:   workflows.UpdateCallback,
		Args:         []any{ev},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		d, derr := s.temporal.DescribeWorkflowExecution(ctx, handoffID, "")
		if derr == nil && d.GetWorkflowExecutionInfo().GetType().GetName() == workflows.HandoffWorkflowName {
			return fmt.Errorf("%s: %w", handoffID, ErrHandoffOver)
		}
		return fmt.Errorf("hand-off %s: %w", handoffID, cases.ErrNotFound)
	}
	if err != nil {
		return s.translate(ctx, handoffID, err)
	}
	return nil
}

// Merge makes the case a duplicate of l.Parent (a supervisor's merge); the
// case tells its parent, which attaches the report.
func (s *Client) Merge(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateMerge, requestID, l)
}

// ConfirmDuplicate confirms a likely duplicate found at intake.
func (s *Client) ConfirmDuplicate(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateConfirmDuplicate, requestID, l)
}

// Unlink undoes a duplicate link: the case is its own again, in triage.
func (s *Client) Unlink(ctx context.Context, ref string, l cases.DuplicateLink, requestID string) (*cases.Case, error) {
	return s.change(ctx, ref, workflows.UpdateUnlink, requestID, l)
}
