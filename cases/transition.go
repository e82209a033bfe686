package cases

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Domain errors. The API translates them at the edge: ErrNotFound → 404,
// *TransitionError → 409, *InputError → 422 (400 on Open311 routes).
var (
	ErrNotFound = errors.New("case not found")
	// ErrFinished means the case's reopen window has passed: it can be read but
	// no longer changed.
	ErrFinished = errors.New("case is finished and can no longer be changed")
)

// TransitionError says why a status change was refused.
type TransitionError struct {
	From, To Status
	Reason   string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot move case from %s to %s: %s", e.From, e.To, e.Reason)
}

// InputError names the field at fault in a request.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Reason }

// CheckTransition says whether a case may move from one status to another.
// An open case may move to any other status (an agent can mark a case fixed
// straight from open). A closed case may be reopened to a working status, or its
// closing reason corrected, but it cannot wait on anyone until it is reopened.
func CheckTransition(from, to Status) error {
	if !to.Valid() {
		return &TransitionError{From: from, To: to, Reason: "unknown status"}
	}
	if from == to {
		return &TransitionError{From: from, To: to, Reason: "the case is already " + to.Label()}
	}
	if from.Closed() && to.Paused() {
		return &TransitionError{From: from, To: to, Reason: "a closed case must be reopened before it can wait on anyone"}
	}
	return nil
}

// Change is a request to move a case to a new status.
type Change struct {
	To     Status `json:"status"`
	Note   string `json:"note,omitempty"`
	Public bool   `json:"public"`
	Actor  string `json:"actor"`
}

// Check validates the change against the case without changing it.
func (c *Case) Check(ch Change) error {
	if err := c.checkNote(ch.Note); err != nil {
		return err
	}
	return CheckTransition(c.Status, ch.To)
}

// Apply moves the case to a new status at now, recording it on the timeline.
// Call Check first; Apply trusts its input.
func (c *Case) Apply(ch Change, now time.Time) Entry {
	from := c.Status
	c.Status = ch.To
	kind := KindStatus
	switch {
	case ch.To.Closed() && !from.Closed():
		t := now
		c.ClosedAt = &t
	case !ch.To.Closed() && from.Closed():
		c.ClosedAt = nil
		kind = KindReopened
	}
	return c.Append(Entry{At: now, Actor: ch.Actor, Kind: kind, From: from, To: ch.To, Note: ch.Note, Public: ch.Public})
}

// CitizenUpdate is a change a citizen sent through an Open311 client such as
// FixMyStreet (a servicerequestupdates POST).
type CitizenUpdate struct {
	// UpdateID is the client's own id for the update; a resent update is
	// recognised by it.
	UpdateID    string    `json:"update_id"`
	Status      string    `json:"status"` // OPEN, CLOSED, REOPEN, FIXED, ... as sent
	Description string    `json:"description"`
	At          time.Time `json:"at"`
	Client      string    `json:"client"`
}

// CitizenResult tells the client the id casebridge gave its update.
type CitizenResult struct {
	UpdateID string `json:"update_id"`
	Reopened bool   `json:"reopened"`
}

// CheckCitizen validates a citizen's update without changing the case.
func (c *Case) CheckCitizen(u CitizenUpdate) error {
	if err := CheckLine("update_id", u.UpdateID, MaxID); err != nil {
		return err
	}
	if _, seen := c.FindExternal(u.UpdateID); seen {
		return nil // answered again with the id given the first time
	}
	if err := CheckLine("status", u.Status, MaxCode); err != nil {
		return err
	}
	if err := CheckText("description", u.Description, MaxNote); err != nil {
		return err
	}
	return c.checkRoom("description", u.Description)
}

// ApplyCitizen records a citizen's update at now. A closed case is reopened when
// the citizen says it is open again (FixMyStreet sends REOPEN, or OPEN without
// extended statuses); any other status is the citizen's view, recorded for staff
// to act on, never a change of the council's status. A resent update returns the
// answer given the first time and changes nothing.
func (c *Case) ApplyCitizen(u CitizenUpdate, now time.Time) CitizenResult {
	if e, seen := c.FindExternal(u.UpdateID); seen {
		return CitizenResult{UpdateID: e.UpdateID(c.Ref), Reopened: e.Kind == KindReopened}
	}
	status := strings.ToUpper(strings.TrimSpace(u.Status))
	actor := "citizen"
	if u.Client != "" {
		actor = "citizen via " + u.Client
	}
	var e Entry
	reopen := c.Status.Closed() && (status == "REOPEN" || status == "OPEN")
	if reopen {
		note := u.Description
		if note == "" {
			note = "The reporter says the problem is still there."
		}
		e = c.Apply(Change{To: StatusOpen, Note: note, Public: true, Actor: actor}, now)
	} else {
		note := u.Description
		if s, err := ParseStatus(status); err == nil && s != c.Status.Public() && s != StatusOpen {
			note = strings.TrimSpace(note + "\n\n(The reporter marked it " + s.Label() + ".)")
		}
		e = c.Append(Entry{At: now, Actor: actor, Kind: KindCitizen, Note: note, Public: true})
	}
	c.Timeline[e.Seq-1].ExternalID = u.UpdateID
	return CitizenResult{UpdateID: e.UpdateID(c.Ref), Reopened: reopen}
}
