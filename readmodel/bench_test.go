package readmodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/readmodel/readmodeltest"
)

// benchCases is how many cases the list benchmarks store: 10,000, or
// CB_BENCH_CASES (100000 for the figures at a large council's scale).
var benchCases = func() int {
	if n, err := strconv.Atoi(os.Getenv("CB_BENCH_CASES")); err == nil && n > 0 {
		return n
	}
	return 10_000
}()

// seedBench stores benchCases cases, a council's (readmodeltest.Council)
// received over the 90 days before t0.
//
// With CB_BENCH_REDIS (host:port) it uses that Redis instead of a fresh one,
// under the prefix "bench<N>:", and stores the cases only if they are not
// there yet: a seeded Redis kept between runs saves minutes at 100,000.
func seedBench(b *testing.B) (*Store, []*cases.Case) {
	b.Helper()
	all := readmodeltest.Council(benchCases, t0)
	if addr := os.Getenv("CB_BENCH_REDIS"); addr != "" {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		b.Cleanup(func() { rdb.Close() })
		s := New(rdb, fmt.Sprintf("bench%d:", benchCases))
		if n, err := s.Count(context.Background()); err != nil || n != int64(benchCases) {
			before := usedMemory(b, rdb)
			project(b, s, all...)
			b.Logf("Redis memory per case: %d bytes", (usedMemory(b, rdb)-before)/int64(benchCases))
		}
		return s, all
	}
	s, rdb := newStore(b)
	before := usedMemory(b, rdb)
	defer func() { b.Logf("Redis memory per case: %d bytes", (usedMemory(b, rdb)-before)/int64(benchCases)) }()
	project(b, s, all...)
	return s, all
}

// usedMemory is Redis's used_memory, in bytes.
func usedMemory(b *testing.B, rdb *redis.Client) int64 {
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
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

var timeCalls = readmodeltest.TimeCalls

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
		{"dept-overdue-by-updated-newest", ListQuery{Department: "dept3", Overdue: true, Now: now, Sort: SortUpdated, Desc: true, Limit: 25}},
		{"all-by-due", ListQuery{Sort: SortDue}},                               // scan of every case
		{"queue-default", ListQuery{Family: "open", Sort: SortDue, Limit: 25}}, // the console's first page
		{"queue-page-40", ListQuery{Family: "open", Sort: SortDue, Limit: 25, Offset: 975}},
		{"open-by-updated", ListQuery{Family: "open", Sort: SortUpdated, Desc: true, Limit: 25}},
		{"svc-open-overdue-by-received", ListQuery{ServiceCode: "svc03", Family: "open", Overdue: true, Now: now, Desc: true, Limit: 25}},
		{"search-1-word", ListQuery{Search: "pothole", Family: "open", Limit: 25}},
		{"search-2-words-dept-by-due", ListQuery{Search: "pothole street", Department: "dept3", Family: "open", Sort: SortDue, Limit: 25}},
		{"search-street-overdue-by-updated", ListQuery{Search: "high street", Overdue: true, Now: now, Sort: SortUpdated, Desc: true, Limit: 25}},
		{"source-assignee-open", ListQuery{Source: cases.SourcePhone, Assignee: "amy", Family: "open", Limit: 25}},
		{"escalated-dept-by-due", ListQuery{Escalation: "any", Department: "dept3", Sort: SortDue, Limit: 25}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			timeCalls(b, "matches", func() (float64, error) {
				page, err := s.List(ctx, bc.q)
				return float64(page.Total), err
			})
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

// BenchmarkDashboard reads the dashboard's figures over benchCases cases:
// counts only, so its cost should not grow with the cases.
func BenchmarkDashboard(b *testing.B) {
	ctx := context.Background()
	s, _ := seedBench(b)
	timeCalls(b, "open", func() (float64, error) {
		d, err := s.Dashboard(ctx, t0, time.UTC)
		return float64(d.Overall.Open), err
	})
}

// BenchmarkScopeFigures is what an agent's dashboard adds to the council's
// (api: an agent's overall figures and chart): their department's rows
// summed and its chart, and their cases elsewhere counted (OutsideFigures).
// One department, a team of another and what is assigned to them ("amy",
// who holds one case in twenty of the council's, far more than a person
// does); and an agent of one department with nothing assigned elsewhere.
func BenchmarkScopeFigures(b *testing.B) {
	ctx := context.Background()
	s, _ := seedBench(b)
	d, err := s.Dashboard(ctx, t0, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		sc   Scope
	}{
		{"dept-team-and-amy", Scope{Departments: []string{"dept3"}, Teams: []string{"dept4/team1"}, Assignee: "amy"}},
		{"dept-only", Scope{Departments: []string{"dept3"}, Assignee: "nobody"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			timeCalls(b, "open", func() (float64, error) {
				f, _, err := s.ScopeFigures(ctx, d.Departments, bc.sc, t0, d.Today, d.WeekStart)
				return float64(f.Open), err
			})
		})
	}
}
