// Package effects is the contract between the case workflow and the
// activities that act on the outside world for it: the name of each activity
// and the request and answer it carries. The workflow asks for an effect and
// applies its answer; the activities do the work. Both import this package and
// neither imports the other.
package effects

import (
	"strconv"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/sla"
)

// Activity names, as the worker registers them. Changing one breaks running
// cases.
const (
	ActivityRoute   = "RouteCase"
	ActivityProject = "ProjectCase"
	ActivityNotify  = "NotifyRecipient"
	// ActivityHandoff posts a hand-off to a partner agency's webhook.
	ActivityHandoff = "PostPartnerHandoff"
	// ActivityOpenJob makes sure the case has its one job in a back office;
	// ActivityWithdrawJob withdraws it.
	ActivityOpenJob     = "OpenBackOfficeJob"
	ActivityWithdrawJob = "WithdrawBackOfficeJob"
	// ActivityNoteJob sends a public staff note to the case's job.
	ActivityNoteJob = "NoteBackOfficeJob"
	// ActivityCloseJob closes the case's job as the case closes, where the
	// system takes status changes.
	ActivityCloseJob = "CloseBackOfficeJob"
	// ActivityPollBackOffice reads a back office's change feed and signals
	// each change to its case; WorkflowPollBackOffice, started by a Temporal
	// Schedule per back office, runs it.
	ActivityPollBackOffice = "PollBackOffice"
	WorkflowPollBackOffice = "BackOfficePoll"
)

// SignalJobChange carries a back office's change to a case (a cases.JobChange);
// the case applies each change once, however often it arrives.
const SignalJobChange = "backoffice-change"

// Error types an activity fails with when no retry can help, so the workflow
// stops asking and records why.
const (
	// ErrTypeNotifyPermanent marks a notice no retry can deliver (an unknown
	// webhook, a 4xx answer).
	ErrTypeNotifyPermanent = "NotifyPermanent"
	// ErrTypeProjectInput marks a case the read model refuses as invalid;
	// retrying the same snapshot cannot succeed.
	ErrTypeProjectInput = "ProjectInput"
	// ErrTypeHandoffPermanent marks a hand-off no retry can deliver (a partner
	// without a url or secret, a webhook answering 4xx).
	ErrTypeHandoffPermanent = "HandoffPermanent"
	// ErrTypeBackOfficePermanent marks a back-office call no retry can mend
	// (the system refused the request, or our credentials).
	ErrTypeBackOfficePermanent = "BackOfficePermanent"
	// ErrTypeBackOfficeUnsupported marks a call the system does not offer
	// (it takes no status changes, or none the status map names): the case
	// records that and does not ask again.
	ErrTypeBackOfficeUnsupported = "BackOfficeUnsupported"
)

// JobRequest asks for the case's job in a back office: found by the case's
// reference if an earlier attempt made it, else created with Key as the
// idempotency key. Skip lists jobs of the case's the system may still hold
// that were withdrawn, which do not count.
type JobRequest struct {
	System string     `json:"system"`
	Case   cases.Case `json:"case"`
	Key    string     `json:"key"`
	Skip   []string   `json:"skip,omitempty"`
}

// JobOpened is the answer: the job, and whether it was found rather than made.
type JobOpened struct {
	Job   cases.Job `json:"job"`
	Found bool      `json:"found"`
}

// NoteRequest asks a back office to add a public staff note (timeline entry
// Seq) to a case's job.
type NoteRequest struct {
	System string `json:"system"`
	Ref    string `json:"ref"`
	JobID  string `json:"job_id"`
	Seq    int    `json:"seq"`
	Text   string `json:"text"`
	Actor  string `json:"actor"`
}

// Key is the note's idempotency key, case-<ref>:note:<seq>: one per timeline
// entry, the same on every attempt and in every run.
func (n NoteRequest) Key() string { return cases.WorkflowID(n.Ref) + ":note:" + strconv.Itoa(n.Seq) }

// CloseRequest asks a back office to close a case's job as the case closed
// with Status: the activity sends the system's code for it (the status map's
// to, by the status or else by "closed") and Note.
type CloseRequest struct {
	System string       `json:"system"`
	Ref    string       `json:"ref"`
	JobID  string       `json:"job_id"`
	Status cases.Status `json:"status"`
	Note   string       `json:"note"`
}

// JobClosed is the answer: the system's code the job now has.
type JobClosed struct {
	Code string `json:"code"`
}

// WithdrawRequest asks a back office to withdraw a case's job.
type WithdrawRequest struct {
	System string `json:"system"`
	Ref    string `json:"ref"`
	JobID  string `json:"job_id"`
	Reason string `json:"reason"`
}

// RouteRequest asks the routing activity where a case should go.
type RouteRequest struct {
	Case cases.Case `json:"case"`
	// FindDuplicate asks routing to look for the case this one likely
	// duplicates (at intake only), within the route's duplicate radius.
	FindDuplicate bool `json:"find_duplicate,omitempty"`
}

// Routed is the routing activity's answer: the decision and, when it names one,
// the SLA policy as configured today. The case keeps that version of the policy,
// so a later change to it applies to new cases only.
type Routed struct {
	cases.Decision
	Policy *sla.Policy `json:"policy,omitempty"`
	// HandOff is set when the decision names a partner that takes hand-offs
	// (one configured with a webhook): the case is handed to it.
	HandOff bool `json:"hand_off,omitempty"`
	// DuplicateOf is the case this one likely duplicates, if routing looked
	// and found one.
	DuplicateOf string `json:"duplicate_of,omitempty"`
}

// Handoff asks the partner activity to post a case to a partner agency. ID is
// the hand-off's id (its workflow ID), sent as the Idempotency-Key on every
// attempt, so the partner can drop a repeat.
type Handoff struct {
	ID      string        `json:"id"`
	Ref     string        `json:"ref"`
	Partner string        `json:"partner"`
	Service cases.Service `json:"service"`
	Report  cases.Report  `json:"report"`
	At      time.Time     `json:"at"`
	// Resume is set when a long hand-off continues as new: it was delivered,
	// and this is where it stood.
	Resume *HandoffResume `json:"resume,omitempty"`
}

// HandoffResume is a delivered hand-off as it stood when it continued as new.
type HandoffResume struct {
	Silence  time.Duration `json:"silence"`
	LastWord time.Time     `json:"last_word"`
}

// HandedOff is the partner activity's answer: the partner took the hand-off,
// and may stay silent for Silence before the case escalates (its deadline as
// configured when it was handed over).
type HandedOff struct {
	Silence time.Duration `json:"silence"`
}

// Notice asks the notification activity to tell one recipient about one
// escalation. Key makes it idempotent: the same notice is never sent twice.
type Notice struct {
	Key        string         `json:"key"`
	Ref        string         `json:"ref"`
	Seq        int            `json:"seq"`
	Level      string         `json:"level"`
	Recipient  string         `json:"recipient"`
	Department string         `json:"department"`
	Team       string         `json:"team,omitempty"`
	Assignee   string         `json:"assignee,omitempty"`
	Service    string         `json:"service"`
	Status     cases.Status   `json:"status"`
	Priority   cases.Priority `json:"priority"`
	DueAt      time.Time      `json:"due_at,omitzero"`
	At         time.Time      `json:"at"`
	Done       []string       `json:"done"`
}
