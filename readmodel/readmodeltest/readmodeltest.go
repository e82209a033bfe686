// Package readmodeltest makes cases for tests and benchmarks of the read
// model and of what reads it: one as intake makes it, and a council's worth
// drawn at random the same way every time.
package readmodeltest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// NewCase is an open case as intake makes it, version 1, with a point in
// central London and a reporter, so tests see personal data stored.
func NewCase(ref, code, dept string, received time.Time) *cases.Case {
	lat, long := 51.5007, -0.1246
	c := &cases.Case{
		Ref: ref, Status: cases.StatusOpen, Service: cases.Service{Code: code, Name: code},
		Department: dept, Priority: cases.PriorityNormal, ReceivedAt: received,
		Reports: []cases.Report{{
			IntakeKey: "fixmystreet:" + ref, Source: cases.SourceFixMyStreet, ServiceCode: code,
			Location:   cases.Location{Lat: &lat, Long: &long},
			Reporter:   cases.Reporter{FirstName: "Ada", Email: "ada@example.org"},
			ReceivedAt: received,
		}},
	}
	c.Append(cases.Entry{At: received, Actor: "fixmystreet", Kind: cases.KindReceived, To: cases.StatusOpen})
	return c
}

// Move applies a public status change, as staff would.
func Move(c *cases.Case, to cases.Status, at time.Time) *cases.Case {
	c.Apply(cases.Change{To: to, Note: "now " + string(to), Public: true, Actor: "agent"}, at)
	return c
}

// Place moves the case's first report to a point.
func Place(c *cases.Case, lat, long float64) *cases.Case {
	c.Reports[0].Location = cases.Location{Lat: &lat, Long: &long}
	return c
}

// Council is n cases received over the 90 days before end: 20 services
// (svc00–svc19), 8 departments (dept0–dept7), about a third closed, four in
// five with a due time (about half the open ones overdue at end), a point
// around London, and what search and the filters read (Dress). The same n
// gives the same cases.
func Council(n int, end time.Time) []*cases.Case {
	r := rand.New(rand.NewPCG(1, 2))
	words := rand.New(rand.NewPCG(5, 6)) // apart, so the other draws stay as they were
	start := end.Add(-90 * 24 * time.Hour)
	all := make([]*cases.Case, n)
	for i := range all {
		received := start.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
		c := Place(NewCase(fmt.Sprintf("CB-%06d", i), fmt.Sprintf("svc%02d", r.IntN(20)), fmt.Sprintf("dept%d", r.IntN(8)), received),
			51.3+r.Float64()*0.4, -0.5+r.Float64()*0.7)
		if r.IntN(5) > 0 {
			c.DueAt = received.Add(time.Duration(r.IntN(20*24)) * time.Hour)
		}
		Dress(c, words)
		Move(c, cases.StatusInvestigating, received.Add(time.Hour))
		if r.IntN(3) == 0 {
			Move(c, cases.StatusFixed, received.Add(48*time.Hour))
		}
		all[i] = c
	}
	return all
}

// Dress gives a case what search and the filters read: a description of a
// dozen words from 50, an address on one of 400 streets (one in ten on a
// High Street), a reporter from 500 names, a source, one case in four
// assigned (amy, bob, carol, dev or roads-team), one in ten escalated (warn).
func Dress(c *cases.Case, r *rand.Rand) {
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

// TimeCalls runs call once per iteration of b's loop, timing each call, and
// reports the p50 and p99 of those times (ReportPercentiles) and what the
// last call returned as the metric unit (the matches a list found, say).
func TimeCalls(b *testing.B, unit string, call func() (float64, error)) {
	b.Helper()
	var took []time.Duration
	var last float64
	for b.Loop() {
		start := time.Now()
		v, err := call()
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		last = v
	}
	b.ReportMetric(last, unit)
	ReportPercentiles(b, took)
}

// ReportPercentiles adds the p50 and p99 of a benchmark's timed calls, in
// milliseconds, as the metrics p50-ms and p99-ms.
func ReportPercentiles(b *testing.B, took []time.Duration) {
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
