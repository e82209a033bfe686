package sla

import (
	"math"
	"slices"
	"time"

	"github.com/casebridge/casebridge/calendar"
)

// Due is when the clock reaches the policy's target: the target counted from the
// clock's start, in working time on cal or in calendar time as the target's unit
// says, pushed back by the time (counted the same way) the clock spent paused
// before reaching it. A pause that starts after the due instant does not move it.
//
// Due is zero when the clock has not started, or is paused before reaching the
// target: the due time is unknown until the clock resumes. A stopped clock keeps
// the due time it had, so a case met its target when StoppedAt is not after Due.
func Due(cal *calendar.Calendar, p Policy, c Clock) time.Time {
	return reach(cal, c, p.Target, c.StartedAt, 1)
}

// LevelAt is when a level of the policy fires on the clock, or zero when that is
// not known yet (the clock has not started, or is paused before the level).
// Firing does not depend on whether the level has already fired; see Next.
func LevelAt(cal *calendar.Calendar, p Policy, l Level, c Clock) time.Time {
	return levelAt(cal, p, l, c, Due(cal, p, c))
}

// levelAt is LevelAt given the clock's due time, which a schedule works out once.
func levelAt(cal *calendar.Calendar, p Policy, l Level, c Clock, due time.Time) time.Time {
	switch {
	case l.AfterBreach == nil && l.OfTarget == 1:
		return due
	case l.AfterBreach == nil:
		return reach(cal, c, p.Target, c.StartedAt, l.OfTarget)
	case due.IsZero():
		return time.Time{}
	}
	return reach(cal, c, *l.AfterBreach, due, 1)
}

// Step is a level of the ladder (or the dormant reminder) and when it fires.
type Step struct {
	// Level is the level's index in Policy.Escalation; -1 for the dormant reminder.
	Level int       `json:"level"`
	Name  string    `json:"name"`
	Clock ClockName `json:"clock,omitempty"`
	// At is when the step fires; zero in a Schedule when not known yet.
	At      time.Time `json:"at,omitzero"`
	Fired   bool      `json:"fired,omitempty"`
	Actions Actions   `json:"actions"`
}

// Schedule lists every level of the policy's ladder, in the policy's order, with
// when it fires on its clock and whether it has fired: the ladder as the case
// page shows it.
func Schedule(cal *calendar.Calendar, p Policy, c Clocks) []Step {
	out := make([]Step, 0, len(p.Escalation))
	citizenDue, departmentDue := Due(cal, p, c.Citizen), Due(cal, p, c.Department)
	for i, l := range p.Escalation {
		k, due := c.Clock(l.clock()), departmentDue
		if l.clock() == Citizen {
			due = citizenDue
		}
		out = append(out, Step{
			Level: i, Name: l.Name, Clock: l.clock(), At: levelAt(cal, p, l, *k, due),
			Fired: slices.Contains(k.Fired, l.Name), Actions: l.Actions,
		})
	}
	return out
}

// Next is the next step to fire: the earliest level that has not fired on a
// clock that has not stopped, or the dormant reminder, whichever comes first
// (ties go to the ladder, in its order). ok is false when nothing is pending:
// every level has fired or waits on a stopped clock or on a pause, and there is
// no dormant reminder to give.
//
// Its At may be in the past, after a policy or priority change for instance; the
// workflow fires it straight away. So the workflow's loop is: ask Next, sleep
// until At (or until the case changes), carry out the actions, record them with
// Clocks.Fire, and ask again. Because Next depends only on the clocks and the
// policy, the answer after a pause, resume, transfer or policy change is right
// without any re-arming bookkeeping.
func Next(cal *calendar.Calendar, p Policy, c Clocks) (next Step, ok bool) {
	for _, s := range Schedule(cal, p, c) {
		if s.Fired || s.At.IsZero() || c.Clock(s.Clock).Stopped() {
			continue
		}
		if !ok || s.At.Before(next.At) {
			next, ok = s, true
		}
	}
	if d := p.Dormant; d != nil && (open(c.Citizen) || open(c.Department)) {
		// A transfer restarts the department clock, and counts as activity.
		since := latest(c.Citizen.StartedAt, c.Department.StartedAt, c.LastActivity, c.Reminded)
		at := d.After.After(cal, since)
		if !ok || at.Before(next.At) {
			next, ok = Step{Level: -1, Name: DormantStep, At: at, Actions: d.Actions}, true
		}
	}
	return next, ok
}

// Standing is where a clock stands against its target, for supervisors' counts.
type Standing string

// The standings.
const (
	NotStarted Standing = "not_started"
	OnTrack    Standing = "on_track"
	DueSoon    Standing = "due_soon" // past the policy's warning fraction
	Breached   Standing = "breached"
	Paused     Standing = "paused" // paused before the target was reached
	Met        Standing = "met"    // stopped by the due time
	Missed     Standing = "missed" // stopped after the due time
)

// Assess says where the clock stands at now.
func Assess(cal *calendar.Calendar, p Policy, c Clock, now time.Time) Standing {
	if !c.Started() {
		return NotStarted
	}
	due := Due(cal, p, c)
	switch {
	case c.Stopped() && c.StoppedAt.After(due):
		return Missed
	case c.Stopped():
		return Met
	case due.IsZero():
		return Paused
	case !now.Before(due):
		return Breached
	}
	if warn := reach(cal, c, p.Target, c.StartedAt, p.warning()); !warn.IsZero() && !now.Before(warn) {
		return DueSoon
	}
	return OnTrack
}

// reach is the instant at which the clock, counting from `from`, has run for the
// given fraction of the target; zero if it is paused (or not started) before then.
// The clock runs from StartedAt until its first pause, from the end of each pause
// to the start of the next, and on from the last one; a stopped clock is counted
// on past its stop, so that it keeps its due time.
func reach(cal *calendar.Calendar, c Clock, t Target, from time.Time, fraction float64) time.Time {
	if !c.Started() {
		return time.Time{}
	}
	b, left := t.measure(cal, from)
	left = time.Duration(math.Round(float64(left) * fraction))
	runFrom := c.StartedAt
	for _, p := range c.Pauses {
		if at, ok := b.within(runFrom, p.From, from, &left); ok {
			return at
		}
		runFrom = p.To
	}
	if !c.Paused() {
		return b.add(later(runFrom, from), left)
	}
	if at, ok := b.within(runFrom, c.PausedSince, from, &left); ok {
		return at
	}
	return time.Time{}
}

// within looks for the instant *left has run within the run [start, end), counted
// from `from`; if the run ends first it takes the run's time off *left.
func (b base) within(start, end, from time.Time, left *time.Duration) (time.Time, bool) {
	if !end.After(from) {
		return time.Time{}, false
	}
	start = later(start, from)
	if run := b.between(start, end); *left > run {
		*left -= run
		return time.Time{}, false
	}
	return b.add(start, *left), true
}

// open reports whether a clock has started and not stopped.
func open(c Clock) bool { return c.Started() && !c.Stopped() }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		out = later(out, t)
	}
	return out
}
