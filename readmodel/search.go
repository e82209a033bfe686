package readmodel

import (
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/casebridge/casebridge/cases"
)

// Finding work: staff search cases by words of their reference, description,
// address and reporter's name. The index is kept on sorted sets, one per
// word, by the same projection script as every other index, so it is never
// behind the case it describes, needs no second store to run, back up or
// rebuild, and a search is one more set in the intersection a list already
// does (ZINTER of the word sets and the filters', sorted by the list's
// order). RediSearch is not available on the council's Redis, and a Go
// full-text library (bleve, say) would keep an index per process on local
// disk: every api replica would need its own copy fed by the event stream,
// rebuilt on each new replica, and could not be combined with the read
// model's filters in one step.
//
// Words are whole words: "pothole" finds "Pothole!" and "potholes" does not.
// Matching is on letters and digits, case and accents folded.

// MaxTerms bounds the words indexed per case: the projection writes one
// sorted-set entry per word, so a 10,000-character description must not
// become thousands of writes. The reference, address and name come first.
const MaxTerms = 120

// stopWords are too common to narrow a search: a query of only these finds
// everything, so they are neither indexed nor searched for.
var stopWords = map[string]bool{
	"a": true, "an": true, "and": true, "are": true, "as": true, "at": true, "be": true, "by": true, "for": true,
	"from": true, "has": true, "in": true, "is": true, "it": true, "its": true, "of": true, "on": true, "or": true,
	"that": true, "the": true, "there": true, "this": true, "to": true, "was": true, "with": true,
}

var fold = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// Terms splits text into the words search indexes and matches: lower case,
// accents removed, split at anything but a letter or digit, stop words and
// single letters left out, each word once, in order of first appearance.
func Terms(text string) []string {
	return appendTerms(nil, text, -1)
}

func appendTerms(out []string, text string, most int) []string {
	folded, _, err := transform.String(fold, text)
	if err != nil {
		folded = text
	}
	for _, w := range strings.FieldsFunc(strings.ToLower(folded), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if most >= 0 && len(out) >= most {
			break
		}
		if len(w) < 2 && !(len(w) == 1 && w[0] >= '0' && w[0] <= '9') || stopWords[w] || len(w) > 64 || slices.Contains(out, w) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// caseTerms are the words a case is found by: its reference, then each
// report's address, reporter's name, title and description.
func caseTerms(c *cases.Case) []string {
	out := appendTerms(nil, c.Ref, MaxTerms)
	for _, r := range c.Reports {
		l := r.Location
		out = appendTerms(out, l.Address+" "+l.ClosestAddress+" "+l.Zipcode, MaxTerms)
		out = appendTerms(out, r.Reporter.FirstName+" "+r.Reporter.LastName, MaxTerms)
	}
	for _, r := range c.Reports {
		out = appendTerms(out, r.Title, MaxTerms)
		out = appendTerms(out, r.Description, MaxTerms)
	}
	return out
}

// Areas says which named areas (wards) a point is in (areas.Set).
type Areas interface {
	Lookup(lat, long float64) []string
}

// UseAreas makes projections file each case under the areas its point is
// in, for the area filter. Call it before the store is used.
func (s *Store) UseAreas(a Areas) { s.areas = a }

func (s *Store) termKey(t string) string        { return s.ns + "idx:term:" + t }
func (s *Store) sourceKey(src string) string    { return s.ns + "idx:source:" + src }
func (s *Store) areaKey(area string) string     { return s.ns + "idx:area:" + area }
func (s *Store) assigneeKey(who string) string  { return s.ns + "idx:assignee:" + strings.ToLower(who) }
func (s *Store) escalationKey(lv string) string { return s.ns + "idx:esc:" + lv }
func (s *Store) deptEscalatedKey(dept string) string {
	return s.ns + "idx:deptesc:" + dept
}

// indexFinding names the sets search and the filters read, each scored by
// the time the case was received: a word set per term, the source of its
// first report, its areas, its assignee and, while open, its escalation
// level (the latest fired) and the set of all escalated cases.
func (s *Store) indexFinding(c *cases.Case, index func(key string, score float64)) {
	at := score(c.ReceivedAt)
	for _, t := range caseTerms(c) {
		index(s.termKey(t), at)
	}
	if src := c.Report().Source; src != "" {
		index(s.sourceKey(string(src)), at)
	}
	if s.areas != nil {
		if lat, long, ok := point(c.Report().Location); ok {
			for _, a := range s.areas.Lookup(lat, long) {
				index(s.areaKey(a), at)
			}
		}
	}
	if c.Assignee != "" {
		index(s.assigneeKey(c.Assignee), at)
	}
	if !c.Status.Closed() && c.Promise != nil && len(c.Promise.Escalations) > 0 {
		index(s.escalatedKey(), at)
		if c.Department != "" {
			index(s.deptEscalatedKey(c.Department), at)
		}
		index(s.escalationKey(c.Promise.Escalations[len(c.Promise.Escalations)-1].Level), at)
	}
}
