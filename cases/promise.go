package cases

import "time"

// Promise is what the council promised on a case, and how it stands: the SLA
// policy the case started with, its due times and the escalations that fired.
// The workflow keeps the SLA clocks themselves; this is the summary every
// reader (staff, the read model, Open311) sees. The citizen-facing due time is
// Case.DueAt.
type Promise struct {
	Policy  string `json:"policy"`
	Version int    `json:"version"`
	// Target says the promise in words, e.g. "5 working_days".
	Target string `json:"target"`
	// DepartmentDueAt is the owning department's own due time; it restarts when
	// the case is transferred, while Case.DueAt (the citizen's) does not.
	DepartmentDueAt time.Time `json:"department_due_at,omitzero"`
	// DueSoonAt is when the case turns amber on the supervisors' board.
	DueSoonAt time.Time `json:"due_soon_at,omitzero"`
	// Paused is true while the case waits on the citizen or a partner; the due
	// times are then unknown (zero) until the clocks run again.
	Paused bool `json:"paused,omitempty"`
	// Outcome is "met" or "missed" once the case is resolved, judged on the
	// citizen's clock; it is cleared if the case is reopened.
	Outcome     string       `json:"outcome,omitempty"`
	Escalations []Escalation `json:"escalations,omitempty"`
}

// Promise outcomes.
const (
	OutcomeMet    = "met"
	OutcomeMissed = "missed"
)

// Escalation is one rung of the ladder that fired on a case, and what was done.
type Escalation struct {
	Seq   int    `json:"seq"` // 1 for the first escalation on the case, and so on
	Level string `json:"level"`
	Clock string `json:"clock"`
	// Due is when the level was due; At is when it fired. The difference is
	// how late the engine was.
	Due time.Time `json:"due"`
	At  time.Time `json:"at"`
	// Done lists what the escalation did, in words: "notified team lead", ...
	Done         []string `json:"done"`
	Acknowledged *Ack     `json:"acknowledged,omitempty"`
}

// Ack records a supervisor acknowledging an escalation.
type Ack struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// State says how a case stands against its promise at now.
func (c *Case) State(now time.Time) string {
	p := c.Promise
	switch {
	case p == nil:
		return "none"
	case p.Outcome != "":
		return p.Outcome
	case p.Paused:
		return "paused"
	case !c.DueAt.IsZero() && now.After(c.DueAt):
		return "breached"
	case !p.DueSoonAt.IsZero() && now.After(p.DueSoonAt):
		return "due_soon"
	}
	return "on_track"
}
