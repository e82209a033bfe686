package readmodel

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// promise gives a case the SLA summary the workflow would write: amber at
// soon, due at due (either may be zero).
func promise(c *cases.Case, soon, due time.Time) *cases.Case {
	c.DueAt = due
	c.Promise = &cases.Promise{Policy: "standard", Version: 1, Target: "5 working_days", DueSoonAt: soon, DepartmentDueAt: due}
	return c
}

// transfer routes a case to another department, as a staff transfer would.
func transfer(c *cases.Case, dept string, at time.Time) *cases.Case {
	c.Route(cases.Decision{Department: dept, Priority: c.Priority}, at)
	return c
}

// pause moves a case to a waiting state; its due times become unknown.
func pause(c *cases.Case, at time.Time) *cases.Case {
	c.DueAt, c.Promise.DueSoonAt, c.Promise.DepartmentDueAt, c.Promise.Paused = time.Time{}, time.Time{}, time.Time{}, true
	return move(c, cases.StatusWaitingOnPartner, at)
}

// resolve closes a case at at with the outcome the workflow judged.
func resolve(c *cases.Case, outcome string, at time.Time) *cases.Case {
	if c.Promise != nil {
		c.Promise.Outcome = outcome
	}
	return move(c, cases.StatusFixed, at)
}

// reopen moves a resolved case back to work, clearing its outcome.
func reopen(c *cases.Case, soon, due, at time.Time) *cases.Case {
	promise(c, soon, due)
	return move(c, cases.StatusInvestigating, at)
}

func standing(t *testing.T, s *Store, now time.Time) map[string]DepartmentStanding {
	t.Helper()
	got, err := s.Standing(context.Background(), now)
	if err != nil {
		t.Fatalf("Standing(%s): %v", now, err)
	}
	if !slices.IsSortedFunc(got, func(a, b DepartmentStanding) int { return strings.Compare(a.Department, b.Department) }) {
		t.Errorf("Standing(%s) not in department order: %+v", now, got)
	}
	out := map[string]DepartmentStanding{}
	for _, d := range got {
		out[d.Department] = d
	}
	return out
}

// byState tallies open cases per department as Case.State judges them, the
// figures Standing must agree with; except that a running case without a due
// time, which State calls on track, is on track for nothing and not counted.
func byState(all []*cases.Case, now time.Time) map[string]DepartmentStanding {
	out := map[string]DepartmentStanding{}
	for _, c := range all {
		if c.Status.Closed() {
			continue
		}
		d := out[c.Department]
		d.Department = c.Department
		switch state := c.State(now); {
		case state == "paused":
			d.Paused++
		case c.DueAt.IsZero():
		case state == "on_track":
			d.OnTrack++
		case state == "due_soon":
			d.DueSoon++
		case state == "breached":
			d.Breached++
		}
		out[c.Department] = d
	}
	return out
}

func TestStandingAgreesWithCaseState(t *testing.T) {
	s, _ := newStore(t)
	at := func(h float64) time.Time { return t0.Add(time.Duration(h * float64(time.Hour))) }
	all := []*cases.Case{
		promise(newCase("CB-0000A1", "pothole", "highways", t0), at(6), at(8)),
		promise(newCase("CB-0000A2", "pothole", "highways", t0), at(2), at(4)),
		promise(newCase("CB-0000A3", "pothole", "highways", t0), at(1), at(3)),
		promise(newCase("CB-0000A4", "pothole", "highways", t0), time.Time{}, at(5)), // no amber time
		promise(newCase("CB-0000A5", "pothole", "highways", t0), at(9), at(7)),       // amber after due: amber at due
		pause(promise(newCase("CB-0000A6", "pothole", "highways", t0), at(1), at(2)), at(0.5)),
		promise(newCase("CB-0000A7", "pothole", "highways", t0), time.Time{}, time.Time{}), // no due time: in no count
		resolve(promise(newCase("CB-0000A8", "pothole", "highways", t0), at(1), at(2)), cases.OutcomeMet, at(1)),
		promise(newCase("CB-0000B1", "graffiti", "streetcare", t0), at(3), at(4)),
		promise(newCase("CB-0000B2", "graffiti", "streetcare", t0), at(0.5), at(1)),
	}
	project(t, s, all...)

	// Every hour, and at the exact instants where a case changes colour.
	nows := []time.Time{at(0), at(1), at(2), at(3), at(3.5), at(4), at(5), at(6), at(7), at(8), at(9), at(4).Add(time.Microsecond), at(2).Add(-time.Microsecond)}
	for _, now := range nows {
		want := byState(all, now)
		got := standing(t, s, now)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Standing at %s = %+v\nCase.State says %+v", now.Format("15:04:05.000000"), got, want)
		}
	}

	// Worked by hand at 03:30, so byState is not the only judge: A1 and A5 on
	// track, A2 due soon, A3 breached, A4 on track (no amber time), A6 paused.
	want := map[string]DepartmentStanding{
		"highways":   {Department: "highways", OnTrack: 3, DueSoon: 1, Breached: 1, Paused: 1},
		"streetcare": {Department: "streetcare", DueSoon: 1, Breached: 1},
	}
	if got := standing(t, s, at(3.5)); !reflect.DeepEqual(got, want) {
		t.Errorf("Standing at 03:30 = %+v, want %+v", got, want)
	}
}

func TestStandingFollowsTheCase(t *testing.T) {
	s, rdb := newStore(t)
	now := t0.Add(10 * time.Hour)
	c := promise(newCase("CB-000001", "pothole", "highways", t0), t0.Add(4*time.Hour), t0.Add(8*time.Hour))
	project(t, s, c, promise(newCase("CB-000002", "pothole", "highways", t0), t0.Add(20*time.Hour), t0.Add(30*time.Hour)))
	check := func(when string, want map[string]DepartmentStanding) {
		t.Helper()
		if got := standing(t, s, now); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Standing = %+v, want %+v", when, got, want)
		}
	}
	check("new", map[string]DepartmentStanding{"highways": {Department: "highways", OnTrack: 1, Breached: 1}})

	// Transferred: the department clock restarts, the citizen's does not.
	transfer(c, "waste", t0.Add(9*time.Hour))
	c.Promise.DepartmentDueAt = t0.Add(40 * time.Hour)
	project(t, s, c)
	transferred := clone(t, c)
	check("transferred", map[string]DepartmentStanding{
		"highways": {Department: "highways", OnTrack: 1},
		"waste":    {Department: "waste", Breached: 1},
	})

	pause(c, t0.Add(9*time.Hour+time.Minute))
	project(t, s, c)
	check("paused", map[string]DepartmentStanding{
		"highways": {Department: "highways", OnTrack: 1},
		"waste":    {Department: "waste", Paused: 1},
	})

	// Resumed with the due time pushed back by the pause.
	c.Promise.Paused = false
	promise(c, t0.Add(9*time.Hour), t0.Add(11*time.Hour))
	move(c, cases.StatusInProgress, t0.Add(9*time.Hour+30*time.Minute))
	project(t, s, c)
	check("resumed", map[string]DepartmentStanding{
		"highways": {Department: "highways", OnTrack: 1},
		"waste":    {Department: "waste", DueSoon: 1},
	})

	resolve(c, cases.OutcomeMet, t0.Add(10*time.Hour))
	project(t, s, c)
	closed := map[string]DepartmentStanding{
		"highways": {Department: "highways", OnTrack: 1},
		"waste":    {Department: "waste"}, // listed, with nothing open
	}
	check("resolved", closed)

	// The transfer's projection, retried late, must not put the case back.
	if applied, err := s.Project(context.Background(), transferred); err != nil || applied {
		t.Fatalf("late Project(v%d) = %v, %v; want not applied", transferred.Version, applied, err)
	}
	check("late old version", closed)
	for _, key := range []string{s.clockKey("waste"), s.soonKey("waste"), s.pausedKey("waste"), s.departmentDueKey("waste")} {
		if m := members(t, rdb, key); len(m) != 0 {
			t.Errorf("%s = %v after the case was resolved", key, m)
		}
	}
}

// A case whose status waits on someone counts as paused even before the
// workflow has written a promise, and one with a due time but no promise is
// judged by its due time, as the overdue list judges it.
func TestStandingWithoutPromise(t *testing.T) {
	s, _ := newStore(t)
	late := newCase("CB-000001", "pothole", "highways", t0)
	late.DueAt = t0.Add(time.Hour)
	waiting := move(newCase("CB-000002", "pothole", "highways", t0), cases.StatusWaitingOnCitizen, t0.Add(time.Minute))
	waiting.DueAt = t0.Add(time.Hour)
	unrouted := newCase("CB-000003", "pothole", "", t0)
	unrouted.DueAt = t0.Add(time.Hour)
	project(t, s, late, waiting, unrouted)
	want := map[string]DepartmentStanding{"highways": {Department: "highways", Breached: 1, Paused: 1}}
	if got := standing(t, s, t0.Add(2*time.Hour)); !reflect.DeepEqual(got, want) {
		t.Errorf("Standing = %+v, want %+v", got, want)
	}
	page, err := s.List(context.Background(), ListQuery{Department: "highways", Overdue: true, Now: t0.Add(2 * time.Hour), Sort: SortDue})
	if err != nil || page.Total != 2 {
		// The overdue list does not know about pauses; Standing does.
		t.Errorf("overdue highways = %d cases (%v), want 2", page.Total, err)
	}
}

func TestCompliance(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	from, to := t0, t0.Add(30*24*time.Hour)
	day := func(d int) time.Time { return t0.Add(time.Duration(d) * 24 * time.Hour) }
	resolved := func(ref, code, dept, outcome string, at time.Time) *cases.Case {
		c := promise(newCase(ref, code, dept, at.Add(-time.Hour)), time.Time{}, at.Add(time.Hour))
		if outcome == "" {
			c.Promise = nil // no policy applied
		}
		return resolve(c, outcome, at)
	}
	project(t, s,
		resolved("CB-000001", "pothole", "highways", cases.OutcomeMet, from), // on the lower bound
		resolved("CB-000002", "pothole", "highways", cases.OutcomeMet, day(3)),
		resolved("CB-000003", "pothole", "highways", cases.OutcomeMissed, day(4)),
		resolved("CB-000004", "pothole", "highways", cases.OutcomeMissed, to), // on the upper bound
		resolved("CB-000005", "graffiti", "highways", cases.OutcomeMet, day(5)),
		resolved("CB-000006", "graffiti", "streetcare", cases.OutcomeMet, day(6)),
		resolved("CB-000007", "graffiti", "streetcare", "", day(7)), // resolved, no promise
		resolved("CB-000008", "graffiti", "streetcare", cases.OutcomeMissed, from.Add(-time.Microsecond)),
		resolved("CB-000009", "graffiti", "streetcare", cases.OutcomeMissed, to.Add(time.Microsecond)),
		resolved("CB-000010", "bins", "a:b", cases.OutcomeMet, day(8)), // ':' in names must not merge groups
		resolved("CB-000011", "b:bins", "a", cases.OutcomeMissed, day(8)),
		promise(newCase("CB-000012", "pothole", "highways", day(2)), day(2), day(3)), // open: not resolved
	)
	got, err := s.Compliance(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := Compliance{From: from, To: to, Groups: []ComplianceGroup{
		{Department: "a", ServiceCode: "b:bins", Tally: Tally{Resolved: 1, Missed: 1}},
		{Department: "a:b", ServiceCode: "bins", Tally: Tally{Resolved: 1, Met: 1}},
		{Department: "highways", ServiceCode: "graffiti", Tally: Tally{Resolved: 1, Met: 1}},
		{Department: "highways", ServiceCode: "pothole", Tally: Tally{Resolved: 4, Met: 2, Missed: 2}},
		{Department: "streetcare", ServiceCode: "graffiti", Tally: Tally{Resolved: 2, Met: 1}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Compliance = %+v\nwant %+v", got, want)
	}
	if total := got.Total(); total != (Tally{Resolved: 9, Met: 5, Missed: 3}) {
		t.Errorf("Total = %+v", total)
	}
	if by := got.ByDepartment(); by["highways"] != (Tally{Resolved: 5, Met: 3, Missed: 2}) || len(by) != 4 {
		t.Errorf("ByDepartment = %+v", by)
	}
	if by := got.ByService(); by["graffiti"] != (Tally{Resolved: 3, Met: 2}) || len(by) != 4 {
		t.Errorf("ByService = %+v", by)
	}
	for _, tc := range []struct {
		t    Tally
		pct  float64
		ok   bool
		name string
	}{
		{Tally{Resolved: 4, Met: 2, Missed: 2}, 50, true, "half"},
		{Tally{Resolved: 2, Met: 1}, 100, true, "one met, one without promise"},
		{Tally{Resolved: 3, Met: 1, Missed: 2}, 100.0 / 3, true, "a third"},
		{Tally{Resolved: 1}, 0, false, "no promise to judge"},
	} {
		if pct, ok := tc.t.PercentMet(); pct != tc.pct || ok != tc.ok {
			t.Errorf("%s: %+v.PercentMet() = %v, %v; want %v, %v", tc.name, tc.t, pct, ok, tc.pct, tc.ok)
		}
	}

	// A window with nothing in it lists no group.
	if got, err := s.Compliance(ctx, day(100), day(101)); err != nil || len(got.Groups) != 0 {
		t.Errorf("Compliance(empty window) = %+v, %v", got, err)
	}
}

// A reopened case leaves the figures and counts again, once, when it is
// resolved again; a late retry of an older version changes nothing.
func TestComplianceReopenAndVersions(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	from, to := t0, t0.Add(10*24*time.Hour)
	tally := func(when string, want ...ComplianceGroup) {
		t.Helper()
		got, err := s.Compliance(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Groups, want) {
			t.Errorf("%s: Compliance = %+v, want %+v", when, got.Groups, want)
		}
	}
	c := promise(newCase("CB-000001", "pothole", "highways", t0), t0.Add(time.Hour), t0.Add(2*time.Hour))
	project(t, s, c)
	tally("open")

	resolve(c, cases.OutcomeMet, t0.Add(90*time.Minute))
	project(t, s, c)
	first := clone(t, c)
	tally("resolved", ComplianceGroup{"highways", "pothole", Tally{Resolved: 1, Met: 1}})

	reopen(c, t0.Add(20*time.Hour), t0.Add(24*time.Hour), t0.Add(3*time.Hour))
	project(t, s, c)
	tally("reopened")
	if applied, err := s.Project(ctx, first); err != nil || applied {
		t.Fatalf("late Project(v%d) = %v, %v; want not applied", first.Version, applied, err)
	}
	tally("reopened, then an old version late")

	transfer(c, "streetcare", t0.Add(4*time.Hour))
	resolve(c, cases.OutcomeMissed, t0.Add(30*time.Hour))
	project(t, s, c)
	tally("resolved again, elsewhere", ComplianceGroup{"streetcare", "pothole", Tally{Resolved: 1, Missed: 1}})

	// Re-categorised after it was resolved: it moves with its category.
	c.Service.Code = "flytipping"
	c.Append(cases.Entry{At: t0.Add(31 * time.Hour), Actor: "agent", Kind: cases.KindComment})
	project(t, s, c)
	tally("re-categorised", ComplianceGroup{"streetcare", "flytipping", Tally{Resolved: 1, Missed: 1}})
	if m := members(t, rdb, s.resolvedKey(cases.OutcomeMissed, group("streetcare", "pothole"))); len(m) != 0 {
		t.Errorf("old group's set = %v, want empty", m)
	}
}

func TestSLARejectsBadQueries(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var in *cases.InputError
	if _, err := s.Standing(ctx, time.Time{}); !errors.As(err, &in) || in.Field != "now" {
		t.Errorf("Standing(zero) error = %v, want an *InputError on now", err)
	}
	for _, tc := range []struct {
		from, to time.Time
		field    string
	}{
		{time.Time{}, t0, "from"},
		{t0, time.Time{}, "to"},
		{t0, t0.Add(-time.Microsecond), "to"},
	} {
		if _, err := s.Compliance(ctx, tc.from, tc.to); !errors.As(err, &in) || in.Field != tc.field {
			t.Errorf("Compliance(%s, %s) error = %v, want an *InputError on %s", tc.from, tc.to, err, tc.field)
		}
	}
	if got, err := s.Standing(ctx, t0); err != nil || len(got) != 0 {
		t.Errorf("Standing of an empty read model = %+v, %v", got, err)
	}
}

func TestGroupNames(t *testing.T) {
	for _, tc := range [][2]string{{"highways", "POT"}, {"a:b", "c"}, {"a", "b:c"}, {"", ""}, {"50% off", "x%3Ay"}} {
		d, c, err := parseGroup(group(tc[0], tc[1]))
		if err != nil || d != tc[0] || c != tc[1] {
			t.Errorf("parseGroup(group(%q, %q)) = %q, %q, %v", tc[0], tc[1], d, c, err)
		}
	}
	if group("a:b", "c") == group("a", "b:c") {
		t.Error("two groups share a name")
	}
	if _, _, err := parseGroup("no-colon"); err == nil {
		t.Error(`parseGroup("no-colon") succeeded`)
	}
}

// An agent's figures count what a supervisor's board would of the cases in
// their scope: their departments', their teams' elsewhere and those
// assigned to them elsewhere, judged here from the cases themselves, in
// Redis there from the SLA indexes.
func TestScopeFiguresJudgeAsTheCases(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	now := t0.Add(30 * 24 * time.Hour)
	r := rand.New(rand.NewPCG(21, 22))
	depts := []string{"highways", "waste", "parks", "lighting"}
	var all []*cases.Case
	for i := range 1500 {
		dept := depts[r.IntN(len(depts))]
		if r.IntN(20) == 0 {
			dept = "" // not routed yet
		}
		c := newCase(fmt.Sprintf("CB-%05d", i), "svc", dept, now.Add(-time.Duration(1+r.IntN(20*24))*time.Hour))
		if dept != "" && r.IntN(2) == 0 {
			c.Team = []string{"north", "south"}[r.IntN(2)]
		}
		if r.IntN(4) == 0 {
			c.Assignee = []string{"amy", "bob"}[r.IntN(2)]
		}
		switch due := c.ReceivedAt.Add(time.Duration(r.IntN(30*24)) * time.Hour); r.IntN(6) {
		case 0: // no promise
		case 1:
			promise(c, time.Time{}, due)
		default:
			promise(c, due.Add(-time.Duration(r.IntN(72))*time.Hour), due)
		}
		if c.Promise != nil && r.IntN(4) == 0 {
			c.Promise.Escalations = []cases.Escalation{{Seq: 1, Level: "warn"}}
		}
		switch r.IntN(6) {
		case 0:
			move(c, cases.StatusFixed, c.ReceivedAt.Add(time.Duration(r.IntN(48))*time.Hour))
		case 1:
			if c.Promise != nil {
				pause(c, c.ReceivedAt.Add(time.Hour))
			} else {
				move(c, cases.StatusWaitingOnCitizen, c.ReceivedAt.Add(time.Hour))
			}
		case 2:
			move(c, cases.StatusInProgress, c.ReceivedAt.Add(time.Hour))
		}
		all = append(all, c)
	}
	project(t, s, all...)

	for _, sc := range []Scope{
		{Departments: []string{"waste"}, Teams: []string{"highways/north", "parks/south"}, Assignee: "amy"},
		{Departments: []string{"waste", "parks"}, Assignee: "bob"},
		{Teams: []string{"lighting/north"}, Assignee: "amy"},
		{Departments: []string{"highways"}},
	} {
		var want Figures
		// The rows the dashboard gives the scope's departments.
		dash, err := s.Dashboard(ctx, now, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		today, week := dash.Today, dash.WeekStart
		wantDays := emptyDays(today)
		for _, c := range all {
			in := slices.Contains(sc.Departments, c.Department) || (sc.Assignee != "" && c.Assignee == sc.Assignee) ||
				(c.Team != "" && slices.Contains(sc.Teams, c.Department+"/"+c.Team))
			if !in {
				continue
			}
			for i, d := range wantDays {
				if !c.ReceivedAt.Before(d.Day) && c.ReceivedAt.Before(d.Day.AddDate(0, 0, 1)) {
					wantDays[i].Opened++
				}
				if c.ClosedAt != nil && !c.ClosedAt.Before(d.Day) && c.ClosedAt.Before(d.Day.AddDate(0, 0, 1)) {
					wantDays[i].Closed++
				}
			}
			if !c.ReceivedAt.Before(today) && !c.ReceivedAt.After(now) {
				want.OpenedToday++
			}
			if !c.ReceivedAt.Before(week) && !c.ReceivedAt.After(now) {
				want.OpenedWeek++
			}
			if c.ClosedAt != nil && !c.ClosedAt.Before(today) && !c.ClosedAt.After(now) {
				want.ClosedToday++
			}
			if c.ClosedAt != nil && !c.ClosedAt.Before(week) && !c.ClosedAt.After(now) {
				want.ClosedWeek++
			}
			if c.Status.Closed() {
				continue
			}
			want.Open++
			if c.Promise != nil && len(c.Promise.Escalations) > 0 {
				want.Escalated++
			}
			if want.Oldest == nil || c.ReceivedAt.Before(want.Oldest.ReceivedAt) {
				want.Oldest = &Oldest{Ref: c.Ref, ReceivedAt: c.ReceivedAt}
			}
			switch {
			case c.Department == "":
			case clockPaused(c):
				want.Paused++
			case c.DueAt.IsZero():
			case c.DueAt.Before(now):
				want.Breached++
			case amberAt(c).Before(now):
				want.DueSoon++
			}
		}
		got, days, err := s.ScopeFigures(ctx, dash.Departments, sc, now, today, week)
		if err != nil {
			t.Fatal(err)
		}
		// Compliance is a supervisor's, over their departments: their rows'.
		if len(sc.Teams) == 0 && sc.Assignee == "" {
			var rows Tally
			for _, r := range dash.Departments {
				if slices.Contains(sc.Departments, r.Department) {
					rows = rows.Add(r.Compliance)
				}
			}
			if got.Compliance != rows || rows.Resolved == 0 {
				t.Errorf("%+v: compliance %+v, want the rows' %+v", sc, got.Compliance, rows)
			}
			got.Compliance = Tally{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\n got  %+v %+v\n want %+v %+v", sc, got, got.Oldest, want, want.Oldest)
		}
		if !reflect.DeepEqual(days, wantDays) {
			t.Errorf("%+v: days\n got  %+v\n want %+v", sc, days, wantDays)
		}
		if want.Breached == 0 || want.DueSoon == 0 || want.Paused == 0 || want.Escalated == 0 || want.OpenedToday == 0 || want.ClosedWeek == 0 {
			t.Errorf("%+v: the fixture judges %+v: too thin to tell", sc, want)
		}
	}
}
