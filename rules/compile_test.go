package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// oneRule is a rule set whose single rule r has its condition on line 6 from
// column 11, and its then on line 7 from column 11.
func oneRule(when, then string) string {
	return fmt.Sprintf(`name: routing
default:
  department: triage
rules:
  - id: r
    when: %s
    then: %s
`, when, then)
}

func TestCompileProblems(t *testing.T) {
	const hw = "{department: highways}"
	for _, tc := range []struct {
		kind       string
		when, then string
		want       string // the whole problem as staff read it
	}{
		{"unknown fact", `descripton == "x"`, hw,
			"rule r, line 6, column 11: there is no fact called 'descripton' — did you mean 'description'?"},
		{"unknown fact far in", `service_code == "POT" && descripton == "x"`, hw,
			"rule r, line 6, column 36: there is no fact called 'descripton' — did you mean 'description'?"},
		{"unknown fact, no suggestion", `colour == "red"`, hw,
			"rule r, line 6, column 11: there is no fact called 'colour'"},
		{"unknown helper", `containsAnyy(description, ["x"])`, hw,
			"rule r, line 6, column 11: there is no helper called 'containsAnyy' — did you mean 'containsAny'?"},
		{"wrong type", `hour == "18"`, hw,
			`rule r, line 6, column 16: '==' cannot be used between a whole number and text. Write numbers without quotes (hour >= 18) and text in quotes (weekday == "Monday")`},
		{"wrong type in and", `hour && working_day`, hw,
			"rule r, line 6, column 16: '&&' joins conditions that are true or false, but here it has a whole number and true or false"},
		{"not true or false", `hour`, hw,
			`rule r, line 6, column 11: the condition must be true or false, but this gives a whole number. Compare it with something, e.g. attr("dangerous") == "yes" or hour >= 18`},
		{"text, not true or false", `description`, hw,
			"the condition must be true or false, but this gives text."},
		{"helper argument type", `inArea(3)`, hw,
			`rule r, line 6, column 18: inArea needs text here, but this is a whole number. For example: inArea("Camden Town")`},
		{"helper arguments missing", `inArea()`, hw,
			`rule r, line 6, column 11: inArea needs 1 value: an area name in quotes, e.g. "Camden Town". For example: inArea("Camden Town")`},
		{"helper arguments too many", `withinMetres(lat, long, 51.5)`, hw,
			"withinMetres needs 5 values: a latitude, e.g. lat; a longitude, e.g. long; a latitude, e.g. 51.5390; a longitude, e.g. -0.1426; a distance in metres, e.g. 200."},
		{"words not a list", `containsAny(description, "needle")`, hw,
			`containsAny needs a list of text here, but this is text. For example: containsAny(description, ["needle", "syringe"])`},
		{"words not text", `containsAny(description, ["needle", 3])`, hw,
			`rule r, line 6, column 47: each item of the list should be text in quotes, e.g. containsAny(description, ["needle", "syringe"])`},
		{"empty word list", `containsAny(description, [])`, hw, "the list is empty"},
		{"unknown area", `inArea("Camdn Town")`, hw,
			"rule r, line 6, column 18: there is no area called 'Camdn Town' — did you mean 'Camden Town'?"},
		{"unknown area in list", `inAnyArea(["Camden Town", "Kentish"])`, hw, "there is no area called 'Kentish'"},
		{"unknown service code", `service_code == "PT"`, hw,
			"rule r, line 6, column 27: there is no service with code 'PT' — did you mean 'POT'?"},
		{"unknown service code in list", `service_code in ["POT", "SLX"]`, hw, "there is no service with code 'SLX' — did you mean 'SLO'?"},
		{"unknown source", `source == "fms"`, hw,
			"there is no source 'fms'; it can be fixmystreet, open311, phone, web or staff"},
		{"weekday in lower case", `weekday == "monday"`, hw,
			"there is no weekday 'monday' — did you mean 'Monday'? (upper and lower case matter); it can be Monday, Tuesday"},
		{"unknown question", `attr("dangerus") == "yes"`, hw,
			"rule r, line 6, column 16: there is no question (attribute) code called 'dangerus' — did you mean 'dangerous'?"},
		{"bad time", `timeBetween("25:00", "07:00")`, hw,
			"'25:00' is not a time; write times as HH:MM on the 24-hour clock"},
		{"time not in quotes", `timeBetween(description, "07:00")`, hw, `write the time in quotes, e.g. "07:30"`},
		{"clock", `now() > 0`, hw,
			"rule r, line 6, column 11: 'now' is not available: a rule must give the same answer whenever it runs, so it cannot read the clock."},
		{"date", `date("2026-01-01") != nil`, hw, "'date' is not available: a rule must give the same answer"},
		{"single equals", `service_code = "POT"`, hw,
			"rule r, line 6, column 24: '=' is out of place here: to compare two values write == (two equals signs)"},
		{"incomplete", `service_code == "POT" &&`, hw,
			"the condition stops too early: something is missing at the end"},
		{"unclosed quote", `'service_code == "POT'`, hw, "a text in quotes is not closed here: add the closing quote"},
		{"unclosed bracket", `containsAny(description, ["x"]`, hw, "the condition stops too early"},
		{"empty when", `""`, hw, "rule r, line 6, column 11: 'when' is empty: write the condition for this rule"},
		{"helper as a value", `inArea == true`, hw, `'inArea' is a helper: call it with its values in brackets, e.g. inArea("Camden Town")`},
		{"fact as a helper", `description("x")`, hw, "'description' is a fact, not a helper"},
		{"$env", `$env.hour > 3`, hw, "$env is not available in routing rules"},
		{"redeclare a fact", `let hour = 3; hour > 2`, hw, "'hour' is the name of a fact; give the value another name"},
		{"pattern from the report", `description matches title`, hw, "write the pattern after 'matches' in quotes in the rule"},
		{"bad pattern", `description matches "(unclosed"`, hw, "the pattern after 'matches' is not a valid regular expression: missing closing )"},
		{"field of text", `description.length > 3`, hw, "text has no part called 'length'"},
		{"unknown department", "true", "{department: highway}",
			"rule r, line 7, column 24: there is no department called 'highway' — did you mean 'highways'? (departments: triage, highways, street-lighting, waste, parks, environmental-health, parking)"},
		{"team of another department", "true", "{department: highways, team: noise}",
			"rule r, line 7, column 40: the highways department has no team called 'noise' (its teams: roads-north, roads-south, drainage,"},
		{"misspelt team", "true", "{department: highways, team: drainge}",
			"the highways department has no team called 'drainge' — did you mean 'drainage'?"},
		{"unknown partner", "true", "{department: highways, partner: thames}",
			"there is no partner agency called 'thames' (partners: met-police, thames-water, ukpn)"},
		{"unknown priority", "true", "{department: highways, priority: urgnt}",
			"rule r, line 7, column 44: there is no priority called 'urgnt' — did you mean 'urgent'? (priorities: urgent, high, normal, low)"},
		{"unknown SLA policy", "true", "{department: highways, sla_policy: pothol}",
			"there is no SLA policy called 'pothol' — did you mean 'pothole'? (SLA policies: "},
		{"no department", "true", "{team: drainage}", "rule r, line 7, column 11: 'then' needs a department, e.g. then: {department: highways}"},
		{"misspelt key", "true", "{departmnt: highways}",
			"rule r, line 7, column 12: 'departmnt' is not something 'then' can have — did you mean 'department'? (it can have: department, team,"},
		{"radius", "true", "{department: highways, duplicate_radius_m: 90000}", "duplicate_radius_m is 90000; it should be between 0"},
		{"radius not a number", "true", "{department: highways, duplicate_radius_m: far}", "duplicate_radius_m should be a whole number, e.g. 50, not \"far\""},
		{"tags not a list", "true", "{department: highways, tags: urgent}", "tags should be a list, e.g. [hazard, out-of-hours]"},
		{"hold not yes or no", "true", "{department: highways, hold_for_triage: maybe}", "hold_for_triage should be true or false, not \"maybe\""},
		{"then not a mapping", "true", "highways", "rule r, line 7, column 11: 'then' should be a set of 'key: value' lines, e.g. department: highways"},
	} {
		got := Validate([]byte(oneRule(tc.when, tc.then)), demoCatalogue())
		if !hasProblem(got, tc.want) {
			t.Errorf("%s: Validate(when: %s, then: %s) =\n%s\nwant a problem containing\n%s", tc.kind, tc.when, tc.then, Problems(got), tc.want)
		}
	}
}

func hasProblem(ps []Problem, want string) bool {
	for _, p := range ps {
		if strings.Contains(p.String(), want) {
			return true
		}
	}
	return false
}

func TestSetProblems(t *testing.T) {
	for _, tc := range []struct {
		kind, yaml, want string
	}{
		{"no default", "name: routing\nrules: []\n", "the rule set needs a default route with a department, so that every case goes somewhere"},
		{"default to nowhere", "name: routing\ndefault: {department: nowhere}\n", "default route, line 2, column 23: there is no department called 'nowhere'"},
		{"no name", "default: {department: triage}\n", "the rule set needs a name, e.g. name: routing"},
		{"bad name", "name: Routing Rules\ndefault: {department: triage}\n", "line 1, column 7: the name 'Routing Rules' should use lower-case letters"},
		{"misspelt rules", "name: routing\nrule: []\ndefault: {department: triage}\n", "line 2, column 1: 'rule' is not something the rule set can have — did you mean 'rules'?"},
		{"key twice", "name: routing\nname: other\ndefault: {department: triage}\n", "line 2, column 1: 'name' is written twice in the rule set; keep one"},
		{"rules not a list", "name: routing\nrules: {id: x}\ndefault: {department: triage}\n", "rules should be a list"},
		{"empty file", "", "the file is empty"},
		{"not yaml", "name: routing\n  rules: [\n", "this is not valid YAML"},
		{"quoted start", "name: routing\ndefault: {department: triage}\nrules:\n  - id: a\n    when: \"POT\" == service_code\n    then: {department: triage}\n",
			"line 5: this is not valid YAML: did not find expected key. If a condition contains ': ' or starts with a quote, write it on its own lines after 'when: |'"},
		{"comment cuts the condition", "name: routing\ndefault: {department: triage}\nrules:\n  - id: a\n    when: any(areas, # == \"x\")\n    then: {department: triage}\n",
			"YAML took everything after ' #' as a comment, so the condition was cut short there"},
		{"missing id", "name: routing\ndefault: {department: triage}\nrules:\n  - when: \"true\"\n    then: {department: triage}\n",
			"rule #1, line 4, column 5: this rule needs an id, e.g. id: pothole-dangerous"},
		{"bad id", "name: routing\ndefault: {department: triage}\nrules:\n  - id: my rule\n    when: \"true\"\n    then: {department: triage}\n",
			"rule my rule, line 4, column 9: the id 'my rule' should be letters, digits, '-', '_' or '.'"},
		{"id default", "name: routing\ndefault: {department: triage}\nrules:\n  - id: default\n    when: \"true\"\n    then: {department: triage}\n",
			"'default' is kept for the default route; give this rule another id"},
		{"id twice", "name: routing\ndefault: {department: triage}\nrules:\n  - id: a\n    when: \"true\"\n    then: {department: triage}\n  - id: a\n    when: \"true\"\n    then: {department: triage}\n",
			"rule a, line 7, column 9: the id 'a' is also used by rule number 1; every rule needs its own id"},
		{"priority not a number", "name: routing\ndefault: {department: triage}\nrules:\n  - id: a\n    priority: high\n    when: \"true\"\n    then: {department: triage}\n",
			"rule a, line 5, column 15: a rule's priority should be a whole number, e.g. 100, not \"high\""},
	} {
		got := Validate([]byte(tc.yaml), demoCatalogue())
		if !hasProblem(got, tc.want) {
			t.Errorf("%s: Validate =\n%s\nwant a problem containing\n%s", tc.kind, Problems(got), tc.want)
		}
	}
}

// Every problem is reported, in file order, not just the first.
func TestValidateReportsEveryProblem(t *testing.T) {
	src := `name: routing
rules:
  - id: a
    when: descripton == "x"
    then: {department: highway}
  - id: b
    when: hour == "x"
    then: {department: highways, team: nope}
  - id: c
    when: service_code == "POT"
    then: {department: highways}
default: {department: triage, priority: soon}
`
	got := Validate([]byte(src), demoCatalogue())
	want := []string{
		"rule a, line 4, column 11: there is no fact called 'descripton'",
		"rule a, line 5, column 24: there is no department called 'highway'",
		"rule b, line 7, column 16: '==' cannot be used",
		"rule b, line 8, column 40: the highways department has no team called 'nope'",
		"default route, line 12, column 41: there is no priority called 'soon'",
	}
	if len(got) != len(want) {
		t.Fatalf("Validate gave %d problems, want %d:\n%s", len(got), len(want), Problems(got))
	}
	for i := range want {
		if !strings.HasPrefix(got[i].String(), want[i]) {
			t.Errorf("problem %d = %q, want it to start %q", i, got[i], want[i])
		}
	}
	_, err := Compile(Demo(), Catalogue{Departments: []string{"triage"}})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) < 30 {
		t.Errorf("Compile(demo, a catalogue of one department) = %v, want a problem for most rules", err)
	}
}

// Problems point into multi-line and quoted conditions, not just at the key.
func TestProblemPositionsInConditions(t *testing.T) {
	for _, tc := range []struct {
		style, when  string
		line, column int
	}{
		{"plain", `service_code == "POT" && descripton == "x"`, 6, 36},
		{"single-quoted", `'service_code == "POT" && descripton == "x"'`, 6, 37},
		{"double-quoted", `"service_code == \"POT\" && descripton == \"x\""`, 6, 39},
		{"literal block", "|\n      service_code == \"POT\"\n        && descripton == \"x\"", 8, 12},
		{"folded block", ">\n      service_code == \"POT\"\n        && descripton == \"x\"", 8, 12},
		{"plain, two lines", "service_code == \"POT\"\n      && descripton == \"x\"", 7, 10},
	} {
		src := fmt.Sprintf(`name: routing
default:
  department: triage
rules:
  - id: r
    when: %s
    then: {department: highways}
`, tc.when)
		got := Validate([]byte(src), demoCatalogue())
		if len(got) != 1 || got[0].Line != tc.line || got[0].Column != tc.column {
			t.Errorf("%s: Validate = %v, want one problem at line %d, column %d", tc.style, got, tc.line, tc.column)
		}
	}
}

func TestDemo(t *testing.T) {
	c := demoCompiled(t)
	if len(c.rules) < 20 {
		t.Errorf("the demo has %d rules, want 20 or more", len(c.rules))
	}
	if ps := Validate(DemoYAML(), demoCatalogue()); len(ps) > 0 {
		t.Errorf("Validate(demo) = %v", Problems(ps))
	}
	// Every SLA policy, department and partner the demo names must exist,
	// and every service of the demo council must have a rule of its own.
	cat := demoCatalogue()
	for _, svc := range cat.Services {
		if _, ok := c.byCode[svc]; !ok {
			t.Errorf("no rule is keyed on service %s", svc)
		}
	}
	if !c.Uses("open_nearby") || c.Uses("easting") {
		t.Errorf("Uses(open_nearby) = %v, Uses(easting) = %v; want true, false", c.Uses("open_nearby"), c.Uses("easting"))
	}
}
