package rules

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/cases"
)

// Set is a rule set: rules tried in order of priority, and the route a case
// takes when none matches, so that no case is ever left unrouted. YAML is how
// staff read, edit, export and import it:
//
//	name: routing
//	rules:
//	  - id: pothole-dangerous
//	    title: Dangerous pothole
//	    priority: 100
//	    when: service_code == "POT" && attr("dangerous") == "yes"
//	    then: {department: highways, team: roads-north, priority: urgent, sla_policy: pothole-dangerous}
//	default: {department: triage, team: contact-centre, priority: normal, sla_policy: triage}
type Set struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	Rules       []Rule `yaml:"rules" json:"rules"`
	Default     Route  `yaml:"default" json:"default"`

	// src and pos are where Parse read the set, so problems found later
	// (by Compile) can name a line and column.
	src []byte
	pos *positions
}

// Rule is one routing rule. The hit policy is first match: rules are tried from
// the highest Priority down, rules of equal priority in the order written, and
// the first whose When is true decides the route.
type Rule struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title,omitempty" json:"title,omitempty"`
	// Priority orders the rules: higher first. It is not the case's priority
	// (that is Then.Priority).
	Priority int `yaml:"priority,omitempty" json:"priority,omitempty"`
	// When is an expr condition over the facts that must be true or false.
	When string `yaml:"when" json:"when"`
	Then Route  `yaml:"then" json:"then"`
}

// Route says who owns a case and on what terms.
type Route struct {
	Department string `yaml:"department" json:"department"`
	Team       string `yaml:"team,omitempty" json:"team,omitempty"`
	Partner    string `yaml:"partner,omitempty" json:"partner,omitempty"`
	// Priority is the case's priority; normal when left out.
	Priority  cases.Priority `yaml:"priority,omitempty" json:"priority,omitempty"`
	SLAPolicy string         `yaml:"sla_policy,omitempty" json:"sla_policy,omitempty"`
	Tags      []string       `yaml:"tags,omitempty,flow" json:"tags,omitempty"`
	// DuplicateRadius is how near (metres) another open case of the same
	// service must be to be offered as a duplicate; 0 means the default.
	DuplicateRadius int  `yaml:"duplicate_radius_m,omitempty" json:"duplicate_radius_m,omitempty"`
	HoldForTriage   bool `yaml:"hold_for_triage,omitempty" json:"hold_for_triage,omitempty"`
}

// priority is the case priority the route gives, normal when unsaid.
func (r Route) priority() cases.Priority {
	if r.Priority == "" {
		return cases.PriorityNormal
	}
	return r.Priority
}

// positions records where each field of a parsed set was written.
type positions struct {
	set   map[string]yamlPos // "name", "default", "default.team", ...
	rules []rulePositions    // by rule index
}

type rulePositions struct {
	id     string // the rule's id when parsed, so a reordered Set is not misplaced
	fields map[string]yamlPos
}

type yamlPos struct {
	line, col int
	style     yaml.Style
	// comment is set when a plain value was followed by a comment: for a
	// condition, YAML may have cut it at a ' #' meant for expr.
	comment bool
}

// where returns the position of a field of rule i (i < 0: of the set).
func (s *Set) where(i int, field string) yamlPos {
	if s.pos == nil {
		return yamlPos{}
	}
	if i < 0 {
		return s.pos.set[field]
	}
	if i >= len(s.pos.rules) || i >= len(s.Rules) || s.pos.rules[i].id != s.Rules[i].ID {
		return yamlPos{}
	}
	for f := field; f != ""; {
		if p, ok := s.pos.rules[i].fields[f]; ok {
			return p
		}
		// then.team unknown? point at then.
		j := strings.LastIndexByte(f, '.')
		if j < 0 {
			break
		}
		f = f[:j]
	}
	return s.pos.rules[i].fields["id"]
}

// problem builds a Problem for a field of rule i (i < 0: of the set).
func (s *Set) problem(i int, field, format string, args ...any) Problem {
	p := s.where(i, field)
	pr := Problem{Field: field, Line: p.line, Column: p.col, Message: fmt.Sprintf(format, args...)}
	if i >= 0 && i < len(s.Rules) {
		pr.Rule = s.Rules[i].ID
		if pr.Rule == "" {
			pr.Rule = fmt.Sprintf("#%d", i+1)
		}
	}
	return pr
}

// MaxYAML bounds a rule-set document: 1,000 well-commented rules fit, and a
// published version fits in one Temporal payload (2 MB at most) with room to
// spare, as rulearchive keeps it.
const MaxYAML = 1 << 20

var (
	setKeys   = []string{"name", "description", "rules", "default"}
	ruleKeys  = []string{"id", "title", "priority", "when", "then"}
	routeKeys = []string{"department", "team", "partner", "priority", "sla_policy", "tags", "duplicate_radius_m", "hold_for_triage"}
)

// Parse reads a rule set from YAML, keeping rule order. It reports every
// mistake in the document's shape (a misspelt key, a number where a list is
// wanted) as Problems; whether the rules make sense is Compile's job.
func Parse(b []byte) (*Set, error) {
	s, ps := parse(b)
	if len(ps) > 0 {
		return nil, ps
	}
	return s, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parse reads as much of the set as it can, so Validate can also report the
// problems Compile finds in the rules that were readable.
func parse(b []byte) (*Set, Problems) {
	s := &Set{src: b, pos: &positions{set: map[string]yamlPos{}}}
	if len(b) > MaxYAML {
		return s, Problems{{Message: fmt.Sprintf("the file is %d bytes; a rule set can be at most %d", len(b), MaxYAML)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return s, Problems{yamlProblem(b, err)}
	}
	if len(doc.Content) == 0 {
		return s, Problems{{Message: "the file is empty; a rule set needs a name, rules and a default route"}}
	}
	p := &reader{s: s}
	p.set(doc.Content[0])
	return s, p.problems
}

// Conditions YAML reads otherwise than staff mean: one that starts with a
// quote but goes on after the closing quote, or one with ': ' in it.
var (
	quotedWhenRE = regexp.MustCompile(`^\s*(?:-\s+)?when:\s*("[^"]*"|'[^']*')\s*[^\s#]`)
	colonWhenRE  = regexp.MustCompile(`^\s*(?:-\s+)?when:\s*[^|>"'\s].*:\s`)
)

func yamlProblem(src []byte, err error) Problem {
	msg := err.Error()
	pr := Problem{}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pr.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	pr.Message = "this is not valid YAML: " + msg
	if strings.Contains(msg, "mapping values are not allowed") || strings.Contains(msg, "did not find expected key") {
		pr.Message += ". If a condition contains ': ' or starts with a quote, write it on its own lines after 'when: |'"
		// YAML names the line where the mapping began; find the condition.
		for i, line := range strings.Split(string(src), "\n") {
			if quotedWhenRE.MatchString(line) || colonWhenRE.MatchString(line) {
				pr.Line, pr.Column = i+1, 0
				break
			}
		}
	}
	return pr
}

type reader struct {
	s        *Set
	problems Problems
	rule     int // index of the rule being read, -1 for the set
}

func (p *reader) add(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{Field: field, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)}
	if p.rule >= 0 && p.rule < len(p.s.Rules) {
		pr.Rule = p.s.Rules[p.rule].ID
		if pr.Rule == "" {
			pr.Rule = fmt.Sprintf("#%d", p.rule+1)
		}
	}
	p.problems = append(p.problems, pr)
}

func (p *reader) record(field string, n *yaml.Node) {
	pos := yamlPos{line: n.Line, col: n.Column, style: n.Style, comment: n.Style == 0 && n.LineComment != ""}
	if p.rule < 0 {
		p.s.pos.set[field] = pos
	} else {
		p.s.pos.rules[p.rule].fields[field] = pos
	}
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields reads a mapping, reporting unknown and repeated keys, and returns the
// value of each known key in the order written.
func (p *reader) fields(n *yaml.Node, prefix, what string, known []string) (keys []string, values []*yaml.Node) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.add(n, strings.TrimSuffix(prefix, "."), "%s should be a set of 'key: value' lines, e.g. %s", what, exampleOf(what))
		return nil, nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case !contains(known, k.Value):
			p.add(k, prefix+k.Value, "'%s' is not something %s can have%s (it can have: %s)", k.Value, what, didYouMean(k.Value, known), strings.Join(known, ", "))
		case seen[k.Value]:
			p.add(k, prefix+k.Value, "'%s' is written twice in %s; keep one", k.Value, what)
		default:
			seen[k.Value] = true
			p.record(prefix+k.Value, v)
			keys = append(keys, k.Value)
			values = append(values, v)
		}
	}
	return keys, values
}

func exampleOf(what string) string {
	switch what {
	case "a rule":
		return "id: my-rule"
	case "the rule set":
		return "name: routing"
	}
	return "department: highways"
}

func (p *reader) set(root *yaml.Node) {
	p.rule = -1
	keys, values := p.fields(root, "", "the rule set", setKeys)
	for i, k := range keys {
		v := values[i]
		switch k {
		case "name":
			p.s.Name = p.text(v, "name")
		case "description":
			p.s.Description = p.text(v, "description")
		case "default":
			p.s.Default = p.route(v, "default.", "the default route")
		case "rules":
			p.rules(v)
		}
	}
}

func (p *reader) rules(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, "rules", "rules should be a list, each rule starting with '- id: ...'")
		return
	}
	for _, rn := range n.Content {
		rn = resolve(rn)
		p.s.Rules = append(p.s.Rules, Rule{})
		p.rule = len(p.s.Rules) - 1
		rp := rulePositions{fields: map[string]yamlPos{"id": {line: rn.Line, col: rn.Column}}}
		// Read the id first so every problem in the rule can name it.
		if rn.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(rn.Content); i += 2 {
				if rn.Content[i].Value == "id" && resolve(rn.Content[i+1]).Kind == yaml.ScalarNode {
					rp.id = resolve(rn.Content[i+1]).Value
					p.s.Rules[p.rule].ID = rp.id
				}
			}
		}
		p.s.pos.rules = append(p.s.pos.rules, rp)
		r := &p.s.Rules[p.rule]
		keys, values := p.fields(rn, "", "a rule", ruleKeys)
		for i, k := range keys {
			v := values[i]
			switch k {
			case "id":
				r.ID = p.text(v, "id")
			case "title":
				r.Title = p.text(v, "title")
			case "priority":
				r.Priority = p.integer(v, "priority", "a rule's priority", "100")
			case "when":
				r.When = p.text(v, "when")
			case "then":
				r.Then = p.route(v, "then.", "'then'")
			}
		}
	}
	p.rule = -1
}

func (p *reader) route(n *yaml.Node, prefix, what string) Route {
	var r Route
	keys, values := p.fields(n, prefix, what, routeKeys)
	for i, k := range keys {
		v := values[i]
		field := prefix + k
		switch k {
		case "department":
			r.Department = p.text(v, field)
		case "team":
			r.Team = p.text(v, field)
		case "partner":
			r.Partner = p.text(v, field)
		case "priority":
			r.Priority = cases.Priority(p.text(v, field))
		case "sla_policy":
			r.SLAPolicy = p.text(v, field)
		case "tags":
			r.Tags = p.list(v, field)
		case "duplicate_radius_m":
			r.DuplicateRadius = p.integer(v, field, "duplicate_radius_m", "50")
		case "hold_for_triage":
			if v.Tag == "!!null" {
				continue
			}
			if err := v.Decode(&r.HoldForTriage); err != nil {
				p.add(v, field, "hold_for_triage should be true or false, not %q", v.Value)
			}
		}
	}
	return r
}

func (p *reader) text(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode {
		p.add(n, field, "%s should be a single value, not a list or a set of keys", lastPart(field))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *reader) integer(n *yaml.Node, field, what, example string) int {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return 0
	}
	var v int
	if n.Kind != yaml.ScalarNode || n.Decode(&v) != nil {
		p.add(n, field, "%s should be a whole number, e.g. %s, not %q", what, example, n.Value)
	}
	return v
}

func (p *reader) list(n *yaml.Node, field string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "%s should be a list, e.g. [hazard, out-of-hours]", lastPart(field))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode {
			p.add(item, field, "each of %s should be a single word", lastPart(field))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

func lastPart(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Marshal writes a rule set as YAML that Parse reads back to the same set.
// Comments in a set staff wrote are not kept: the store keeps their text as written.
func Marshal(s *Set) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("marshal rule set %s: %w", s.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal rule set %s: %w", s.Name, err)
	}
	return buf.Bytes(), nil
}

// exprPosition finds where, in the YAML document, the character at a rune
// offset of rule i's condition was written (expr reports rune offsets). It walks
// the document from the start of the value, matching the condition's
// characters and skipping what YAML folds away (quotes, indentation, line
// breaks), so it also works for multi-line and quoted conditions. It returns
// 0, 0 when the set was not parsed.
func (s *Set) exprPosition(i, offset int) (int, int) {
	p := s.where(i, "when")
	if p.line == 0 || s.src == nil {
		return 0, 0
	}
	cond := []rune(s.Rules[i].When)
	target := min(max(offset, 0), len(cond))

	src := s.src
	off := lineStart(src, p.line)
	if off < 0 {
		return p.line, p.col
	}
	for c := 1; c < p.col && off < len(src); c++ { // columns count characters
		_, n := utf8.DecodeRune(src[off:])
		off += n
	}
	switch p.style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		off++
	case yaml.LiteralStyle, yaml.FoldedStyle:
		if j := bytes.IndexByte(src[off:], '\n'); j >= 0 {
			off += j + 1
		}
	}
	// Match the condition's characters up to the target.
	for k := 0; k <= target && k < len(cond); k++ {
		r := cond[k]
		if isSpace(r) {
			continue
		}
		found := false
		for off < len(src) {
			sr, n := utf8.DecodeRune(src[off:])
			if sr == r {
				found = true
				break
			}
			off += n
		}
		if !found {
			return p.line, p.col
		}
		if k < target {
			_, n := utf8.DecodeRune(src[off:])
			off += n
		}
	}
	return positionOf(src, off)
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// lineStart is the byte offset where 1-based line starts, or -1.
func lineStart(src []byte, line int) int {
	off := 0
	for l := 1; l < line; l++ {
		j := bytes.IndexByte(src[off:], '\n')
		if j < 0 {
			return -1
		}
		off += j + 1
	}
	return off
}

// positionOf is the 1-based line and column (in characters) of a byte offset.
func positionOf(src []byte, off int) (int, int) {
	off = min(off, len(src))
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(src[start:off])
}
