package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/expr-lang/expr/vm"

	"github.com/casebridge/casebridge/cases"
)

func attrs(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestRouteDemo(t *testing.T) {
	c := demoCompiled(t)
	for _, tc := range []struct {
		name  string
		facts Facts
		rule  string
		route string // RouteLabel of the decision
	}{
		{"dangerous pothole, north", Facts{ServiceCode: "POT", Attributes: attrs("dangerous", "yes"), Areas: []string{"Camden Town"}},
			"pothole-dangerous-north", "highways/roads-north, urgent, SLA pothole-dangerous"},
		{"dangerous pothole, south", Facts{ServiceCode: "POT", Attributes: attrs("dangerous", "yes"), Areas: []string{"Somers Town"}},
			"pothole-dangerous", "highways/roads-south, urgent, SLA pothole-dangerous"},
		{"deep pothole", Facts{ServiceCode: "POT", Attributes: attrs("dangerous", "no", "depth", " 7 ")},
			"pothole-dangerous", "highways/roads-south, urgent, SLA pothole-dangerous"},
		{"shallow pothole, north", Facts{ServiceCode: "POT", Attributes: attrs("dangerous", "no", "depth", "2"), Areas: []string{"Kentish Town"}},
			"pothole-north", "highways/roads-north, normal, SLA pothole"},
		{"pothole with no point", Facts{ServiceCode: "POT"}, "pothole", "highways/roads-south, normal, SLA pothole"},
		{"needles dumped", Facts{ServiceCode: "FLY", Description: "A bag of used NEEDLES by the bins"},
			"sharps", "waste/hazardous-waste, urgent, SLA fly-tipping-hazardous"},
		{"syringe in a litter bin", Facts{ServiceCode: "LIT", Description: "syringe on top of the bin", Areas: []string{"Camden Town"}, Weekday: "Saturday"},
			"sharps", "waste/hazardous-waste, urgent, SLA fly-tipping-hazardous"},
		{"clinical waste ticked", Facts{ServiceCode: "FLY", AttributeValues: map[string][]string{"waste_type": {"household", "clinical"}}},
			"sharps", "waste/hazardous-waste, urgent, SLA fly-tipping-hazardous"},
		{"asbestos", Facts{ServiceCode: "FLY", AttributeValues: map[string][]string{"waste_type": {"builders", "asbestos"}}},
			"fly-tipping-asbestos", "waste/hazardous-waste, urgent, SLA fly-tipping-hazardous"},
		{"asbestos in words", Facts{ServiceCode: "FLY", Description: "looks like Asbestos sheets"},
			"fly-tipping-asbestos", "waste/hazardous-waste, urgent, SLA fly-tipping-hazardous"},
		{"hotspot beats van load (same priority, written first)", Facts{ServiceCode: "FLY", OpenNearby: 4, Attributes: attrs("amount", "large_van")},
			"fly-tipping-hotspot", "waste/enforcement, high, SLA fly-tipping"},
		{"van load", Facts{ServiceCode: "FLY", OpenNearby: 2, Attributes: attrs("amount", "small_van")},
			"fly-tipping-large", "waste/enforcement, high, SLA fly-tipping"},
		{"fly-tipping", Facts{ServiceCode: "FLY", Attributes: attrs("amount", "single")}, "fly-tipping", "waste/street-cleansing, normal, SLA fly-tipping"},
		{"lamp post wires", Facts{ServiceCode: "SLP", Attributes: attrs("exposed_wires", "yes")},
			"lamp-post-exposed-wires", "street-lighting/lighting-maintenance, urgent, SLA lamp-post-danger, with ukpn"},
		{"street light live wire in words", Facts{ServiceCode: "SLO", Description: "LIVE WIRE hanging out of it"},
			"lamp-post-exposed-wires", "street-lighting/lighting-maintenance, urgent, SLA lamp-post-danger, with ukpn"},
		{"street light out", Facts{ServiceCode: "SLO", Attributes: attrs("fault", "out")},
			"street-light", "street-lighting/lighting-maintenance, normal, SLA street-light"},
		{"drain flooding a house", Facts{ServiceCode: "DRN", Attributes: attrs("flooding", "property")},
			"drain-flooding-property", "highways/drainage, urgent, SLA drainage, with thames-water"},
		{"drain flooding the road", Facts{ServiceCode: "DRN", Attributes: attrs("flooding", "road")},
			"drain-flooding-road", "highways/drainage, high, SLA drainage"},
		{"noise now, out of hours", Facts{ServiceCode: "NOI", Attributes: attrs("happening_now", "yes"), Hour: 21},
			"noise-now-out-of-hours", "environmental-health/noise, high, SLA noise"},
		{"noise now, in working hours", Facts{ServiceCode: "NOI", Attributes: attrs("happening_now", "yes"), Hour: 11, WorkingHours: true},
			"noise", "environmental-health/noise, normal, SLA noise"},
		{"noise at Camden Market late at night", Facts{ServiceCode: "NOI", Areas: []string{"Camden Town", "Camden Market"}, Hour: 23, Minute: 30},
			"camden-market-night-noise", "environmental-health/noise, high, SLA noise, with met-police"},
		{"noise at Camden Market after midnight", Facts{ServiceCode: "NOI", Areas: []string{"Camden Town", "Camden Market"}, Hour: 5, Minute: 59},
			"camden-market-night-noise", "environmental-health/noise, high, SLA noise, with met-police"},
		{"noise at Camden Market in the evening", Facts{ServiceCode: "NOI", Areas: []string{"Camden Market"}, Hour: 21, Attributes: attrs("happening_now", "yes")},
			"noise-now-out-of-hours", "environmental-health/noise, high, SLA noise"},
		{"burnt-out car", Facts{ServiceCode: "ABV", Attributes: attrs("condition", "burnt")},
			"abandoned-vehicle-burnt-out", "parking/abandoned-vehicles, high, SLA abandoned-vehicle, with met-police"},
		{"abandoned car", Facts{ServiceCode: "ABV", Attributes: attrs("condition", "parked")},
			"abandoned-vehicle", "parking/abandoned-vehicles, normal, SLA abandoned-vehicle"},
		{"offensive graffiti category", Facts{ServiceCode: "GRO"}, "graffiti-offensive", "waste/graffiti, urgent, SLA graffiti-offensive"},
		{"racist graffiti filed as graffiti", Facts{ServiceCode: "GRF", Description: "Racist slogan on the wall"},
			"graffiti-offensive", "waste/graffiti, urgent, SLA graffiti-offensive"},
		{"graffiti", Facts{ServiceCode: "GRF", Description: "tags on the wall"}, "graffiti", "waste/graffiti, low, SLA graffiti"},
		{"weekend litter in Camden Town", Facts{ServiceCode: "LIT", Areas: []string{"Camden Town"}, Weekday: "Sunday"},
			"camden-town-litter-weekend", "waste/street-cleansing, high, SLA litter-bin"},
		{"weekday litter in Camden Town", Facts{ServiceCode: "LIT", Areas: []string{"Camden Town"}, Weekday: "Monday"},
			"litter-bin", "waste/street-cleansing, low, SLA litter-bin"},
		{"caller emergency", Facts{ServiceCode: "VEG", Source: "phone", Description: "Emergency: hedge fell on a child, she is injured"},
			"phone-emergency", "triage/contact-centre, urgent, SLA triage, held for triage"},
		{"web emergency is not a caller's", Facts{ServiceCode: "VEG", Source: "web", Description: "emergency!"},
			"vegetation", "parks/grounds-maintenance, low, SLA vegetation"},
		{"fallen tree", Facts{ServiceCode: "TRE", Attributes: attrs("blocking", "yes")}, "tree-blocking", "parks/arboriculture, urgent, SLA tree-dangerous"},
		{"tree", Facts{ServiceCode: "TRE", Attributes: attrs("blocking", "no")}, "tree", "parks/arboriculture, high, SLA tree-dangerous"},
		{"broken glass in a playground", Facts{ServiceCode: "PLY", Description: "Broken glass under the swings"},
			"play-equipment-unsafe", "parks/play-areas, urgent, SLA play-equipment"},
		{"garden waste missed", Facts{ServiceCode: "BIN", Attributes: attrs("container", "garden")},
			"missed-garden-waste", "waste/collections, high, SLA missed-bin"},
		{"bin missed", Facts{ServiceCode: "BIN", Attributes: attrs("container", "refuse")}, "missed-bin", "waste/collections, normal, SLA missed-bin"},
		{"trip hazard", Facts{ServiceCode: "PAV", Attributes: attrs("trip_hazard", "yes")}, "pavement-trip-hazard", "highways/roads-south, high, SLA pavement"},
		{"sign", Facts{ServiceCode: "SGN"}, "road-sign", "highways/signs-and-lines, low, SLA signs"},
		{"smoke", Facts{ServiceCode: "SMK"}, "smoke", "environmental-health/pollution, normal, SLA smoke"},
		{"unknown service", Facts{ServiceCode: "XYZ", Description: "something odd"}, DefaultRuleID, "triage/contact-centre, normal, SLA triage"},
	} {
		d := c.Route(tc.facts)
		if d.RuleID != tc.rule || RouteLabel(d) != tc.route {
			t.Errorf("Route(%s) = %q by %s, want %q by %s\n%s", tc.name, RouteLabel(d), d.RuleID, tc.route, tc.rule, strings.Join(d.Explanation, "\n"))
		}
		if d.RuleSet != "routing" || d.Version != 1 {
			t.Errorf("Route(%s) names rule set %s v%d, want routing v1", tc.name, d.RuleSet, d.Version)
		}
	}
}

// The service-code index must never change which rule wins: compare Route
// with trying every rule in order, over many random cases.
func TestIndexDecidesAsEveryRuleInOrder(t *testing.T) {
	check := func(t *testing.T, c *Compiled, gen func(*rand.Rand) Facts) {
		rng := rand.New(rand.NewPCG(1, 2))
		for range 3000 {
			f := gen(rng).Normalize()
			want := DefaultRuleID
			m := machines.Get().(*vm.VM)
			for i := range c.rules {
				if ok, err := c.rules[i].run(m, &f); err == nil && ok {
					want = c.rules[i].ID
					break
				}
			}
			machines.Put(m)
			if got := c.Route(f).RuleID; got != want {
				t.Fatalf("Route(%+v) = %q, want %q (every rule in order)", f, got, want)
			}
			if got := Simulate(c, f).Decision.RuleID; got != want {
				t.Fatalf("Simulate(%+v) decided by %q, want %q", f, got, want)
			}
		}
	}
	t.Run("demo", func(t *testing.T) {
		c := demoCompiled(t)
		cat := demoCatalogue()
		words := []string{"needle", "asbestos", "live wire", "racist", "fallen", "broken glass", "emergency", "burnt out", "nothing"}
		check(t, c, func(r *rand.Rand) Facts {
			return Facts{
				ServiceCode:     pick(r, append(cat.Services, "XYZ")),
				Description:     pick(r, words) + " " + pick(r, words),
				Source:          pick(r, []string{"phone", "web", "fixmystreet"}),
				Areas:           []string{pick(r, cat.Areas)},
				Attributes:      attrs("dangerous", pick(r, []string{"yes", "no"}), "flooding", pick(r, []string{"road", "property", "none"}), "happening_now", "yes", "amount", pick(r, []string{"single", "large_van"})),
				AttributeValues: map[string][]string{"waste_type": {pick(r, []string{"household", "asbestos", "clinical"})}},
				Hour:            r.IntN(24),
				WorkingHours:    r.IntN(2) == 0,
				Weekday:         pick(r, weekdays),
				OpenNearby:      r.IntN(5),
			}
		})
	})
	t.Run("keyed shapes", func(t *testing.T) {
		// Rules of every keyed and unkeyed shape, priorities interleaved.
		whens := []string{
			`service_code == "A"`, `"B" == service_code`, `service_code in ["A", "C"]`,
			`service_code == "A" || service_code == "B" && hour > 12`, `service_code == "C" && hour < 6`,
			`!(service_code == "A")`, `service_code != "B"`, `hour > 20`, `service_code == "A" || hour == 3`,
			`(service_code == "B" || service_code == "C") && (service_code == "C" || service_code == "D")`,
			`service_code in ["D"] && hour in 1..5`,
		}
		s := &Set{Name: "shapes", Default: Route{Department: "triage"}}
		for i := range 60 {
			s.Rules = append(s.Rules, Rule{ID: fmt.Sprintf("r%d", i), Priority: (i * 7) % 5, When: whens[i%len(whens)] + fmt.Sprintf(" && minute != %d", i), Then: Route{Department: "highways"}})
		}
		c, err := Compile(s, testCatalogue())
		if err != nil {
			t.Fatal(err)
		}
		check(t, c, func(r *rand.Rand) Facts {
			return Facts{ServiceCode: pick(r, []string{"A", "B", "C", "D", "E"}), Hour: r.IntN(24), Minute: r.IntN(60)}
		})
	})
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func TestServiceCodes(t *testing.T) {
	for _, tc := range []struct {
		when  string
		codes []string // nil: unkeyed
	}{
		{`service_code == "POT"`, []string{"POT"}},
		{`"POT" == service_code`, []string{"POT"}},
		{`service_code in ["SLO", "SLP"]`, []string{"SLO", "SLP"}},
		{`service_code == "POT" && attr("dangerous") == "yes"`, []string{"POT"}},
		{`hour > 3 and service_code == "POT"`, []string{"POT"}},
		{`service_code == "GRO" || service_code == "GRF" && hour > 3`, []string{"GRO", "GRF"}},
		{`(service_code == "A" || service_code == "B") && service_code in ["B", "C"]`, []string{"B"}},
		{`service_code == "A" && service_code == "B"`, []string{}}, // never true: tried for no service
		{`service_code == "POT" || hour > 3`, nil},
		{`!(service_code == "POT")`, nil},
		{`service_code != "POT"`, nil},
		{`service_code in [service_name]`, nil},
		{`containsAny(description, ["x"])`, nil},
		{`let s = service_code; s == "POT"`, nil},
	} {
		node, err := parserConfigParse(tc.when)
		if err != nil {
			t.Fatalf("%s: %v", tc.when, err)
		}
		codes, keyed := serviceCodes(node)
		if keyed != (tc.codes != nil) || keyed && !slices.Equal(codes, tc.codes) && len(codes)+len(tc.codes) > 0 {
			t.Errorf("serviceCodes(%s) = %q, %v; want %q", tc.when, codes, keyed, tc.codes)
		}
	}
}

func TestRouteExplains(t *testing.T) {
	c := demoCompiled(t)
	d := c.Route(Facts{ServiceCode: "POT", Description: "big hole", Attributes: attrs("dangerous", "yes"), Areas: []string{"Somers Town"}})
	// sharps (unkeyed) and pothole-dangerous-north are tried first.
	wantTried := []cases.Miss{{RuleID: "sharps", Reason: ReasonFalse}, {RuleID: "pothole-dangerous-north", Reason: ReasonFalse}}
	if !slices.Equal(d.Tried, wantTried) {
		t.Errorf("Tried = %v, want %v", d.Tried, wantTried)
	}
	if d.RuleTitle != "Dangerous pothole" {
		t.Errorf("RuleTitle = %q", d.RuleTitle)
	}
	for _, fact := range []string{"service_code", "description", "attributes", "areas", "attribute_values"} {
		if _, ok := d.Facts[fact]; !ok {
			t.Errorf("Facts lacks %s, which the rules tried read: %v", fact, d.Facts)
		}
	}
	if _, ok := d.Facts["hour"]; ok {
		t.Errorf("Facts has hour, which no rule tried reads: %v", d.Facts)
	}
	text := strings.Join(d.Explanation, "\n")
	for _, want := range []string{"routing, version 1", "Rule pothole-dangerous (Dangerous pothole) matched", "2 earlier rules tried first did not match",
		"rules for other services were not tried", "Routed to highways/roads-south, urgent, SLA pothole-dangerous."} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	d = c.Route(Facts{ServiceCode: "NOPE"})
	if d.RuleID != DefaultRuleID || d.Error != "" || !strings.Contains(strings.Join(d.Explanation, "\n"), "default route was taken") {
		t.Errorf("default decision = %+v", d)
	}
}

// A rule failing at run time sends the case to the default route, with the
// error recorded: the failed rule may have been the one meant to match, so no
// later rule decides instead.
func TestRuntimeErrorTakesTheDefaultRoute(t *testing.T) {
	for _, tc := range []struct {
		id, when, reason string
	}{
		{"index", `areas[3] == "x"`, "index out of range"},
		{"memory", `len(map(1..900, len(1..900))) > 0`, "more memory than a rule may use"},
		{"divide", `hour % (minute - minute) == 0`, "divide"},
	} {
		s := &Set{Name: "broken", Default: Route{Department: "triage", Team: "contact-centre"}, Rules: []Rule{
			{ID: "first", When: `description == "never"`, Then: Route{Department: "highways"}},
			{ID: tc.id, When: tc.when, Then: Route{Department: "highways"}},
			{ID: "later", When: `true`, Then: Route{Department: "waste"}},
		}}
		c, err := Compile(s, testCatalogue())
		if err != nil {
			t.Fatal(err)
		}
		d := c.Route(Facts{ServiceCode: "X"})
		if d.RuleID != DefaultRuleID || d.Department != "triage" {
			t.Errorf("%s: Route = %s by %s, want the default route, not rule later", tc.id, RouteLabel(d), d.RuleID)
		}
		if !strings.Contains(d.Error, "rule "+tc.id+" failed") || !strings.Contains(d.Error, tc.reason) {
			t.Errorf("%s: Error = %q, want it to name the rule and say %q", tc.id, d.Error, tc.reason)
		}
		if len(d.Tried) != 2 || d.Tried[0].Reason != ReasonFalse || !strings.HasPrefix(d.Tried[1].Reason, ReasonError) {
			t.Errorf("%s: Tried = %v", tc.id, d.Tried)
		}
		if !strings.Contains(strings.Join(d.Explanation, " "), "rather than guess") {
			t.Errorf("%s: explanation %v does not say why the default route was taken", tc.id, d.Explanation)
		}
	}
}

func TestRouteConcurrently(t *testing.T) {
	c := demoCompiled(t)
	f := Facts{ServiceCode: "NOI", Areas: []string{"Camden Market"}, Hour: 23}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if d := c.Route(f); d.RuleID != "camden-market-night-noise" {
					t.Errorf("Route = %s", d.RuleID)
					return
				}
			}
		})
	}
	wg.Wait()
}
