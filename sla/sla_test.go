package sla

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/calendar/calendartest"
	"github.com/casebridge/casebridge/cases"
)

const show = "Mon 2006-01-02 15:04:05 MST"

var ldn = calendartest.London

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(show)
}

// demoPolicies reads testdata/policies.yaml as the configuration would.
func demoPolicies(tb testing.TB) Policies {
	tb.Helper()
	f, err := os.Open("testdata/policies.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		Policies Policies `yaml:"policies"`
	}
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		tb.Fatalf("testdata/policies.yaml: %v", err)
	}
	return doc.Policies
}

func demo(tb testing.TB, name string) Policy {
	tb.Helper()
	p, ok := demoPolicies(tb).Find(name)
	if !ok {
		tb.Fatalf("testdata/policies.yaml has no policy %q", name)
	}
	return p
}

func TestDemoPolicies(t *testing.T) {
	ps := demoPolicies(t)
	if err := ps.Validate(); err != nil {
		t.Fatal(err)
	}
	cal := calendar.Default()
	start := ldn(t, "2026-05-22 16:55") // Friday before the Spring bank holiday
	for _, tc := range []struct {
		name   string
		target Target
		due    string
	}{
		{"pothole-dangerous", Target{24, CalendarHours}, "2026-05-23 16:55"},
		{"pothole", Target{5, WorkingDays}, "2026-06-01 16:55"},
		{"fly-tipping", Target{5, WorkingDays}, "2026-06-01 16:55"},
		{"fly-tipping-hazardous", Target{1, WorkingDays}, "2026-05-26 16:55"},
		{"graffiti-offensive", Target{1, WorkingDays}, "2026-05-26 16:55"},
		{"graffiti", Target{10, WorkingDays}, "2026-06-08 16:55"},
		{"street-light", Target{7, WorkingDays}, "2026-06-03 16:55"},
		{"street-light-emergency", Target{2, CalendarHours}, "2026-05-22 18:55"},
		{"noise", Target{3, WorkingDays}, "2026-05-28 16:55"},
		{"missed-bin", Target{2, WorkingDays}, "2026-05-27 16:55"},
		{"general", Target{10, WorkingDays}, "2026-06-08 16:55"},
		{"demo-seconds", Target{60, CalendarSeconds}, "2026-05-22 16:56"},
	} {
		p, ok := ps.Find(tc.name)
		if !ok {
			t.Errorf("no policy %q", tc.name)
			continue
		}
		if p.Target != tc.target {
			t.Errorf("%s: target %v, want %v", tc.name, p.Target, tc.target)
		}
		var c Clocks
		c.Start(start)
		if got, want := Due(cal, p, c.Citizen), ldn(t, tc.due); !got.Equal(want) {
			t.Errorf("%s: Due from %s = %s, want %s", tc.name, fmtTime(start), fmtTime(got), fmtTime(want))
		}
	}
	for _, p := range ps {
		if len(p.Escalation) == 0 {
			t.Errorf("%s has no escalation ladder", p.Name)
		}
		var c Clocks
		c.Start(start)
		if s, ok := Next(cal, p, c); !ok || !s.At.After(start) {
			t.Errorf("%s: Next = %+v, %v; want a step after the start", p.Name, s, ok)
		}
	}
	// The policies travel in workflow state as JSON.
	b, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	var back Policies
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, ps) {
		t.Errorf("policies changed in a JSON round trip:\n%s", b)
	}
}

// clock builds a clock from London wall-clock times: started at start, with the
// given finished pauses ("from", "to" pairs), an open pause and a stop ("" for none).
func clock(tb testing.TB, start string, pauses []string, pausedSince, stopped string) Clock {
	tb.Helper()
	c := Clock{StartedAt: ldn(tb, start)}
	for i := 0; i < len(pauses); i += 2 {
		c.Pauses = append(c.Pauses, Interval{ldn(tb, pauses[i]), ldn(tb, pauses[i+1])})
	}
	if pausedSince != "" {
		c.PausedSince = ldn(tb, pausedSince)
	}
	if stopped != "" {
		c.StoppedAt = ldn(tb, stopped)
	}
	return c
}

func policy(amount int, u Unit) Policy {
	return Policy{Name: "p", Version: 1, Target: Target{amount, u}}
}

func TestDue(t *testing.T) {
	cal := calendar.Default()
	fri := "2026-05-22 16:55" // before the Spring bank holiday
	for _, tc := range []struct {
		name  string
		p     Policy
		clock Clock
		want  string // "" for zero
	}{
		{"not started", policy(5, WorkingDays), Clock{}, ""},
		{"Friday 16:55, 4 working hours", policy(4, WorkingHours), clock(t, fri, nil, "", ""), "2026-05-26 12:55"},
		{"Friday 16:55, 1 working day", policy(1, WorkingDays), clock(t, fri, nil, "", ""), "2026-05-26 16:55"},
		{"Friday 16:55, 24 calendar hours", policy(24, CalendarHours), clock(t, fri, nil, "", ""), "2026-05-23 16:55"},
		{"seconds, for demos", policy(45, CalendarSeconds), clock(t, fri, nil, "", ""), "2026-05-22 16:55:45"},
		{"minutes", policy(90, CalendarMinutes), clock(t, fri, nil, "", ""), "2026-05-22 18:25"},
		{"24 calendar hours into BST", policy(24, CalendarHours), clock(t, "2026-03-28 12:00", nil, "", ""), "2026-03-29 13:00"},
		{"1 calendar day into BST keeps the wall clock", policy(1, CalendarDays), clock(t, "2026-03-28 12:00", nil, "", ""), "2026-03-29 12:00"},
		{"1 calendar day into GMT keeps the wall clock", policy(1, CalendarDays), clock(t, "2026-10-24 12:00", nil, "", ""), "2026-10-25 12:00"},
		{"working hours into GMT", policy(8, WorkingHours), clock(t, "2026-10-23 13:00", nil, "", ""), "2026-10-26 13:00"},
		{"5 working days over Christmas 2027", policy(5, WorkingDays), clock(t, "2027-12-22 10:00", nil, "", ""), "2027-12-31 10:00"},
		{"7 working days over Christmas and New Year 2027", policy(7, WorkingDays), clock(t, "2027-12-22 10:00", nil, "", ""), "2028-01-05 10:00"},
		{
			"a pause of 8 working hours moves it 8 working hours",
			policy(5, WorkingDays), clock(t, "2026-05-18 10:00", []string{"2026-05-19 10:00", "2026-05-20 10:00"}, "", ""),
			"2026-05-27 10:00",
		},
		{
			"two pauses add up",
			policy(5, WorkingDays), clock(t, "2026-05-18 10:00", []string{"2026-05-19 10:00", "2026-05-19 12:00", "2026-05-20 15:00", "2026-05-21 10:00"}, "", ""),
			"2026-05-26 15:00",
		},
		{
			"a weekend pause moves working time not at all",
			policy(5, WorkingDays), clock(t, "2026-05-18 10:00", []string{"2026-05-22 17:30", "2026-05-26 08:00"}, "", ""),
			"2026-05-26 10:00",
		},
		{
			"the same pause moves calendar time by its length",
			policy(120, CalendarHours), clock(t, "2026-05-18 10:00", []string{"2026-05-22 17:30", "2026-05-26 08:00"}, "", ""),
			"2026-05-27 00:30", // 103.5h run before the pause, 16.5h after
		},
		{
			"a pause after the breach does not move it",
			policy(1, WorkingDays), clock(t, "2026-05-18 10:00", []string{"2026-05-20 10:00", "2026-05-21 10:00"}, "", ""),
			"2026-05-19 10:00",
		},
		{"paused before the target: unknown", policy(5, WorkingDays), clock(t, "2026-05-18 10:00", nil, "2026-05-19 10:00", ""), ""},
		{"paused after the breach: still breached", policy(1, WorkingHours), clock(t, "2026-05-18 10:00", nil, "2026-05-19 10:00", ""), "2026-05-18 11:00"},
		{"stopped: keeps its due time", policy(5, WorkingDays), clock(t, "2026-05-18 10:00", nil, "", "2026-05-19 10:00"), "2026-05-26 10:00"},
		{
			"stopped while paused: as if resumed at the stop",
			policy(1, WorkingDays), clock(t, "2026-05-18 10:00", []string{"2026-05-18 12:00", "2026-05-20 12:00"}, "", "2026-05-20 12:00"),
			"2026-05-21 10:00",
		},
	} {
		got := Due(cal, tc.p, tc.clock)
		want := time.Time{}
		if tc.want != "" {
			want = ldn(t, tc.want)
		}
		if !got.Equal(want) {
			t.Errorf("%s: Due(%v, %+v) = %s, want %s", tc.name, tc.p.Target, tc.clock, fmtTime(got), fmtTime(want))
		}
	}
}

// TestPauseMovesDueByPausedWorkingTime drives the clocks through status changes
// as the workflow will, and checks the due time moves by exactly the working
// time spent waiting.
func TestPauseMovesDueByPausedWorkingTime(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "pothole")
	var c Clocks
	c.Follow(cases.StatusOpen, ldn(t, "2026-05-18 10:00"))
	before := Due(cal, p, c.Citizen)
	if want := ldn(t, "2026-05-26 10:00"); !before.Equal(want) { // the 25th is a bank holiday
		t.Fatalf("Due = %s, want %s", fmtTime(before), fmtTime(want))
	}
	from, to := ldn(t, "2026-05-20 14:00"), ldn(t, "2026-05-21 11:00")
	c.Follow(cases.StatusWaitingOnCitizen, from)
	c.Follow(cases.StatusWaitingOnPartner, ldn(t, "2026-05-20 16:00")) // still waiting: one pause
	if got := Due(cal, p, c.Citizen); !got.IsZero() {
		t.Errorf("Due while waiting = %s, want zero (unknown until resumed)", fmtTime(got))
	}
	c.Follow(cases.StatusInProgress, to)
	for _, n := range []ClockName{Citizen, Department} {
		got := Due(cal, p, *c.Clock(n))
		if moved := cal.Between(before, got); moved != cal.Between(from, to) || moved != 5*time.Hour {
			t.Errorf("%s clock: Due moved from %s to %s (%v of working time), want the 5h spent waiting", n, fmtTime(before), fmtTime(got), moved)
		}
		if len(c.Clock(n).Pauses) != 1 {
			t.Errorf("%s clock: pauses %v, want one", n, c.Clock(n).Pauses)
		}
	}
}

func TestTransferRestartsOnlyTheDepartmentClock(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "pothole")
	var c Clocks
	c.Start(ldn(t, "2026-05-18 10:00"))
	c.Fire(Step{Name: "warning", Clock: Department})
	c.Fire(Step{Name: "breach-plus-5", Clock: Citizen})
	c.Transfer(ldn(t, "2026-05-21 10:00"))

	if got, want := Due(cal, p, c.Citizen), ldn(t, "2026-05-26 10:00"); !got.Equal(want) {
		t.Errorf("citizen Due after transfer = %s, want %s (unchanged)", fmtTime(got), fmtTime(want))
	}
	if got, want := Due(cal, p, c.Department), ldn(t, "2026-05-29 10:00"); !got.Equal(want) {
		t.Errorf("department Due after transfer = %s, want %s (5 working days from the transfer)", fmtTime(got), fmtTime(want))
	}
	if len(c.Department.Fired) != 0 || !reflect.DeepEqual(c.Citizen.Fired, []string{"breach-plus-5"}) {
		t.Errorf("fired after transfer: department %v, citizen %v; want the department's cleared, the citizen's kept", c.Department.Fired, c.Citizen.Fired)
	}
	// The new department is warned at 75 % of its own target.
	if s, ok := Next(cal, p, c); !ok || s.Name != "warning" || s.Clock != Department || !s.At.Equal(ldn(t, "2026-05-27 16:00")) {
		t.Errorf("Next after transfer = %s %s at %s, want the department warning at Wed 27 May 16:00", s.Clock, s.Name, fmtTime(s.At))
	}

	// A transfer while waiting restarts the department clock paused.
	var w Clocks
	w.Follow(cases.StatusOpen, ldn(t, "2026-05-18 10:00"))
	w.Follow(cases.StatusWaitingOnPartner, ldn(t, "2026-05-19 10:00"))
	w.Transfer(ldn(t, "2026-05-20 10:00"))
	if !w.Department.Paused() || !Due(cal, p, w.Department).IsZero() {
		t.Errorf("department clock after a transfer while waiting: %+v, want restarted and paused", w.Department)
	}
	w.Follow(cases.StatusInProgress, ldn(t, "2026-05-21 10:00"))
	if got, want := Due(cal, p, w.Department), ldn(t, "2026-05-29 10:00"); !got.Equal(want) {
		t.Errorf("department Due after resuming = %s, want %s", fmtTime(got), fmtTime(want))
	}
	// A closed case is not restarted by a transfer.
	w.Follow(cases.StatusFixed, ldn(t, "2026-05-22 10:00"))
	w.Transfer(ldn(t, "2026-05-22 11:00"))
	if !w.Department.Stopped() {
		t.Error("a transfer restarted the clock of a closed case")
	}
}

type fired struct {
	name  string
	clock ClockName
	at    string
}

// climb plays the workflow: ask Next, wait until its time, fire it, repeat, until
// nothing is pending or the step is after `until`.
func climb(tb testing.TB, cal *calendar.Calendar, p Policy, c *Clocks, until time.Time) []fired {
	tb.Helper()
	var out []fired
	for range 50 {
		s, ok := Next(cal, p, *c)
		if !ok || s.At.After(until) {
			return out
		}
		out = append(out, fired{s.Name, s.Clock, s.At.Format("2006-01-02 15:04:05")})
		c.Fire(s)
	}
	tb.Fatalf("the ladder did not end: %v", out)
	return nil
}

func TestLadderLevelByLevel(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "pothole")
	var c Clocks
	c.Start(ldn(t, "2026-05-18 10:00"))
	c.Touch(ldn(t, "2026-05-22 12:00"))
	got := climb(t, cal, p, &c, ldn(t, "2026-06-30 00:00"))
	want := []fired{
		{"warning", Department, "2026-05-21 16:00:00"}, // 30 of the 40 working hours
		{"breach", Department, "2026-05-26 10:00:00"},  // over the bank holiday
		{"breach-plus-2", Department, "2026-05-28 10:00:00"},
		{"breach-plus-5", Citizen, "2026-06-02 10:00:00"},
		{DormantStep, "", "2026-06-08 12:00:00"}, // 10 working days after the last activity
		{DormantStep, "", "2026-06-22 12:00:00"}, // and again
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the ladder fired\n%v\nwant\n%v", got, want)
	}
	for _, s := range Schedule(cal, p, c) {
		if !s.Fired {
			t.Errorf("Schedule: %s not marked fired", s.Name)
		}
	}
	c.Follow(cases.StatusFixed, ldn(t, "2026-06-23 10:00"))
	if s, ok := Next(cal, p, c); ok {
		t.Errorf("Next after the case was fixed = %+v, want nothing", s)
	}
}

func TestLadderOfADemoInSeconds(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "demo-seconds")
	var c Clocks
	c.Start(ldn(t, "2026-05-23 03:00:00")) // calendar time: a Saturday night is no different
	got := climb(t, cal, p, &c, ldn(t, "2026-05-23 03:01:40"))
	want := []fired{
		{"warning", Department, "2026-05-23 03:00:30"},
		{DormantStep, "", "2026-05-23 03:00:45"},
		{"breach", Department, "2026-05-23 03:01:00"},
		{"breach-plus-20s", Department, "2026-05-23 03:01:20"},
		{DormantStep, "", "2026-05-23 03:01:30"},
		{"breach-plus-40s", Citizen, "2026-05-23 03:01:40"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the ladder fired\n%v\nwant\n%v", got, want)
	}
}

func TestLadderReArms(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "pothole")
	start := ldn(t, "2026-05-18 10:00")
	next := func(c Clocks) string {
		s, ok := Next(cal, p, c)
		if !ok {
			return "none"
		}
		return string(s.Clock) + " " + s.Name + " " + s.At.Format("2006-01-02 15:04")
	}
	for _, tc := range []struct {
		name string
		run  func(c *Clocks)
		want string
	}{
		{"untouched", func(c *Clocks) {}, "department warning 2026-05-21 16:00"},
		{
			// Paused before the breach, the breach is unknown; the dormant
			// reminder, which waiting does not stop, is next.
			"paused after the warning",
			func(c *Clocks) {
				c.Fire(Step{Name: "warning", Clock: Department})
				c.Follow(cases.StatusWaitingOnCitizen, ldn(t, "2026-05-22 10:00"))
			},
			" dormant 2026-06-02 10:00",
		},
		{
			// 7 + 8 + 1 working hours paused: the breach moves from Tue 10:00 to Thu 10:00.
			"paused and resumed",
			func(c *Clocks) {
				c.Fire(Step{Name: "warning", Clock: Department})
				c.Follow(cases.StatusWaitingOnCitizen, ldn(t, "2026-05-22 10:00"))
				c.Follow(cases.StatusInvestigating, ldn(t, "2026-05-27 10:00"))
			},
			"department breach 2026-05-28 10:00",
		},
		{
			"a level due before the pause still fires",
			func(c *Clocks) { c.Follow(cases.StatusWaitingOnPartner, ldn(t, "2026-05-22 10:00")) },
			"department warning 2026-05-21 16:00",
		},
		{
			"transfer after the breach re-arms the department's ladder",
			func(c *Clocks) {
				for _, n := range []string{"warning", "breach"} {
					c.Fire(Step{Name: n, Clock: Department})
				}
				c.Transfer(ldn(t, "2026-05-26 12:00"))
			},
			"department warning 2026-06-01 10:00", // 30 working hours after the transfer
		},
		{
			"reopened: the time closed counts as paused, fired levels stay fired",
			func(c *Clocks) {
				c.Fire(Step{Name: "warning", Clock: Department})
				c.Follow(cases.StatusFixed, ldn(t, "2026-05-22 10:00"))
				c.Follow(cases.StatusOpen, ldn(t, "2026-05-27 10:00"))
			},
			"department breach 2026-05-28 10:00",
		},
		{
			"closed: nothing",
			func(c *Clocks) { c.Follow(cases.StatusNoFurtherAction, ldn(t, "2026-05-19 10:00")) },
			"none",
		},
	} {
		var c Clocks
		c.Start(start)
		tc.run(&c)
		if got := next(c); got != tc.want {
			t.Errorf("%s: Next = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPolicyChange is what a priority change does: the workflow asks Next with
// the new policy. Levels fired under the same name are not repeated; levels
// already due under the tighter policy come back at once, with their own times.
func TestPolicyChange(t *testing.T) {
	cal := calendar.Default()
	normal, urgent := demo(t, "fly-tipping"), demo(t, "fly-tipping-hazardous")
	var c Clocks
	c.Start(ldn(t, "2026-05-18 10:00"))
	c.Fire(Step{Name: "warning", Clock: Department})
	got := climb(t, cal, urgent, &c, ldn(t, "2026-05-21 12:00"))
	want := []fired{
		{"breach", Department, "2026-05-19 10:00:00"},
		{"breach-plus-1", Department, "2026-05-20 10:00:00"},
		{"breach-plus-2", Citizen, "2026-05-21 10:00:00"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after switching to %s the ladder fired\n%v\nwant\n%v", urgent.Name, got, want)
	}
	// And back: the normal ladder's breach-plus-2 watches the department clock,
	// where it has not fired.
	if s, ok := Next(cal, normal, c); !ok || s.Name != "breach-plus-2" || s.Clock != Department {
		t.Errorf("after switching back Next = %+v, %v; want the department's breach-plus-2", s, ok)
	}
}

// TestFollowEveryStatus moves clocks from a running, a waiting and a closed case
// to every status, including moves the workflow's validator refuses, so Follow
// is total.
func TestFollowEveryStatus(t *testing.T) {
	for _, from := range []cases.Status{cases.StatusOpen, cases.StatusWaitingOnCitizen, cases.StatusFixed} {
		for _, s := range cases.Statuses {
			var c Clocks
			c.Follow(from, ldn(t, "2026-05-18 10:00"))
			c.Follow(s, ldn(t, "2026-05-18 11:00"))
			for _, n := range []ClockName{Citizen, Department} {
				k := c.Clock(n)
				if k.Stopped() != s.Closed() || k.Paused() != s.Paused() || k.Running() != (!s.Closed() && !s.Paused()) {
					t.Errorf("Follow(%s) then Follow(%s): %s clock running %v, paused %v, stopped %v", from, s, n, k.Running(), k.Paused(), k.Stopped())
				}
			}
		}
	}
}

// TestWorkingDaysFollowTheCalendar uses a council that closes at 16:30 on
// Fridays: a working day is a day, however long.
func TestWorkingDaysFollowTheCalendar(t *testing.T) {
	cal, err := calendar.New(calendar.Config{Hours: calendar.Week{Friday: "09:00-16:30"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p           Policy
		start, want string
	}{
		{policy(5, WorkingDays), "2026-05-11 10:00", "2026-05-18 10:00"},
		{policy(1, WorkingDays), "2026-05-14 16:45", "2026-05-15 16:30"},
		{policy(40, WorkingHours), "2026-05-11 10:00", "2026-05-18 10:30"},
	} {
		c := clock(t, tc.start, nil, "", "")
		if got, want := Due(cal, tc.p, c), ldn(t, tc.want); !got.Equal(want) {
			t.Errorf("Due(%v from %s) = %s, want %s", tc.p.Target, tc.start, fmtTime(got), fmtTime(want))
		}
	}
}

// TestTiesGoToTheLadderInOrder: levels due at the same instant fire in the
// ladder's order, and before the dormant reminder.
func TestTiesGoToTheLadderInOrder(t *testing.T) {
	cal := calendar.Default()
	p := policy(2, CalendarHours)
	p.Escalation = []Level{
		{Name: "citizen-breach", Clock: Citizen, OfTarget: 1},
		{Name: "breach", OfTarget: 1},
	}
	p.Dormant = &Dormant{After: Target{2, CalendarHours}}
	var c Clocks
	c.Start(ldn(t, "2026-05-18 10:00"))
	got := climb(t, cal, p, &c, ldn(t, "2026-05-18 12:00"))
	want := []fired{
		{"citizen-breach", Citizen, "2026-05-18 12:00:00"},
		{"breach", Department, "2026-05-18 12:00:00"},
		{DormantStep, "", "2026-05-18 12:00:00"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fired\n%v\nwant\n%v", got, want)
	}
}

func TestClockOperations(t *testing.T) {
	t1, t2, t3, t4 := ldn(t, "2026-05-18 10:00"), ldn(t, "2026-05-18 11:00"), ldn(t, "2026-05-18 12:00"), ldn(t, "2026-05-18 13:00")
	var c Clock
	c.Pause(t1) // not started: nothing to pause
	c.Resume(t1)
	c.Stop(t1)
	if !reflect.DeepEqual(c, Clock{}) {
		t.Errorf("operations on a clock that has not started changed it: %+v", c)
	}
	c.Start(t1)
	c.Start(t2) // already started
	c.Pause(t2)
	c.Pause(t3)  // already paused
	c.Resume(t1) // before the pause began: counts as its start
	c.Resume(t4) // not paused
	want := Clock{StartedAt: t1, Pauses: []Interval{{t2, t2}}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("clock = %+v, want %+v", c, want)
	}
	c.Pause(t3)
	c.Stop(t4)
	c.Stop(t4.Add(time.Hour))
	want = Clock{StartedAt: t1, Pauses: []Interval{{t2, t2}, {t3, t4}}, StoppedAt: t4}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("clock = %+v, want %+v", c, want)
	}
	c.Fired = []string{"warning"}
	c.Restart(t4)
	if !reflect.DeepEqual(c, Clock{StartedAt: t4}) {
		t.Errorf("after Restart clock = %+v, want started afresh", c)
	}
}

func TestClocksSurviveJSON(t *testing.T) {
	cal := calendar.Default()
	p := demo(t, "pothole")
	var c Clocks
	c.Follow(cases.StatusOpen, ldn(t, "2026-05-18 10:00"))
	c.Follow(cases.StatusWaitingOnCitizen, ldn(t, "2026-05-19 10:00"))
	c.Follow(cases.StatusInProgress, ldn(t, "2026-05-20 10:00"))
	c.Fire(Step{Name: "warning", Clock: Department})
	c.Transfer(ldn(t, "2026-05-21 10:00"))
	c.Follow(cases.StatusWaitingOnPartner, ldn(t, "2026-05-21 15:00"))
	c.Touch(ldn(t, "2026-05-21 15:00"))
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Clocks
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// Compare instants, not *time.Location pointers: JSON keeps the offset only.
	same := func(a, b Clocks) bool {
		for _, n := range []ClockName{Citizen, Department} {
			if !Due(cal, p, *a.Clock(n)).Equal(Due(cal, p, *b.Clock(n))) {
				return false
			}
		}
		sa, oka := Next(cal, p, a)
		sb, okb := Next(cal, p, b)
		return oka == okb && sa.Name == sb.Name && sa.At.Equal(sb.At)
	}
	if !same(c, back) || !strings.Contains(string(b), `"paused_since"`) || back.Citizen.Pauses[0].To.IsZero() {
		t.Errorf("Clocks changed in a JSON round trip:\n%s", b)
	}
}

func TestAssess(t *testing.T) {
	cal := calendar.Default()
	p := policy(5, WorkingDays) // from Mon 18 May 10:00: warning Thu 21 16:00, due Tue 26 10:00
	start := "2026-05-18 10:00"
	for _, tc := range []struct {
		name  string
		clock Clock
		now   string
		want  Standing
	}{
		{"not started", Clock{}, "2026-05-19 10:00", NotStarted},
		{"on track", clock(t, start, nil, "", ""), "2026-05-21 15:59", OnTrack},
		{"due soon", clock(t, start, nil, "", ""), "2026-05-21 16:00", DueSoon},
		{"breached at the due instant", clock(t, start, nil, "", ""), "2026-05-26 10:00", Breached},
		{"paused", clock(t, start, nil, "2026-05-19 10:00", ""), "2026-06-30 10:00", Paused},
		{"paused after the breach", clock(t, start, nil, "2026-05-27 10:00", ""), "2026-05-28 10:00", Breached},
		{"met", clock(t, start, nil, "", "2026-05-26 10:00"), "2026-06-30 10:00", Met},
		{"missed", clock(t, start, nil, "", "2026-05-26 10:01"), "2026-06-30 10:00", Missed},
	} {
		if got := Assess(cal, p, tc.clock, ldn(t, tc.now)); got != tc.want {
			t.Errorf("%s: Assess(.., %s) = %s, want %s", tc.name, tc.now, got, tc.want)
		}
	}
}

func TestActionsPriority(t *testing.T) {
	for _, tc := range []struct {
		raise, current, want cases.Priority
	}{
		{"", cases.PriorityLow, cases.PriorityLow},
		{cases.PriorityHigh, cases.PriorityNormal, cases.PriorityHigh},
		{cases.PriorityHigh, cases.PriorityUrgent, cases.PriorityUrgent}, // never lowers
		{cases.PriorityHigh, cases.PriorityHigh, cases.PriorityHigh},
		{cases.PriorityHigh, "", cases.PriorityHigh},
	} {
		if got := (Actions{RaisePriority: tc.raise}).Priority(tc.current); got != tc.want {
			t.Errorf("raise to %q from %q = %q, want %q", tc.raise, tc.current, got, tc.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good := func() Policy {
		return Policy{Name: "p", Version: 1, Target: Target{5, WorkingDays}, Escalation: []Level{
			{Name: "breach", OfTarget: 1, Actions: Actions{Notify: []Recipient{TeamLead}}},
		}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("a good policy: %v", err)
	}
	for _, tc := range []struct {
		want   string
		change func(p *Policy)
	}{
		{"name", func(p *Policy) { p.Name = " " }},
		{"version", func(p *Policy) { p.Version = 0 }},
		{"unit", func(p *Policy) { p.Target.Unit = "weeks" }},
		{"amount", func(p *Policy) { p.Target.Amount = 0 }},
		{"warning", func(p *Policy) { p.Warning = 75 }},
		{"of_target", func(p *Policy) { p.Escalation[0].OfTarget = 75 }},
		{"exactly one", func(p *Policy) { p.Escalation[0].AfterBreach = &Target{2, WorkingDays} }},
		{"exactly one", func(p *Policy) { p.Escalation[0].OfTarget = 0 }},
		{"after_breach", func(p *Policy) { p.Escalation[0] = Level{Name: "x", AfterBreach: &Target{2, "fortnights"}} }},
		{"used twice", func(p *Policy) { p.Escalation = append(p.Escalation, p.Escalation[0]) }},
		{"reserved", func(p *Policy) { p.Escalation[0].Name = DormantStep }},
		{"clock", func(p *Policy) { p.Escalation[0].Clock = "team" }},
		{"recipient", func(p *Policy) { p.Escalation[0].Notify = []Recipient{"boss"} }},
		{"recipient", func(p *Policy) { p.Escalation[0].Notify = []Recipient{"email:nobody"} }},
		{"recipient", func(p *Policy) { p.Escalation[0].Notify = []Recipient{"webhook:"} }},
		{"reassign", func(p *Policy) { p.Escalation[0].Reassign = &Reassign{} }},
		{"reassign", func(p *Policy) { p.Escalation[0].Reassign = &Reassign{Queue: "q", Person: "p"} }},
		{"raise_priority", func(p *Policy) { p.Escalation[0].RaisePriority = "critical" }},
		{"publish", func(p *Policy) { p.Escalation[0].Publish = &Publish{Status: cases.StatusClosed, Note: "n"} }},
		{"publish", func(p *Policy) { p.Escalation[0].Publish = &Publish{Status: cases.StatusWaitingOnCitizen, Note: "n"} }},
		{"publish", func(p *Policy) { p.Escalation[0].Publish = &Publish{Status: cases.StatusInvestigating} }},
		{"dormant", func(p *Policy) { p.Dormant = &Dormant{After: Target{0, WorkingDays}} }},
	} {
		p := good()
		tc.change(&p)
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error about %s", p, err, tc.want)
		}
	}
	dup := Policies{good(), good()}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), "policies[1]") {
		t.Errorf("Policies.Validate with a name twice = %v", err)
	}
	for _, r := range []Recipient{Assignee, TeamLead, HeadOfService, "email:streets@council.example", "webhook:ops"} {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	if r := Recipient("email:streets@council.example"); r.Kind() != "email" || r.Address() != "streets@council.example" {
		t.Errorf("%s: Kind %q, Address %q", r, r.Kind(), r.Address())
	}
}

func BenchmarkDue(b *testing.B) {
	cal := calendar.Default()
	p := policy(5, WorkingDays)
	c := clock(b, "2026-05-22 16:55", []string{"2026-05-26 10:00", "2026-05-26 14:00", "2026-05-27 09:30", "2026-05-28 11:00"}, "", "")
	for b.Loop() {
		Due(cal, p, c)
	}
}

func BenchmarkNext(b *testing.B) {
	cal := calendar.Default()
	p := demo(b, "pothole")
	var c Clocks
	c.Start(ldn(b, "2026-05-22 16:55"))
	c.Follow(cases.StatusWaitingOnCitizen, ldn(b, "2026-05-26 10:00"))
	c.Follow(cases.StatusInProgress, ldn(b, "2026-05-26 14:00"))
	for b.Loop() {
		Next(cal, p, c)
	}
}

func TestPolicyForPriority(t *testing.T) {
	p := Policy{Name: "pothole", Version: 1, Target: Target{Amount: 5, Unit: WorkingDays},
		ByPriority: map[cases.Priority]Target{cases.PriorityUrgent: {Amount: 24, Unit: CalendarHours}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.For(cases.PriorityUrgent).Target; got != (Target{24, CalendarHours}) {
		t.Errorf("urgent target = %v", got)
	}
	if got := p.For(cases.PriorityNormal).Target; got != (Target{5, WorkingDays}) {
		t.Errorf("normal target = %v", got)
	}
	p.ByPriority["whenever"] = Target{1, WorkingDays}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "whenever") {
		t.Errorf("Validate accepted an unknown priority: %v", err)
	}
}
