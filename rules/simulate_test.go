package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/cases"
)

func TestSimulate(t *testing.T) {
	c := demoCompiled(t)
	sim := Simulate(c, Facts{ServiceCode: "FLY", Description: "needles and asbestos", OpenNearby: 5})
	if sim.Decision.RuleID != "sharps" {
		t.Fatalf("Simulate decided by %s, want sharps", sim.Decision.RuleID)
	}
	outcome := map[string]Outcome{}
	for _, r := range sim.Rules {
		outcome[r.ID] = r.Outcome
	}
	if len(sim.Rules) != len(c.rules) {
		t.Errorf("Simulate shows %d rules, want all %d", len(sim.Rules), len(c.rules))
	}
	for id, want := range map[string]Outcome{
		"sharps":               OutcomeMatched,
		"fly-tipping-asbestos": OutcomeAlsoMatches,
		"fly-tipping-hotspot":  OutcomeAlsoMatches,
		"fly-tipping":          OutcomeAlsoMatches,
		"pothole":              OutcomeNoMatch,
	} {
		if outcome[id] != want {
			t.Errorf("rule %s: %s, want %s", id, outcome[id], want)
		}
	}
	if sim.Rules[0].ID != "sharps" || sim.Rules[len(sim.Rules)-1].Priority != 10 {
		t.Errorf("rules are not in the order they are tried: first %s, last priority %d", sim.Rules[0].ID, sim.Rules[len(sim.Rules)-1].Priority)
	}
}

func TestBacktest(t *testing.T) {
	published := demoCompiled(t)
	// The draft moves graffiti from street cleansing to a new enforcement route.
	draftYAML := strings.Replace(string(DemoYAML()),
		"then: {department: waste, team: graffiti, priority: low, sla_policy: graffiti}",
		"then: {department: waste, team: enforcement, priority: normal, sla_policy: graffiti}", 1)
	draft, err := CompileYAML([]byte(draftYAML), demoCatalogue())
	if err != nil {
		t.Fatal(err)
	}
	var past []PastCase
	add := func(ref string, f Facts) {
		past = append(past, PastCase{Ref: ref, Facts: f, Decision: published.Route(f)})
	}
	add("CB-1", Facts{ServiceCode: "GRF", Description: "tag"})
	add("CB-2", Facts{ServiceCode: "POT"})
	add("CB-3", Facts{ServiceCode: "GRF", Description: "tags"})
	add("CB-4", Facts{ServiceCode: "GRF", Description: "racist"}) // offensive: unchanged
	add("CB-5", Facts{ServiceCode: "GRO"})

	rep := Backtest(draft, past)
	if rep.Cases != 5 || rep.Changed != 2 || rep.Errors != 0 {
		t.Fatalf("Backtest = %+v, want 2 of 5 changed", rep)
	}
	want := Move{From: "waste/graffiti, low, SLA graffiti", To: "waste/enforcement, normal, SLA graffiti", Count: 2, Refs: []string{"CB-1", "CB-3"}, Rules: []string{"graffiti"}}
	if len(rep.Moves) != 1 || !movesEqual(rep.Moves[0], want) {
		t.Errorf("Moves = %+v, want %+v", rep.Moves, want)
	}
	if rep := Backtest(published, past); rep.Changed != 0 {
		t.Errorf("backtesting the published rules against their own decisions changed %d", rep.Changed)
	}
}

func movesEqual(a, b Move) bool {
	return a.From == b.From && a.To == b.To && a.Count == b.Count && slices.Equal(a.Refs, b.Refs) && slices.Equal(a.Rules, b.Rules)
}

func TestRouteLabel(t *testing.T) {
	for _, tc := range []struct {
		d    cases.Decision
		want string
	}{
		{cases.Decision{Department: "triage"}, "triage"},
		{cases.Decision{Department: "highways", Team: "drainage", Priority: "urgent", SLAPolicy: "drainage", Partner: "thames-water", HoldForTriage: true},
			"highways/drainage, urgent, SLA drainage, with thames-water, held for triage"},
	} {
		if got := RouteLabel(tc.d); got != tc.want {
			t.Errorf("RouteLabel(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

const casesFile = `# Sample cases for the demo rules.
cases:
  - name: dangerous pothole in Camden Town
    facts: {service_code: POT, attributes: {dangerous: "yes"}, areas: [Camden Town]}
    expect: {department: highways, team: roads-north, priority: urgent, rule: pothole-dangerous-north}

  - name: needles, whatever the category
    facts:
      service_code: LIT
      description: Two syringes on the pavement
    expect: {department: waste, team: hazardous-waste}

  - name: a wrong expectation
    facts: {service_code: BIN, attribute_values: {container: [garden]}}
    expect: {department: waste, team: street-cleansing, sla_policy: missed-bin}
`

func TestRunTests(t *testing.T) {
	rep, err := RunTests(demoCompiled(t), []byte(casesFile))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Passed != 2 || rep.Failed != 1 {
		t.Fatalf("RunTests = %d passed, %d failed, want 2 and 1:\n%s", rep.Passed, rep.Failed, rep)
	}
	got := rep.String()
	for _, want := range []string{
		"ok    line 3: dangerous pothole in Camden Town",
		"ok    line 7: needles, whatever the category",
		"FAIL  line 13: a wrong expectation",
		`team = "collections", want "street-cleansing"`,
		"(decided by rule missed-garden-waste: waste/collections, high, SLA missed-bin)",
		"2 passed, 1 failed",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "sla_policy =") {
		t.Errorf("a matching sla_policy is reported as failing:\n%s", got)
	}
}

func TestRunTestsBadFile(t *testing.T) {
	c := demoCompiled(t)
	for _, tc := range []struct{ name, file, want string }{
		{"unknown fact", "cases:\n  - name: x\n    facts: {descripton: hi}\n    expect: {department: waste}\n",
			"line 3: 'descripton' is not something facts can have — did you mean 'description'?"},
		{"unknown expectation", "cases:\n  - name: x\n    facts: {}\n    expect: {departmnt: waste}\n",
			"line 4: 'departmnt' is not something expect can have — did you mean 'department'?"},
		{"no department", "cases:\n  - name: x\n    facts: {}\n    expect: {team: waste}\n", `line 2: case "x" needs expect: {department: ...}`},
		{"no cases", "cases: []\n", "the file has no cases"},
		{"not yaml", "cases: [\n", "read test cases"},
	} {
		_, err := RunTests(c, []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: RunTests error = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
