package readmodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// expectDashboard works the figures out case by case, the slow way.
func expectDashboard(all []*cases.Case, now time.Time, loc *time.Location) (Figures, map[string]Figures, []Day) {
	l := now.In(loc)
	today := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	week := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	month := now.AddDate(0, 0, -30)
	in := func(t, from time.Time) bool { return !t.Before(from) && !t.After(now) }
	overall, per := Figures{}, map[string]Figures{}
	days := make([]Day, DashboardDays)
	for i := range days {
		days[i].Day = today.AddDate(0, 0, i-DashboardDays+1)
	}
	add := func(f *Figures, c *cases.Case) {
		if !c.Status.Closed() {
			f.Open++
			switch st := c.State(now); {
			case c.Department == "": // nobody's to be late on until routed
			case st == "due_soon":
				f.DueSoon++
			case st == "breached":
				f.Breached++
			case st == "paused":
				f.Paused++
			}
			if c.Promise != nil && len(c.Promise.Escalations) > 0 {
				f.Escalated++
			}
			if f.Oldest == nil || c.ReceivedAt.Before(f.Oldest.ReceivedAt) || (c.ReceivedAt.Equal(f.Oldest.ReceivedAt) && c.Ref < f.Oldest.Ref) {
				f.Oldest = &Oldest{Ref: c.Ref, ReceivedAt: c.ReceivedAt.Truncate(time.Microsecond)}
			}
		}
		if in(c.ReceivedAt, today) {
			f.OpenedToday++
		}
		if in(c.ReceivedAt, week) {
			f.OpenedWeek++
		}
		if c.Status.Closed() && c.ClosedAt != nil {
			at := *c.ClosedAt
			if in(at, today) {
				f.ClosedToday++
			}
			if in(at, week) {
				f.ClosedWeek++
			}
			if in(at, month) {
				f.Compliance.Resolved++
				switch outcomeOf(c) {
				case cases.OutcomeMet:
					f.Compliance.Met++
				case cases.OutcomeMissed:
					f.Compliance.Missed++
				}
			}
		}
	}
	for _, c := range all {
		add(&overall, c)
		if c.Department != "" {
			f := per[c.Department]
			f.Department = c.Department
			add(&f, c)
			per[c.Department] = f
		}
		for i := range days {
			next := days[i].Day.AddDate(0, 0, 1)
			if !c.ReceivedAt.Before(days[i].Day) && c.ReceivedAt.Before(next) {
				days[i].Opened++
			}
			if c.Status.Closed() && c.ClosedAt != nil && !c.ClosedAt.Before(days[i].Day) && c.ClosedAt.Before(next) {
				days[i].Closed++
			}
		}
	}
	// Open and received counts include cases not yet routed; the SLA
	// standing, like the board's, only routed ones.
	return overall, per, days
}

func TestDashboardAgreesWithTheCases(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(5 * time.Hour) // Monday 2 March, 14:00
	r := rand.New(rand.NewPCG(7, 8))
	var all []*cases.Case
	for i := range 400 {
		received := now.Add(-time.Duration(r.Int64N(int64(40 * 24 * time.Hour))))
		dept := fmt.Sprintf("dept%d", r.IntN(3))
		if i%25 == 0 {
			dept = "" // not routed yet
		}
		c := newCase(fmt.Sprintf("CB-%04d", i), fmt.Sprintf("svc%d", r.IntN(4)), dept, received)
		due := received.Add(time.Duration(1+r.IntN(15*24)) * time.Hour)
		promise(c, due.Add(-24*time.Hour), due)
		switch n := r.IntN(10); {
		case n < 4 && dept != "":
			closed := received.Add(time.Duration(r.Int64N(int64(now.Sub(received)))))
			resolve(c, []string{cases.OutcomeMet, cases.OutcomeMissed, ""}[r.IntN(3)], closed)
		case n == 4 && dept != "":
			pause(c, received.Add(time.Minute))
		case n == 5:
			c.Promise.Escalations = []cases.Escalation{{Seq: 1, Level: "reminder", Due: due, At: due}}
		}
		all = append(all, c)
	}
	project(t, s, all...)

	d, err := s.Dashboard(ctx, now, loc)
	if err != nil {
		t.Fatal(err)
	}
	overall, per, days := expectDashboard(all, now, loc)
	if !reflect.DeepEqual(d.Overall, overall) {
		t.Errorf("overall:\n got %+v\nwant %+v", d.Overall, overall)
	}
	if len(d.Departments) != len(per) {
		t.Errorf("%d departments, want %d", len(d.Departments), len(per))
	}
	for _, f := range d.Departments {
		if want := per[f.Department]; !reflect.DeepEqual(f, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", f.Department, f, want)
		}
	}
	if !reflect.DeepEqual(d.Days, days) {
		t.Errorf("days:\n got %+v\nwant %+v", d.Days, days)
	}
	if d.Overall.OpenedToday == 0 || d.Overall.ClosedWeek == 0 || d.Overall.Escalated == 0 || d.Overall.Breached == 0 {
		t.Errorf("the fixture does not exercise every figure: %+v", d.Overall)
	}

	// A case closing moves the figures: one fewer open, one more closed today.
	c := all[1]
	for c.Status.Closed() || c.Department == "" {
		c = all[r.IntN(len(all))]
	}
	resolve(c, cases.OutcomeMet, now.Add(-time.Minute))
	project(t, s, c)
	after, err := s.Dashboard(ctx, now, loc)
	if err != nil {
		t.Fatal(err)
	}
	if after.Overall.Open != d.Overall.Open-1 || after.Overall.ClosedToday != d.Overall.ClosedToday+1 ||
		after.Days[DashboardDays-1].Closed != d.Days[DashboardDays-1].Closed+1 {
		t.Errorf("after closing %s: open %d → %d, closed today %d → %d", c.Ref, d.Overall.Open, after.Overall.Open,
			d.Overall.ClosedToday, after.Overall.ClosedToday)
	}
}
