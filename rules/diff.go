package rules

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Diff is what changed between two texts of a rule set.
type Diff struct {
	From int `json:"from"` // version number, 0 for the draft
	To   int `json:"to"`
	// Text is a unified line diff of the YAML, "" when the texts are equal.
	Text string `json:"text"`
	// Added, Removed and Changed are rule ids. A rule is changed when any of
	// its fields differ.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// Reordered is set when rules kept by both were written in another order,
	// which matters between rules of equal priority.
	Reordered      bool `json:"reordered,omitempty"`
	DefaultChanged bool `json:"default_changed,omitempty"`
}

// DiffYAML compares two texts of a rule set, labelled (e.g. "version 3",
// "draft") for the text diff. Rules are compared when both texts parse.
func DiffYAML(from, to []byte, fromLabel, toLabel string) Diff {
	var d Diff
	d.Text = unified(splitLines(string(from)), splitLines(string(to)), fromLabel, toLabel)
	a, errA := Parse(from)
	b, errB := Parse(to)
	if errA != nil || errB != nil {
		return d
	}
	old := map[string]Rule{}
	var oldOrder, newOrder []string
	for _, r := range a.Rules {
		old[r.ID] = r
	}
	seen := map[string]bool{}
	for _, r := range b.Rules {
		seen[r.ID] = true
		o, ok := old[r.ID]
		switch {
		case !ok:
			d.Added = append(d.Added, r.ID)
		case !reflect.DeepEqual(o, r):
			d.Changed = append(d.Changed, r.ID)
		}
		if ok {
			newOrder = append(newOrder, r.ID)
		}
	}
	for _, r := range a.Rules {
		if !seen[r.ID] {
			d.Removed = append(d.Removed, r.ID)
		} else {
			oldOrder = append(oldOrder, r.ID)
		}
	}
	d.Reordered = !slices.Equal(oldOrder, newOrder)
	d.DefaultChanged = !reflect.DeepEqual(a.Default, b.Default)
	return d
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// edit is one line of a diff: ' ' kept, '-' removed, '+' added.
type edit struct {
	op   byte
	line string
	a, b int // 0-based line numbers in each text (of the line, or where it would be)
}

// maxDiffEdits bounds the Myers search (its trace grows with the square of
// the edits); two texts further apart are shown as wholly replaced.
const maxDiffEdits = 1_000

// diffLines is Myers' O(ND) diff of two lists of lines.
func diffLines(a, b []string) []edit {
	// Common prefix and suffix cost nothing to keep out of the search.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []edit
	for i := range pre {
		out = append(out, edit{' ', a[i], i, i})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf], pre)...)
	for i := range suf {
		ia, ib := len(a)-suf+i, len(b)-suf+i
		out = append(out, edit{' ', a[ia], ia, ib})
	}
	return out
}

func myers(a, b []string, base int) []edit {
	n, m := len(a), len(b)
	replaceAll := func() []edit {
		var out []edit
		for i, l := range a {
			out = append(out, edit{'-', l, base + i, base})
		}
		for j, l := range b {
			out = append(out, edit{'+', l, base + n, base + j})
		}
		return out
	}
	if n == 0 || m == 0 {
		return replaceAll()
	}
	limit := min(n+m, maxDiffEdits)
	off := limit + 1
	v := make([]int, 2*limit+3)
	// trace[d] is v[k] for k in [-d-1, d+1] before step d.
	var trace [][]int
	for d := 0; d <= limit; d++ {
		trace = append(trace, slices.Clone(v[off-d-1:off+d+2]))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || k != d && v[off+k-1] < v[off+k+1] {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				return backtrack(trace, a, b, base, d)
			}
		}
	}
	return replaceAll()
}

func backtrack(trace [][]int, a, b []string, base, d int) []edit {
	var rev []edit
	x, y := len(a), len(b)
	for ; d > 0; d-- {
		prev := trace[d]
		at := func(k int) int { return prev[k+d+1] }
		k := x - y
		prevK := k - 1
		if k == -d || k != d && at(k-1) < at(k+1) {
			prevK = k + 1
		}
		px := at(prevK)
		py := px - prevK
		for x > px && y > py {
			x, y = x-1, y-1
			rev = append(rev, edit{' ', a[x], base + x, base + y})
		}
		if x == px {
			y--
			rev = append(rev, edit{'+', b[y], base + x, base + y})
		} else {
			x--
			rev = append(rev, edit{'-', a[x], base + x, base + y})
		}
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		rev = append(rev, edit{' ', a[x], base + x, base + y})
	}
	slices.Reverse(rev)
	return rev
}

// unified writes a diff in the unified format with three lines of context.
func unified(a, b []string, fromLabel, toLabel string) string {
	edits := diffLines(a, b)
	const context = 3
	var out strings.Builder
	for i := 0; i < len(edits); {
		if edits[i].op == ' ' {
			i++
			continue
		}
		// A hunk runs from context lines before this change to context lines
		// after the last change that is no more than 2*context lines later.
		start := max(0, i-context)
		end := i
		for j := i; j < len(edits); j++ {
			if edits[j].op != ' ' {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		end = min(len(edits), end+context+1)
		if out.Len() == 0 {
			fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromLabel, toLabel)
		}
		var na, nb int
		for _, e := range edits[start:end] {
			if e.op != '+' {
				na++
			}
			if e.op != '-' {
				nb++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(edits[start].a, na), hunkRange(edits[start].b, nb))
		for _, e := range edits[start:end] {
			out.WriteByte(e.op)
			out.WriteString(e.line)
			if !strings.HasSuffix(e.line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
