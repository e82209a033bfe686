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

// MaxScopeCases is how many of a scope's open cases outside its departments
// (its teams' elsewhere, those assigned to it elsewhere) ScopeFigures reads
// to judge their promises; every other figure is a count, whatever the
// number.
const MaxScopeCases = 2000

// ScopeFigures is the dashboard of the cases in a scope, one person's work
// (an agent's departments, teams and their own cases together): the figures
// at now and the chart of the DashboardDays up to today, days starting at
// local midnight. Every figure is a count of the scope's union with an index,
// and due soon, breached and paused of its departments are counted as
// Standing counts them; those of its open cases outside its departments are
// judged from their snapshots (the first MaxScopeCases by received time;
// capped says when there were more). Compliance is left out: the dashboard
// gives it only to supervisors, whose scope is their departments.
func (s *Store) ScopeFigures(ctx context.Context, sc Scope, now, today, week time.Time) (f Figures, days []Day, capped bool, err error) {
	key, err := s.scopeKey(ctx, sc)
	if err != nil || key == "" {
		return Figures{}, emptyDays(today), false, err
	}
	// Working sets of its own: the scope's key may be an index itself.
	sum := sha256.Sum256([]byte(key))
	tmp := s.ns + "tmp:figures:" + hex.EncodeToString(sum[:8])
	open, closed, extra := tmp+":open", tmp+":closed", tmp+":extra"
	var others []string
	for _, t := range sc.Teams {
		others = append(others, s.teamKey(t))
	}
	if sc.Assignee != "" {
		others = append(others, s.assigneeKey(sc.Assignee))
	}
	var depts []string
	for _, d := range sc.Departments {
		depts = append(depts, s.departmentKey(d))
	}
	nowS, before := maxScore(now), strconv.FormatInt(now.UnixMicro()-1, 10)
	var card, escalated, openedToday, openedWeek, closedToday, closedWeek *redis.IntCmd
	var first *redis.ZSliceCmd
	var refs *redis.StringSliceCmd
	type standing struct{ late, amber, paused *redis.IntCmd }
	per := make([]standing, len(sc.Departments))
	perDay := make([][2]*redis.IntCmd, DashboardDays)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZInterStore(ctx, open, &redis.ZStore{Keys: []string{key, s.familyKey("open")}, Weights: []float64{1, 0}})
		// Closed cases scored by when they closed, to count closures by day.
		p.ZInterStore(ctx, closed, &redis.ZStore{Keys: []string{key, s.closedKey()}, Weights: []float64{0, 1}})
		card = p.ZCard(ctx, open)
		escalated = p.ZInterCard(ctx, 0, open, s.escalatedKey())
		openedToday = p.ZCount(ctx, key, minScore(today), nowS)
		openedWeek = p.ZCount(ctx, key, minScore(week), nowS)
		closedToday = p.ZCount(ctx, closed, minScore(today), nowS)
		closedWeek = p.ZCount(ctx, closed, minScore(week), nowS)
		first = p.ZRangeWithScores(ctx, open, 0, 0)
		for i, d := range sc.Departments {
			per[i] = standing{p.ZCount(ctx, s.clockKey(d), "-inf", before), p.ZCount(ctx, s.soonKey(d), "-inf", before), p.ZCard(ctx, s.pausedKey(d))}
		}
		if len(others) > 0 {
			p.ZUnionStore(ctx, extra, &redis.ZStore{Keys: others, Aggregate: "MAX"})
			p.ZInterStore(ctx, extra, &redis.ZStore{Keys: []string{extra, open}, Weights: []float64{1, 0}})
			if len(depts) > 0 {
				p.ZDiffStore(ctx, extra, append([]string{extra}, depts...)...)
			}
			refs = p.ZRange(ctx, extra, 0, MaxScopeCases-1)
			p.Expire(ctx, extra, 10*time.Second)
		}
		p.Expire(ctx, open, 10*time.Second)
		p.Expire(ctx, closed, 10*time.Second)
		for i := range perDay {
			from := today.AddDate(0, 0, i-DashboardDays+1)
			lo, hi := minScore(from), "("+strconv.FormatInt(from.AddDate(0, 0, 1).UnixMicro(), 10)
			perDay[i] = [2]*redis.IntCmd{p.ZCount(ctx, key, lo, hi), p.ZCount(ctx, closed, lo, hi)}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Figures{}, nil, false, fmt.Errorf("read model: scope figures: %w", err)
	}
	f = Figures{Open: card.Val(), Escalated: escalated.Val(), OpenedToday: openedToday.Val(), OpenedWeek: openedWeek.Val(),
		ClosedToday: closedToday.Val(), ClosedWeek: closedWeek.Val()}
	if z := first.Val(); len(z) == 1 {
		f.Oldest = &Oldest{Ref: z[0].Member.(string), ReceivedAt: time.UnixMicro(int64(z[0].Score)).UTC()}
	}
	for i, c := range perDay {
		days = append(days, Day{Day: today.AddDate(0, 0, i-DashboardDays+1), Opened: c[0].Val(), Closed: c[1].Val()})
	}
	for _, st := range per {
		f.DueSoon += st.amber.Val() - st.late.Val()
		f.Breached += st.late.Val()
		f.Paused += st.paused.Val()
	}
	if refs == nil {
		return f, days, false, nil
	}
	list, err := s.load(ctx, refs.Val())
	if err != nil {
		return Figures{}, nil, false, err
	}
	// As Standing judges them: routed cases only; a paused clock first.
	for _, c := range list {
		switch {
		case c.Department == "" || c.Status.Closed():
		case clockPaused(c):
			f.Paused++
		case c.DueAt.IsZero():
		case c.DueAt.Before(now):
			f.Breached++
		case amberAt(c).Before(now):
			f.DueSoon++
		}
	}
	return f, days, len(refs.Val()) == MaxScopeCases, nil
}

func emptyDays(today time.Time) []Day {
	days := make([]Day, DashboardDays)
	for i := range days {
		days[i].Day = today.AddDate(0, 0, i-DashboardDays+1)
	}
	return days
}
