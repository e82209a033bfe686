package readmodel

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
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
// A word of an address or a reporter's name is also found by its start,
// three letters or more ("acac" finds "Acacia Avenue"): each such start is
// indexed as a word of its own, so a search by a start costs what a search
// by a word does, one set, and never a union over every word that starts
// so. Descriptions and references are not indexed by starts: descriptions
// hold most of a case's words, and would double the memory; a reference's
// starts are each a set of one or two cases, a key each.
// Matching is on letters and digits, case and accents folded.
//
// Key names carry no words. Reporters' names and addresses would otherwise
// be in the names of the word sets, where MONITOR, SLOWLOG, key scans and
// memory reports show them; a word's set is named by a keyed hash of it
// instead (HMAC-SHA256, the first 12 bytes, UseSearchKey).

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

// MaxStarts bounds the starts of words indexed per case, as MaxTerms does
// the words.
const MaxStarts = 60

// startFrom is the fewest letters a start of a word is found by: shorter
// starts would be sets of most cases, and find nothing in particular.
const startFrom = 3

// caseTerms are the words a case is found by: its reference, then each
// report's address, reporter's name, title and description, and then the
// starts of the words of the addresses and names.
func caseTerms(c *cases.Case) []string {
	ref := appendTerms(nil, c.Ref, MaxTerms)
	named := slices.Clip(ref)
	for _, r := range c.Reports {
		l := r.Location
		named = appendTerms(named, l.Address+" "+l.ClosestAddress+" "+l.Zipcode, MaxTerms)
		named = appendTerms(named, r.Reporter.FirstName+" "+r.Reporter.LastName, MaxTerms)
	}
	out := slices.Clip(named)
	named = named[len(ref):]
	for _, r := range c.Reports {
		out = appendTerms(out, r.Title, MaxTerms)
		out = appendTerms(out, r.Description, MaxTerms)
	}
	starts := 0
	for _, w := range named {
		rs := []rune(w)
		for n := startFrom; n < len(rs) && starts < MaxStarts; n++ {
			if p := string(rs[:n]); !stopWords[p] && !slices.Contains(out, p) {
				out = append(out, p)
				starts++
			}
		}
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

// UseSearchKey sets the secret the word sets' names are keyed with (at
// least 16 bytes). Without one they are keyed with defaultSearchKey, which
// anyone can read here: a fixed salt, so a word is still not in plain sight,
// but whoever can list the keys can test guesses. Call it before the store is
// used; a read model written with another key finds nothing by words until
// `casebridge reindex` has rebuilt them (the old sets go as it does).
func (s *Store) UseSearchKey(secret []byte) { s.searchKey = bytes.Clone(secret) }

// defaultSearchKey keys the word sets' names when no secret is configured.
var defaultSearchKey = []byte("casebridge read model: search words, v1")

// termKey names a word's set by a keyed hash of it.
func (s *Store) termKey(t string) string {
	key := s.searchKey
	if key == nil {
		key = defaultSearchKey
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(t))
	return s.ns + "idx:word:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:12])
}

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
