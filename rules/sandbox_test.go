package rules

import (
	"strings"
	"testing"
	"time"
)

// Hostile conditions are refused when saved, each with a reason.
func TestHostileRefused(t *testing.T) {
	long := `"` + strings.Repeat("(a|b)", 60) + `"` // a 300-character pattern
	for _, tc := range []struct {
		name, when, want string
	}{
		{"huge range", `1..1000000000 | any(# == 5)`, "this range has 1,000,000,000 values; at most 1,000 are allowed"},
		{"range from a fact", `any(1..open_nearby, # > 2)`, "write a range with whole numbers, e.g. 9..17"},
		{"lists in lists in lists", `all(areas, all(areas, all(areas, # == "x")))`, "a rule can look inside lists at most 2 levels deep; this is 3"},
		{"deep brackets", strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100), "brackets are nested more than 32 deep"},
		{"half a megabyte of brackets", strings.Repeat("(", 1<<18) + "true" + strings.Repeat(")", 1<<18), "characters long; at most 10,000 are allowed"},
		{"too many parts", strings.Repeat("hour == 1 || ", 400) + "true", "the condition is too long: it has more than 1,000 parts"},
		{"giant string repeat", `repeat("a", 1000000000) == ""`, "'repeat' is not available in routing rules"},
		{"text doubling", `reduce(1..60, #acc + #acc, "ab") == ""`, "'reduce' is not available in routing rules"},
		{"sorting", `sortBy(areas, #) == areas`, "'sortBy' is not available"},
		{"splitting", `len(split(description, "")) > 3`, "'split' is not available"},
		{"replacing", `replace(description, "", description) == ""`, "'replace' is not available"},
		{"json", `fromJSON(description) != nil`, "'fromJSON' is not available"},
		{"clock", `now().Year() > 2000`, "cannot read the clock"},
		{"duration", `duration("1h") > duration("1m")`, "cannot read the clock"},
		{"citizen's regexp", `title matches description`, "write the pattern after 'matches' in quotes in the rule"},
		{"huge pattern", `description matches "` + strings.Repeat("a", 600) + `"`, "the pattern is longer than 500 characters"},
		{"regexp bomb", `description matches "((a{1000}){1000}){1000}"`, "not a valid regular expression: invalid repeat count"},
		{"slow pattern on the description", `description matches ` + long, "this condition could take too long to run on a long report"},
		{"words searched in a loop in a loop", `all(1..1000, all(1..1000, containsAny(description, ["a", "b"])))`, "could take too long"},
		{"a million steps", `let r = 1..1000; all(r, all(r, # > 0))`, "could take too long"},
		{"the description searched for every area, once per area", `any(areas, containsAny(description, areas))`, "could take too long"},
	} {
		start := time.Now()
		got := Validate([]byte(oneRule("|\n      "+tc.when, "{department: highways}")), demoCatalogue())
		if !hasProblem(got, tc.want) {
			t.Errorf("%s: Validate = %v, want a problem containing %q", tc.name, truncate(Problems(got).Error(), 500), tc.want)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: refusing it took %v", tc.name, d)
		}
	}
}

// The costliest conditions that are accepted, run on the worst facts a case
// can carry, finish quickly; those that need too much memory stop with an
// error and the case takes the default route.
func TestHostileBoundedAtRunTime(t *testing.T) {
	worst := Facts{
		ServiceCode: "X",
		Description: strings.Repeat("a", 1<<20), // cut to 10,000 characters
		Title:       strings.Repeat("ab", 1<<16),
		Areas:       make([]string, 5000),
		AttributeValues: map[string][]string{
			"waste_type": make([]string, 100_000),
		},
	}
	for i := range worst.Areas {
		worst.Areas[i] = strings.Repeat("z", 5000)
	}
	words := `["` + strings.Repeat("a", 40) + `b"` + strings.Repeat(`, "`+strings.Repeat("a", 40)+`b"`, 20) + `]`
	for _, tc := range []struct {
		name, when string
		fails      bool // with an error, rather than finishing
	}{
		{"catastrophic-backtracking pattern", `description matches "(a|aa)*b"`, false},
		{"nested pattern", `description matches "(a+)+$"`, false},
		{"the longest pattern allowed on the description", `description matches "` + strings.Repeat("(a|b)", 19) + `c"`, false},
		{"near-miss words", `containsAny(description, ` + words + `)`, false},
		{"lists in lists", `any(areas, any(attribute_values["waste_type"], # == "x"))`, false},
		{"ranges in ranges", `all(1..100, all(1..100, # > 0)) && false`, false},
		{"text doubling by hand", `let d = description + description; let e = d + d; len(e + e) < 0`, false},
		{"memory", `len(map(1..900, len(1..900))) > 0`, true},
		{"many lists", `len(map(1..1000, [#, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #, #])) > 0`, true},
	} {
		src := oneRule("|\n      "+tc.when, "{department: highways}")
		c, err := CompileYAML([]byte(src), demoCatalogue())
		if err != nil {
			t.Errorf("%s: refused, want it accepted: %v", tc.name, err)
			continue
		}
		start := time.Now()
		d := c.Route(worst)
		elapsed := time.Since(start)
		t.Logf("%s: %v", tc.name, elapsed)
		if elapsed > 2*time.Second {
			t.Errorf("%s: Route took %v", tc.name, elapsed)
		}
		if tc.fails && (d.RuleID != DefaultRuleID || d.Error == "") {
			t.Errorf("%s: Route = %s, error %q; want the default route with the error", tc.name, d.RuleID, d.Error)
		}
		if !tc.fails && d.Error != "" {
			t.Errorf("%s: Route failed: %s", tc.name, d.Error)
		}
	}
}

func TestFactsAreBounded(t *testing.T) {
	f := Facts{
		Description: strings.Repeat("é", maxText), // 2 bytes each: cut mid-way, not mid-character
		Areas:       make([]string, 500),
		AttributeValues: map[string][]string{
			"a": make([]string, 500),
		},
		Attributes: map[string]string{"b": strings.Repeat("x", 5000)},
	}.Normalize()
	if len(f.Description) != maxText || !strings.HasSuffix(f.Description, "é") {
		t.Errorf("description is %d bytes, ending %q", len(f.Description), f.Description[len(f.Description)-2:])
	}
	if len(f.Areas) != maxListItems || len(f.AttributeValues["a"]) != maxListItems {
		t.Errorf("lists are %d and %d long, want %d", len(f.Areas), len(f.AttributeValues["a"]), maxListItems)
	}
	if len(f.Attributes["b"]) != maxAttrValueLn || f.AttributeValues["b"][0] != f.Attributes["b"] {
		t.Errorf("attribute b = %d bytes, values %d", len(f.Attributes["b"]), len(f.AttributeValues["b"]))
	}
}
