package activities

import (
	"context"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// BackOffice is one configured back-office system: its connector and how a
// case fills its fields.
type BackOffice struct {
	Connector backoffice.Connector
	Fields    map[string]string
	// StatusTo maps casebridge statuses to the system's codes (the status
	// map's to); a system without one takes no status changes.
	StatusTo map[string]string
	// Limit waits for the system's shared rate limit before each call (nil:
	// no limit).
	Limit func(ctx context.Context) error
	// Calls counts calls by operation and outcome (nil: not counted).
	Calls func(system, op, outcome string)
}

func (b BackOffice) wait(ctx context.Context) error {
	if b.Limit == nil {
		return nil
	}
	return b.Limit(ctx)
}

func (b BackOffice) count(system, op string, err error) {
	if b.Calls == nil {
		return
	}
	outcome := "ok"
	switch {
	case err == nil:
	case backoffice.Permanent(err):
		outcome = "refused"
	default:
		outcome = "failed"
	}
	b.Calls(system, op, outcome)
}

// OpenJob makes sure a case has exactly one job in a back office. Idempotent
// by the case's reference and req.Key: it first looks the job up by the
// reference (an earlier attempt, whose answer was lost to a timeout or a
// killed worker, may have made it) and creates one only if there is none,
// sending Key as the idempotency key for systems that honour it. A retry
// therefore finds what the first attempt made. A request the system refuses
// fails for good; anything else is retried, as long as the system asks
// (Retry-After) if it says.
func (a *Activities) OpenJob(ctx context.Context, req effects.JobRequest) (effects.JobOpened, error) {
	b, ok := a.BackOffices[req.System]
	if !ok {
		return effects.JobOpened{}, temporal.NewNonRetryableApplicationError("no back office "+req.System+" is configured", effects.ErrTypeBackOfficePermanent, nil)
	}
	if err := b.wait(ctx); err != nil {
		return effects.JobOpened{}, fmt.Errorf("back office %s: rate limit: %w", req.System, err)
	}
	rec, found, err := b.Connector.Find(ctx, req.Case.Ref)
	b.count(req.System, "find", err)
	if err != nil {
		return effects.JobOpened{}, backOfficeError(fmt.Sprintf("look up job for %s", req.Case.Ref), err)
	}
	if found && !slices.Contains(req.Skip, rec.ID) {
		return effects.JobOpened{Job: cases.Job{System: req.System, ID: rec.ID, Code: rec.Status, At: a.now()}, Found: true}, nil
	}
	if err := b.wait(ctx); err != nil {
		return effects.JobOpened{}, fmt.Errorf("back office %s: rate limit: %w", req.System, err)
	}
	rec, err = b.Connector.Create(ctx, backoffice.JobFor(&req.Case, b.Fields), req.Key)
	b.count(req.System, "create", err)
	if err != nil {
		return effects.JobOpened{}, backOfficeError(fmt.Sprintf("create job for %s", req.Case.Ref), err)
	}
	return effects.JobOpened{Job: cases.Job{System: req.System, ID: rec.ID, Code: rec.Status, At: a.now()}}, nil
}

// WithdrawJob withdraws a case's job from a back office. Idempotent: the
// system withdraws a job once, and withdrawing it again changes nothing.
func (a *Activities) WithdrawJob(ctx context.Context, req effects.WithdrawRequest) error {
	b, ok := a.BackOffices[req.System]
	if !ok {
		return temporal.NewNonRetryableApplicationError("no back office "+req.System+" is configured", effects.ErrTypeBackOfficePermanent, nil)
	}
	if err := b.wait(ctx); err != nil {
		return fmt.Errorf("back office %s: rate limit: %w", req.System, err)
	}
	err := b.Connector.Cancel(ctx, req.JobID, req.Reason)
	b.count(req.System, "cancel", err)
	if err != nil {
		return backOfficeError(fmt.Sprintf("withdraw job %s of %s", req.JobID, req.Ref), err)
	}
	return nil
}

// CloseJob closes a case's job as the case closes, by moving it to the
// system's code for the case's status: the status map's to names it for the
// status itself or, for any closing status, for "closed". Idempotent: setting
// the code a job already has changes nothing there. A system with no such
// code, or that answers that it takes no status changes, fails it for good
// as unsupported; the case records that and does not ask again.
func (a *Activities) CloseJob(ctx context.Context, req effects.CloseRequest) (effects.JobClosed, error) {
	b, ok := a.BackOffices[req.System]
	if !ok {
		return effects.JobClosed{}, temporal.NewNonRetryableApplicationError("no back office "+req.System+" is configured", effects.ErrTypeBackOfficePermanent, nil)
	}
	code, ok := b.StatusTo[string(req.Status)]
	if !ok && req.Status.Closed() {
		code, ok = b.StatusTo[string(cases.StatusClosed)]
	}
	if !ok {
		return effects.JobClosed{}, temporal.NewNonRetryableApplicationError(req.System+"'s status map names no code for "+string(req.Status)+" (status_map.to)",
			effects.ErrTypeBackOfficeUnsupported, nil)
	}
	if err := b.wait(ctx); err != nil {
		return effects.JobClosed{}, fmt.Errorf("back office %s: rate limit: %w", req.System, err)
	}
	err := b.Connector.SetStatus(ctx, req.JobID, code, req.Note)
	b.count(req.System, "status", err)
	if backoffice.Unsupported(err) {
		return effects.JobClosed{}, temporal.NewNonRetryableApplicationError(err.Error(), effects.ErrTypeBackOfficeUnsupported, err)
	}
	if err != nil {
		return effects.JobClosed{}, backOfficeError(fmt.Sprintf("close job %s of %s", req.JobID, req.Ref), err)
	}
	return effects.JobClosed{Code: code}, nil
}

// NoteJob adds a public staff note to a case's job. Idempotent by the note's
// key, case-<ref>:note:<seq> (req.Key), sent on every attempt and by every
// run: a system that stored the note and then timed out answers the retry
// without storing it again.
func (a *Activities) NoteJob(ctx context.Context, req effects.NoteRequest) error {
	b, ok := a.BackOffices[req.System]
	if !ok {
		return temporal.NewNonRetryableApplicationError("no back office "+req.System+" is configured", effects.ErrTypeBackOfficePermanent, nil)
	}
	if err := b.wait(ctx); err != nil {
		return fmt.Errorf("back office %s: rate limit: %w", req.System, err)
	}
	err := b.Connector.Note(ctx, req.JobID, backoffice.Note{Text: req.Text, Public: true, Key: req.Key()})
	b.count(req.System, "note", err)
	if err != nil {
		return backOfficeError(fmt.Sprintf("note %d of %s to job %s", req.Seq, req.Ref, req.JobID), err)
	}
	return nil
}

// backOfficeError marks a refusal as final and passes on how long the system
// asked us to wait.
func backOfficeError(what string, err error) error {
	msg := what + ": " + err.Error()
	if backoffice.Permanent(err) {
		return temporal.NewNonRetryableApplicationError(msg, effects.ErrTypeBackOfficePermanent, err)
	}
	if d := backoffice.RetryAfter(err); d > 0 {
		return temporal.NewApplicationErrorWithOptions(msg, "BackOfficeBusy", temporal.ApplicationErrorOptions{NextRetryDelay: d, Cause: err})
	}
	return fmt.Errorf("%s: %w", what, err)
}

// PollBackOffice reads a back office's change feed from where the last poll
// left off and signals each change to its case. Idempotent: the cursor moves
// only past changes delivered, a delivered change is remembered and not sent
// again, and a case applies a change once however often it is sent.
func (a *Activities) PollBackOffice(ctx context.Context, system string) (int, error) {
	in, ok := a.Inbound[system]
	if !ok {
		return 0, temporal.NewNonRetryableApplicationError("no back office "+system+" is configured", effects.ErrTypeBackOfficePermanent, nil)
	}
	if b, ok := a.BackOffices[system]; ok {
		if err := b.wait(ctx); err != nil {
			return 0, fmt.Errorf("back office %s: rate limit: %w", system, err)
		}
	}
	n, err := in.Poll(ctx)
	if b, ok := a.BackOffices[system]; ok {
		b.count(system, "poll", err)
	}
	if err != nil {
		return n, backOfficeError("poll "+system, err)
	}
	return n, nil
}
