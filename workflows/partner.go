package workflows

import (
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// versionPartner marks histories that hand cases to partner agencies. It is
// asked for only when a routing decision names a partner that takes
// hand-offs, which no history before it did.
const versionPartner = "partner-handoff"

// A hand-off to a partner is one more effect of the case loop: the loop
// starts a child workflow (Handoff) and goes on; the child posts the case to
// the partner, takes the partner's callbacks and its silence, and tells the
// case each event through the SignalPartner signal, which the loop applies
// from its inbox like any other answer. The child outlives a continue-as-new
// of the case (it is abandoned, not terminated, when a run closes) and
// signals the case by workflow ID, so whichever run is current hears it.

// listenPartner passes hand-off events to the loop.
func (r *run) listenPartner(ctx workflow.Context) {
	r.partnerCh = workflow.GetSignalChannel(ctx, SignalPartner)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var ev cases.PartnerEvent
			if !r.partnerCh.Receive(ctx, &ev) {
				return
			}
			r.inbox.push(func(now time.Time) { r.partnerEvent(ev, now) })
		}
	})
}

// partnerQuiet reports whether no hand-off is about to start and no event is
// waiting to be read, so a continue-as-new loses nothing.
func (r *run) partnerQuiet() bool {
	return !r.wantHandoff && (r.partnerCh == nil || r.partnerCh.Len() == 0)
}

// partnerEvent applies one hand-off event: the clocks follow the status (they
// resume when a rejection or silence sends the case back to triage).
func (r *run) partnerEvent(ev cases.PartnerEvent, now time.Time) {
	if r.c.ApplyPartner(ev, r.settings.DefaultRoute, now) {
		r.statusChanged(now)
	}
}

// startHandoff hands the case to the partner its routing named, if routing
// asked for it: the case waits on the partner, its clocks paused, while a
// child workflow delivers the hand-off and waits for the answer.
func (r *run) startHandoff(ctx workflow.Context) {
	if !r.wantHandoff {
		return
	}
	r.wantHandoff = false
	if r.c.Partner == "" || r.c.Status.Closed() {
		return
	}
	if workflow.GetVersion(ctx, versionPartner, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	now := workflow.Now(ctx)
	id := "handoff-" + r.c.Ref + "-" + strconv.FormatInt(r.c.Version, 10)
	partner := r.c.Partner
	r.c.HandOff(id, partner, now)
	r.statusChanged(now)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:        id,
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
	f := workflow.ExecuteChildWorkflow(cctx, HandoffWorkflowName, effects.Handoff{
		ID: id, Ref: r.c.Ref, Partner: partner, Service: r.c.Service, Report: r.c.Report(), At: now,
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		// The child tells the case how it ended; only a child that failed
		// outright is heard of here.
		if err := f.Get(ctx, nil); err != nil {
			r.inbox.push(func(now time.Time) {
				r.partnerEvent(cases.PartnerEvent{Handoff: id, Partner: partner, Event: cases.PartnerUndeliverable, Note: err.Error(), At: now}, now)
			})
		}
	})
}

// A hand-off continues as new past handoffHistory events, or after
// handoffCallbacks callbacks in one run (vars, so a test can make them short).
var (
	handoffHistory   = 2000
	handoffCallbacks = 200
)

// Handoff is the hand-off of one case to a partner agency. It posts the case
// to the partner (activity PostPartnerHandoff, retried for a day), then takes
// the partner's callbacks (update UpdateCallback, each one validated so a
// refused callback never enters history) until the partner rejects or
// completes it, or stays silent past its deadline, which every word from
// the partner moves on. It tells the case each event through SignalPartner.
func (w *Workflows) Handoff(ctx workflow.Context, in effects.Handoff) error {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	tell := func(ev cases.PartnerEvent) {
		ev.Handoff, ev.Partner = id, in.Partner
		if parent == nil {
			return
		}
		// Signalled by workflow ID alone, so the case's current run hears it.
		if err := workflow.SignalExternalWorkflow(ctx, parent.ID, "", SignalPartner, ev).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("tell the case of a hand-off event", "event", ev.Event, "error", err)
		}
	}

	var pending []cases.PartnerEvent
	final := ""
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateCallback,
		func(ctx workflow.Context, ev cases.PartnerEvent) (string, error) {
			ev.At = workflow.Now(ctx)
			pending = append(pending, ev)
			if ev.Event == cases.PartnerRejected || ev.Event == cases.PartnerCompleted {
				final = ev.Event
			}
			return ev.Event, nil
		},
		workflow.UpdateHandlerOptions{Description: "A partner's callback", Validator: func(ctx workflow.Context, ev cases.PartnerEvent) error {
			if final != "" {
				return rejection(&cases.TransitionError{From: cases.StatusWaitingOnPartner, To: cases.StatusWaitingOnPartner,
					Reason: "the hand-off is already " + final})
			}
			if ev.Partner != in.Partner {
				return rejection(&cases.InputError{Field: "partner", Reason: "this hand-off went to another partner"})
			}
			return rejection(cases.CheckCallback(ev.Event, ev.Note))
		}})
	if err != nil {
		return err
	}

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: 10 * time.Minute,
			NonRetryableErrorTypes: []string{effects.ErrTypeHandoffPermanent}},
	})
	var posted effects.HandedOff
	lastWord := workflow.Now(ctx)
	if in.Resume != nil {
		posted.Silence, lastWord = in.Resume.Silence, in.Resume.LastWord
	} else {
		if err := workflow.ExecuteActivity(actx, effects.ActivityHandoff, in).Get(ctx, &posted); err != nil && len(pending) == 0 {
			tell(cases.PartnerEvent{Event: cases.PartnerUndeliverable, Note: err.Error(), At: workflow.Now(ctx)})
			return nil
		}
		lastWord = workflow.Now(ctx)
	}
	if posted.Silence <= 0 {
		posted.Silence = 48 * time.Hour
	}
	deadline := lastWord.Add(posted.Silence)
	taken := 0
	if in.Resume == nil {
		tell(cases.PartnerEvent{Event: cases.PartnerDelivered, At: lastWord, Deadline: deadline})
	}
	for {
		// A partner that writes and writes (progress notes) would grow the
		// history without bound: past handoffHistory events, with nothing
		// unread and no callback being taken, carry on in a new run.
		if len(pending) == 0 && workflow.AllHandlersFinished(ctx) && (taken >= handoffCallbacks ||
			workflow.GetInfo(ctx).GetContinueAsNewSuggested() || workflow.GetInfo(ctx).GetCurrentHistoryLength() >= handoffHistory) {
			in.Resume = &effects.HandoffResume{Silence: posted.Silence, LastWord: lastWord}
			return workflow.NewContinueAsNewError(ctx, HandoffWorkflowName, in)
		}
		wait := deadline.Sub(workflow.Now(ctx))
		heard := len(pending) > 0
		if !heard && wait > 0 {
			var err error
			if heard, err = workflow.AwaitWithTimeout(ctx, wait, func() bool { return len(pending) > 0 }); err != nil {
				return err
			}
		}
		if !heard {
			tell(cases.PartnerEvent{Event: cases.PartnerSilent, At: lastWord})
			return nil
		}
		evs := pending
		pending = nil
		taken += len(evs)
		for _, ev := range evs {
			lastWord = ev.At
			deadline = lastWord.Add(posted.Silence)
			ev.Deadline = deadline
			tell(ev)
			if ev.Event == cases.PartnerRejected || ev.Event == cases.PartnerCompleted {
				return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
			}
		}
	}
}
