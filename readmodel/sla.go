package readmodel

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// The supervisors' SLA figures are counted, never computed case by case: the
// projection files each case into small sorted sets whose counts at a given
// score are the answer (see Standing and Compliance for the cost).

func (s *Store) clockKey(dept string) string  { return s.ns + "sla:clock:" + dept }
func (s *Store) soonKey(dept string) string   { return s.ns + "sla:soon:" + dept }
func (s *Store) pausedKey(dept string) string { return s.ns + "sla:paused:" + dept }
func (s *Store) deptsKey() string             { return s.ns + "sla:depts" }
func (s *Store) groupsKey() string            { return s.ns + "sla:groups" }
func (s *Store) resolvedKey(outcome, group string) string {
	return s.ns + "sla:resolved:" + outcome + ":" + group
}

// outcomes are the resolved sets of a group: a case resolved with no promise
// (or none judged) is still resolved, under "none".
var outcomes = []string{cases.OutcomeMet, cases.OutcomeMissed, outcomeNone}

const outcomeNone = "none"

// group names a (department, service) pair in key names and in the groups
// set. The department is escaped so that a ':' in it cannot make two pairs
// share a key; the service, last, needs no escaping.
func group(dept, code string) string { return url.QueryEscape(dept) + ":" + code }

func parseGroup(g string) (dept, code string, err error) {
	d, code, ok := strings.Cut(g, ":")
	if ok {
		dept, err = url.QueryUnescape(d)
	}
	if !ok || err != nil {
		return "", "", fmt.Errorf("read model: bad SLA group %q", g)
	}
	return dept, code, nil
}

// clockPaused reports whether the case's SLA clocks are stopped. The status
// says so even before the workflow has written a promise.
func clockPaused(c *cases.Case) bool {
	return c.Status.Paused() || (c.Promise != nil && c.Promise.Paused)
}

// amberAt is when an open case stops being on track: its DueSoonAt, or its
// DueAt if that is earlier or there is no DueSoonAt. Counting these below now,
// less those already breached, gives the due-soon count.
func amberAt(c *cases.Case) time.Time {
	if c.Promise == nil || c.Promise.DueSoonAt.IsZero() || c.Promise.DueSoonAt.After(c.DueAt) {
		return c.DueAt
	}
	return c.Promise.DueSoonAt
}

func outcomeOf(c *cases.Case) string {
	if c.Promise != nil && (c.Promise.Outcome == cases.OutcomeMet || c.Promise.Outcome == cases.OutcomeMissed) {
		return c.Promise.Outcome
	}
	return outcomeNone
}

// indexSLA names the SLA sets c belongs in (index) and the registries that
// list the sets' departments and groups (register). A closed case leaves the
// open-case sets, and a reopened one its resolved set, through Project's usual
// removal of the sets a case is no longer in.
func (s *Store) indexSLA(c *cases.Case, index func(key string, t time.Time), register func(key, member string)) {
	if c.Status.Closed() {
		if c.ClosedAt != nil {
			g := group(c.Department, c.Service.Code)
			index(s.resolvedKey(outcomeOf(c), g), *c.ClosedAt)
			register(s.groupsKey(), g)
		}
		return
	}
	if c.Department == "" {
		return // not routed yet: it is nobody's to be late on
	}
	register(s.deptsKey(), c.Department)
	switch {
	case clockPaused(c):
		index(s.pausedKey(c.Department), c.ReceivedAt)
	case !c.DueAt.IsZero():
		index(s.clockKey(c.Department), c.DueAt)
		index(s.soonKey(c.Department), amberAt(c))
	}
}

// DepartmentStanding is how a department's open cases stand against their
// promises at one instant, as Case.State judges each case.
type DepartmentStanding struct {
	Department string
	OnTrack    int64 // due later, not yet due soon
	DueSoon    int64 // past DueSoonAt, not past DueAt
	Breached   int64 // past DueAt
	Paused     int64 // waiting on the citizen or a partner, with or without a due time
}

// Standing counts, per department, the open cases on track, due soon and
// breached at now (to the microsecond: breached means DueAt < now, due soon
// DueSoonAt < now ≤ DueAt), and those whose clocks are paused. Open cases
// without a due time count in none of these. Every department that has had an
// open case is listed, in code order, even when all its counts are zero.
//
// Cost: one SMEMBERS and one MULTI of four O(log N) counts per department, so
// O(D·log N) for D departments, however many cases there are.
func (s *Store) Standing(ctx context.Context, now time.Time) ([]DepartmentStanding, error) {
	if now.IsZero() {
		return nil, &cases.InputError{Field: "now", Reason: "is needed to tell due from overdue"}
	}
	depts, err := s.rdb.SMembers(ctx, s.deptsKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read model: standing: %w", err)
	}
	slices.Sort(depts)
	before := strconv.FormatInt(now.UnixMicro()-1, 10) // scores are floored µs: ≤ now-1 is < now
	type counts struct{ timed, late, amber, paused *redis.IntCmd }
	cmds := make([]counts, len(depts))
	if len(depts) > 0 {
		// MULTI, so that a projection landing half-way cannot make a
		// difference below negative.
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			for i, d := range depts {
				cmds[i] = counts{
					timed:  p.ZCard(ctx, s.clockKey(d)),
					late:   p.ZCount(ctx, s.clockKey(d), "-inf", before),
					amber:  p.ZCount(ctx, s.soonKey(d), "-inf", before),
					paused: p.ZCard(ctx, s.pausedKey(d)),
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read model: standing: %w", err)
		}
	}
	out := make([]DepartmentStanding, len(depts))
	for i, d := range depts {
		c := cmds[i]
		out[i] = DepartmentStanding{
			Department: d,
			OnTrack:    c.timed.Val() - c.amber.Val(),
			DueSoon:    c.amber.Val() - c.late.Val(),
			Breached:   c.late.Val(),
			Paused:     c.paused.Val(),
		}
	}
	return out, nil
}

// Tally counts resolved cases by how they ended against their promise.
type Tally struct {
	Resolved int64 // all resolved cases, including those that had no promise
	Met      int64
	Missed   int64
}

// Add returns the sum of two tallies.
func (t Tally) Add(u Tally) Tally {
	return Tally{Resolved: t.Resolved + u.Resolved, Met: t.Met + u.Met, Missed: t.Missed + u.Missed}
}

// PercentMet is Met as a percentage of the cases that had a promise to keep
// (Met + Missed); ok is false when there were none.
func (t Tally) PercentMet() (pct float64, ok bool) {
	judged := t.Met + t.Missed
	if judged == 0 {
		return 0, false
	}
	return 100 * float64(t.Met) / float64(judged), true
}

// ComplianceGroup is the tally of one service within one department.
type ComplianceGroup struct {
	Department  string
	ServiceCode string
	Tally
}

// Compliance is how the cases resolved in [From, To] fared against their
// promises, per department and service.
type Compliance struct {
	From, To time.Time
	// Groups are in department, then service order; a pair with no case
	// resolved in the range is left out.
	Groups []ComplianceGroup
}

// Total sums every group.
func (c Compliance) Total() Tally {
	var t Tally
	for _, g := range c.Groups {
		t = t.Add(g.Tally)
	}
	return t
}

// ByDepartment sums the groups of each department.
func (c Compliance) ByDepartment() map[string]Tally {
	return c.sum(func(g ComplianceGroup) string { return g.Department })
}

// ByService sums the groups of each service code, across departments.
func (c Compliance) ByService() map[string]Tally {
	return c.sum(func(g ComplianceGroup) string { return g.ServiceCode })
}

func (c Compliance) sum(by func(ComplianceGroup) string) map[string]Tally {
	out := map[string]Tally{}
	for _, g := range c.Groups {
		out[by(g)] = out[by(g)].Add(g.Tally)
	}
	return out
}

// Compliance counts the cases resolved (by ClosedAt, to the microsecond) in
// [from, to], per department and service, and how many of them met and missed
// their promise (Promise.Outcome, judged by the workflow on the citizen's
// clock). A case counts under the department and service it had when it was
// resolved; a reopened case counts again only once it is resolved again.
//
// Cost: one SMEMBERS and one MULTI of three O(log N) ZCOUNTs per (department,
// service) pair that has ever had a resolved case, so O(G·log N) for G pairs,
// whatever the range holds: no case is read.
func (s *Store) Compliance(ctx context.Context, from, to time.Time) (Compliance, error) {
	switch {
	case from.IsZero():
		return Compliance{}, &cases.InputError{Field: "from", Reason: "is needed"}
	case to.IsZero():
		return Compliance{}, &cases.InputError{Field: "to", Reason: "is needed"}
	case to.Before(from):
		return Compliance{}, &cases.InputError{Field: "to", Reason: "is before from"}
	}
	groups, err := s.rdb.SMembers(ctx, s.groupsKey()).Result()
	if err != nil {
		return Compliance{}, fmt.Errorf("read model: compliance: %w", err)
	}
	out := Compliance{From: from, To: to}
	if len(groups) == 0 {
		return out, nil
	}
	lo, hi := minScore(from), maxScore(to)
	cmds := make([][]*redis.IntCmd, len(groups))
	// MULTI: a case moving from one set to another mid-read is counted once.
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, g := range groups {
			for _, o := range outcomes {
				cmds[i] = append(cmds[i], p.ZCount(ctx, s.resolvedKey(o, g), lo, hi))
			}
		}
		return nil
	})
	if err != nil {
		return Compliance{}, fmt.Errorf("read model: compliance: %w", err)
	}
	for i, g := range groups {
		met, missed, none := cmds[i][0].Val(), cmds[i][1].Val(), cmds[i][2].Val()
		if met+missed+none == 0 {
			continue
		}
		dept, code, err := parseGroup(g)
		if err != nil {
			return Compliance{}, err
		}
		out.Groups = append(out.Groups, ComplianceGroup{Department: dept, ServiceCode: code,
			Tally: Tally{Resolved: met + missed + none, Met: met, Missed: missed}})
	}
	slices.SortFunc(out.Groups, func(a, b ComplianceGroup) int {
		return cmp.Or(strings.Compare(a.Department, b.Department), strings.Compare(a.ServiceCode, b.ServiceCode))
	})
	return out, nil
}
