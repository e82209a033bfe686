package cases

import (
	"fmt"
	"time"
)

// Handoff is a case handed to a partner agency (the police, a housing
// association, a utility): who has it, since when, what they last said and
// when silence turns into an escalation. The council still answers the
// citizen, so the case stays with it, waiting on the partner.
type Handoff struct {
	// ID is the hand-off's own id (its workflow ID), which the partner quotes
	// in every callback.
	ID      string    `json:"id"`
	Partner string    `json:"partner"`
	At      time.Time `json:"at"`
	// Delivered is when the partner's webhook took the hand-off.
	Delivered time.Time `json:"delivered_at,omitzero"`
	// Deadline is when silence from the partner escalates the case; each word
	// from the partner moves it on by the partner's deadline.
	Deadline time.Time `json:"deadline,omitzero"`
	// Answer is the partner's last word: HandoffPending until it speaks.
	Answer     string    `json:"answer"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	Note       string    `json:"note,omitempty"`
}

// Open reports whether the hand-off is still waiting for the partner's last word.
func (h *Handoff) Open() bool {
	return h != nil && (h.Answer == HandoffPending || h.Answer == PartnerAccepted || h.Answer == PartnerProgress)
}

// The events of a hand-off: what a partner says in a callback, and what the
// hand-off workflow itself reports.
const (
	HandoffPending = "pending"
	// PartnerDelivered: the partner's webhook took the hand-off.
	PartnerDelivered = "delivered"
	PartnerAccepted  = "accepted"
	PartnerRejected  = "rejected"
	PartnerProgress  = "progress"
	PartnerCompleted = "completed"
	// PartnerSilent: the deadline passed with no word from the partner.
	PartnerSilent = "silent"
	// PartnerUndeliverable: the partner's webhook refused the hand-off for
	// good, or it could not be delivered by the deadline.
	PartnerUndeliverable = "undeliverable"
)

// CallbackEvents are the events a partner may send.
var CallbackEvents = []string{PartnerAccepted, PartnerRejected, PartnerProgress, PartnerCompleted}

// PartnerEvent is one thing that happened to a hand-off, as the hand-off
// workflow tells the case.
type PartnerEvent struct {
	Handoff string `json:"handoff"`
	Partner string `json:"partner"`
	Event   string `json:"event"`
	Note    string `json:"note,omitempty"`
	// Public puts the partner's note on the citizen's FixMyStreet report
	// (progress notes only; accepted, rejected and completed say what the
	// council chooses to say).
	Public bool      `json:"public,omitempty"`
	At     time.Time `json:"at"`
	// Deadline is the hand-off's deadline after this event.
	Deadline time.Time `json:"deadline,omitzero"`
}

// CheckCallback validates what a partner sent, naming the field at fault.
func CheckCallback(event, note string) error {
	ok := false
	for _, e := range CallbackEvents {
		ok = ok || e == event
	}
	if !ok {
		return &InputError{Field: "event", Reason: fmt.Sprintf("must be one of %v", CallbackEvents)}
	}
	if event == PartnerRejected && note == "" {
		return &InputError{Field: "note", Reason: "a rejection must say why"}
	}
	return CheckText("note", note, MaxNote)
}

// HandOff records that the case went to a partner at now and waits on it:
// its clocks pause while the partner has it.
func (c *Case) HandOff(id, partner string, now time.Time) {
	c.Handoff = &Handoff{ID: id, Partner: partner, At: now, Answer: HandoffPending}
	c.Partner = partner
	if CheckTransition(c.Status, StatusWaitingOnPartner) == nil {
		c.Apply(Change{To: StatusWaitingOnPartner, Note: "Handed to " + partner, Actor: "routing"}, now)
	} else {
		c.Append(Entry{At: now, Actor: "routing", Kind: KindComment, Note: "Handed to " + partner})
	}
}

// ApplyPartner records a hand-off event at now and reports whether the
// case's status changed. A rejection, silence past the deadline or a hand-off
// that could not be delivered sends the case back to the triage queue
// (triage names it) with the reason; a completion resolves it. An event for
// a hand-off the case no longer has (staff moved it on) is recorded as a note
// and changes nothing else.
func (c *Case) ApplyPartner(ev PartnerEvent, triage Decision, now time.Time) bool {
	actor := "partner:" + ev.Partner
	h := c.Handoff
	if h == nil || h.ID != ev.Handoff || !h.Open() {
		if ev.Event != PartnerDelivered {
			c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: withNote("Partner "+ev.Partner+" said "+ev.Event+" about a hand-off the case no longer waits on", ev.Note)})
		}
		return false
	}
	if !ev.Deadline.IsZero() {
		h.Deadline = ev.Deadline
	}
	if ev.Event == PartnerDelivered {
		h.Delivered = ev.At
		c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: "Hand-off delivered to " + ev.Partner})
		return false
	}
	h.Answer, h.AnsweredAt, h.Note = ev.Event, now, ev.Note
	waiting := c.Status == StatusWaitingOnPartner
	back := func(kind Kind, why string) bool {
		c.Partner = ""
		if !waiting {
			// Staff had already moved the case on: nothing to escalate or
			// send back, only a note of what the partner did.
			if kind == KindEscalation {
				why = ev.Partner + " never answered the hand-off; the case had already moved on"
			}
			c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: why})
			return false
		}
		c.Department, c.Team, c.Assignee = triage.Department, triage.Team, ""
		if kind == KindEscalation {
			c.Append(Entry{At: now, Actor: "escalation", Kind: kind, Note: why})
			if c.Priority != PriorityUrgent {
				for i, p := range Priorities {
					if p == c.Priority && i > 0 {
						c.Priority = Priorities[i-1]
						break
					}
				}
			}
			why = "Back to triage: " + ev.Partner + " did not answer in time"
		}
		c.Apply(Change{To: StatusForTriage, Note: why, Actor: actor}, now)
		return true
	}
	switch ev.Event {
	case PartnerAccepted:
		c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: withNote(ev.Partner+" accepted the hand-off", ev.Note)})
	case PartnerProgress:
		c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: withNote(ev.Partner+": progress", ev.Note), Public: ev.Public})
	case PartnerRejected:
		return back(KindStatus, withNote(ev.Partner+" rejected the hand-off", ev.Note))
	case PartnerSilent:
		return back(KindEscalation, fmt.Sprintf("Escalated: %s has not answered the hand-off since %s", ev.Partner, ev.At.UTC().Format(time.RFC3339)))
	case PartnerUndeliverable:
		return back(KindStatus, withNote("The hand-off to "+ev.Partner+" could not be delivered", ev.Note))
	case PartnerCompleted:
		note := ev.Note
		if note == "" {
			note = ev.Partner + " has dealt with it"
		}
		if !waiting || CheckTransition(c.Status, StatusFixed) != nil {
			c.Append(Entry{At: now, Actor: actor, Kind: KindComment, Note: withNote(ev.Partner+" completed the hand-off", ev.Note)})
			return false
		}
		c.Apply(Change{To: StatusFixed, Note: note, Public: true, Actor: actor}, now)
		return true
	}
	return false
}
