package rules

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// function is a helper rule authors can call. Helpers are pure: no clock, no
// network, no state, and each runs in time linear in its arguments.
type function struct {
	name string
	// usage is how staff call it; example is a whole condition using it.
	usage, doc, example string
	// facts are the facts it reads (helpers that read facts get them from
	// the environment, see envPatch).
	facts []string
	// args describes each argument for error messages.
	args []string
	fn   func(params ...any) (any, error)
	// types are the Go signatures expr type-checks calls against. A helper
	// that reads facts takes them first, typed any: conditions are checked
	// against Facts (so facts load by field index, fast) but run on *Facts.
	types []any
}

// functions lists every helper, in the order FACTS.md shows them.
var functions = []function{
	{
		name: "containsAny", usage: `containsAny(text, ["word", ...])`,
		doc:     "True if the text contains any of the words or phrases, ignoring upper and lower case. Parts of words count: \"needle\" also finds \"needles\".",
		example: `containsAny(description, ["needle", "syringe"])`,
		args:    []string{"the text to search, e.g. description", `a list of words in square brackets, e.g. ["needle", "syringe"]`},
		fn:      func(p ...any) (any, error) { return containsCount(p[0].(string), p[1], false) > 0, nil },
		types:   []any{new(func(string, []any) bool), new(func(string, []string) bool)},
	},
	{
		name: "containsAll", usage: `containsAll(text, ["word", ...])`,
		doc:     "True if the text contains every one of the words or phrases, ignoring upper and lower case.",
		example: `containsAll(description, ["burnt", "car"])`,
		args:    []string{"the text to search, e.g. description", `a list of words in square brackets, e.g. ["burnt", "car"]`},
		fn: func(p ...any) (any, error) {
			return containsCount(p[0].(string), p[1], false) == listLen(p[1]), nil
		},
		types: []any{new(func(string, []any) bool), new(func(string, []string) bool)},
	},
	{
		name: "containsAnyWord", usage: `containsAnyWord(text, ["word", ...])`,
		doc:     "Like containsAny, but only whole words count: \"bin\" finds \"the bin\" but not \"cabin\".",
		example: `containsAnyWord(description, ["tip", "dumped"])`,
		args:    []string{"the text to search, e.g. description", `a list of words in square brackets, e.g. ["tip", "dumped"]`},
		fn:      func(p ...any) (any, error) { return containsCount(p[0].(string), p[1], true) > 0, nil },
		types:   []any{new(func(string, []any) bool), new(func(string, []string) bool)},
	},
	{
		name: "inArea", usage: `inArea("area name")`,
		doc:     "True if the report's point is inside the named council area (see the area names in the council's areas file).",
		example: `inArea("Camden Town")`,
		facts:   []string{"areas"},
		args:    []string{`an area name in quotes, e.g. "Camden Town"`},
		fn:      func(p ...any) (any, error) { return containsString(p[0].(*Facts).Areas, p[1].(string)), nil },
		types:   []any{new(func(any, string) bool)},
	},
	{
		name: "inAnyArea", usage: `inAnyArea(["area name", ...])`,
		doc:     "True if the report's point is inside any of the named areas.",
		example: `inAnyArea(["Camden Town", "Kentish Town"])`,
		facts:   []string{"areas"},
		args:    []string{`a list of area names in square brackets, e.g. ["Camden Town", "Kentish Town"]`},
		fn: func(p ...any) (any, error) {
			areas := p[0].(*Facts).Areas
			found := false
			eachString(p[1], func(s string) bool {
				found = containsString(areas, s)
				return !found
			})
			return found, nil
		},
		types: []any{new(func(any, []any) bool), new(func(any, []string) bool)},
	},
	{
		name: "withinMetres", usage: `withinMetres(lat, long, latitude, longitude, metres)`,
		doc:     "True if the first point is within that many metres of the second. Reports without a point are never within range.",
		example: `has_point && withinMetres(lat, long, 51.5390, -0.1426, 200)`,
		args:    []string{"a latitude, e.g. lat", "a longitude, e.g. long", "a latitude, e.g. 51.5390", "a longitude, e.g. -0.1426", "a distance in metres, e.g. 200"},
		fn: func(p ...any) (any, error) {
			return distanceMetres(num(p[0]), num(p[1]), num(p[2]), num(p[3])) <= num(p[4]), nil
		},
		types: []any{new(func(float64, float64, float64, float64, float64) bool)},
	},
	{
		name: "distanceMetres", usage: `distanceMetres(lat, long, latitude, longitude)`,
		doc:     "The distance in metres between two points, along the ground.",
		example: `distanceMetres(lat, long, 51.5390, -0.1426) < 500`,
		args:    []string{"a latitude, e.g. lat", "a longitude, e.g. long", "a latitude, e.g. 51.5390", "a longitude, e.g. -0.1426"},
		fn: func(p ...any) (any, error) {
			return distanceMetres(num(p[0]), num(p[1]), num(p[2]), num(p[3])), nil
		},
		types: []any{new(func(float64, float64, float64, float64) float64)},
	},
	{
		name: "attr", usage: `attr("code")`,
		doc:     "The answer to the service's question with that code, or \"\" if there is none. For a question with several answers, the first.",
		example: `attr("dangerous") == "yes"`,
		facts:   []string{"attributes"},
		args:    []string{`a question code in quotes, e.g. "dangerous"`},
		fn:      func(p ...any) (any, error) { return p[0].(*Facts).Attributes[p[1].(string)], nil },
		types:   []any{new(func(any, string) string)},
	},
	{
		name: "attrHas", usage: `attrHas("code", "answer")`,
		doc:     "True if any answer to the question is that answer; use it for questions with several answers.",
		example: `attrHas("waste_type", "asbestos")`,
		facts:   []string{"attribute_values"},
		args:    []string{`a question code in quotes, e.g. "waste_type"`, `an answer in quotes, e.g. "asbestos"`},
		fn: func(p ...any) (any, error) {
			return containsString(p[0].(*Facts).AttributeValues[p[1].(string)], p[2].(string)), nil
		},
		types: []any{new(func(any, string, string) bool)},
	},
	{
		name: "attrNumber", usage: `attrNumber("code")`,
		doc:     "The answer to the question as a number, or 0 if there is no answer or it is not a number.",
		example: `attrNumber("depth") >= 5`,
		facts:   []string{"attributes"},
		args:    []string{`a question code in quotes, e.g. "depth"`},
		fn: func(p ...any) (any, error) {
			v, err := strconv.ParseFloat(strings.TrimSpace(p[0].(*Facts).Attributes[p[1].(string)]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0.0, nil
			}
			return v, nil
		},
		types: []any{new(func(any, string) float64)},
	},
	{
		name: "timeBetween", usage: `timeBetween("HH:MM", "HH:MM")`,
		doc:     "True if the report was received at or after the first time and before the second, on the council's clock. The span may cross midnight.",
		example: `timeBetween("23:00", "07:00")`,
		facts:   []string{"hour", "minute"},
		args:    []string{`a time in quotes, e.g. "23:00"`, `a time in quotes, e.g. "07:00"`},
		fn: func(p ...any) (any, error) {
			f := p[0].(*Facts)
			from, ok1 := clockMinutes(p[1].(string))
			to, ok2 := clockMinutes(p[2].(string))
			if !ok1 || !ok2 {
				return nil, errBadClock
			}
			now := f.Hour*60 + f.Minute
			if from <= to {
				return from <= now && now < to, nil
			}
			return now >= from || now < to, nil
		},
		types: []any{new(func(any, string, string) bool)},
	},
}

var functionIndex = func() map[string]*function {
	m := make(map[string]*function, len(functions))
	for i := range functions {
		m[functions[i].name] = &functions[i]
	}
	return m
}()

// readsEnv reports whether the helper is given the facts as a hidden first argument.
func (fn *function) readsEnv() bool { return len(fn.facts) > 0 }

func (fn *function) options() expr.Option {
	return expr.Function(fn.name, fn.fn, fn.types...)
}

type clockError struct{}

func (clockError) Error() string { return "a time must be written as HH:MM, e.g. \"07:30\"" }

var errBadClock error = clockError{}

// clockMinutes reads "HH:MM" as minutes since midnight.
func clockMinutes(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

// num reads a number expr passed as int or float64 (a fact like hour arrives as
// int even where the signature says float64).
func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return math.NaN()
}

// distanceMetres is the haversine distance; plenty accurate within a borough.
func distanceMetres(lat1, long1, lat2, long2 float64) float64 {
	const earthRadius = 6_371_008.8 // mean radius, metres
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLong := (long2 - long1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLong/2)*math.Sin(dLong/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(a)))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eachString calls fn with every string of a list expr passed as []any or
// []string, until fn returns false. Non-strings are skipped: compile-time checks
// reject them in lists written in the rule.
func eachString(list any, fn func(string) bool) {
	switch l := list.(type) {
	case []string:
		for _, s := range l {
			if !fn(s) {
				return
			}
		}
	case []any:
		for _, v := range l {
			if s, ok := v.(string); ok && !fn(s) {
				return
			}
		}
	}
}

func listLen(list any) int {
	n := 0
	eachString(list, func(string) bool { n++; return true })
	return n
}

// containsCount counts the words of list found in text, ignoring case. The
// text is lowered once and each word found with bytes.Index, so the work is
// about len(text) per word whatever the text holds (a citizen writes it).
func containsCount(text string, list any, wholeWords bool) int {
	bp := lowerBufs.Get().(*[]byte)
	defer lowerBufs.Put(bp)
	lt := appendLower((*bp)[:0], text)
	*bp = lt
	n := 0
	eachString(list, func(w string) bool {
		var small [64]byte
		if findWord(lt, appendLower(small[:0], w), wholeWords) {
			n++
		}
		return true
	})
	return n
}

var lowerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendLower appends s in lower case to b.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		b = append(b, lowerASCII(s[i]))
	}
	return b
}

// findWord reports whether text holds word (both lower case), as a whole word
// if asked.
func findWord(text, word []byte, wholeWord bool) bool {
	if len(word) == 0 {
		return true
	}
	for i := 0; i < len(text); {
		j := bytes.Index(text[i:], word)
		if j < 0 {
			return false
		}
		if !wholeWord || isWordAt(text, i+j, len(word)) {
			return true
		}
		_, size := utf8.DecodeRune(text[i+j:])
		i += j + size
	}
	return false
}

// isWordAt reports whether s[i:i+n] is not part of a longer word.
func isWordAt(s []byte, i, n int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRune(s[:i])
		if isWordRune(r) {
			return false
		}
	}
	if i+n < len(s) {
		r, _ := utf8.DecodeRune(s[i+n:])
		if isWordRune(r) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
