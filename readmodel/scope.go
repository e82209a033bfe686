package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

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
