package cases

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEveryStatusIsMapped(t *testing.T) {
	if len(Statuses) != len(statusTable) {
		t.Fatalf("Statuses has %d values, statusTable %d", len(Statuses), len(statusTable))
	}
	closed := map[Status]bool{StatusFixed: true, StatusClosed: true, StatusDuplicate: true, StatusNotCouncilsResponsibility: true,
		StatusNoFurtherAction: true, StatusInternalReferral: true, StatusCancelled: true}
	for _, s := range Statuses {
		if !s.Valid() || s.Label() == "" {
			t.Errorf("%s: not valid or has no label", s)
		}
		want := "open"
		if closed[s] {
			want = "closed"
		}
		if got := s.Open311(); got != want {
			t.Errorf("%s.Open311() = %q, want %q", s, got, want)
		}
		if p := s.Public(); !p.Valid() || p.Paused() {
			t.Errorf("%s.Public() = %q: citizens must see a real, non-internal status", s, p)
		}
		if got, err := ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, got, err)
		}
	}
	if got, err := ParseStatus("IN_PROGRESS"); err != nil || got != StatusInProgress {
		t.Errorf("ParseStatus(IN_PROGRESS) = %q, %v", got, err)
	}
	if _, err := ParseStatus("resolved"); err == nil {
		t.Error("ParseStatus(resolved) succeeded")
	}
	if StatusWaitingOnCitizen.Public() != StatusInvestigating || !StatusWaitingOnPartner.Paused() {
		t.Error("waiting states must pause and show as investigating")
	}
}

func TestCheckTransition(t *testing.T) {
	for _, tc := range []struct {
		from, to Status
		ok       bool
	}{
		{StatusOpen, StatusFixed, true},
		{StatusOpen, StatusInProgress, true},
		{StatusInProgress, StatusWaitingOnCitizen, true},
		{StatusWaitingOnCitizen, StatusInProgress, true},
		{StatusFixed, StatusOpen, true},               // reopen
		{StatusFixed, StatusNoFurtherAction, true},    // correcting the closing reason
		{StatusOpen, StatusOpen, false},               // no-op
		{StatusClosed, StatusWaitingOnPartner, false}, // reopen first
		{StatusOpen, Status("resolved"), false},
	} {
		err := CheckTransition(tc.from, tc.to)
		if (err == nil) != tc.ok {
			t.Errorf("CheckTransition(%s, %s) = %v, want ok=%v", tc.from, tc.to, err, tc.ok)
		}
		var te *TransitionError
		if err != nil && (!errors.As(err, &te) || te.Reason == "") {
			t.Errorf("CheckTransition(%s, %s) error %v is not a *TransitionError with a reason", tc.from, tc.to, err)
		}
	}
}

func TestApplyRecordsTimelineAndClosure(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := &Case{Ref: "CB-000001", Status: StatusOpen}
	c.Append(Entry{At: t0, Actor: "fixmystreet", Kind: KindReceived, To: StatusOpen})
	ch := Change{To: StatusFixed, Note: "Filled in", Public: true, Actor: "agent"}
	if err := c.Check(ch); err != nil {
		t.Fatal(err)
	}
	e := c.Apply(ch, t0.Add(time.Hour))
	if e.Seq != 2 || c.Status != StatusFixed || c.ClosedAt == nil || c.Version != 2 {
		t.Fatalf("after fix: entry %+v, case %+v", e, c)
	}
	e = c.Apply(Change{To: StatusOpen, Note: "Still there", Public: true, Actor: "agent"}, t0.Add(2*time.Hour))
	if e.Kind != KindReopened || c.ClosedAt != nil {
		t.Errorf("reopen: entry kind %s, closed_at %v", e.Kind, c.ClosedAt)
	}
	if err := c.Check(Change{To: StatusOpen}); err == nil {
		t.Error("Check allowed open → open")
	}
	if err := c.Check(Change{To: StatusFixed, Note: string(make([]byte, MaxNote+1))}); err == nil {
		t.Error("Check allowed an over-long note")
	}
}

func TestPublicUpdates(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	c := &Case{Ref: "CB-AAAAAA", Status: StatusOpen}
	c.Append(Entry{At: t0, Kind: KindReceived, To: StatusOpen, Public: true})
	c.Apply(Change{To: StatusWaitingOnCitizen, Note: "Which lamp post?", Public: true}, t0.Add(time.Minute))
	c.Append(Entry{At: t0.Add(2 * time.Minute), Kind: KindCitizen, Note: "Number 12", Public: true, ExternalID: "fms-9"})
	c.Append(Entry{At: t0.Add(3 * time.Minute), Kind: KindComment, Note: "internal only"})
	c.Apply(Change{To: StatusFixed, Note: "Replaced the lamp", Public: true}, t0.Add(4*time.Minute))
	got := c.PublicUpdates()
	if len(got) != 2 {
		t.Fatalf("PublicUpdates() = %+v, want 2 updates", got)
	}
	if got[0].ID != "CB-AAAAAA-2" || got[0].Status != StatusInvestigating {
		t.Errorf("first update = %+v, want id CB-AAAAAA-2 shown as investigating", got[0])
	}
	if got[1].ID != "CB-AAAAAA-5" || got[1].Status != StatusFixed || got[1].Description != "Replaced the lamp" {
		t.Errorf("second update = %+v", got[1])
	}
}

func TestRefCandidates(t *testing.T) {
	a := RefCandidate("CB-", "fixmystreet:x:1", 0)
	if a != RefCandidate("CB-", "fixmystreet:x:1", 0) {
		t.Fatal("RefCandidate is not deterministic")
	}
	if !ValidRef("CB-", a) {
		t.Errorf("RefCandidate gave %q, not a valid reference", a)
	}
	if a == RefCandidate("CB-", "fixmystreet:x:1", 1) || a == RefCandidate("CB-", "fixmystreet:x:2", 0) {
		t.Error("different keys or attempts gave the same reference")
	}
	seen := map[string]bool{}
	for i := range 10000 {
		seen[RefCandidate("CB-", "k"+string(rune(i)), 0)] = true
	}
	if len(seen) < 9990 {
		t.Errorf("10000 keys gave only %d distinct references", len(seen))
	}
	if got := NormalizeRef("CB-", " cb-7kq2mo "); got != "CB-7KQ2M0" {
		t.Errorf("NormalizeRef = %q", got)
	}
	for _, bad := range []string{"CB-7KQ2M", "CB-7KQ2MU", "XX-7KQ2M9", ""} {
		if ValidRef("CB-", bad) {
			t.Errorf("ValidRef(%q) = true", bad)
		}
	}
}

func TestNotesStayWithinWhatTemporalCarries(t *testing.T) {
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	c := New("CB-BUDGET", Report{IntakeKey: "k", Source: SourceStaff}, Service{Code: "POT"}, now)
	// '<' is written as \u003c: six bytes in JSON for one character.
	heavy := strings.Repeat("<", MaxNote)
	added := 0
	for c.CheckComment(Comment{Note: heavy}) == nil {
		c.AddComment(Comment{Note: heavy, Actor: "staff:amy"}, now)
		added++
		if added > 1000 {
			t.Fatal("notes never ran out of room")
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxNotesJSON+64<<10 {
		t.Errorf("case with %d heavy notes is %d bytes of JSON, want about %d at most", added, len(b), MaxNotesJSON)
	}
	err = c.CheckComment(Comment{Note: heavy})
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "note" || !strings.Contains(ie.Reason, "KiB of notes") {
		t.Errorf("a note past the room left = %v, want an InputError on note saying why", err)
	}
	if err := c.CheckCitizen(CitizenUpdate{UpdateID: "fms-1", Description: heavy}); err == nil {
		t.Error("a citizen's update past the room left was accepted")
	}
	// A citizen's update already recorded is answered again, full or not.
	c.Timeline[1].ExternalID = "fms-0"
	if err := c.CheckCitizen(CitizenUpdate{UpdateID: "fms-0", Description: heavy}); err != nil {
		t.Errorf("a resent citizen update was refused: %v", err)
	}
	if got, want := jsonCost(`a<"é`+"\xff"), len(`a\u003c\"é\ufffd`); got != want {
		t.Errorf("jsonCost = %d, want %d", got, want)
	}
}

func TestApplyJobChangeOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	c := New("CB-1", Report{Source: SourceFixMyStreet}, Service{Code: "POT"}, t0)
	c.JobRecorded(Job{System: "highways", ID: "HW-1", At: t0}, false, t0)
	insp := JobChange{System: "highways", ID: "c2", JobID: "HW-1", Code: "INSP", Status: StatusInvestigating, Note: "Inspected", At: t0}
	if !c.ApplyJobChange(insp, t0.Add(time.Minute)) || c.Status != StatusInvestigating || c.Job.Code != "INSP" {
		t.Fatalf("INSP: status %s, job %+v", c.Status, c.Job)
	}
	n := len(c.Timeline)
	if c.ApplyJobChange(insp, t0.Add(2*time.Minute)) || len(c.Timeline) != n {
		t.Errorf("the same change applied twice: timeline %d → %d", n, len(c.Timeline))
	}
	ups := c.PublicUpdates()
	if last := ups[len(ups)-1]; last.ExternalStatusCode != "INSP" || last.Status != StatusInvestigating || last.Description != "Inspected" {
		t.Errorf("public update %+v, want investigating with external_status_code INSP", last)
	}
	// An IGNOREd code is recorded for staff only.
	c.ApplyJobChange(JobChange{System: "highways", ID: "c3", JobID: "HW-1", Code: "HOLD", Note: "Awaiting traffic management"}, t0.Add(3*time.Minute))
	if e := c.Timeline[len(c.Timeline)-1]; e.Public || e.Kind != KindBackOffice || e.ExternalStatusCode != "HOLD" {
		t.Errorf("an unmapped code made %+v", e)
	}
	// A change for another job (one withdrawn earlier) changes nothing.
	if c.ApplyJobChange(JobChange{System: "highways", ID: "c4", JobID: "HW-0", Code: "DONE", Status: StatusFixed}, t0) || c.Status != StatusInvestigating {
		t.Errorf("a change to another job moved the case to %s", c.Status)
	}
	// Staff closed the case: a late back-office status does not reopen it.
	c.Apply(Change{To: StatusClosed, Actor: "staff"}, t0.Add(4*time.Minute))
	if c.ApplyJobChange(JobChange{System: "highways", ID: "c5", JobID: "HW-1", Code: "SCH", Status: StatusActionScheduled}, t0.Add(5*time.Minute)) || c.Status != StatusClosed {
		t.Errorf("a back office reopened a closed case: %s", c.Status)
	}
}

// A change from a job the case has not recorded yet (its create timed out)
// records the job and ends the wait; one from a withdrawn job changes nothing.
func TestPublishJobChangeRecordsTheJobItComesFrom(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	c := New("CB-1", Report{Source: SourceFixMyStreet}, Service{Code: "POT"}, t0)
	c.Failed(WaitBackOffice("highways"), "no answer", t0)
	done := JobChange{System: "highways", ID: "c4", JobID: "HW-7", Code: "DONE", Status: StatusFixed, Note: "Repaired", At: t0}
	if !c.PublishJobChange(done, t0.Add(time.Minute)) || c.Status != StatusFixed {
		t.Fatalf("DONE from the unrecorded job: status %s", c.Status)
	}
	if c.Job == nil || c.Job.ID != "HW-7" || c.Job.System != "highways" || len(c.Waits) != 0 {
		t.Errorf("job %+v, waits %+v; want HW-7 recorded and no wait", c.Job, c.Waits)
	}
	// Withdrawn, the job's late changes change nothing.
	c.JobWithdrawn("moved to parks", t0.Add(2*time.Minute))
	n := len(c.Timeline)
	if c.PublishJobChange(JobChange{System: "highways", ID: "c5", JobID: "HW-7", Code: "INSP", Status: StatusInvestigating}, t0.Add(3*time.Minute)) || len(c.Timeline) != n || c.Job != nil {
		t.Errorf("a withdrawn job's change was applied: job %+v, timeline %d → %d", c.Job, n, len(c.Timeline))
	}
}

// A code mapping to the status the case already holds (an escalation
// published it first) changes no status, and PublishJobChange still tells
// FixMyStreet, with the system's code; ApplyJobChange records it for staff.
func TestPublishJobChangeOfTheStatusHeld(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, publish := range []bool{false, true} {
		c := New("CB-1", Report{Source: SourceFixMyStreet}, Service{Code: "POT"}, t0)
		c.JobRecorded(Job{System: "highways", ID: "HW-1", At: t0}, false, t0)
		c.Apply(Change{To: StatusInvestigating, Note: "Sorry for the delay", Public: true, Actor: "escalation"}, t0)
		insp := JobChange{System: "highways", ID: "c2", JobID: "HW-1", Code: "INSP", Status: StatusInvestigating, Note: "Inspected", At: t0}
		apply := c.ApplyJobChange
		if publish {
			apply = c.PublishJobChange
		}
		before := len(c.PublicUpdates())
		if apply(insp, t0.Add(time.Minute)) || c.Status != StatusInvestigating {
			t.Fatalf("publish %t: the status moved (to %s)", publish, c.Status)
		}
		n := len(c.Timeline)
		apply(insp, t0.Add(2*time.Minute))
		if len(c.Timeline) != n {
			t.Errorf("publish %t: the same change applied twice", publish)
		}
		ups := c.PublicUpdates()
		switch last := ups[len(ups)-1]; {
		case publish && (len(ups) != before+1 || last.ExternalStatusCode != "INSP" || last.Status != StatusInvestigating || last.Description != "Inspected"):
			t.Errorf("PublishJobChange: updates %+v, want one more, investigating with external_status_code INSP", ups)
		case !publish && (len(ups) != before || c.Timeline[n-1].Public || c.Timeline[n-1].ExternalStatusCode != "INSP"):
			t.Errorf("ApplyJobChange: updates %+v, entry %+v; want it for staff only", ups, c.Timeline[n-1])
		}
	}
}

// A job closed as the case closed: the system's echo of the code casebridge
// set moves nothing (here DONE, which maps to fixed, on a case staff closed
// as no further action), a case the system itself closes counts its job
// closed there, and reopening sets a closed job aside but keeps one left open.
func TestJobClosedEchoAndReopen(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	c := New("CB-1", Report{Source: SourceFixMyStreet}, Service{Code: "POT"}, t0)
	c.JobRecorded(Job{System: "highways", ID: "HW-1", At: t0}, false, t0)
	c.Apply(Change{To: StatusNoFurtherAction, Actor: "staff"}, t0)
	c.JobClosed(JobClosedThere, "DONE", "", t0)
	if c.Job.Closed != JobClosedThere || c.Job.Code != "DONE" || c.Timeline[len(c.Timeline)-1].Note != "Job HW-1 closed in highways (DONE)" {
		t.Fatalf("closed: job %+v, last entry %q", c.Job, c.Timeline[len(c.Timeline)-1].Note)
	}
	echo := JobChange{System: "highways", ID: "c9", JobID: "HW-1", Code: "DONE", Status: StatusFixed, Note: "Status set to DONE"}
	if c.ApplyJobChange(echo, t0.Add(time.Minute)) || c.Status != StatusNoFurtherAction {
		t.Errorf("the echo of our own close moved the case to %s", c.Status)
	}
	if e := c.Timeline[len(c.Timeline)-1]; e.Public || e.ChangeID != "highways:c9" {
		t.Errorf("the echo was recorded as %+v, want a staff-only entry", e)
	}

	if !c.JobReopened(t0.Add(2*time.Minute)) || c.Job != nil || len(c.PastJobs) != 1 || c.PastJobs[0].ID != "HW-1" {
		t.Fatalf("reopened: job %+v past %+v; want HW-1 set aside", c.Job, c.PastJobs)
	}
	c.JobRecorded(Job{System: "highways", ID: "HW-2", At: t0}, false, t0)
	if c.ApplyJobChange(JobChange{System: "highways", ID: "c10", JobID: "HW-2", Code: "DONE", Status: StatusFixed}, t0.Add(3*time.Minute)); c.Status != StatusFixed || c.Job.Closed != JobClosedThere {
		t.Errorf("closed by the system: status %s job %+v; want fixed with the job closed there", c.Status, c.Job)
	}

	c.Job.Closed = JobLeftOpen
	if c.JobReopened(t0.Add(4*time.Minute)) || c.Job == nil || c.Job.Closed != "" {
		t.Errorf("a job left open was set aside, or still marked: %+v", c.Job)
	}
}
