package readmodel

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

// benchCases is how many cases the list benchmarks store: 10,000, or
// CB_BENCH_CASES (100000 for the figures at a large council's scale).
var benchCases = func() int {
	if n, err := strconv.Atoi(os.Getenv("CB_BENCH_CASES")); err == nil && n > 0 {
		return n
	}
	return 10_000
}()

// seedBench stores benchCases cases received over 90 days: 20 services, 8
// departments, about a third closed, most with a due time and a point around
// London, each with a few public updates.
func seedBench(b *testing.B) (*Store, []*cases.Case) {
	b.Helper()
	s, rdb := newStore(b)
	before := usedMemory(b, rdb)
	defer func() { b.Logf("Redis memory per case: %d bytes", (usedMemory(b, rdb)-before)/int64(benchCases)) }()
	r := rand.New(rand.NewPCG(1, 2))
	words := rand.New(rand.NewPCG(5, 6)) // apart, so the other draws stay as they were
	start := t0.Add(-90 * 24 * time.Hour)
	all := make([]*cases.Case, benchCases)
	for i := range all {
		received := start.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
		c := place(newCase(fmt.Sprintf("CB-%06d", i), fmt.Sprintf("svc%02d", r.IntN(20)), fmt.Sprintf("dept%d", r.IntN(8)), received),
			51.3+r.Float64()*0.4, -0.5+r.Float64()*0.7)
		if r.IntN(5) > 0 {
			c.DueAt = received.Add(time.Duration(r.IntN(20*24)) * time.Hour)
		}
		dress(c, words)
		move(c, cases.StatusInvestigating, received.Add(time.Hour))
		if r.IntN(3) == 0 {
			move(c, cases.StatusFixed, received.Add(48*time.Hour))
		}
		all[i] = c
	}
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

// dress gives a bench case what search and the filters read: a description
// of a dozen words, an address on one of 400 streets, a reporter from 500
// names, a source, one case in four assigned, one open case in ten escalated.
func dress(c *cases.Case, r *rand.Rand) {
	vocab := []string{"pothole", "deep", "road", "pavement", "cracked", "drain", "blocked", "flooding", "lamp", "out",
		"flickering", "graffiti", "wall", "bins", "overflowing", "fly", "tipping", "mattress", "tree", "fallen",
		"branch", "sign", "damaged", "bollard", "bent", "dog", "fouling", "leaves", "ice", "gritting", "broken", "glass",
		"bench", "park", "railings", "rusty", "weeds", "bus", "shelter", "smashed", "noise", "night", "van", "parked",
		"abandoned", "car", "kerb", "loose", "manhole", "cover"}
	var d []string
	for range 8 + r.IntN(8) {
		d = append(d, vocab[r.IntN(len(vocab))])
	}
	rep := &c.Reports[0]
	rep.Description = strings.Join(d, " ")
	kinds := []string{"Street", "Road", "Lane", "Avenue", "Close", "Way", "Gardens", "Grove"}
	rep.Location.Address = fmt.Sprintf("%d %s %s", 1+r.IntN(200), fmt.Sprintf("Street%02d", r.IntN(50)), kinds[r.IntN(len(kinds))])
	if r.IntN(10) == 0 {
		rep.Location.Address = fmt.Sprintf("%d High Street", 1+r.IntN(200))
	}
	rep.Reporter.FirstName, rep.Reporter.LastName = fmt.Sprintf("First%02d", r.IntN(25)), fmt.Sprintf("Family%02d", r.IntN(20))
	rep.Source = []cases.Source{cases.SourceFixMyStreet, cases.SourceFixMyStreet, cases.SourcePhone, cases.SourceWeb}[r.IntN(4)]
	if r.IntN(4) == 0 {
		c.Assignee = []string{"amy", "bob", "carol", "dev", "roads-team"}[r.IntN(5)]
	}
	if r.IntN(10) == 0 {
		c.Promise = &cases.Promise{Policy: "standard", Version: 1, Escalations: []cases.Escalation{{Seq: 1, Level: "warn"}}}
	}
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

// reportPercentiles adds the p50 and p99 of the iterations' times, in ms.
func reportPercentiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
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
		{"queue-default", ListQuery{Family: "open", Sort: SortDue, Limit: 25}},                                  // the console's first page
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
			var total int64
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				page, err := s.List(ctx, bc.q)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
				total = page.Total
			}
			b.ReportMetric(float64(total), "matches")
			reportPercentiles(b, took)
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
	var took []time.Duration
	var open int64
	for b.Loop() {
		start := time.Now()
		d, err := s.Dashboard(ctx, t0, time.UTC)
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		open = d.Overall.Open
	}
	b.ReportMetric(float64(open), "open")
	reportPercentiles(b, took)
}
