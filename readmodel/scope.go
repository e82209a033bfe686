package readmodel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// scopeGenKey counts the projections that moved a case into or out of a
// department, team or assignee's set: the generation of every scope's union.
func (s *Store) scopeGenKey() string { return s.ns + "scope:gen" }

// scopeSets names the sets a scope can be made of that c is in, as one
// string: a projection that changes it moves the scope generation on.
func (s *Store) scopeSets(c *cases.Case) string {
	var keys []string
	if c.Department != "" {
		keys = append(keys, s.departmentKey(c.Department))
		if c.Team != "" {
			keys = append(keys, s.teamKey(c.Department+"/"+c.Team))
		}
	}
	if c.Assignee != "" {
		keys = append(keys, s.assigneeKey(c.Assignee))
	}
	return strings.Join(keys, "\n")
}

// teamKey is a team's cases ("department/team"), so that an agent's team's
// cases outside their own departments are listed too.
func (s *Store) teamKey(team string) string { return s.ns + "idx:team:" + team }

// Departments keeps the compliance groups of the given departments only.
func (c Compliance) Departments(depts []string) Compliance {
	c.Groups = slices.DeleteFunc(slices.Clone(c.Groups), func(g ComplianceGroup) bool { return !slices.Contains(depts, g.Department) })
	return c
}

// DepartmentDays is the dashboard's chart for some departments only: cases
// received and resolved each day of the DashboardDays up to today (local
// midnight), counted in the departments' own indexes. Cost: per day, one
// count per department and three per (department, service) group that has
// resolved a case.
func (s *Store) DepartmentDays(ctx context.Context, today time.Time, depts []string) ([]Day, error) {
	groups, err := s.rdb.SMembers(ctx, s.groupsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read model: days: %w", err)
	}
	var resolved []string
	for _, g := range groups {
		if d, _, err := parseGroup(g); err == nil && slices.Contains(depts, d) {
			for _, o := range outcomes {
				resolved = append(resolved, s.resolvedKey(o, g))
			}
		}
	}
	type day struct{ opened, closed []*redis.IntCmd }
	days := make([]day, DashboardDays)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := range days {
			from := today.AddDate(0, 0, i-DashboardDays+1)
			lo, hi := minScore(from), "("+strconv.FormatInt(from.AddDate(0, 0, 1).UnixMicro(), 10)
			for _, d := range depts {
				days[i].opened = append(days[i].opened, p.ZCount(ctx, s.departmentKey(d), lo, hi))
			}
			for _, k := range resolved {
				days[i].closed = append(days[i].closed, p.ZCount(ctx, k, lo, hi))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read model: days: %w", err)
	}
	sum := func(cmds []*redis.IntCmd) (n int64) {
		for _, c := range cmds {
			n += c.Val()
		}
		return n
	}
	out := make([]Day, len(days))
	for i, d := range days {
		out[i] = Day{Day: today.AddDate(0, 0, i-DashboardDays+1), Opened: sum(d.opened), Closed: sum(d.closed)}
	}
	return out, nil
}

// ScopeFigures is the dashboard's overall figures and chart for a scope,
// given the Dashboard rows of its departments: a supervisor's (Departments
// alone) are those rows summed, compliance included, and the chart counted
// in the departments' indexes (DepartmentDays); an agent's (with Teams or
// Assignee) add the cases outside the departments (OutsideFigures), and have
// no compliance. The departments' figures are never counted twice: the rows
// are Dashboard's own.
func (s *Store) ScopeFigures(ctx context.Context, rows []Figures, sc Scope, now, today, week time.Time) (Figures, []Day, error) {
	var f Figures
	for _, r := range rows {
		if slices.Contains(sc.Departments, r.Department) {
			f = f.Add(r)
		}
	}
	f.Department = ""
	days, err := s.DepartmentDays(ctx, today, sc.Departments)
	if err != nil || (len(sc.Teams) == 0 && sc.Assignee == "") {
		return f, days, err
	}
	out, outDays, err := s.OutsideFigures(ctx, sc, now, today, week)
	if err != nil {
		return Figures{}, nil, err
	}
	f.Compliance = Tally{}
	for i := range days {
		days[i].Opened += outDays[i].Opened
		days[i].Closed += outDays[i].Closed
	}
	return f.Add(out), days, nil
}

// Add is f and o together: the counts summed, the older oldest case.
func (f Figures) Add(o Figures) Figures {
	f.Open += o.Open
	f.DueSoon += o.DueSoon
	f.Breached += o.Breached
	f.Paused += o.Paused
	f.Escalated += o.Escalated
	f.OpenedToday += o.OpenedToday
	f.OpenedWeek += o.OpenedWeek
	f.ClosedToday += o.ClosedToday
	f.ClosedWeek += o.ClosedWeek
	f.Compliance = f.Compliance.Add(o.Compliance)
	if o.Oldest != nil && (f.Oldest == nil || o.Oldest.ReceivedAt.Before(f.Oldest.ReceivedAt) ||
		(o.Oldest.ReceivedAt.Equal(f.Oldest.ReceivedAt) && o.Oldest.Ref < f.Oldest.Ref)) {
		f.Oldest = o.Oldest
	}
	return f
}

// older returns the older of o and the case of z (a ZRANGE WITHSCORES reply
// of at most one case scored by received time).
func older(o *Oldest, z []redis.Z) *Oldest {
	if len(z) != 1 {
		return o
	}
	return Figures{Oldest: o}.Add(Figures{Oldest: &Oldest{Ref: z[0].Member.(string), ReceivedAt: time.UnixMicro(int64(z[0].Score)).UTC()}}).Oldest
}

// OutsideFigures is the dashboard of a scope's cases outside its
// departments (an agent's teams' in other departments, those assigned to them
// elsewhere): the figures at now and the chart of the DashboardDays up to
// today, days starting at local midnight; no compliance. With the rows of its
// departments (Dashboard) and their chart (DepartmentDays) it makes one
// person's whole work. The cases are gathered into one working set (the only
// one built, so the cost grows with those cases only) and counted in its
// intersections with the open, closed and escalated indexes; due soon,
// breached and paused in the other departments' SLA indexes
// (scopeSLAScript), as Standing counts them. No case's snapshot is read.
func (s *Store) OutsideFigures(ctx context.Context, sc Scope, now, today, week time.Time) (f Figures, days []Day, err error) {
	var others []string
	for _, t := range sc.Teams {
		others = append(others, s.teamKey(t))
	}
	if sc.Assignee != "" {
		others = append(others, s.assigneeKey(sc.Assignee))
	}
	days = emptyDays(today)
	if len(others) == 0 {
		return Figures{}, days, nil
	}
	var depts []string
	for _, d := range sc.Departments {
		depts = append(depts, s.departmentKey(d))
	}
	// Working sets of its own, named by the scope.
	sum := sha256.Sum256([]byte(strings.Join(append(append([]string{sc.Assignee}, sc.Teams...), sc.Departments...), "\x00")))
	tmp := s.ns + "tmp:figures:" + hex.EncodeToString(sum[:8])
	extra, open, closed := tmp+":extra", tmp+":open", tmp+":closed"
	nowS, before := maxScore(now), strconv.FormatInt(now.UnixMicro()-1, 10)
	var card, escalated, openedToday, openedWeek, closedToday, closedWeek *redis.IntCmd
	var first *redis.ZSliceCmd
	var known *redis.StringSliceCmd
	perDay := make([][2]*redis.IntCmd, DashboardDays)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZUnionStore(ctx, extra, &redis.ZStore{Keys: others, Aggregate: "MAX"})
		if len(depts) > 0 {
			p.ZDiffStore(ctx, extra, append([]string{extra}, depts...)...)
		}
		p.ZInterStore(ctx, open, &redis.ZStore{Keys: []string{extra, s.familyKey("open")}, Weights: []float64{1, 0}})
		// Closed cases scored by when they closed, to count closures by day.
		p.ZInterStore(ctx, closed, &redis.ZStore{Keys: []string{extra, s.closedKey()}, Weights: []float64{0, 1}})
		card = p.ZCard(ctx, open)
		escalated = p.ZInterCard(ctx, 0, open, s.escalatedKey())
		openedToday = p.ZCount(ctx, extra, minScore(today), nowS)
		openedWeek = p.ZCount(ctx, extra, minScore(week), nowS)
		closedToday = p.ZCount(ctx, closed, minScore(today), nowS)
		closedWeek = p.ZCount(ctx, closed, minScore(week), nowS)
		first = p.ZRangeWithScores(ctx, open, 0, 0)
		for i := range perDay {
			from := today.AddDate(0, 0, i-DashboardDays+1)
			lo, hi := minScore(from), "("+strconv.FormatInt(from.AddDate(0, 0, 1).UnixMicro(), 10)
			perDay[i] = [2]*redis.IntCmd{p.ZCount(ctx, extra, lo, hi), p.ZCount(ctx, closed, lo, hi)}
		}
		known = p.SMembers(ctx, s.deptsKey())
		for _, k := range []string{extra, open, closed} {
			p.Expire(ctx, k, 10*time.Second)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Figures{}, nil, fmt.Errorf("read model: scope figures: %w", err)
	}
	f = Figures{Open: card.Val(), Escalated: escalated.Val(), OpenedToday: openedToday.Val(), OpenedWeek: openedWeek.Val(),
		ClosedToday: closedToday.Val(), ClosedWeek: closedWeek.Val(), Oldest: older(nil, first.Val())}
	for i, c := range perDay {
		days[i].Opened, days[i].Closed = c[0].Val(), c[1].Val()
	}
	// They are in other departments' SLA indexes (an unrouted case is in
	// none: nobody's to be late on).
	keys := []string{open, tmp + ":sla"}
	for _, d := range known.Val() {
		if !slices.Contains(sc.Departments, d) {
			keys = append(keys, s.clockKey(d), s.soonKey(d), s.pausedKey(d))
		}
	}
	counts, err := scopeSLAScript.Run(ctx, s.rdb, keys, before).Int64Slice()
	if err != nil {
		return Figures{}, nil, fmt.Errorf("read model: scope figures: %w", err)
	}
	f.DueSoon, f.Breached, f.Paused = counts[1]-counts[0], counts[0], counts[2]
	return f, days, nil
}

// scopeSLAScript counts the cases of KEYS[1] breached, past their amber time
// (breached included) and paused at ARGV[1] (the highest score before now),
// in the SLA indexes of the departments that follow, three keys each: clock,
// soon, paused. KEYS[2] is a working set, deleted before it returns. Each
// intersection iterates the smaller of the two sets; a department's clock
// and soon sets hold the same cases, so one with none of them in its clock
// is not asked about soon. Returns late, amber, paused.
var scopeSLAScript = redis.NewScript(`
local late, amber, paused = 0, 0, 0
if redis.call('ZCARD', KEYS[1]) > 0 then
  for i = 3, #KEYS, 3 do
    if redis.call('ZINTERSTORE', KEYS[2], 2, KEYS[1], KEYS[i], 'WEIGHTS', 0, 1) > 0 then
      late = late + redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1])
      redis.call('ZINTERSTORE', KEYS[2], 2, KEYS[1], KEYS[i + 1], 'WEIGHTS', 0, 1)
      amber = amber + redis.call('ZCOUNT', KEYS[2], '-inf', ARGV[1])
    end
    paused = paused + redis.call('ZINTERCARD', 2, KEYS[1], KEYS[i + 2])
  end
  redis.call('UNLINK', KEYS[2])
end
return {late, amber, paused}
`)

func emptyDays(today time.Time) []Day {
	days := make([]Day, DashboardDays)
	for i := range days {
		days[i].Day = today.AddDate(0, 0, i-DashboardDays+1)
	}
	return days
}
