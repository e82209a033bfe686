package cases

import (
	"slices"
	"time"
)

// Wait is an outside system a case is waiting on: a read model that has not
// caught up, a back office that has not answered. The workflow records it so
// staff can see that a case is held up, since when and why; it is removed
// when the system answers.
type Wait struct {
	// On names the system: WaitReadModel, or one a later effect adds.
	On    string    `json:"on"`
	Since time.Time `json:"since"`
	// Attempts counts the tries that failed so far.
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// WaitReadModel is the Wait of a case whose read-model projection is behind.
const WaitReadModel = "read_model"

// maxWaitError bounds the error kept on a wait: a system's error text can be
// long, and the case carries it.
const maxWaitError = 500

// Waiting returns the wait on the named system, if the case has one.
func (c *Case) Waiting(on string) (Wait, bool) {
	i := slices.IndexFunc(c.Waits, func(w Wait) bool { return w.On == on })
	if i < 0 {
		return Wait{}, false
	}
	return c.Waits[i], true
}

// Failed records that a call to the named system failed at now: it starts a
// wait, or counts one more attempt on it. It does not count as a change of the
// case (no new version): the wait is how the case stands, not something done
// to it.
func (c *Case) Failed(on, why string, now time.Time) {
	if len(why) > maxWaitError {
		why = Truncate(why, maxWaitError)
	}
	for i := range c.Waits {
		if c.Waits[i].On == on {
			c.Waits[i].Attempts++
			c.Waits[i].Error = why
			return
		}
	}
	c.Waits = append(c.Waits, Wait{On: on, Since: now, Attempts: 1, Error: why})
}

// Answered ends the wait on the named system, if there is one.
func (c *Case) Answered(on string) {
	c.Waits = slices.DeleteFunc(c.Waits, func(w Wait) bool { return w.On == on })
}

// Truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
