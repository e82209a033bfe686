package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one mistake in a rule set, said so that the member of staff who
// wrote the rule can fix it.
type Problem struct {
	// Rule is the id of the rule at fault; "" for the set itself or its default route.
	Rule string `json:"rule,omitempty"`
	// Field is where in the rule: "when", "then.department", "default.team", ...
	Field string `json:"field,omitempty"`
	// Line and Column are 1-based, in the YAML document; 0 when unknown (a set
	// built in code rather than parsed).
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var where []string
	switch {
	case p.Rule != "":
		where = append(where, "rule "+p.Rule)
	case strings.HasPrefix(p.Field, "default"):
		where = append(where, "default route")
	}
	if p.Line > 0 {
		where = append(where, fmt.Sprintf("line %d", p.Line))
		if p.Column > 0 {
			where = append(where, fmt.Sprintf("column %d", p.Column))
		}
	}
	if len(where) == 0 {
		return p.Message
	}
	return strings.Join(where, ", ") + ": " + p.Message
}

// Problems is every mistake found in a rule set. Parse, Compile and the store
// return it as their error, so callers can list them all with errors.As.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems as they appear in the file; those without a
// position (about the whole set) come first.
func sortProblems(ps Problems) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// didYouMean suggests the closest of options to a misspelt word, as
// " — did you mean 'x'?", or "" when nothing is close.
func didYouMean(word string, options []string) string {
	best, bestDist := "", -1
	lw := strings.ToLower(word)
	for _, o := range options {
		if strings.ToLower(o) == lw {
			return fmt.Sprintf(" — did you mean '%s'? (upper and lower case matter)", o)
		}
		d := editDistance(lw, strings.ToLower(o))
		if bestDist < 0 || d < bestDist {
			best, bestDist = o, d
		}
	}
	limit := max(1, min(3, len(word)/3))
	if best == "" || bestDist > limit {
		return ""
	}
	return fmt.Sprintf(" — did you mean '%s'?", best)
}

// editDistance is the Levenshtein distance between two words.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// listOf writes options for a message: "a, b or c".
func listOf(options []string) string {
	switch len(options) {
	case 0:
		return "none"
	case 1:
		return options[0]
	}
	return strings.Join(options[:len(options)-1], ", ") + " or " + options[len(options)-1]
}
