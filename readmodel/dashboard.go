package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// Figures are one department's (or, with Department empty, the whole
// council's) work at an instant.
type Figures struct {
	Department string `json:"department,omitempty"`
	Open       int64  `json:"open"`
	DueSoon    int64  `json:"due_soon"`
	Breached   int64  `json:"breached"`
	Paused     int64  `json:"paused"`
	// Escalated counts open cases with at least one escalation fired.
	Escalated   int64 `json:"escalated"`
	OpenedToday int64 `json:"opened_today"`
	OpenedWeek  int64 `json:"opened_this_week"`
	ClosedToday int64 `json:"closed_today"`
	ClosedWeek  int64 `json:"closed_this_week"`
	// Compliance is how the cases resolved in the last 30 days fared.
	Compliance Tally `json:"compliance_30d"`
	// Oldest is the open case received first; nil when none is open.
	Oldest *Oldest `json:"oldest_open,omitempty"`
}

// Oldest names the open case received first.
type Oldest struct {
	Ref        string    `json:"ref"`
	ReceivedAt time.Time `json:"received_at"`
}

// Day is one day's intake and closures, days starting at local midnight.
type Day struct {
	Day    time.Time `json:"day"`
	Opened int64     `json:"opened"`
	Closed int64     `json:"closed"`
}

// Dashboard is the supervisors' picture of the work.
type Dashboard struct {
	At          time.Time `json:"at"`
	Today       time.Time `json:"today"`     // local midnight
	WeekStart   time.Time `json:"week_from"` // Monday's local midnight
	Overall     Figures   `json:"overall"`
	Departments []Figures `json:"departments"`
	Days        []Day     `json:"days"` // oldest first, today last
}

// DashboardDays is how many days the dashboard's chart covers.
const DashboardDays = 30

// Dashboard counts the figures at now, days running midnight to midnight in
// loc. Every figure is a count of a sorted set or of a score range in one:
// no case is read but the oldest open ones.
//
// Cost: Standing, three Compliance counts, and per department (D) a handful of
// O(log N) counts; the chart is 2·DashboardDays ZCOUNTs. So
// O((D + days + G)·log N) for G compliance groups (department, service).
func (s *Store) Dashboard(ctx context.Context, now time.Time, loc *time.Location) (Dashboard, error) {
	if now.IsZero() {
		return Dashboard{}, &cases.InputError{Field: "now", Reason: "is needed"}
	}
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	week := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	d := Dashboard{At: now, Today: today, WeekStart: week}

	standing, err := s.Standing(ctx, now)
	if err != nil {
		return Dashboard{}, err
	}
	var comp [3]Compliance
	for i, from := range []time.Time{today, week, now.AddDate(0, 0, -30)} {
		if comp[i], err = s.Compliance(ctx, from, now); err != nil {
			return Dashboard{}, err
		}
	}
	depts := make([]string, len(standing))
	for i, st := range standing {
		depts[i] = st.Department
	}
	for dept := range comp[2].ByDepartment() {
		if !slices.Contains(depts, dept) && dept != "" {
			depts = append(depts, dept)
		}
	}
	slices.Sort(depts)

	type counts struct {
		open, escalated, today, week *redis.IntCmd
		oldest                       *redis.ZSliceCmd
	}
	nowS, todayS, weekS := maxScore(now), minScore(today), minScore(week)
	read := func(p redis.Pipeliner, open, all, escalated string) counts {
		return counts{
			open:      p.ZCard(ctx, open),
			escalated: p.ZCard(ctx, escalated),
			today:     p.ZCount(ctx, all, todayS, nowS),
			week:      p.ZCount(ctx, all, weekS, nowS),
			oldest:    p.ZRangeWithScores(ctx, open, 0, 0),
		}
	}
	var overall counts
	per := make([]counts, len(depts))
	days := make([][2]*redis.IntCmd, DashboardDays)
	// MULTI, so the figures are of one instant.
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		overall = read(p, s.familyKey("open"), s.receivedKey(), s.escalatedKey())
		for i, dept := range depts {
			per[i] = read(p, s.deptFamilyKey("open", dept), s.departmentKey(dept), s.deptEscalatedKey(dept))
		}
		for i := range days {
			from := today.AddDate(0, 0, i-DashboardDays+1)
			to := from.AddDate(0, 0, 1)
			lo, hi := minScore(from), "("+strconv.FormatInt(to.UnixMicro(), 10)
			days[i] = [2]*redis.IntCmd{p.ZCount(ctx, s.receivedKey(), lo, hi), p.ZCount(ctx, s.closedKey(), lo, hi)}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Dashboard{}, fmt.Errorf("read model: dashboard: %w", err)
	}
	fill := func(f *Figures, c counts) {
		f.Open, f.Escalated, f.OpenedToday, f.OpenedWeek = c.open.Val(), c.escalated.Val(), c.today.Val(), c.week.Val()
		if z := c.oldest.Val(); len(z) == 1 {
			f.Oldest = &Oldest{Ref: z[0].Member.(string), ReceivedAt: time.UnixMicro(int64(z[0].Score)).UTC()}
		}
	}
	fill(&d.Overall, overall)
	byToday, byWeek, by30 := comp[0].ByDepartment(), comp[1].ByDepartment(), comp[2].ByDepartment()
	d.Overall.ClosedToday, d.Overall.ClosedWeek = comp[0].Total().Resolved, comp[1].Total().Resolved
	d.Overall.Compliance = comp[2].Total()
	for i, dept := range depts {
		f := Figures{Department: dept, ClosedToday: byToday[dept].Resolved, ClosedWeek: byWeek[dept].Resolved, Compliance: by30[dept]}
		fill(&f, per[i])
		if j := slices.IndexFunc(standing, func(st DepartmentStanding) bool { return st.Department == dept }); j >= 0 {
			f.DueSoon, f.Breached, f.Paused = standing[j].DueSoon, standing[j].Breached, standing[j].Paused
		}
		d.Overall.DueSoon += f.DueSoon
		d.Overall.Breached += f.Breached
		d.Overall.Paused += f.Paused
		d.Departments = append(d.Departments, f)
	}
	for i, c := range days {
		d.Days = append(d.Days, Day{Day: today.AddDate(0, 0, i-DashboardDays+1), Opened: c[0].Val(), Closed: c[1].Val()})
	}
	return d, nil
}
