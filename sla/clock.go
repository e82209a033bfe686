package sla

import (
	"slices"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// ClockName says which of a case's clocks a level watches.
type ClockName string

// A case's two clocks.
const (
	// Citizen is the promise made to the person who reported: it never resets on
	// an internal transfer.
	Citizen ClockName = "citizen"
	// Department is the owning department's own clock: it restarts when the case
	// is transferred to another department.
	Department ClockName = "department"
)

// Interval is a stretch of time, [From, To).
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Clock is the state of one SLA clock: when it started, when it was paused, and
// when it stopped, plus the escalation levels that have fired since it started.
// The zero Clock has not started. Its operations take `now` and are idempotent
// where that makes sense (pausing a paused clock changes nothing); an instant
// before the clock's last recorded change counts as that change, so the pauses
// stay in order whatever the caller passes.
type Clock struct {
	StartedAt time.Time `json:"started_at,omitzero"`
	// Pauses are the finished pauses, in order.
	Pauses      []Interval `json:"pauses,omitempty"`
	PausedSince time.Time  `json:"paused_since,omitzero"`
	StoppedAt   time.Time  `json:"stopped_at,omitzero"`
	// Fired names the escalation levels already fired on this clock.
	Fired []string `json:"fired,omitempty"`
}

// Started reports whether the clock has started.
func (c *Clock) Started() bool { return !c.StartedAt.IsZero() }

// Paused reports whether the clock is paused now.
func (c *Clock) Paused() bool { return !c.PausedSince.IsZero() }

// Stopped reports whether the clock has stopped.
func (c *Clock) Stopped() bool { return !c.StoppedAt.IsZero() }

// Running reports whether the clock is counting.
func (c *Clock) Running() bool { return c.Started() && !c.Paused() && !c.Stopped() }

// Start starts a clock that has not started.
func (c *Clock) Start(now time.Time) {
	if !c.Started() {
		c.StartedAt = now
	}
}

// Pause pauses a running clock.
func (c *Clock) Pause(now time.Time) {
	if c.Running() {
		c.PausedSince = c.notBefore(now)
	}
}

// Resume restarts counting on a paused clock, keeping the pause.
func (c *Clock) Resume(now time.Time) {
	if c.Paused() && !c.Stopped() {
		c.Pauses = append(c.Pauses, Interval{c.PausedSince, c.notBefore(now)})
		c.PausedSince = time.Time{}
	}
}

// Stop stops a started clock for good, ending any pause.
func (c *Clock) Stop(now time.Time) {
	if !c.Started() || c.Stopped() {
		return
	}
	now = c.notBefore(now)
	c.Resume(now)
	c.StoppedAt = now
}

// Reopen sets a stopped clock counting again from now, as if it had been paused
// while it was stopped: a reopened case carries on with the time it had left.
func (c *Clock) Reopen(now time.Time) {
	if c.Stopped() {
		now = c.notBefore(now)
		c.Pauses = append(c.Pauses, Interval{c.StoppedAt, now})
		c.StoppedAt = time.Time{}
	}
}

// Restart starts the clock afresh at now, with no pauses and no fired levels. A
// paused clock restarts paused.
func (c *Clock) Restart(now time.Time) {
	paused := c.Paused()
	*c = Clock{StartedAt: now}
	if paused {
		c.PausedSince = now
	}
}

// notBefore keeps the clock's record in order: the last thing that happened to it
// is the earliest instant a new change can have.
func (c *Clock) notBefore(now time.Time) time.Time {
	last := c.StartedAt
	if n := len(c.Pauses); n > 0 && c.Pauses[n-1].To.After(last) {
		last = c.Pauses[n-1].To
	}
	for _, t := range []time.Time{c.PausedSince, c.StoppedAt} {
		if t.After(last) {
			last = t
		}
	}
	if now.Before(last) {
		return last
	}
	return now
}

// Clocks are a case's SLA state: its two clocks and what the dormant reminder
// needs. The workflow keeps one Clocks per case in its state.
type Clocks struct {
	Citizen    Clock `json:"citizen"`
	Department Clock `json:"department"`
	// LastActivity is the last time staff or the citizen did something to the
	// case (see Touch).
	LastActivity time.Time `json:"last_activity,omitzero"`
	// Reminded is when the last dormant reminder was due.
	Reminded time.Time `json:"reminded,omitzero"`
}

// Clock returns the named clock.
func (c *Clocks) Clock(n ClockName) *Clock {
	if n == Citizen {
		return &c.Citizen
	}
	return &c.Department
}

// Start starts both clocks, typically at the moment the report was received.
func (c *Clocks) Start(now time.Time) {
	c.Citizen.Start(now)
	c.Department.Start(now)
}

// Follow brings both clocks in line with the case's status, and is safe to call
// on every change: a waiting state pauses them, a closed state stops them, and
// any other status keeps them running (starting them, resuming them, or, for a
// reopened case, carrying on with the time left). Clocks that have not started
// start at now.
func (c *Clocks) Follow(s cases.Status, now time.Time) {
	for _, k := range []*Clock{&c.Citizen, &c.Department} {
		k.Start(now)
		switch {
		case s.Closed():
			k.Stop(now)
		case s.Paused():
			k.Reopen(now)
			k.Pause(now)
		default:
			k.Reopen(now)
			k.Resume(now)
		}
	}
}

// Transfer records a move to another department: the department clock starts
// again (and the new department climbs its ladder afresh); the citizen clock
// carries on. A stopped clock stays stopped.
func (c *Clocks) Transfer(now time.Time) {
	if c.Department.Started() && !c.Department.Stopped() {
		c.Department.Restart(now)
	}
}

// Touch records activity on the case for the dormant reminder. Call it for staff
// and citizen changes, not for the escalations themselves, or a dormant case
// would keep itself awake.
func (c *Clocks) Touch(now time.Time) {
	if now.After(c.LastActivity) {
		c.LastActivity = now
	}
}

// Fire records that a step returned by Next has been carried out, so Next moves
// on to the following one.
func (c *Clocks) Fire(s Step) {
	if s.Name == DormantStep {
		c.Reminded = s.At
		return
	}
	k := c.Clock(s.Clock)
	if !slices.Contains(k.Fired, s.Name) {
		k.Fired = append(k.Fired, s.Name)
	}
}
