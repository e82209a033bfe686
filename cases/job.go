package cases

import (
	"slices"
	"strings"
	"time"
)

// Job is a case's record in a department's back-office system: the system's
// own id for it, so staff can find it there and changes from there find the
// case.
type Job struct {
	// System names the back office (the configuration's back_offices name).
	System string `json:"system"`
	ID     string `json:"id"`
	// Code is the system's last status code for the job.
	Code string    `json:"code,omitempty"`
	At   time.Time `json:"at"`
	// Closed says what became of the job when the case closed (JobClosedThere,
	// JobLeftOpen, JobCloseRefused); empty while that is still to settle.
	Closed string `json:"closed,omitempty"`
}

// What became of a case's job when the case closed.
const (
	// JobClosedThere: the system closed it, asked by casebridge or by itself.
	JobClosedThere = "closed"
	// JobLeftOpen: the system takes no status changes, so the job is left as
	// it is there.
	JobLeftOpen = "not_supported"
	// JobCloseRefused: the system refused to close it.
	JobCloseRefused = "refused"
)

// KindBackOffice records a job created, found or withdrawn in a back office.
const KindBackOffice Kind = "back_office"

// WaitBackOffice is the Wait of a case whose back office has not answered.
func WaitBackOffice(system string) string { return "back_office:" + system }

// BackOfficeActor is who a back office's changes are recorded as.
func BackOfficeActor(system string) string { return "back_office:" + system }

// JobRecorded records the case's job in a back office. found says the job
// already existed there (an earlier attempt made it).
func (c *Case) JobRecorded(j Job, found bool, now time.Time) {
	c.Job = &j
	note := "Job " + j.ID + " created in " + j.System
	if found {
		note = "Job " + j.ID + " found in " + j.System + " (made by an earlier attempt)"
	}
	c.Answered(WaitBackOffice(j.System))
	c.Append(Entry{At: now, Actor: BackOfficeActor(j.System), Kind: KindBackOffice, Note: note})
}

// JobWithdrawn records that the case's job was withdrawn from its back office
// (the case moved to a department the system does not serve).
func (c *Case) JobWithdrawn(why string, now time.Time) {
	if c.Job == nil {
		return
	}
	j := *c.Job
	c.Job = nil
	c.PastJobs = append(c.PastJobs, j)
	c.Answered(WaitBackOffice(j.System))
	c.Append(Entry{At: now, Actor: BackOfficeActor(j.System), Kind: KindBackOffice, Note: "Job " + j.ID + " withdrawn from " + j.System + ": " + why})
}

// JobClosed records what became of the case's job as the case closed:
// outcome is JobClosedThere (code is the system's code it now has),
// JobLeftOpen or JobCloseRefused (why says what the system answered).
func (c *Case) JobClosed(outcome, code, why string, now time.Time) {
	if c.Job == nil {
		return
	}
	j := c.Job
	j.Closed = outcome
	c.Answered(WaitBackOffice(j.System))
	var note string
	switch outcome {
	case JobClosedThere:
		j.Code = code
		note = "Job " + j.ID + " closed in " + j.System + " (" + code + ")"
	case JobLeftOpen:
		note = j.System + " takes no status changes: job " + j.ID + " is left as it is there"
	default:
		note = j.System + " refused to close job " + j.ID
	}
	if why != "" {
		note += ": " + why
	}
	c.Append(Entry{At: now, Actor: BackOfficeActor(j.System), Kind: KindBackOffice, Note: note})
}

// JobReopened settles the case's job as a closed case is reopened: a job the
// system closed no longer serves the case, so it joins PastJobs (and the case
// gets a new one); a job left open serves on, to be closed with the case
// again. It reports whether the job was set aside.
func (c *Case) JobReopened(now time.Time) bool {
	if c.Job == nil || c.Job.Closed == "" {
		return false
	}
	if c.Job.Closed != JobClosedThere {
		c.Job.Closed = ""
		return false
	}
	j := *c.Job
	c.Job = nil
	c.PastJobs = append(c.PastJobs, j)
	c.Append(Entry{At: now, Actor: BackOfficeActor(j.System), Kind: KindBackOffice,
		Note: "Job " + j.ID + " stays closed in " + j.System + "; the reopened case gets a new one"})
	return true
}

// JobChange is a change a back office made to a case's job, with the
// casebridge status its code maps to (empty when the status map IGNOREs it
// or does not know it).
type JobChange struct {
	System string    `json:"system"`
	ID     string    `json:"id"`
	JobID  string    `json:"job_id,omitempty"`
	Code   string    `json:"code,omitempty"`
	Status Status    `json:"status,omitempty"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
}

// JobsIn lists the ids of the case's withdrawn jobs in a system.
func (c *Case) JobsIn(system string) []string {
	var ids []string
	for _, j := range c.PastJobs {
		if j.System == system {
			ids = append(ids, j.ID)
		}
	}
	return ids
}

// changeKey is how an applied change is remembered on the timeline.
func (ch JobChange) changeKey() string { return ch.System + ":" + ch.ID }

// HasJobChange reports whether the change has already been applied.
func (c *Case) HasJobChange(ch JobChange) bool {
	key := ch.changeKey()
	for _, e := range c.Timeline {
		if e.ChangeID == key {
			return true
		}
	}
	return false
}

// ApplyJobChange applies a back office's change once: a code that maps to a
// status the case can move to moves it there (publicly, with the system's
// note and its raw code as the update's external_status_code); otherwise the
// note, if any, is recorded for staff. It reports whether the status moved.
// A change for a job the case no longer holds changes nothing.
func (c *Case) ApplyJobChange(ch JobChange, now time.Time) (moved bool) {
	return c.applyJobChange(ch, now, false)
}

// PublishJobChange applies a change as ApplyJobChange does, except that:
//
//   - a code mapping to the status the case already holds (an escalation
//     published it first, say) is published too, as a public note with the
//     system's code: FixMyStreet hears every status change the system makes;
//   - a change from a job the case has not recorded yet (its create timed
//     out, and the look-up that would find it is still to come) records that
//     job first, ending the case's wait on the system, while a change from a
//     job withdrawn earlier changes nothing.
func (c *Case) PublishJobChange(ch JobChange, now time.Time) (moved bool) {
	return c.applyJobChange(ch, now, true)
}

func (c *Case) applyJobChange(ch JobChange, now time.Time, current bool) (moved bool) {
	if ch.ID == "" || c.HasJobChange(ch) {
		return false
	}
	if current && c.Job == nil && ch.JobID != "" {
		if slices.Contains(c.JobsIn(ch.System), ch.JobID) {
			return false
		}
		c.JobRecorded(Job{System: ch.System, ID: ch.JobID, At: now}, true, now)
	}
	if c.Job != nil && ch.JobID != "" && ch.JobID != c.Job.ID {
		return false
	}
	// The system telling us of the code casebridge closed the job with is
	// our own change coming back: it is recorded, and moves nothing.
	echo := c.Job != nil && c.Job.Closed == JobClosedThere && ch.Code != "" && ch.Code == c.Job.Code
	if c.Job != nil && ch.Code != "" {
		c.Job.Code = ch.Code
	}
	actor := BackOfficeActor(ch.System)
	note := strings.TrimSpace(Truncate(ch.Note, MaxNote))
	var e Entry
	switch {
	case ch.Status != "" && !echo && !(c.Status.Closed() && !ch.Status.Closed()) && CheckTransition(c.Status, ch.Status) == nil && c.checkRoom("note", note) == nil:
		// A back office never reopens a case staff closed: only staff and the
		// citizen do.
		if note == "" {
			note = ch.Status.Label()
		}
		e = c.Apply(Change{To: ch.Status, Note: note, Public: true, Actor: actor}, now)
		moved = true
		if c.Job != nil && ch.Status.Closed() {
			c.Job.Closed = JobClosedThere // the system closed it itself
		}
	case current && !echo && ch.Status != "" && ch.Status == c.Status && c.checkRoom("note", note) == nil:
		if note == "" {
			note = ch.Status.Label()
		}
		e = c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: note, Public: true})
	case ch.Code != "" || note != "":
		what := ch.System
		if ch.Code != "" {
			what += " status " + ch.Code
		}
		if note != "" {
			what += ": " + note
		}
		if c.checkRoom("note", what) != nil {
			return false
		}
		e = c.Append(Entry{At: now, Actor: actor, Kind: KindBackOffice, Note: what})
	default:
		return false
	}
	c.Timeline[e.Seq-1].ChangeID = ch.changeKey()
	c.Timeline[e.Seq-1].ExternalStatusCode = ch.Code
	return moved
}
