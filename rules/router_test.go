package rules

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/cases"
)

type fixed struct{ c *Compiled }

func (f fixed) Current() *Compiled { return f.c }

func TestRouter(t *testing.T) {
	ctx := context.Background()
	lat, long := 51.549, -0.13 // Kentish Town
	c := cases.Case{
		Ref:     "CB-TEST01",
		Service: cases.Service{Code: "FLY", Name: "Fly-tipping"},
		Reports: []cases.Report{{
			ServiceCode: "LIT", // re-categorised since: the case's service counts
			Source:      cases.SourceFixMyStreet,
			Location:    cases.Location{Lat: &lat, Long: &long},
			ReceivedAt:  time.Date(2026, 6, 2, 10, 0, 0, 0, time.UTC),
		}},
	}
	nearby := &fakeNearby{n: 5}
	r := Router{Rules: fixed{demoCompiled(t)}, Sources: FactSources{Areas: areas.Demo(), Nearby: nearby}}
	d, err := r.Route(ctx, c)
	if err != nil || d.RuleID != "fly-tipping-hotspot" || d.Facts["service_code"] != "FLY" {
		t.Fatalf("Route = %s (%v), %v; want fly-tipping-hotspot for FLY", d.RuleID, d.Facts, err)
	}
	if nearby.except != "CB-TEST01" {
		t.Errorf("open_nearby was counted with except %q: the case being routed must never count itself", nearby.except)
	}

	// A count that fails routes the case anyway, and says so.
	r.Sources.Nearby = &fakeNearby{err: errors.New("connection refused")}
	d, err = r.Route(ctx, c)
	if err != nil || d.RuleID != "fly-tipping" || !strings.Contains(strings.Join(d.Explanation, "\n"), "open_nearby was taken as 0") {
		t.Errorf("Route with a failing count = %s, %v, %v", d.RuleID, d.Explanation, err)
	}

	// Rules that never read open_nearby do not ask for it.
	plain, err := Compile(&Set{Name: "p", Default: Route{Department: "triage"}}, testCatalogue())
	if err != nil {
		t.Fatal(err)
	}
	nearby = &fakeNearby{}
	if _, err := (Router{Rules: fixed{plain}, Sources: FactSources{Nearby: nearby}}).Route(ctx, c); err != nil || nearby.asked != "" {
		t.Errorf("open_nearby was counted for rules that do not read it (%q, %v)", nearby.asked, err)
	}

	if _, err := (Router{Rules: fixed{}}).Route(ctx, c); !errors.Is(err, ErrNoActive) {
		t.Errorf("Route with no rule set = %v, want ErrNoActive", err)
	}
}
