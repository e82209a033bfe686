package cases

import (
	"errors"
	"fmt"
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

// MaxNote bounds the length of a note, in bytes.
const MaxNote = 10000

// Check validates the change against the case without changing it.
func (c *Case) Check(ch Change) error {
	if len(ch.Note) > MaxNote {
		return &InputError{Field: "note", Reason: fmt.Sprintf("is longer than %d characters", MaxNote)}
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
