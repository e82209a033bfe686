package rules

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// plain drops what Parse remembers about the text, to compare sets.
func plain(s *Set) Set {
	c := *s
	c.src, c.pos = nil, nil
	return c
}

func TestMarshalRoundTrip(t *testing.T) {
	demo := Demo()
	b, err := Marshal(demo)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(demo)): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(plain(demo), plain(again)) {
		t.Errorf("Parse(Marshal(demo)) differs from the demo:\n%s", b)
	}
	ids := func(s *Set) []string {
		var out []string
		for _, r := range s.Rules {
			out = append(out, r.ID)
		}
		return out
	}
	if !slices.Equal(ids(demo), ids(again)) {
		t.Errorf("rule order changed: %v", ids(again))
	}

	// A set built in code, with conditions YAML must quote or fold.
	s := &Set{Name: "x", Description: "a: b", Default: Route{Department: "triage", Priority: "normal"}, Rules: []Rule{
		{ID: "quoted", Priority: -3, When: `"POT" == service_code`, Then: Route{Department: "highways", Tags: []string{"a", "b c"}, DuplicateRadius: 20, HoldForTriage: true}},
		{ID: "colon", When: `attr("note") == "a: b" # not a comment`, Then: Route{Department: "waste", Partner: "ukpn", SLAPolicy: "pothole"}},
		{ID: "lines", When: "service_code == \"A\"\n  && hour > 3\n", Then: Route{Department: "waste"}},
		{ID: "long", When: strings.Repeat(`service_code == "POT" || `, 20) + "true", Then: Route{Department: "waste"}},
	}}
	b, err = Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	again, err = Parse(b)
	if err != nil {
		t.Fatalf("Parse(Marshal(s)): %v\n%s", err, b)
	}
	if !reflect.DeepEqual(plain(s), plain(again)) {
		t.Errorf("round trip changed the set:\n%+v\n%+v\n%s", plain(s), plain(again), b)
	}
}

func TestDiffYAML(t *testing.T) {
	from := string(DemoYAML())
	to := strings.Replace(from, "id: smoke", "id: smoke-and-bonfires", 1)
	to = strings.Replace(to, "when: service_code == \"SGN\"", "when: service_code == \"SGN\" && has_point", 1)
	d := DiffYAML([]byte(from), []byte(to), "version 1", "draft")
	if !slices.Equal(d.Added, []string{"smoke-and-bonfires"}) || !slices.Equal(d.Removed, []string{"smoke"}) || !slices.Equal(d.Changed, []string{"road-sign"}) {
		t.Errorf("DiffYAML: added %v, removed %v, changed %v", d.Added, d.Removed, d.Changed)
	}
	if d.Reordered || d.DefaultChanged {
		t.Errorf("DiffYAML: reordered %v, default changed %v", d.Reordered, d.DefaultChanged)
	}
	for _, want := range []string{"--- version 1\n+++ draft\n", "-  - id: smoke\n+  - id: smoke-and-bonfires\n", `+    when: service_code == "SGN" && has_point`} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("diff text lacks %q:\n%s", want, d.Text)
		}
	}
	if d := DiffYAML([]byte(from), []byte(from), "a", "b"); d.Text != "" || len(d.Changed) > 0 {
		t.Errorf("diff of equal texts = %+v", d)
	}
	swapped := strings.Replace(strings.Replace(from, "id: pothole-north", "id: TMP", 1), "id: pothole\n", "id: pothole-north\n", 1)
	swapped = strings.Replace(swapped, "id: TMP", "id: pothole", 1)
	if d := DiffYAML([]byte(from), []byte(swapped), "a", "b"); !d.Reordered {
		t.Errorf("swapping two rules' ids is not seen as a reorder: %+v", d)
	}
}

// The line diff is minimal and correct: applying it gives the new text, and it
// keeps as many lines as the longest common subsequence.
func TestDiffLines(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		a, b := randomLines(rng), randomLines(rng)
		edits := diffLines(a, b)
		var gotA, gotB []string
		kept := 0
		for _, e := range edits {
			if e.op != '+' {
				gotA = append(gotA, e.line)
			}
			if e.op != '-' {
				gotB = append(gotB, e.line)
			}
			if e.op == ' ' {
				kept++
			}
		}
		if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
			t.Fatalf("diff of %q and %q does not rebuild them: %v", a, b, edits)
		}
		if want := lcs(a, b); kept != want {
			t.Fatalf("diff of %q and %q keeps %d lines, want %d", a, b, kept, want)
		}
	}
}

func randomLines(r *rand.Rand) []string {
	n := r.IntN(12)
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('a'+r.IntN(4))) + "\n"
	}
	return out
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = 1 + dp[i+1][j+1]
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct{ word, want string }{
		{"descripton", " — did you mean 'description'?"},
		{"HOUR", " — did you mean 'hour'? (upper and lower case matter)"},
		{"xyz", ""},
		{"ab", ""},
	} {
		if got := didYouMean(tc.word, []string{"description", "hour", "areas"}); got != tc.want {
			t.Errorf("didYouMean(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}
