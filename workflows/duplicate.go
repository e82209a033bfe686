package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
)

// versionDuplicates marks histories that link duplicate cases. It is asked
// for only when a case is first linked or tells its parent, which no history
// before it did.
const versionDuplicates = "duplicates"

// A case linked as a duplicate tells its parent (SignalDuplicate, by
// workflow ID, so the parent's current run hears it); the parent attaches
// the report and records it on its timeline, and the read model passes the
// parent's later public updates on to the duplicate's feed. The link is the
// answer of routing's look-up at intake (effects.Routed.DuplicateOf) or a
// supervisor's merge.

// parentTell is a message for a parent case, sent by the loop.
type parentTell struct {
	parent string
	link   cases.DuplicateLink
	detach bool
}

// duplicateSignal is what a linked case tells its parent.
type duplicateSignal struct {
	cases.DuplicateLink
	Detach bool `json:"detach,omitempty"`
}

// listenDuplicates passes what linked cases tell this one to the loop.
func (r *run) listenDuplicates(ctx workflow.Context) {
	r.dupCh = workflow.GetSignalChannel(ctx, SignalDuplicate)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var s duplicateSignal
			if !r.dupCh.Receive(ctx, &s) {
				return
			}
			r.inbox.push(func(now time.Time) {
				if s.Detach {
					r.c.Detach(s.Child, s.Actor, now)
				} else {
					r.c.Attach(s.DuplicateLink, now)
				}
			})
		}
	})
}

// duplicatesQuiet reports whether no link is about to be made or told and no
// message from a linked case is unread, so a continue-as-new loses nothing.
func (r *run) duplicatesQuiet() bool {
	return r.wantLink == "" && len(r.tells) == 0 && (r.dupCh == nil || r.dupCh.Len() == 0)
}

// startLink links the case to the parent routing's look-up found at intake.
// A likely duplicate is not handed to a partner: its parent is.
func (r *run) startLink(ctx workflow.Context) {
	parent := r.wantLink
	if parent == "" {
		return
	}
	r.wantLink = ""
	if r.c.Status.Closed() || r.c.DuplicateOf != "" {
		return
	}
	if workflow.GetVersion(ctx, versionDuplicates, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	now := workflow.Now(ctx)
	r.wantHandoff = false
	r.c.LinkTo(parent, "intake", "", now)
	r.statusChanged(now)
	rep := r.c.Report()
	r.tells = append(r.tells, parentTell{parent: parent, link: cases.DuplicateLink{Child: r.c.Ref, Report: &rep, Actor: "intake"}})
}

// sendTells sends the messages for parents the loop has queued, each from a
// goroutine of its own; one that cannot be delivered (the parent has
// finished) is recorded on the timeline.
func (r *run) sendTells(ctx workflow.Context) {
	if len(r.tells) == 0 {
		return
	}
	if workflow.GetVersion(ctx, versionDuplicates, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		r.tells = nil
		return
	}
	for _, t := range r.tells {
		f := workflow.SignalExternalWorkflow(ctx, cases.WorkflowID(t.parent), "", SignalDuplicate, duplicateSignal{DuplicateLink: t.link, Detach: t.detach})
		workflow.Go(ctx, func(ctx workflow.Context) {
			if err := f.Get(ctx, nil); err != nil {
				r.inbox.push(func(now time.Time) {
					r.c.Append(cases.Entry{At: now, Actor: "intake", Kind: cases.KindComment, Note: "Could not tell " + t.parent + " of the link: " + err.Error()})
				})
			}
		})
	}
	r.tells = nil
}

// registerDuplicates registers a supervisor's merge, confirm and undo.
func (r *run) registerDuplicates(ctx workflow.Context) []error {
	c := r.c
	notLegacy := func(check func() error) error {
		if r.legacy {
			return &cases.TransitionError{From: c.Status, To: c.Status, Reason: "this case runs on an older version of its workflow; try again after its next change"}
		}
		return check()
	}
	return []error{
		change(ctx, r, UpdateMerge, "Make the case a duplicate of another", func(l cases.DuplicateLink) error {
			return notLegacy(func() error { return c.CheckLink(l) })
		}, func(l cases.DuplicateLink, now time.Time) {
			c.LinkTo(l.Parent, l.Actor, l.Note, now)
			r.statusChanged(now)
			rep := c.Report()
			r.tells = append(r.tells, parentTell{parent: l.Parent, link: cases.DuplicateLink{Child: c.Ref, Report: &rep, Actor: l.Actor}})
		}),
		change(ctx, r, UpdateConfirmDuplicate, "Confirm a likely duplicate", func(l cases.DuplicateLink) error {
			return notLegacy(c.CheckConfirm)
		}, func(l cases.DuplicateLink, now time.Time) {
			c.Confirm(l.Actor, now)
		}),
		change(ctx, r, UpdateUnlink, "Undo a duplicate link: the case is its own again", func(l cases.DuplicateLink) error {
			return notLegacy(c.CheckUnlink)
		}, func(l cases.DuplicateLink, now time.Time) {
			parent := c.Unlink(l.Actor, now)
			r.touched(now)
			r.statusChanged(now)
			r.tells = append(r.tells, parentTell{parent: parent, link: cases.DuplicateLink{Child: c.Ref, Actor: l.Actor}, detach: true})
		}),
	}
}
