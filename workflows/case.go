package workflows

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// Settings are the parts of configuration a case needs for its whole life. They
// are fixed when the case starts (and carried over continue-as-new), so replay
// never depends on a configuration file that has since changed.
type Settings struct {
	// ReopenWindow is how long a closed case can be reopened before it completes.
	ReopenWindow time.Duration `json:"reopen_window"`
	// MaxHistoryEvents makes the case continue-as-new past this history length.
	MaxHistoryEvents int `json:"max_history_events"`
	// DefaultRoute is taken when routing itself fails.
	DefaultRoute cases.Decision `json:"default_route"`
	// Calendar is the council's working time, for SLAs counted in working time.
	Calendar calendar.Config `json:"calendar"`
	// BackOffices maps each department that has a back office to the
	// system's name: a case routed there keeps its one job in that system.
	BackOffices map[string]string `json:"back_offices,omitempty"`
	// FinishGrace is how long a finished case lets notices and its last
	// projection finish before it gives up on them (DefaultFinishGrace if zero).
	FinishGrace time.Duration `json:"finish_grace,omitempty"`
}

// Input starts a case: either a new report, or (after continue-as-new) the case
// as it stood, with its SLA clocks, the notices still being delivered and the
// staff requests it has already applied.
type Input struct {
	Report   *cases.Report `json:"report,omitempty"`
	Service  cases.Service `json:"service"`
	Case     *cases.Case   `json:"case,omitempty"`
	SLA      *SLAState     `json:"sla,omitempty"`
	Settings Settings      `json:"settings"`
	// Notices were still being delivered when the last run continued as new;
	// this run delivers them (each is idempotent by its key).
	Notices []effects.Notice `json:"notices,omitempty"`
	// Applied are the requests the case has applied recently, so a retry sent
	// after continue-as-new is answered, not applied again.
	Applied []Applied `json:"applied,omitempty"`
	// JobNotes are the public notes still on their way to the case's job
	// when the last run continued as new; this run sends them (each is
	// idempotent by its key). The rest of the case's back-office work follows
	// from the case itself (its job, status and department).
	JobNotes []effects.NoteRequest `json:"job_notes,omitempty"`
}

// Workflows is the case workflow together with what it shares across the cases
// of one worker process: parsed calendars, which are immutable, so sharing them
// cannot make a replay differ.
type Workflows struct {
	calendars *calendar.Cache
}

// New returns the case workflows, ready to register on a worker.
func New() *Workflows { return &Workflows{calendars: calendar.NewCache()} }

// versionOneOwner marks histories written by the loop that owns the case alone
// (every outside call an asynchronous effect). Histories without the marker
// were written by the loop that waited on routing and projection, which
// legacy.go keeps so they still replay.
const versionOneOwner = "one-owner-loop"

// Case is the workflow of one case, for its whole life. It routes the case,
// runs its SLA clocks and escalation ladder on durable timers, keeps the read
// model and search attributes current, applies staff and citizen changes
// through validated updates, and completes once a closed case's reopen window
// has passed.
//
// One loop owns the case: update handlers queue what they were asked, effects
// (routing, projection, notices) hand their answers back, and the loop applies
// both in arrival order. It never waits on the outside world, so no failing
// system can hold up a timer, and nothing an effect brings back can undo a
// change a person was told had been made: a department a person chose while
// routing was under way stands, and the rules' answer is recorded as advice.
func (w *Workflows) Case(ctx workflow.Context, in Input) error {
	// Which loop runs is settled before any handler can run.
	legacy := workflow.GetVersion(ctx, versionOneOwner, workflow.DefaultVersion, 1) == workflow.DefaultVersion
	backOffice := workflow.DefaultVersion
	if !legacy {
		backOffice = workflow.GetVersion(ctx, versionBackOffice, workflow.DefaultVersion, backOfficeNotes)
	}
	closeJobs := backOffice >= backOfficeJobs && workflow.GetVersion(ctx, versionBackOfficeClose, workflow.DefaultVersion, 1) >= 1
	r, err := w.start(ctx, in, legacy)
	if err != nil {
		return err
	}
	r.backOffice = backOffice >= backOfficeJobs
	r.jobNotes = backOffice >= backOfficeNotes
	r.jobClose = closeJobs
	if legacy {
		return r.legacyLoop(ctx)
	}
	return r.loop(ctx)
}

// start builds the run's state from the input and registers the handlers.
func (w *Workflows) start(ctx workflow.Context, in Input, legacy bool) (*run, error) {
	r := &run{settings: in.Settings, sla: in.SLA, inbox: &inbox{}, legacy: legacy}
	if in.Case != nil {
		r.c = in.Case
	} else {
		if in.Report == nil {
			return nil, temporal.NewNonRetryableApplicationError("case started with neither a report nor a case", ErrTypeInput, nil)
		}
		r.c = cases.New(strings.TrimPrefix(workflow.GetInfo(ctx).WorkflowExecution.ID, "case-"), *in.Report, in.Service, workflow.Now(ctx))
	}
	cal, err := w.calendars.Get(in.Settings.Calendar)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("calendar: "+err.Error(), ErrTypeInput, err)
	}
	r.cal = cal
	r.applied = newAppliedLog(in.Applied)
	r.carried = in.Notices
	r.notes = in.JobNotes
	r.wantRoute = r.c.Routing == nil
	return r, r.register(ctx)
}

// run is the state of one workflow run. Only the loop changes the case;
// handlers and effects reach it through the inbox.
type run struct {
	c        *cases.Case
	settings Settings
	sla      *SLAState // nil when no policy applies
	cal      *calendar.Calendar
	// legacy is set while replaying a history from before the one-owner loop.
	legacy bool

	inbox   *inbox
	applied *appliedLog
	carried []effects.Notice // notices handed over by the previous run

	// Routing: wanted after a new report, a recategorisation or a send-back;
	// at most one runs at a time.
	wantRoute  bool
	routing    *routing
	sentBackBy string     // the department that sent the case back, if any
	kept       cases.Kept // what people decided while routing was under way

	// Partner hand-off: wanted after routing named a partner that takes
	// them; events from the hand-off's workflow arrive on partnerCh.
	wantHandoff bool
	partnerCh   workflow.ReceiveChannel

	// Duplicates: the parent routing found at intake, still to be linked;
	// messages for parents still to be sent; what linked cases tell this one.
	wantLink string
	tells    []parentTell
	dupCh    workflow.ReceiveChannel

	// Projection: the newest version the read model has, and the one being
	// written now (0 when none).
	projected  int64
	projecting int64

	notices map[string]effects.Notice // notices being delivered, by key

	// Back office: whether this run keeps the case's job (versionBackOffice),
	// the call under way, and the version a refused call failed at.
	backOffice bool
	job        *jobCall
	jobBlocked int64
	// jobNotes: this run sends public staff notes to the job; notes are
	// those still to send, sending those under way (by timeline seq).
	jobNotes bool
	notes    []effects.NoteRequest
	sending  map[int]effects.NoteRequest
	// jobClose: this run closes the job as the case closes
	// (versionBackOfficeClose).
	jobClose bool
	// jobCodes: this run publishes every status code (publishCodes), once
	// jobCodesAsked.
	jobCodes, jobCodesAsked bool

	saSent string // the search attributes last upserted

	timer timer
	// answeredAt is when the loop last applied a request a handler queued.
	answeredAt time.Time
	// finishBy bounds how long a finished case waits for effects still under
	// way before it completes anyway.
	finishBy time.Time
}

// DefaultFinishGrace is how long a finished case lets notices, routing and its
// last projection finish before it gives up on them; then it records what it
// gave up and has one projectTimeout more to write that to the read model.
const DefaultFinishGrace = time.Hour

func (r *run) finishGrace() time.Duration {
	if r.settings.FinishGrace > 0 {
		return r.settings.FinishGrace
	}
	return DefaultFinishGrace
}

// loop is the life of the case: apply what arrived, fire what is due, start
// the effects the case needs, and sleep until something arrives or falls due.
func (r *run) loop(ctx workflow.Context) error {
	r.resumeNotices(ctx)
	r.listenPartner(ctx)
	r.listenDuplicates(ctx)
	for {
		now := workflow.Now(ctx)
		r.receiveJobChanges(ctx)
		r.inbox.drain(now)
		if step, ok := r.nextStep(); ok && !now.Before(step.At) {
			r.escalate(ctx, step, now)
			continue
		}
		r.overdueChanged(now)
		r.syncSearchAttributes(ctx)
		r.startRouting(ctx)
		r.startLink(ctx)
		r.startHandoff(ctx)
		r.sendTells(ctx)
		r.startProjection(ctx)
		r.startJob(ctx)

		if r.finished(now) {
			switch {
			case r.idle():
				return nil
			case r.finishBy.IsZero():
				r.finishBy = now.Add(r.finishGrace())
			case !now.Before(r.finishBy) && r.abandon(now):
				// What abandon recorded gets one more chance to reach the
				// read model.
				r.finishBy = now.Add(projectTimeout)
				continue
			case !now.Before(r.finishBy):
				return nil // the read model stayed away; reindex catches it up
			}
		} else {
			r.finishBy = time.Time{}
			if r.canContinueAsNew(ctx) {
				return workflow.NewContinueAsNewError(ctx, WorkflowName, r.carryOver())
			}
		}
		r.timer.arm(ctx, r.nextWake(ctx, now), now)
		if err := workflow.Await(ctx, func() bool {
			return !r.inbox.empty() || r.timer.fired || r.jobChangesWaiting(ctx) || (r.finishBy.IsZero() && r.canContinueAsNew(ctx))
		}); err != nil {
			return err
		}
		r.timer.fired = false
	}
}

// idle reports whether no effect is under way and the read model has the case
// as it is.
func (r *run) idle() bool {
	return r.routing == nil && r.projecting == 0 && len(r.notices) == 0 && r.job == nil && r.c.Version <= r.projected && r.inbox.empty()
}

// abandon stops waiting for the notices and routing still under way as a
// case completes, recording each notice on the timeline. It reports whether
// there was anything to abandon.
func (r *run) abandon(now time.Time) bool {
	if len(r.notices) == 0 && r.routing == nil && r.job == nil {
		return false
	}
	if r.job != nil {
		r.stopWaiting(r.job.system, now)
		r.job = nil
	}
	for _, key := range sortedKeys(r.notices) {
		r.c.Append(cases.Entry{At: now, Actor: "escalation", Kind: cases.KindComment,
			Note: "Stopped waiting to notify " + recipientName(r.notices[key].Recipient) + " as the case completed"})
	}
	r.notices, r.routing, r.wantRoute = nil, nil, false
	return true
}

// carryOver is the input of the next run: the case as it stands, its clocks,
// the notices and back-office notes still under way (the next run sends them
// again: each is idempotent by its key) and the requests applied recently.
func (r *run) carryOver() Input {
	in := Input{Case: r.c, Service: r.c.Service, SLA: r.sla, Settings: r.settings, Applied: r.applied.list()}
	for _, key := range sortedKeys(r.notices) {
		in.Notices = append(in.Notices, r.notices[key])
	}
	in.JobNotes = slices.Clone(r.notes)
	for _, seq := range slices.Sorted(maps.Keys(r.sending)) {
		in.JobNotes = append(in.JobNotes, r.sending[seq])
	}
	return in
}

// nextWake is when the loop must look again even if nothing arrives: the next
// escalation step, the citizen's due time (to flip Overdue), the end of a
// closed case's reopen window, or the end of a finishing case's grace. It is
// never an instant already dealt with, or the loop would spin on it.
func (r *run) nextWake(ctx workflow.Context, now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if r.c.ClosedAt != nil && !r.finished(now) {
		earliest(r.c.ClosedAt.Add(r.settings.ReopenWindow))
	}
	if step, ok := r.nextStep(); ok {
		earliest(step.At)
	}
	if r.sla != nil && !r.sla.Overdue && !r.c.Status.Closed() {
		earliest(r.c.DueAt)
	}
	earliest(r.finishBy)
	if r.answeredAt.Equal(now) && r.shouldContinueAsNew(ctx) {
		earliest(now.Add(time.Millisecond)) // a task of its own, for continue-as-new
	}
	return next
}

func (r *run) finished(now time.Time) bool {
	return r.c.ClosedAt != nil && !now.Before(r.c.ClosedAt.Add(r.settings.ReopenWindow))
}

func (r *run) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() ||
		(r.settings.MaxHistoryEvents > 0 && info.GetCurrentHistoryLength() >= r.settings.MaxHistoryEvents)
}

// canContinueAsNew reports whether the history is long enough to start afresh
// and nothing stands in the way: no routing under way (its answer would be
// lost), nothing queued, no handler waiting for its answer. Projections and
// notices under way do not stand in the way: the next run projects the case
// and delivers the notices again.
//
// Nor does a request answered in this workflow task: if an activity completes
// while the task is under way, Temporal refuses the task's continue-as-new,
// and with it the answer the task carried, which the client would see as a
// failure. So the loop answers, then continues as new in a task of its own.
func (r *run) canContinueAsNew(ctx workflow.Context) bool {
	return r.shouldContinueAsNew(ctx) && !r.routingUnderWay() && r.inbox.empty() && r.partnerQuiet() && r.duplicatesQuiet() && workflow.AllHandlersFinished(ctx) &&
		!r.answeredAt.Equal(workflow.Now(ctx))
}

// Error types a validator rejects with, so clients can map them to HTTP statuses.
const (
	ErrTypeTransition = "TransitionError"
	ErrTypeInput      = "InputError"
)

// rejection turns a domain error into an application error whose type survives
// the trip back to the client.
func rejection(err error) error {
	if err == nil {
		return nil
	}
	var te *cases.TransitionError
	if errors.As(err, &te) {
		return temporal.NewApplicationErrorWithOptions(te.Reason, ErrTypeTransition, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{te}})
	}
	var ie *cases.InputError
	if errors.As(err, &ie) {
		return temporal.NewApplicationErrorWithOptions(ie.Error(), ErrTypeInput, temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{ie}})
	}
	return err
}
