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
