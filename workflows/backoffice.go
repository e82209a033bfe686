package workflows

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// versionBackOffice marks histories whose case keeps a job in its
// department's back office. Histories without the marker never call one.
const versionBackOffice = "backoffice"

// Versions of versionBackOffice: 1 keeps the case's job and applies the
// system's changes; 2 also sends public staff notes to the job.
const (
	backOfficeJobs  workflow.Version = 1
	backOfficeNotes workflow.Version = 2
)

// versionBackOfficeClose marks histories whose case closes its job in the
// back office as the case closes (where the system takes status changes),
// and takes a new job when a case whose job was closed there reopens.
const versionBackOfficeClose = "backoffice-close"

// jobCall is a back-office call under way: opening the case's job in system,
// withdrawing it or closing it.
type jobCall struct {
	system string
}

// jobTimeout bounds one series of attempts at a back-office call: within it
// attempts retry with backoff (as the system asks, on a 429); past it the
// case records that it waits (since when, attempts, the last error) and
// starts a new series, so the wait shows while the system is down and the
// case catches up by itself when it returns.
const jobTimeout = time.Minute

func jobOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: jobTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 15 * time.Second,
			NonRetryableErrorTypes: []string{effects.ErrTypeBackOfficePermanent}},
	})
}

// startJob keeps the case's job where the case is: once routing has settled
// on a department that has a back office, the case gets its one job there;
// moved to a department the system does not serve, the job is withdrawn
// first. A closed case starts nothing, or (versionBackOfficeClose) closes its
// job; reopened, a case whose job was closed there gets a new one. The loop
// never waits on the call.
func (r *run) startJob(ctx workflow.Context) {
	r.sendNotes(ctx)
	if !r.backOffice || r.job != nil || r.routingUnderWay() || r.c.Routing == nil || r.jobBlocked == r.c.Version {
		return
	}
	want := r.settings.BackOffices[r.c.Department]
	if r.c.Status.Closed() {
		switch now := workflow.Now(ctx); {
		case !r.jobClose:
		case r.finished(now):
			// The reopen window is over and the case is finishing: it
			// asks its back office nothing more, and waits on it no more.
			for _, w := range slices.Clone(r.c.Waits) {
				if system, ok := strings.CutPrefix(w.On, cases.WaitBackOffice("")); ok {
					r.stopWaiting(system, now)
				}
			}
		case r.c.Job != nil && r.c.Job.Closed == "" && r.c.Job.System == want:
			r.closeJob(ctx)
		}
		return
	}
	if r.jobClose {
		r.c.JobReopened(workflow.Now(ctx))
	}
	switch {
	case r.c.Job != nil && r.c.Job.System != want:
		r.withdrawJob(ctx, "the case moved to "+r.c.Department)
	case r.c.Job == nil && want != "":
		r.openJob(ctx, want)
	}
}

// openJob asks for the case's job in system, in the background.
func (r *run) openJob(ctx workflow.Context, system string) {
	call := &jobCall{system: system}
	r.job = call
	past := r.c.JobsIn(system)
	req := effects.JobRequest{System: system, Case: *r.c.Clone(), Skip: past,
		// One key per job the case has in the system: a job withdrawn and
		// then wanted again is a new one.
		Key: cases.WorkflowID(r.c.Ref) + ":" + system + ":" + strconv.Itoa(len(past)+1)}
	f := workflow.ExecuteActivity(jobOptions(ctx), effects.ActivityOpenJob, req)
	workflow.Go(ctx, func(ctx workflow.Context) {
		var res effects.JobOpened
		err := f.Get(ctx, &res)
		r.inbox.push(func(now time.Time) {
			if r.job != call {
				return // abandoned as the case completed
			}
			r.job = nil
			if r.c.Job != nil && r.c.Job.System == system {
				// A change from the system brought the job while the call
				// was under way (cases.Case.PublishJobChange).
				return
			}
			if err != nil {
				r.jobFailed(system, err, now)
				return
			}
			r.c.JobRecorded(res.Job, res.Found, now)
		})
	})
}

// noteJob queues a public staff note for the case's job, if it has one. The
// system's own notes come back as changes, never as comments, so nothing
// echoes.
func (r *run) noteJob(e cases.Entry) {
	if !r.jobNotes || r.c.Job == nil || !e.Public {
		return
	}
	r.notes = append(r.notes, effects.NoteRequest{System: r.c.Job.System, Ref: r.c.Ref, JobID: r.c.Job.ID, Seq: e.Seq, Text: e.Note, Actor: e.Actor})
}

// sendNotes sends the queued notes, each in the background, retried for a
// day; a note that cannot be sent is recorded for staff. A note under way
// when the case continues as new is carried over and sent again.
func (r *run) sendNotes(ctx workflow.Context) {
	for _, n := range r.notes {
		if r.sending == nil {
			r.sending = map[int]effects.NoteRequest{}
		}
		r.sending[n.Seq] = n
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout:    30 * time.Second,
			ScheduleToCloseTimeout: 24 * time.Hour,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: 10 * time.Minute,
				NonRetryableErrorTypes: []string{effects.ErrTypeBackOfficePermanent}},
		})
		f := workflow.ExecuteActivity(actx, effects.ActivityNoteJob, n)
		workflow.Go(ctx, func(ctx workflow.Context) {
			err := f.Get(ctx, nil)
			// Only carryOver reads sending, and the case does not change, so
			// the answer need not wake the loop (a history from before
			// sending was kept has no task for it).
			delete(r.sending, n.Seq)
			if err != nil {
				r.inbox.push(func(now time.Time) {
					r.c.Append(cases.Entry{At: now, Actor: cases.BackOfficeActor(n.System), Kind: cases.KindBackOffice,
						Note: "Could not send note " + strconv.Itoa(n.Seq) + " to " + n.System + ": " + errorText(err)})
				})
			}
		})
	}
	r.notes = nil
}

// withdrawJob withdraws the case's job from its system, in the background.
func (r *run) withdrawJob(ctx workflow.Context, why string) {
	j := *r.c.Job
	call := &jobCall{system: j.System}
	r.job = call
	f := workflow.ExecuteActivity(jobOptions(ctx), effects.ActivityWithdrawJob,
		effects.WithdrawRequest{System: j.System, Ref: r.c.Ref, JobID: j.ID, Reason: why})
	workflow.Go(ctx, func(ctx workflow.Context) {
		err := f.Get(ctx, nil)
		r.inbox.push(func(now time.Time) {
			if r.job != call {
				return
			}
			r.job = nil
			switch {
			case err == nil:
				r.c.JobWithdrawn(why, now)
			case isPermanent(err):
				// The system will not withdraw it (it may have finished
				// it, or lost it): the case moves on without it.
				r.c.JobWithdrawn(why+"; the system refused: "+errorText(err), now)
			default:
				r.jobFailed(j.System, err, now)
			}
		})
	})
}

// closeJob closes the case's job in its system as the case closed, in the
// background. A system that takes no status changes, or refuses, leaves the
// job as it is there; the case records which and does not ask again.
func (r *run) closeJob(ctx workflow.Context) {
	j := *r.c.Job
	call := &jobCall{system: j.System}
	r.job = call
	f := workflow.ExecuteActivity(jobOptions(ctx), effects.ActivityCloseJob, effects.CloseRequest{System: j.System, Ref: r.c.Ref, JobID: j.ID,
		Status: r.c.Status, Note: "The case was closed in casebridge: " + r.c.Status.Label()})
	workflow.Go(ctx, func(ctx workflow.Context) {
		var res effects.JobClosed
		err := f.Get(ctx, &res)
		r.inbox.push(func(now time.Time) {
			if r.job != call {
				return
			}
			r.job = nil
			switch {
			case r.c.Job == nil || r.c.Job.ID != j.ID:
				// The case let go of the job meanwhile.
			case err == nil:
				r.c.JobClosed(cases.JobClosedThere, res.Code, "", now)
			case isUnsupported(err):
				r.c.JobClosed(cases.JobLeftOpen, "", errorText(err), now)
			case isPermanent(err):
				r.c.JobClosed(cases.JobCloseRefused, "", errorText(err), now)
			default:
				r.jobFailed(j.System, err, now)
			}
		})
	})
}

func isUnsupported(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == effects.ErrTypeBackOfficeUnsupported
}

// stopWaiting records that the case, completing, gives up on a back office.
func (r *run) stopWaiting(system string, now time.Time) {
	r.c.Answered(cases.WaitBackOffice(system))
	r.c.Append(cases.Entry{At: now, Actor: cases.BackOfficeActor(system), Kind: cases.KindBackOffice,
		Note: "Stopped waiting for " + system + " as the case completed"})
}

// jobFailed records that the case waits on a back office. The wait is part
// of what staff see, so it makes a new version for the read model. After a
// refusal no retry can mend, the case tries again only once it has changed.
func (r *run) jobFailed(system string, err error, now time.Time) {
	r.c.Failed(cases.WaitBackOffice(system), errorText(err), now)
	r.c.Version++
	if isPermanent(err) {
		r.jobBlocked = r.c.Version
	}
}

func isPermanent(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == effects.ErrTypeBackOfficePermanent
}

// errorText is what went wrong, without Temporal's wrapping.
func errorText(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "no answer within " + jobTimeout.String()
	}
	return err.Error()
}

// receiveJobChanges queues the back-office changes signalled to the case.
// The loop applies each once (cases.Case.ApplyJobChange), however often it
// arrives.
func (r *run) receiveJobChanges(ctx workflow.Context) {
	if !r.backOffice {
		return
	}
	ch := workflow.GetSignalChannel(ctx, effects.SignalJobChange)
	for {
		var jc cases.JobChange
		if !ch.ReceiveAsync(&jc) {
			return
		}
		apply := r.c.ApplyJobChange
		if r.publishCodes(ctx) {
			apply = r.c.PublishJobChange
		}
		r.inbox.push(func(now time.Time) {
			if apply(jc, now) {
				r.statusChanged(now)
			}
		})
	}
}

// versionJobCodes marks histories in which back-office changes apply as
// cases.Case.PublishJobChange says: a code mapping to the status the case
// already holds is published (before, it was recorded for staff only), and a
// change from a job the case has not recorded yet records it (before, the
// case waited on for the look-up, and a case the job's changes closed waited
// for ever). Asked when the run receives its first change.
const versionJobCodes = "backoffice-codes"

// publishCodes reports whether this run publishes every status code.
func (r *run) publishCodes(ctx workflow.Context) bool {
	if !r.jobCodesAsked {
		r.jobCodesAsked = true
		r.jobCodes = workflow.GetVersion(ctx, versionJobCodes, workflow.DefaultVersion, 1) >= 1
	}
	return r.jobCodes
}

// jobChangesWaiting reports whether changes have been signalled and not yet
// queued.
func (r *run) jobChangesWaiting(ctx workflow.Context) bool {
	return r.backOffice && workflow.GetSignalChannel(ctx, effects.SignalJobChange).Len() > 0
}
