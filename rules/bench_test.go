package rules

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/internal/redistest"
)

// syntheticSet has n rules shaped like a council's: two that look at every
// case (sharps, callers' emergencies), and for each of about n/4 services
// three specific rules and a catch-all. keyed=false makes every rule one the
// index cannot key (the same conditions, reached by another road).
func syntheticSet(n int, keyed bool) *Set {
	s := &Set{Name: "bench", Default: Route{Department: "triage", Team: "contact-centre"}}
	add := func(id string, priority int, when string, dept string) {
		s.Rules = append(s.Rules, Rule{ID: id, Priority: priority, When: when, Then: Route{Department: dept, Priority: "high"}})
	}
	add("sharps", 100, `containsAny(description, ["needle", "syringe", "sharps"])`, "waste")
	add("emergency", 90, `source == "phone" && containsAny(description, ["emergency", "injured"])`, "triage")
	pin := func(code string) string {
		if keyed {
			return fmt.Sprintf(`service_code == %q`, code)
		}
		return fmt.Sprintf(`hasPrefix(service_code, %q) && len(service_code) == %d`, code, len(code))
	}
	for i := 0; len(s.Rules) < n; i++ {
		code := fmt.Sprintf("S%d", i)
		for j, when := range []string{
			pin(code) + ` && attr("dangerous") == "yes"`,
			pin(code) + ` && inArea("Camden Town") && !working_hours`,
			pin(code) + ` && containsAny(description, ["flood", "fire", "collapse"])`,
			pin(code),
		} {
			if len(s.Rules) == n {
				break
			}
			add(fmt.Sprintf("%s-%d", code, j), 10-3*j, when, "highways")
		}
	}
	return s
}

func benchCatalogue() Catalogue {
	return Catalogue{
		Departments: []string{"triage", "highways", "waste"},
		Teams:       map[string][]string{"triage": {"contact-centre"}},
	}
}

func BenchmarkRoute(b *testing.B) {
	best := Facts{ServiceCode: "S1", Description: "a deep hole in the road", Attributes: map[string]string{"dangerous": "yes"}}
	// Every rule for the service is tried; the catch-all decides.
	worst := Facts{ServiceCode: "S1", Description: "a deep hole in the road", Attributes: map[string]string{"dangerous": "no"},
		Areas: []string{"Kentish Town"}, WorkingHours: true}
	for _, tc := range []struct {
		n     int
		keyed bool
		case_ string
		facts Facts
		rule  string
	}{
		{10, true, "best", best, "S1-0"},
		{10, true, "worst", worst, "S1-3"},
		{100, true, "best", best, "S1-0"},
		{100, true, "worst", worst, "S1-3"},
		{1000, true, "best", best, "S1-0"},
		{1000, true, "worst", worst, "S1-3"},
		{1000, false, "worst", Facts{ServiceCode: "NONE", Description: "nothing"}, DefaultRuleID},
	} {
		kind := "keyed"
		if !tc.keyed {
			kind = "unkeyed"
		}
		b.Run(fmt.Sprintf("%s-%d/%s", kind, tc.n, tc.case_), func(b *testing.B) {
			c, err := Compile(syntheticSet(tc.n, tc.keyed), benchCatalogue())
			if err != nil {
				b.Fatal(err)
			}
			f := tc.facts.Normalize()
			if d := c.Route(f); d.RuleID != tc.rule {
				b.Fatalf("Route = %s, want %s", d.RuleID, tc.rule)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Route(f)
			}
		})
	}
}

func BenchmarkRouteDemo(b *testing.B) {
	c := demoCompiled(b)
	f := Facts{ServiceCode: "POT", Description: "Deep pothole outside the school", Attributes: map[string]string{"dangerous": "no", "depth": "3"},
		Areas: []string{"Kentish Town"}, Source: "fixmystreet"}.Normalize()
	b.ReportAllocs()
	for b.Loop() {
		c.Route(f)
	}
}

func BenchmarkCompile1000(b *testing.B) {
	s := syntheticSet(1000, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(s, benchCatalogue()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildFactsAndRouteDemo is the whole routing activity's own work:
// facts from a report (area lookup, calendar) and a decision.
func BenchmarkBuildFactsAndRouteDemo(b *testing.B) {
	c := demoCompiled(b)
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		b.Skip(err)
	}
	lat, long := 51.541, -0.144
	rep := cases.Report{
		Source: cases.SourceFixMyStreet, ServiceCode: "NOI", Description: "Loud music from the bar",
		Location:   cases.Location{Lat: &lat, Long: &long},
		Attributes: cases.Attributes{"happening_now": {"yes"}},
		ReceivedAt: time.Date(2026, 6, 5, 22, 40, 0, 0, time.UTC),
	}
	src := FactSources{Calendar: fakeCalendar{loc: loc}, Areas: areas.Demo()}
	svc := cases.Service{Code: "NOI", Name: "Noise nuisance"}
	b.ReportAllocs()
	for b.Loop() {
		f, _ := BuildFacts(context.Background(), rep, svc, src)
		if d := c.Route(f); d.RuleID != "camden-market-night-noise" {
			b.Fatalf("Route = %s", d.RuleID)
		}
	}
}

// BenchmarkPublishPickup measures how long after Publish returns a second
// process's watcher routes by the new version. Its pickup-µs metric is that
// latency; ns/op also counts saving and compiling the draft.
func BenchmarkPublishPickup(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := redistest.Start(b)
	editor := NewStore(srv.Client(), "bench:", demoCatalogue(), time.Now)
	if _, _, err := editor.Seed(ctx, Routing, DemoYAML(), "bench", ""); err != nil {
		b.Fatal(err)
	}
	workerClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer workerClient.Close()
	w := NewWatcher(NewStore(workerClient, "bench:", demoCatalogue(), time.Now), Routing, nil)
	go func() { _ = w.Run(ctx, time.Hour) }()
	<-w.Ready()
	texts := [][]byte{graffitiToEnforcement(b), DemoYAML()}
	var pickup time.Duration
	b.ResetTimer()
	for i := range b.N {
		if _, err := editor.SaveDraft(ctx, Routing, texts[i%2], "bench"); err != nil {
			b.Fatal(err)
		}
		v, err := editor.Publish(ctx, Routing, "bench", "")
		if err != nil {
			b.Fatal(err)
		}
		published := time.Now()
		for c := w.Current(); c == nil || c.Version() != v.Number; c = w.Current() {
			if time.Since(published) > 5*time.Second {
				b.Fatalf("version %d not picked up in 5s", v.Number)
			}
			time.Sleep(50 * time.Microsecond)
		}
		pickup += time.Since(published)
	}
	b.ReportMetric(float64(pickup.Microseconds())/float64(b.N), "pickup-µs")
}
