package workflows

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/effects"
)

// fakeBackOffice stands in for the back-office activities: it keeps jobs by
// reference as a real system would, and can be down until a given time.
type fakeBackOffice struct {
	mu        sync.Mutex
	opens     []effects.JobRequest
	withdrawn []string
	notes     []effects.NoteRequest
	closes    []effects.CloseRequest
	jobs      map[string]string // ref → job id
	down      bool
	n         int
	// closeErr and noteErr, if set, are how the system answers a close or
	// a note.
	closeErr, noteErr error
}

func (f *fakeBackOffice) open(ctx context.Context, req effects.JobRequest) (effects.JobOpened, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens = append(f.opens, req)
	now := activity.GetInfo(ctx).StartedTime
	if f.down {
		return effects.JobOpened{}, errors.New("highways: create job: HTTP 503: Service Unavailable")
	}
	if f.jobs == nil {
		f.jobs = map[string]string{}
	}
	if id, ok := f.jobs[req.Case.Ref]; ok && !slices.Contains(req.Skip, id) {
		return effects.JobOpened{Job: cases.Job{System: req.System, ID: id, At: now}, Found: true}, nil
	}
	f.n++
	id := "HW-" + string(rune('0'+f.n))
	f.jobs[req.Case.Ref] = id
	return effects.JobOpened{Job: cases.Job{System: req.System, ID: id, Code: "RAISED", At: now}}, nil
}

func (f *fakeBackOffice) withdraw(ctx context.Context, req effects.WithdrawRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.withdrawn = append(f.withdrawn, req.JobID)
	delete(f.jobs, req.Ref)
	return nil
}

func (f *fakeBackOffice) note(ctx context.Context, req effects.NoteRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noteErr != nil {
		return f.noteErr
	}
	f.notes = append(f.notes, req)
	return nil
}

func (f *fakeBackOffice) close(ctx context.Context, req effects.CloseRequest) (effects.JobClosed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closes = append(f.closes, req)
	if f.closeErr != nil {
		return effects.JobClosed{}, f.closeErr
	}
	return effects.JobClosed{Code: "DONE"}, nil
}

// register stands the fake in for the back-office activities of h.
func (f *fakeBackOffice) register(h *harness) {
	h.env.RegisterActivityWithOptions(f.note, activity.RegisterOptions{Name: effects.ActivityNoteJob})
	h.env.RegisterActivityWithOptions(f.open, activity.RegisterOptions{Name: effects.ActivityOpenJob})
	h.env.RegisterActivityWithOptions(f.withdraw, activity.RegisterOptions{Name: effects.ActivityWithdrawJob})
	h.env.RegisterActivityWithOptions(f.close, activity.RegisterOptions{Name: effects.ActivityCloseJob})
}

func backOfficeHarness(t *testing.T) (*harness, *fakeBackOffice) {
	h := newHarness(t, nil)
	f := &fakeBackOffice{}
	f.register(h)
	return h, f
}

func backOfficeInput() Input {
	in := input()
	in.Settings.BackOffices = map[string]string{"highways": "highways", "street-lighting": "highways"}
	return in
}

func TestJobOpenedOnceRouted(t *testing.T) {
	h, f := backOfficeHarness(t)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if len(f.opens) != 1 || f.opens[0].Key != "case-CB-TEST01:highways:1" || f.opens[0].Case.Department != "highways" {
		t.Fatalf("OpenJob calls %+v, want one for the routed case with key case-CB-TEST01:highways:1", f.opens)
	}
	if c.Job == nil || c.Job.ID != "HW-1" || c.Job.System != "highways" {
		t.Fatalf("case job %+v, want HW-1 in highways", c.Job)
	}
	last := c.Timeline[len(c.Timeline)-1]
	if last.Kind != cases.KindBackOffice || last.Note != "Job HW-1 created in highways" {
		t.Errorf("last entry %+v, want the job recorded", last)
	}
	if h.rm.latest.Job == nil || h.rm.latest.Version != c.Version {
		t.Errorf("read model has v%d job %+v; case v%d", h.rm.latest.Version, h.rm.latest.Job, c.Version)
	}
}

// A back office that is down for ten minutes: staff changes are answered at
// once, the case shows what it waits on, and the job is made once it returns.
func TestBackOfficeDownDelaysNeverBlocks(t *testing.T) {
	h, f := backOfficeHarness(t)
	f.down = true
	h.env.RegisterDelayedCallback(func() { f.mu.Lock(); f.down = false; f.mu.Unlock() }, 10*time.Minute)
	var during, after cases.Case
	var note outcome
	h.update(3*time.Minute, UpdateComment, cases.Comment{Note: "Called the resident", Actor: "staff:amy"}, &note)
	h.env.RegisterDelayedCallback(func() { during = h.query() }, 5*time.Minute)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 15*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if note.err != nil || note.result == nil {
		t.Fatalf("a note while the back office is down: %v", note.err)
	}
	w, ok := during.Waiting(cases.WaitBackOffice("highways"))
	if !ok || w.Attempts < 1 || w.Error == "" || w.Since.IsZero() {
		t.Fatalf("while down, waits = %+v; want one on back_office:highways with its error", during.Waits)
	}
	if during.Job != nil {
		t.Errorf("a job while the system is down: %+v", during.Job)
	}
	if after.Job == nil || len(after.Waits) != 0 {
		t.Errorf("after the system returned: job %+v waits %+v; want the job and no wait", after.Job, after.Waits)
	}
	if f.n != 1 {
		t.Errorf("%d jobs made, want 1", f.n)
	}
}

func TestJobChangeAppliedOnce(t *testing.T) {
	h, _ := backOfficeHarness(t)
	insp := cases.JobChange{System: "highways", ID: "c2", JobID: "HW-1", Code: "INSP", Status: cases.StatusInvestigating, Note: "Inspected"}
	for _, at := range []time.Duration{2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(effects.SignalJobChange, insp) }, at)
	}
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if c.Status != cases.StatusInvestigating || c.Job.Code != "INSP" {
		t.Fatalf("status %s job %+v, want investigating with code INSP", c.Status, c.Job)
	}
	n := 0
	for _, e := range c.Timeline {
		if e.ChangeID == "highways:c2" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("change applied %d times, want once", n)
	}
	ups := c.PublicUpdates()
	if last := ups[len(ups)-1]; last.ExternalStatusCode != "INSP" {
		t.Errorf("last public update %+v, want external_status_code INSP", last)
	}
}

// A create that timed out made the job after all: its first change, polled
// while the system is otherwise down, records it and ends the case's wait,
// and the look-up still under way changes nothing.
func TestJobChangeRecordsTheJobItComesFrom(t *testing.T) {
	h, f := backOfficeHarness(t)
	f.down = true
	insp := cases.JobChange{System: "highways", ID: "c2", JobID: "HW-7", Code: "INSP", Status: cases.StatusInvestigating, Note: "Inspected"}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(effects.SignalJobChange, insp) }, 2*time.Minute)
	h.env.RegisterDelayedCallback(func() { f.mu.Lock(); f.down = false; f.mu.Unlock() }, 10*time.Minute)
	var during, after cases.Case
	h.env.RegisterDelayedCallback(func() { during = h.query() }, 3*time.Minute)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 15*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	for when, c := range map[string]cases.Case{"at once": during, "after the system returned": after} {
		if c.Job == nil || c.Job.ID != "HW-7" || len(c.Waits) != 0 || c.Status != cases.StatusInvestigating {
			t.Errorf("%s: job %+v, waits %+v, status %s; want HW-7, no wait, investigating", when, c.Job, c.Waits, c.Status)
		}
	}
	if f.n != 0 {
		t.Errorf("%d jobs made besides the one the change came from", f.n)
	}
}

// A code mapping to the status the case already holds still reaches
// FixMyStreet, with the system's code (versionJobCodes).
func TestJobChangeOfTheStatusHeldPublished(t *testing.T) {
	h, _ := backOfficeHarness(t)
	var moved outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusInvestigating, Note: "Looking", Public: true, Actor: "staff:amy"}, &moved)
	insp := cases.JobChange{System: "highways", ID: "c2", JobID: "HW-1", Code: "INSP", Status: cases.StatusInvestigating, Note: "Inspected"}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(effects.SignalJobChange, insp) }, 3*time.Minute)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if moved.err != nil {
		t.Fatal(moved.err)
	}
	ups := c.PublicUpdates()
	if last := ups[len(ups)-1]; c.Status != cases.StatusInvestigating || last.ExternalStatusCode != "INSP" || last.Description != "Inspected" {
		t.Errorf("status %s, last public update %+v; want investigating, then Inspected with external_status_code INSP", c.Status, last)
	}
}

// Moving the case to a department the system does not serve withdraws the
// job; moving it back makes a new one under a new key.
func TestTransferWithdrawsJob(t *testing.T) {
	h, f := backOfficeHarness(t)
	var away, back outcome
	h.update(2*time.Minute, UpdateTransfer, cases.Transfer{Department: "parks", Actor: "staff:amy"}, &away)
	h.update(5*time.Minute, UpdateTransfer, cases.Transfer{Department: "street-lighting", Actor: "staff:amy"}, &back)
	var mid, c cases.Case
	h.env.RegisterDelayedCallback(func() { mid = h.query() }, 4*time.Minute)
	h.env.RegisterDelayedCallback(func() { c = h.query() }, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if away.err != nil || back.err != nil {
		t.Fatal(away.err, back.err)
	}
	if mid.Job != nil || len(mid.PastJobs) != 1 || len(f.withdrawn) != 1 || f.withdrawn[0] != "HW-1" {
		t.Fatalf("in parks: job %+v past %+v withdrawn %v; want HW-1 withdrawn", mid.Job, mid.PastJobs, f.withdrawn)
	}
	if c.Job == nil || c.Job.ID != "HW-2" || len(f.opens) != 2 || f.opens[1].Key != "case-CB-TEST01:highways:2" || len(f.opens[1].Skip) != 1 {
		t.Errorf("back in street-lighting: job %+v, opens %+v; want HW-2 under key :2 skipping HW-1", c.Job, f.opens)
	}
}

// A public staff note goes to the case's job; an internal one stays.
func TestPublicNoteSentToJob(t *testing.T) {
	h, f := backOfficeHarness(t)
	var pub, internal outcome
	h.update(2*time.Minute, UpdateComment, cases.Comment{Note: "We will fill it this week", Public: true, Actor: "staff:amy"}, &pub)
	h.update(3*time.Minute, UpdateComment, cases.Comment{Note: "Resident is difficult", Actor: "staff:amy"}, &internal)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if pub.err != nil || internal.err != nil {
		t.Fatal(pub.err, internal.err)
	}
	if len(f.notes) != 1 || f.notes[0].Text != "We will fill it this week" || f.notes[0].JobID != "HW-1" {
		t.Errorf("notes sent %+v, want the public one to HW-1", f.notes)
	}
}

// TestEscalationsFireWhileTheBackOfficeIsDown keeps the back office down for
// the first 100 seconds of a demo-seconds case: every rung of the ladder due
// in that time fires on time, the case shows that it waits on the system,
// and the job is made once the system returns.
func TestEscalationsFireWhileTheBackOfficeIsDown(t *testing.T) {
	h := newHarness(t, routeWith(demoPolicy(), "highways"))
	h.withNotices()
	f := &fakeBackOffice{down: true}
	f.register(h)
	h.env.RegisterDelayedCallback(func() { f.mu.Lock(); f.down = false; f.mu.Unlock() }, 100*time.Second)
	var during, after cases.Case
	h.env.RegisterDelayedCallback(func() { during = h.query() }, 90*time.Second)
	h.env.RegisterDelayedCallback(func() { after = h.query() }, 5*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())

	escalatedOnTime(t, after, 4, "the back office was down")
	if w, ok := during.Waiting(cases.WaitBackOffice("highways")); !ok || w.Error == "" || during.Job != nil {
		t.Errorf("at 90 s the case does not show it waits on highways: waits %+v job %+v", during.Waits, during.Job)
	}
	if after.Job == nil || len(after.Waits) != 0 {
		t.Errorf("after the system returned: job %+v waits %+v; want the job and no wait", after.Job, after.Waits)
	}
	if f.n != 1 {
		t.Errorf("%d jobs made, want 1", f.n)
	}
}

// Closing the case closes its job there; reopened, the case gets a new job
// (the closed one stays closed), and closed again it closes that one.
func TestClosingTheCaseClosesItsJob(t *testing.T) {
	h, f := backOfficeHarness(t)
	var fix, reopen, fixAgain outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Note: "Filled", Public: true, Actor: "staff:amy"}, &fix)
	h.update(5*time.Minute, UpdateTransition, cases.Change{To: cases.StatusInProgress, Note: "Sunk again", Actor: "staff:amy"}, &reopen)
	h.update(8*time.Minute, UpdateTransition, cases.Change{To: cases.StatusNoFurtherAction, Note: "Within tolerance", Actor: "staff:amy"}, &fixAgain)
	var closed, reopened, end cases.Case
	h.env.RegisterDelayedCallback(func() { closed = h.query() }, 4*time.Minute)
	h.env.RegisterDelayedCallback(func() { reopened = h.query() }, 7*time.Minute)
	h.env.RegisterDelayedCallback(func() { end = h.query() }, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	for _, o := range []outcome{fix, reopen, fixAgain} {
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
	if closed.Job == nil || closed.Job.Closed != cases.JobClosedThere || closed.Job.Code != "DONE" {
		t.Fatalf("after fixing: job %+v, want HW-1 closed there with DONE", closed.Job)
	}
	if last := closed.Timeline[len(closed.Timeline)-1]; last.Note != "Job HW-1 closed in highways (DONE)" {
		t.Errorf("last entry %q, want the job closed", last.Note)
	}
	if reopened.Job == nil || reopened.Job.ID != "HW-2" || len(reopened.PastJobs) != 1 || reopened.PastJobs[0].ID != "HW-1" {
		t.Errorf("reopened: job %+v past %+v; want a new job HW-2 and HW-1 set aside", reopened.Job, reopened.PastJobs)
	}
	if len(f.closes) != 2 || f.closes[0].JobID != "HW-1" || f.closes[0].Status != cases.StatusFixed ||
		f.closes[1].JobID != "HW-2" || f.closes[1].Status != cases.StatusNoFurtherAction {
		t.Errorf("closes %+v, want HW-1 as fixed then HW-2 as no_further_action", f.closes)
	}
	if end.Job == nil || end.Job.Closed != cases.JobClosedThere || len(end.Waits) != 0 {
		t.Errorf("at the end: job %+v waits %+v", end.Job, end.Waits)
	}
}

// A system that takes no status changes is asked once: the case records that
// the job is left as it is there, and never waits on it.
func TestCloseNotSupportedIsRecordedNotRetried(t *testing.T) {
	h, f := backOfficeHarness(t)
	f.closeErr = temporal.NewNonRetryableApplicationError("highways: set job status: HTTP 405: this system takes no status changes",
		effects.ErrTypeBackOfficeUnsupported, nil)
	var fix outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "staff:amy"}, &fix)
	var c cases.Case
	h.env.RegisterDelayedCallback(func() { c = h.query() }, 50*time.Minute)
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, time.Hour)
	h.env.ExecuteWorkflow(WorkflowName, backOfficeInput())
	if fix.err != nil {
		t.Fatal(fix.err)
	}
	if len(f.closes) != 1 {
		t.Errorf("%d close calls, want 1: not supported is not retried", len(f.closes))
	}
	if c.Job == nil || c.Job.Closed != cases.JobLeftOpen || len(c.Waits) != 0 {
		t.Fatalf("job %+v waits %+v, want the job left open and no wait", c.Job, c.Waits)
	}
	last := c.Timeline[len(c.Timeline)-1]
	if last.Kind != cases.KindBackOffice || !strings.Contains(last.Note, "highways takes no status changes: job HW-1 is left as it is there") {
		t.Errorf("last entry %q, want the refusal recorded", last.Note)
	}
}

// A public note still being retried, and a close still under way, when the
// case continues as new are not dropped: the note is carried in the input
// and sent by the next run under the same key, and the next run closes the
// job, as the case it carries asks.
func TestBackOfficeWorkCarriedOverContinueAsNew(t *testing.T) {
	h, f := backOfficeHarness(t)
	f.noteErr = errors.New("highways: add note: HTTP 503")
	f.closeErr = errors.New("highways: set job status: HTTP 503")
	in := backOfficeInput()
	var note, fix outcome
	h.update(2*time.Minute, UpdateComment, cases.Comment{Note: "We will fill it this week", Public: true, Actor: "staff:amy"}, &note)
	h.update(3*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "staff:amy"}, &fix)
	h.env.RegisterDelayedCallback(func() { h.env.SetCurrentHistoryLength(in.Settings.MaxHistoryEvents + 1) }, 3*time.Minute+30*time.Second)
	h.env.ExecuteWorkflow(WorkflowName, in)
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	if note.err != nil || fix.err != nil {
		t.Fatal(note.err, fix.err)
	}
	var next Input
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.JobNotes) != 1 || next.JobNotes[0].Text != "We will fill it this week" || next.JobNotes[0].JobID != "HW-1" {
		t.Fatalf("carried notes %+v, want the public note to HW-1", next.JobNotes)
	}
	if len(f.notes) != 0 || len(f.closes) == 0 || next.Case.Job == nil || next.Case.Job.Closed != "" {
		t.Fatalf("before continue-as-new: notes %+v closes %d job %+v; want nothing through yet", f.notes, len(f.closes), next.Case.Job)
	}

	h2 := newHarness(t, nil)
	f2 := &fakeBackOffice{jobs: map[string]string{"CB-TEST01": "HW-1"}, n: 1}
	f2.register(h2)
	var c cases.Case
	h2.env.RegisterDelayedCallback(func() { c = h2.query() }, 5*time.Minute)
	h2.env.RegisterDelayedCallback(func() { h2.env.CancelWorkflow() }, time.Hour)
	h2.env.ExecuteWorkflow(WorkflowName, next)
	if len(f2.notes) != 1 || f2.notes[0].Key() != next.JobNotes[0].Key() || f2.notes[0].Key() != "case-CB-TEST01:note:"+strconv.Itoa(next.JobNotes[0].Seq) {
		t.Errorf("notes sent by the next run %+v, want the carried note under its key", f2.notes)
	}
	if len(f2.closes) != 1 || c.Job == nil || c.Job.Closed != cases.JobClosedThere {
		t.Errorf("next run: closes %+v job %+v, want the job closed", f2.closes, c.Job)
	}
}

// A case that completes while its back office is still down stops waiting on
// it: the timeline says so and the case no longer counts as waiting (its
// wait leaves the read model, and casebridge_backoffice_waiting_cases).
func TestCompletionStopsWaitingOnTheBackOffice(t *testing.T) {
	h, f := backOfficeHarness(t)
	f.closeErr = errors.New("highways: set job status: HTTP 503")
	in := backOfficeInput()
	in.Settings.ReopenWindow = 10 * time.Minute
	in.Settings.FinishGrace = 5 * time.Minute
	var fix outcome
	h.update(2*time.Minute, UpdateTransition, cases.Change{To: cases.StatusFixed, Actor: "staff:amy"}, &fix)
	h.env.ExecuteWorkflow(WorkflowName, in)
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil || fix.err != nil {
		t.Fatalf("completed %v err %v (fix %v)", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError(), fix.err)
	}
	last := h.rm.latest.Timeline[len(h.rm.latest.Timeline)-1]
	if last.Note != "Stopped waiting for highways as the case completed" {
		t.Errorf("read model's last entry %q, want the back office given up", last.Note)
	}
	if len(h.rm.latest.Waits) != 0 {
		t.Errorf("the completed case still waits: %+v", h.rm.latest.Waits)
	}
}
