package cases

import (
	"fmt"
	"strings"
)

// Status is where a case stands in its life. The values are FixMyStreet's extended
// status vocabulary (so a change maps 1:1 onto an Open311 update) plus two internal
// waiting states that pause the SLA clocks.
type Status string

// The statuses, in the order staff usually meet them.
const (
	StatusOpen                      Status = "open"
	StatusForTriage                 Status = "for_triage"
	StatusInvestigating             Status = "investigating"
	StatusInProgress                Status = "in_progress"
	StatusActionScheduled           Status = "action_scheduled"
	StatusPlanned                   Status = "planned"
	StatusWaitingOnCitizen          Status = "waiting_on_citizen"
	StatusWaitingOnPartner          Status = "waiting_on_partner"
	StatusFixed                     Status = "fixed"
	StatusClosed                    Status = "closed"
	StatusDuplicate                 Status = "duplicate"
	StatusNotCouncilsResponsibility Status = "not_councils_responsibility"
	StatusNoFurtherAction           Status = "no_further_action"
	StatusInternalReferral          Status = "internal_referral"
	StatusCancelled                 Status = "cancelled"
)

// Statuses lists every status; tests iterate it so a new status cannot be forgotten
// in a mapping table.
var Statuses = []Status{
	StatusOpen, StatusForTriage, StatusInvestigating, StatusInProgress,
	StatusActionScheduled, StatusPlanned, StatusWaitingOnCitizen, StatusWaitingOnPartner,
	StatusFixed, StatusClosed, StatusDuplicate, StatusNotCouncilsResponsibility,
	StatusNoFurtherAction, StatusInternalReferral, StatusCancelled,
}

type statusInfo struct {
	closed bool   // in Open311's "closed" family
	paused bool   // SLA clocks stop while in this status
	public Status // what a citizen (and FixMyStreet) sees
	label  string // how staff read it
}

var statusTable = map[Status]statusInfo{
	StatusOpen:                      {public: StatusOpen, label: "Open"},
	StatusForTriage:                 {public: StatusForTriage, label: "For triage"},
	StatusInvestigating:             {public: StatusInvestigating, label: "Investigating"},
	StatusInProgress:                {public: StatusInProgress, label: "In progress"},
	StatusActionScheduled:           {public: StatusActionScheduled, label: "Action scheduled"},
	StatusPlanned:                   {public: StatusPlanned, label: "Planned"},
	StatusWaitingOnCitizen:          {paused: true, public: StatusInvestigating, label: "Waiting on citizen"},
	StatusWaitingOnPartner:          {paused: true, public: StatusInvestigating, label: "Waiting on partner"},
	StatusFixed:                     {closed: true, public: StatusFixed, label: "Fixed"},
	StatusClosed:                    {closed: true, public: StatusClosed, label: "Closed"},
	StatusDuplicate:                 {closed: true, public: StatusDuplicate, label: "Duplicate"},
	StatusNotCouncilsResponsibility: {closed: true, public: StatusNotCouncilsResponsibility, label: "Not the council's responsibility"},
	StatusNoFurtherAction:           {closed: true, public: StatusNoFurtherAction, label: "No further action"},
	StatusInternalReferral:          {closed: true, public: StatusInternalReferral, label: "Internal referral"},
	StatusCancelled:                 {closed: true, public: StatusCancelled, label: "Cancelled"},
}

// ParseStatus reads a status in any case ("IN_PROGRESS", "in_progress"), as
// FixMyStreet sends upper case and staff tools lower case.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := statusTable[st]; !ok {
		return "", fmt.Errorf("unknown status %q", s)
	}
	return st, nil
}

func (s Status) String() string { return string(s) }

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { _, ok := statusTable[s]; return ok }

// Closed reports whether s is in the closed family (fixed counts as closed).
func (s Status) Closed() bool { return statusTable[s].closed }

// Paused reports whether SLA clocks stop in s.
func (s Status) Paused() bool { return statusTable[s].paused }

// Public is the status a citizen sees: internal waiting states show as investigating.
func (s Status) Public() Status { return statusTable[s].public }

// Label is the status as staff read it in the console.
func (s Status) Label() string { return statusTable[s].label }

// Open311 is the GeoReport v2 base status: "open" or "closed".
func (s Status) Open311() string {
	if s.Closed() {
		return "closed"
	}
	return "open"
}
