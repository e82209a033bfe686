package cases

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The changes staff make to a case besides its status. Each has a Check that
// validates it against the case without changing anything, and an apply method
// that trusts its input: the workflow runs Check in an update validator, so a
// refused change never enters the history.

// Comment is a note added to a case without changing its status.
type Comment struct {
	Note   string `json:"note"`
	Public bool   `json:"public"`
	Actor  string `json:"actor"`
}

// Assignment gives a case to a person or a queue; an empty Assignee unassigns it.
type Assignment struct {
	Assignee string `json:"assignee"`
	Note     string `json:"note,omitempty"`
	Actor    string `json:"actor"`
}

// Transfer moves a case to another department or team. An empty Department
// sends it back to triage, for routing to decide again.
type Transfer struct {
	Department string `json:"department,omitempty"`
	Team       string `json:"team,omitempty"`
	// KeepAssignee keeps the person the case is assigned to; without it a
	// transfer to a department unassigns the case, and its timeline says so.
	KeepAssignee bool   `json:"keep_assignee,omitempty"`
	Note         string `json:"note,omitempty"`
	Actor        string `json:"actor"`
}

// Prioritisation changes how pressing a case is.
type Prioritisation struct {
	Priority Priority `json:"priority"`
	Note     string   `json:"note,omitempty"`
	Actor    string   `json:"actor"`
}

// Recategorisation files a case under another service.
type Recategorisation struct {
	Service Service `json:"service"`
	Note    string  `json:"note,omitempty"`
	Actor   string  `json:"actor"`
}

// Acknowledgement records a supervisor acknowledging an escalation.
type Acknowledgement struct {
	Seq   int    `json:"seq"`
	Note  string `json:"note,omitempty"`
	Actor string `json:"actor"`
}

// checkNote checks a staff note: its own limit, and room on the case for it.
func (c *Case) checkNote(note string) error {
	if err := CheckText("note", note, MaxNote); err != nil {
		return err
	}
	return c.checkRoom("note", note)
}

func withNote(what, note string) string {
	if note = strings.TrimSpace(note); note == "" {
		return what
	}
	return what + ": " + note
}

func (c *Case) checkOpen(what string) error {
	if c.Status.Closed() {
		return &TransitionError{From: c.Status, To: c.Status, Reason: "a closed case cannot be " + what + "; reopen it first"}
	}
	return nil
}

// CheckComment validates a note.
func (c *Case) CheckComment(cm Comment) error {
	if strings.TrimSpace(cm.Note) == "" {
		return &InputError{Field: "note", Reason: "is empty"}
	}
	return c.checkNote(cm.Note)
}

// AddComment adds a note at now.
func (c *Case) AddComment(cm Comment, now time.Time) Entry {
	return c.Append(Entry{At: now, Actor: cm.Actor, Kind: KindComment, Note: cm.Note, Public: cm.Public})
}

// CheckAssign validates an assignment.
func (c *Case) CheckAssign(a Assignment) error {
	if err := CheckLine("assignee", a.Assignee, MaxLabel); err != nil {
		return err
	}
	if a.Assignee == c.Assignee {
		if a.Assignee == "" {
			return &InputError{Field: "assignee", Reason: "the case is not assigned to anyone"}
		}
		return &InputError{Field: "assignee", Reason: "the case is already assigned to " + a.Assignee}
	}
	if err := c.checkOpen("assigned"); err != nil {
		return err
	}
	return c.checkNote(a.Note)
}

// Assign gives the case to a.Assignee at now.
func (c *Case) Assign(a Assignment, now time.Time) Entry {
	note := "Assigned to " + a.Assignee
	if a.Assignee == "" {
		note = "Unassigned from " + c.Assignee
	}
	c.Assignee = a.Assignee
	return c.Append(Entry{At: now, Actor: a.Actor, Kind: KindAssigned, Note: withNote(note, a.Note)})
}

// CheckFields holds a transfer's fields to their limits.
func (t Transfer) CheckFields() *InputError {
	for _, err := range []error{CheckLine("department", t.Department, MaxCode), CheckLine("team", t.Team, MaxLabel), CheckText("note", t.Note, MaxNote)} {
		if err != nil {
			return err.(*InputError)
		}
	}
	return nil
}

// CheckTransfer validates a transfer.
func (c *Case) CheckTransfer(t Transfer) error {
	if err := t.CheckFields(); err != nil {
		return err
	}
	if err := c.checkRoom("note", t.Note); err != nil {
		return err
	}
	if err := c.checkOpen("transferred"); err != nil {
		return err
	}
	if t.Department != "" && t.Department == c.Department && t.Team == c.Team {
		return &InputError{Field: "department", Reason: "the case is already with " + t.Department}
	}
	if t.Department == "" && t.Team != "" {
		return &InputError{Field: "department", Reason: "name the department the team belongs to"}
	}
	return nil
}

// ApplyTransfer moves the case at now and returns the department it left. A
// transfer back to triage only records who sent it back: routing decides where
// it goes next.
func (c *Case) ApplyTransfer(t Transfer, now time.Time) (from string) {
	from = c.Department
	if t.Department == "" {
		c.Append(Entry{At: now, Actor: t.Actor, Kind: KindTransferred, Note: withNote("Sent back to triage by "+from, t.Note)})
		return from
	}
	where := t.Department
	if t.Team != "" {
		where += " / " + t.Team
	}
	what := "Transferred from " + from + " to " + where
	switch {
	case c.Assignee != "" && t.KeepAssignee:
		what += "; still assigned to " + c.Assignee
	case c.Assignee != "":
		what += "; no longer assigned to " + c.Assignee
		c.Assignee = ""
	}
	c.Department, c.Team = t.Department, t.Team
	c.Append(Entry{At: now, Actor: t.Actor, Kind: KindTransferred, Note: withNote(what, t.Note)})
	return from
}

// CheckRecategorise validates a recategorisation.
func (c *Case) CheckRecategorise(rc Recategorisation) error {
	if err := c.checkOpen("recategorised"); err != nil {
		return err
	}
	if rc.Service.Code == "" {
		return &InputError{Field: "service_code", Reason: "is empty"}
	}
	if err := CheckLine("service_code", rc.Service.Code, MaxCode); err != nil {
		return err
	}
	if rc.Service.Code == c.Service.Code {
		return &InputError{Field: "service_code", Reason: "the case is already filed under " + rc.Service.Code}
	}
	return c.checkNote(rc.Note)
}

// Recategorise files the case under another service at now.
func (c *Case) Recategorise(rc Recategorisation, now time.Time) Entry {
	note := fmt.Sprintf("Recategorised from %s to %s", c.Service.Name, rc.Service.Name)
	c.Service = rc.Service
	return c.Append(Entry{At: now, Actor: rc.Actor, Kind: KindRecategorised, Note: withNote(note, rc.Note)})
}

// CheckAcknowledge validates an acknowledgement.
func (c *Case) CheckAcknowledge(a Acknowledgement) error {
	if c.Promise == nil || a.Seq < 1 || a.Seq > len(c.Promise.Escalations) {
		return &InputError{Field: "seq", Reason: "the case has no escalation " + strconv.Itoa(a.Seq)}
	}
	if ack := c.Promise.Escalations[a.Seq-1].Acknowledged; ack != nil {
		return &InputError{Field: "seq", Reason: "escalation " + strconv.Itoa(a.Seq) + " was acknowledged by " + ack.By}
	}
	return c.checkNote(a.Note)
}

// Acknowledge records the acknowledgement at now.
func (c *Case) Acknowledge(a Acknowledgement, now time.Time) Entry {
	e := &c.Promise.Escalations[a.Seq-1]
	e.Acknowledged = &Ack{By: a.Actor, At: now, Note: a.Note}
	return c.Append(Entry{At: now, Actor: a.Actor, Kind: KindAcknowledged,
		Note: withNote("Acknowledged escalation "+strconv.Itoa(a.Seq)+" ("+e.Level+")", a.Note)})
}

// CheckPrioritise validates a priority change.
func (c *Case) CheckPrioritise(p Prioritisation) error {
	if !p.Priority.Valid() {
		return &InputError{Field: "priority", Reason: fmt.Sprintf("is not one of the priorities %v", Priorities)}
	}
	if p.Priority == c.Priority {
		return &InputError{Field: "priority", Reason: "the case is already " + string(p.Priority)}
	}
	if err := c.checkOpen("reprioritised"); err != nil {
		return err
	}
	return c.checkNote(p.Note)
}

// Prioritise sets the case's priority at now.
func (c *Case) Prioritise(p Prioritisation, now time.Time) Entry {
	note := "Priority changed from " + string(c.Priority) + " to " + string(p.Priority)
	c.Priority = p.Priority
	return c.Append(Entry{At: now, Actor: p.Actor, Kind: KindPrioritised, Note: withNote(note, p.Note)})
}
