package readmodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

const benchCases = 10_000

// seedBench stores benchCases cases received over 90 days: 20 services, 8
// departments, about a third closed, most with a due time and a point around
// London, each with a few public updates.
func seedBench(b *testing.B) (*Store, []*cases.Case) {
	b.Helper()
	s, _ := newStore(b)
	r := rand.New(rand.NewPCG(1, 2))
	start := t0.Add(-90 * 24 * time.Hour)
	all := make([]*cases.Case, benchCases)
	for i := range all {
		received := start.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
		c := place(newCase(fmt.Sprintf("CB-%06d", i), fmt.Sprintf("svc%02d", r.IntN(20)), fmt.Sprintf("dept%d", r.IntN(8)), received),
			51.3+r.Float64()*0.4, -0.5+r.Float64()*0.7)
		if r.IntN(5) > 0 {
			c.DueAt = received.Add(time.Duration(r.IntN(20*24)) * time.Hour)
		}
		move(c, cases.StatusInvestigating, received.Add(time.Hour))
		if r.IntN(3) == 0 {
			move(c, cases.StatusFixed, received.Add(48*time.Hour))
		}
		all[i] = c
	}
	project(b, s, all...)
	return s, all
}

func BenchmarkProject(b *testing.B) {
	ctx := context.Background()
	s, all := seedBench(b)
	b.Run("new-version", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c := all[i%len(all)]
			to := cases.StatusInProgress
			if c.Status == cases.StatusInProgress {
				to = cases.StatusInvestigating
			}
			move(c, to, c.UpdatedAt.Add(time.Minute))
			if applied, err := s.Project(ctx, c); err != nil || !applied {
				b.Fatalf("Project = %v, %v", applied, err)
			}
			i++
		}
	})
	b.Run("same-version", func(b *testing.B) {
		c := all[0]
		for b.Loop() {
			if applied, err := s.Project(ctx, c); err != nil || applied {
				b.Fatalf("Project = %v, %v", applied, err)
			}
		}
	})
}

func BenchmarkRequests(b *testing.B) {
	ctx := context.Background()
	s, _ := seedBench(b)
	for _, bc := range []struct {
		name string
		q    RequestQuery
	}{
		{"all-limit-1000", RequestQuery{}},
		{"all-limit-100", RequestQuery{Limit: 100}},
		{"2-services-open", RequestQuery{ServiceCodes: []string{"svc01", "svc02"}, Statuses: []string{"open"}}},
		{"last-day", RequestQuery{Start: t0.Add(-24 * time.Hour), End: t0}},
		{"10-ids", RequestQuery{IDs: []string{"CB-000001", "CB-000100", "CB-000200", "CB-000300", "CB-000400", "CB-000500", "CB-000600", "CB-000700", "CB-000800", "CB-000900"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				cs, err := s.Requests(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				n = len(cs)
			}
			b.ReportMetric(float64(n), "cases/op")
		})
	}
}

func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	s, _ := seedBench(b)
	now := t0
	for _, bc := range []struct {
		name string
		q    ListQuery
	}{
		{"dept-by-received", ListQuery{Department: "dept3", Desc: true}},                                        // one sorted set
		{"overdue-by-due", ListQuery{Overdue: true, Now: now, Sort: SortDue}},                                   // one sorted set
		{"dept-by-due", ListQuery{Department: "dept3", Sort: SortDue}},                                          // department due index
		{"dept-overdue-by-due", ListQuery{Department: "dept3", Overdue: true, Now: now, Sort: SortDue}},         // department due index
		{"dept-open-by-due", ListQuery{Department: "dept3", Family: "open", Sort: SortDue}},                     // scan
		{"dept-overdue-by-updated", ListQuery{Department: "dept3", Overdue: true, Now: now, Sort: SortUpdated}}, // scan
		{"all-by-due", ListQuery{Sort: SortDue}},                                                                // scan of every case
	} {
		b.Run(bc.name, func(b *testing.B) {
			var total int64
			for b.Loop() {
				page, err := s.List(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				total = page.Total
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
}

func BenchmarkUpdates(b *testing.B) {
	ctx := context.Background()
	s, _ := seedBench(b)
	// FixMyStreet's usual poll is the last two hours; the nightly mop-up 24.
	for _, window := range []time.Duration{2 * time.Hour, 24 * time.Hour} {
		b.Run(window.String(), func(b *testing.B) {
			n := 0
			for b.Loop() {
				us, err := s.Updates(ctx, t0.Add(-window), t0, 0)
				if err != nil {
					b.Fatal(err)
				}
				n = len(us)
			}
			b.ReportMetric(float64(n), "updates/op")
		})
	}
}

const slaBenchCases = 50_000

// seedSLA stores a year of a borough's cases: slaBenchCases received over the
// 365 days before t0 across 8 departments and 20 services, nine in ten
// resolved within 20 days (about 80% met, 15% missed, 5% with no promise),
// the rest open with a promise, one in twenty of those paused.
func seedSLA(b *testing.B) *Store {
	b.Helper()
	s, _ := newStore(b)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range slaBenchCases {
		received := t0.Add(-time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
		c := newCase(fmt.Sprintf("CB-%06d", i), fmt.Sprintf("svc%02d", r.IntN(20)), fmt.Sprintf("dept%d", r.IntN(8)), received)
		target := time.Duration(1+r.IntN(20*24)) * time.Hour
		c.DueAt = received.Add(target)
		c.Promise = &cases.Promise{Policy: "standard", Version: 1, DueSoonAt: received.Add(target * 3 / 4), DepartmentDueAt: c.DueAt}
		switch {
		case r.IntN(10) > 0 && received.Before(t0.Add(-time.Hour)):
			closed := received.Add(time.Duration(r.Int64N(int64(min(20*24*time.Hour, t0.Sub(received))))))
			switch n := r.IntN(20); {
			case n == 0:
				c.Promise = nil
			case n < 4:
				c.Promise.Outcome = cases.OutcomeMissed
			default:
				c.Promise.Outcome = cases.OutcomeMet
			}
			move(c, cases.StatusFixed, closed)
		case r.IntN(20) == 0:
			c.DueAt, c.Promise.DueSoonAt, c.Promise.Paused = time.Time{}, time.Time{}, true
			move(c, cases.StatusWaitingOnCitizen, received.Add(time.Minute))
		}
		project(b, s, c)
	}
	return s
}

// BenchmarkSLA measures the supervisors' figures over a year of cases: both
// read only counts, so the window's size should not matter.
func BenchmarkSLA(b *testing.B) {
	ctx := context.Background()
	s := seedSLA(b)
	b.Run("standing", func(b *testing.B) {
		var open int64
		for b.Loop() {
			ds, err := s.Standing(ctx, t0)
			if err != nil {
				b.Fatal(err)
			}
			open = 0
			for _, d := range ds {
				open += d.OnTrack + d.DueSoon + d.Breached + d.Paused
			}
		}
		b.ReportMetric(float64(open), "open")
	})
	for _, window := range []struct {
		name string
		d    time.Duration
	}{{"compliance-30d", 30 * 24 * time.Hour}, {"compliance-365d", 365 * 24 * time.Hour}} {
		b.Run(window.name, func(b *testing.B) {
			var resolved int64
			for b.Loop() {
				c, err := s.Compliance(ctx, t0.Add(-window.d), t0)
				if err != nil {
					b.Fatal(err)
				}
				resolved = c.Total().Resolved
			}
			b.ReportMetric(float64(resolved), "resolved")
		})
	}
}
