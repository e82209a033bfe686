// Package notify delivers escalation notices — to a per-recipient outbox staff
// can read, to signed webhooks and by email — exactly once per notice, whatever
// retries happen.
//
// The case workflow builds one Notice per recipient per escalation step, with a
// Key that names that pair for ever ("<ref>:<escalation seq>:<recipient>"), and
// runs one activity that calls Dispatcher.Deliver. Resolve turns the policy's
// recipient (assignee, team_lead, head_of_service, email:<address>,
// webhook:<name>) into an address on a channel; the Store keeps every notice,
// with what happened to it, in an outbox per address.
//
// A notice carries the case reference and facts about the case (category,
// status, priority, due time, level, link), never the reporter's details: it is
// read by staff, stored in Redis, sent to third-party endpoints and mail servers.
package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/sla"
)

// Notice is one escalation notice to one recipient. The workflow builds it from
// the case and the level that fired; everything in it is safe to send outside
// the council.
type Notice struct {
	// Key identifies the notice for ever, e.g. "CB-7KQ2M9:3:team_lead": Deliver
	// sends each key at most once, and receivers see it as the Idempotency-Key
	// header or in the email's Message-ID.
	Key string `json:"key"`
	Ref string `json:"ref"`
	// Recipient is as the policy writes it; Department, Team and Assignee are the
	// case's owners, from which Resolve finds the roles' addresses.
	Recipient  sla.Recipient `json:"recipient"`
	Department string        `json:"department,omitempty"`
	Team       string        `json:"team,omitempty"`
	Assignee   string        `json:"assignee,omitempty"`

	Level    string         `json:"level"`              // the escalation level's name
	Category string         `json:"category,omitempty"` // the service's name
	Status   cases.Status   `json:"status,omitempty"`
	Priority cases.Priority `json:"priority,omitempty"`
	DueAt    time.Time      `json:"due_at,omitzero"`
	Link     string         `json:"link,omitempty"` // where staff open the case
	// At is when the level fired (workflow time), not when the notice is sent.
	At time.Time `json:"at"`

	// Subject and Body are plain text; when empty, Deliver writes them from the
	// fields above.
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
}

// MaxKey is the longest Key a notice may have.
const MaxKey = 256

func (n Notice) validate() error {
	switch {
	case n.Key == "":
		return &cases.InputError{Field: "key", Reason: "is empty"}
	case len(n.Key) > MaxKey:
		return &cases.InputError{Field: "key", Reason: fmt.Sprintf("is longer than %d bytes", MaxKey)}
	case strings.IndexFunc(n.Key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return &cases.InputError{Field: "key", Reason: "holds spaces or control characters"}
	case n.Ref == "":
		return &cases.InputError{Field: "ref", Reason: "is empty"}
	}
	if err := n.Recipient.Validate(); err != nil {
		return &cases.InputError{Field: "recipient", Reason: err.Error()}
	}
	return nil
}

// withText fills in an empty Subject or Body from the notice's fields, showing
// times in loc (the council's zone).
func (n Notice) withText(loc *time.Location) Notice {
	if n.Subject == "" {
		n.Subject = fmt.Sprintf("[casebridge] %s escalated: %s", n.Ref, n.Level)
		if n.Category != "" {
			n.Subject += " (" + n.Category + ")"
		}
	}
	if n.Body != "" {
		return n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Case %s has reached the escalation level %q.\n\n", n.Ref, n.Level)
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-11s %s\n", label+":", value)
		}
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	}
	dept := n.Department
	if n.Team != "" {
		dept += ", team " + n.Team
	}
	line("Category", n.Category)
	line("Status", string(n.Status))
	line("Priority", string(n.Priority))
	line("Department", dept)
	line("Due", when(n.DueAt))
	line("Escalated", when(n.At))
	if n.Link != "" {
		fmt.Fprintf(&b, "\n%s\n", n.Link)
	}
	n.Body = b.String()
	return n
}

// Channel is how a notice reaches its recipient.
type Channel string

// The channels. An outbox-only notice has no address to send to (a department
// without an email address): the outbox is where it is delivered.
const (
	ChannelEmail   Channel = "email"
	ChannelWebhook Channel = "webhook"
	ChannelOutbox  Channel = "outbox"
)

// Status is where a notice stands.
type Status string

// The statuses of an outbox entry.
const (
	// StatusQueued: recorded, being sent (or an attempt died before it could
	// record the outcome).
	StatusQueued Status = "queued"
	// StatusSent: delivered on its channel; for ChannelOutbox, filed in the
	// outbox. Deliver never sends a sent notice again.
	StatusSent Status = "sent"
	// StatusFailed: the last attempt failed (Entry.Error says why); a retry
	// may still send it unless the error was permanent.
	StatusFailed Status = "failed"
	// StatusUndeliverable: its channel is not configured (no webhook URL, no
	// SMTP server). It stays readable in the outbox; Deliver reports success so
	// nothing retries it, and a later Deliver of the same key tries again.
	StatusUndeliverable Status = "undeliverable"
)

// Entry is a notice in the outbox, with what became of it.
type Entry struct {
	Key string `json:"key"`
	// Address is the outbox the entry is filed in: an email address,
	// "webhook:<name>", "department:<code>" for an outbox-only notice, or the
	// recipient as written when it could not be resolved.
	Address   string    `json:"address"`
	Channel   Channel   `json:"channel,omitempty"`
	Status    Status    `json:"status"`
	Error     string    `json:"error,omitempty"` // the last attempt's error
	Attempts  int       `json:"attempts"`
	Notice    Notice    `json:"notice"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	SentAt    time.Time `json:"sent_at,omitzero"`
}

// Errors of resolution; Resolve and Deliver return them wrapped, and permanent.
var (
	ErrUnknownDepartment = errors.New("unknown department")
	ErrUnknownWebhook    = errors.New("unknown webhook")
)

// permanentError marks an error no retry can cure: a configuration mistake, a
// malformed notice, or a receiver refusing it (HTTP 4xx, SMTP 5xx).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// IsPermanent reports whether err is one a retry cannot cure, so the activity
// should fail without retrying. Every other error from Deliver (network, HTTP
// 5xx and 429, SMTP 4xx, Redis) may succeed on a retry.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
