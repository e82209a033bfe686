package rules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
)

// Catalogue is what a rule may name: departments, teams, partners, SLA
// policies, services, areas and question codes. It is the configuration's own
// list (config.Catalogue), with the areas the caller loaded.
type Catalogue = config.Catalogue

// Validate checks a rule set written in YAML against the catalogue and returns
// every problem, in the order they appear in the file; none means it can be
// saved and published.
func Validate(yamlText []byte, cat Catalogue) []Problem {
	s, ps := parse(yamlText)
	if s == nil || len(ps) > 0 && len(s.Rules) == 0 && s.Name == "" {
		return ps
	}
	_, err := compile(s, 0, cat)
	var more Problems
	if errors.As(err, &more) {
		ps = append(ps, more...)
	}
	ps = dedupe(ps)
	sortProblems(ps)
	return ps
}

// dedupe drops a problem reported twice, by parse and by compile.
func dedupe(ps Problems) Problems {
	var out Problems
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Compile checks a rule set against the catalogue and prepares it for Route.
// Its error is Problems, listing every mistake, each with its rule, position and
// what to do about it. The set gets version 0 (a draft); the store compiles
// published versions with their numbers.
func Compile(s *Set, cat Catalogue) (*Compiled, error) {
	return compile(s, 0, cat)
}

// CompileYAML parses and compiles a rule set's text, as `casebridge rules
// test` and a simulation against a draft need. Its error is Problems.
func CompileYAML(text []byte, cat Catalogue) (*Compiled, error) {
	return compileText(text, 0, cat)
}

// compileText parses and compiles; when the text does not parse, its error
// lists the problems Compile finds in what could be read as well.
func compileText(text []byte, version int, cat Catalogue) (*Compiled, error) {
	s, err := Parse(text)
	if err != nil {
		return nil, Problems(Validate(text, cat))
	}
	return compile(s, version, cat)
}

// Compiled is a rule set ready to route cases. It never changes, so one
// Compiled serves any number of goroutines.
type Compiled struct {
	set     *Set
	version int
	// rules are in the order Route tries them: priority, then as written.
	rules []compiledRule
	// byCode lists, for each service code some rule is keyed on, the rules
	// Route tries for it (its keyed rules and the unkeyed ones, in order);
	// unkeyed is the list for every other code.
	byCode  map[string][]int32
	unkeyed []int32
	uses    factSet
	heading string // the explanation's first line
}

type compiledRule struct {
	*Rule
	written int // index in the set as written
	prog    *vm.Program
	facts   factSet
	codes   []string
	keyed   bool
	// matched is the explanation's line when this rule decides, made once
	// here rather than on every decision.
	matched string
}

// Name is the rule set's name.
func (c *Compiled) Name() string { return c.set.Name }

// Version is the published version compiled, 0 for a draft.
func (c *Compiled) Version() int { return c.version }

// Set returns the rule set compiled. Treat it as read-only.
func (c *Compiled) Set() *Set { return c.set }

// Uses reports whether any rule reads the fact, so a caller can skip
// gathering facts no rule needs (open_nearby costs a Redis query).
func (c *Compiled) Uses(fact string) bool {
	i, ok := factIndex[fact]
	return ok && c.uses&(1<<i) != 0
}

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// DefaultRuleID is the rule id a decision records when the default route was taken.
const DefaultRuleID = "default"

// maxDuplicateRadius bounds duplicate_radius_m; a wider search finds unrelated cases.
const maxDuplicateRadius = 5_000

func compile(s *Set, version int, cat Catalogue) (*Compiled, error) {
	var ps Problems
	if s.Name == "" {
		ps = append(ps, s.problem(-1, "name", "the rule set needs a name, e.g. name: routing"))
	} else if !nameRE.MatchString(s.Name) {
		ps = append(ps, s.problem(-1, "name", "the name '%s' should use lower-case letters, digits, '-' or '_', e.g. routing", s.Name))
	}
	if s.Default.Department == "" {
		ps = append(ps, s.problem(-1, "default", "the rule set needs a default route with a department, so that every case goes somewhere, e.g. default: {department: triage}"))
	} else {
		ps = append(ps, checkRoute(s, -1, "default.", s.Default, &cat)...)
	}

	c := &Compiled{set: s, version: version}
	cfg := parserConfig()
	ids := map[string]int{}
	for i := range s.Rules {
		r := &s.Rules[i]
		switch {
		case r.ID == "":
			ps = append(ps, s.problem(i, "id", "this rule needs an id, e.g. id: pothole-dangerous"))
		case !idRE.MatchString(r.ID):
			ps = append(ps, s.problem(i, "id", "the id '%s' should be letters, digits, '-', '_' or '.', at most 64, e.g. pothole-dangerous", r.ID))
		case r.ID == DefaultRuleID:
			ps = append(ps, s.problem(i, "id", "'%s' is kept for the default route; give this rule another id", DefaultRuleID))
		default:
			if j, dup := ids[r.ID]; dup {
				ps = append(ps, s.problem(i, "id", "the id '%s' is also used by rule number %d; every rule needs its own id", r.ID, j+1))
			}
			ids[r.ID] = i
		}
		if r.Then.Department == "" {
			ps = append(ps, s.problem(i, "then", "'then' needs a department, e.g. then: {department: highways}"))
		} else {
			ps = append(ps, checkRoute(s, i, "then.", r.Then, &cat)...)
		}
		cr, rps := compileRule(s, i, cfg, &cat)
		ps = append(ps, rps...)
		c.rules = append(c.rules, cr)
	}
	if len(ps) > 0 {
		sortProblems(ps)
		return nil, ps
	}
	c.index()
	c.heading = "Rule set " + s.Name + ", draft."
	if version > 0 {
		c.heading = "Rule set " + s.Name + ", version " + strconv.Itoa(version) + "."
	}
	for j := range c.rules {
		r := &c.rules[j]
		r.matched = "Rule " + r.ID + " (" + r.Title + ") matched: its condition was true."
	}
	return c, nil
}

// checkRoute checks a route's names against the catalogue.
func checkRoute(s *Set, i int, prefix string, r Route, cat *Catalogue) Problems {
	var ps Problems
	bad := func(field, format string, args ...any) {
		ps = append(ps, s.problem(i, prefix+field, format, args...))
	}
	if !slices.Contains(cat.Departments, r.Department) {
		bad("department", "there is no department called '%s'%s (departments: %s)", r.Department, didYouMean(r.Department, cat.Departments), strings.Join(cat.Departments, ", "))
	} else if r.Team != "" && !slices.Contains(cat.Teams[r.Department], r.Team) {
		teams := cat.Teams[r.Department]
		if len(teams) == 0 {
			bad("team", "the %s department has no teams, so leave out team: %s", r.Department, r.Team)
		} else {
			bad("team", "the %s department has no team called '%s'%s (its teams: %s)", r.Department, r.Team, didYouMean(r.Team, teams), strings.Join(teams, ", "))
		}
	}
	if r.Partner != "" && !slices.Contains(cat.Partners, r.Partner) {
		bad("partner", "there is no partner agency called '%s'%s (partners: %s)", r.Partner, didYouMean(r.Partner, cat.Partners), strings.Join(cat.Partners, ", "))
	}
	if r.Priority != "" && !r.Priority.Valid() {
		names := make([]string, len(cases.Priorities))
		for i, p := range cases.Priorities {
			names[i] = string(p)
		}
		bad("priority", "there is no priority called '%s'%s (priorities: %s)", r.Priority, didYouMean(string(r.Priority), names), strings.Join(names, ", "))
	}
	if r.SLAPolicy != "" && !slices.Contains(cat.SLAPolicies, r.SLAPolicy) {
		bad("sla_policy", "there is no SLA policy called '%s'%s (SLA policies: %s)", r.SLAPolicy, didYouMean(r.SLAPolicy, cat.SLAPolicies), strings.Join(cat.SLAPolicies, ", "))
	}
	for _, t := range r.Tags {
		if strings.TrimSpace(t) == "" || len(t) > 64 || strings.ContainsAny(t, ",\n") {
			bad("tags", "the tag %q should be a short word or phrase without commas", t)
		}
	}
	if r.DuplicateRadius < 0 || r.DuplicateRadius > maxDuplicateRadius {
		bad("duplicate_radius_m", "duplicate_radius_m is %d; it should be between 0 (the usual radius) and %d metres", r.DuplicateRadius, maxDuplicateRadius)
	}
	return ps
}

// compileRule compiles one rule's condition, turning what expr says into
// problems staff can act on.
func compileRule(s *Set, i int, cfg *conf.Config, cat *Catalogue) (compiledRule, Problems) {
	r := &s.Rules[i]
	cr := compiledRule{Rule: r, written: i}
	at := func(offset int, msg string) Problems {
		if s.where(i, "when").comment {
			msg += ". Note: YAML took everything after ' #' as a comment, so the condition was cut short there; write it on its own lines after 'when: |'"
		}
		p := s.problem(i, "when", "%s", msg)
		if line, col := s.exprPosition(i, offset); line > 0 {
			p.Line, p.Column = line, col
		}
		return Problems{p}
	}
	if strings.TrimSpace(r.When) == "" {
		return cr, Problems{s.problem(i, "when", "'when' is empty: write the condition for this rule, e.g. when: service_code == \"POT\" (or when: true to match every case)")}
	}
	if off, msg := checkText(r.When); msg != "" {
		return cr, at(off, msg)
	}
	tree, err := parser.ParseWithConfig(r.When, cfg)
	if err != nil {
		return cr, at(exprErrorOffset(err), plainMessage(err, nil))
	}
	a := analyse(tree.Node, cat)
	if len(a.problems) > 0 {
		var ps Problems
		for _, p := range a.problems {
			ps = append(ps, at(p.offset, p.msg)...)
		}
		return cr, ps
	}
	prog, err := expr.Compile(r.When, exprOptions...)
	if err != nil {
		return cr, at(exprErrorOffset(err), plainMessage(err, tree.Node))
	}
	// Only now are the types known to be right, which the estimate assumes.
	if cost := costOf(tree.Node); cost > maxCost {
		return cr, at(0, fmt.Sprintf("this condition could take too long to run on a long report (up to about %.0f ms; a rule may take %d ms at most). "+
			"Look for fewer or shorter words, use shorter patterns, or avoid lists inside lists", cost/1e6, maxCost/1_000_000))
	}
	cr.prog, cr.facts, cr.codes, cr.keyed = prog, a.facts, a.codes, a.keyed
	return cr, nil
}

// index orders the rules for Route and builds the service-code index.
func (c *Compiled) index() {
	// Stable: equal priorities keep the order written.
	slices.SortStableFunc(c.rules, func(a, b compiledRule) int { return b.Priority - a.Priority })
	keyed := map[string][]int32{}
	for j := range c.rules {
		r := &c.rules[j]
		c.uses |= r.facts
		if !r.keyed {
			c.unkeyed = append(c.unkeyed, int32(j))
			continue
		}
		for _, code := range r.codes {
			keyed[code] = append(keyed[code], int32(j))
		}
	}
	c.byCode = make(map[string][]int32, len(keyed))
	for code, list := range keyed {
		c.byCode[code] = merge(list, c.unkeyed)
	}
}

// merge merges two ascending lists.
func merge(a, b []int32) []int32 {
	out := make([]int32, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

func exprErrorOffset(err error) int {
	var fe *file.Error
	if errors.As(err, &fe) {
		return fe.From
	}
	return 0
}

// Translations of expr's messages into words for the staff who write rules.
var (
	mismatchRE  = regexp.MustCompile(`^invalid operation: (\S+) \(mismatched types (.+) and (.+)\)$`)
	argTypeRE   = regexp.MustCompile(`^cannot use (.+) as argument \(type (.+)\) to call (\w+)\s*$`)
	argCountRE  = regexp.MustCompile(`^(not enough|too many) arguments to call (\w+)$`)
	expectRE    = regexp.MustCompile(`^expected bool, but got (.+)$`)
	noFieldRE   = regexp.MustCompile(`^type (.+) has no field (.+)$`)
	tokenRE     = regexp.MustCompile(`^unexpected token (\w+)(?:\((.*)\))?$`)
	builtinArgs = regexp.MustCompile(`^invalid argument for (\w+) \(type (.+)\)$`)
)

// plainMessage says what is wrong with a condition in words a non-programmer
// can act on; tree (when known) helps name the helper involved.
func plainMessage(err error, tree ast.Node) string {
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	msg = strings.TrimPrefix(msg, "compilation failed: ")
	switch {
	case strings.Contains(msg, "exceeds maximum allowed nodes"):
		return fmt.Sprintf("the condition is too long: it has more than %s parts. Split it into several rules", thousands(maxNodes))
	case strings.Contains(msg, "literal not terminated"):
		return "a text in quotes is not closed here: add the closing quote"
	case strings.Contains(msg, "invalid char escape"):
		return "a backslash in quotes must be followed by n, t, \\ or a quote; write \\\\ for a backslash"
	case strings.HasPrefix(msg, "error parsing regexp: "):
		return "the pattern after 'matches' is not a valid regular expression: " + strings.TrimPrefix(msg, "error parsing regexp: ")
	}
	if m := expectRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("the condition must be true or false, but this gives %s. Compare it with something, e.g. attr(\"dangerous\") == \"yes\" or hour >= 18", exprType(m[1]))
	}
	if m := mismatchRE.FindStringSubmatch(msg); m != nil {
		op, a, b := m[1], exprType(m[2]), exprType(m[3])
		switch op {
		case "&&", "||", "and", "or":
			return fmt.Sprintf("'%s' joins conditions that are true or false, but here it has %s and %s", op, a, b)
		}
		out := fmt.Sprintf("'%s' cannot be used between %s and %s", op, a, b)
		if (a == "text") != (b == "text") {
			out += `. Write numbers without quotes (hour >= 18) and text in quotes (weekday == "Monday")`
		}
		return out
	}
	if m := argTypeRE.FindStringSubmatch(msg); m != nil {
		fn := functionIndex[m[3]]
		out := fmt.Sprintf("%s needs %s here, but this is %s", m[3], exprType(m[2]), exprType(m[1]))
		if fn != nil {
			out += ". For example: " + fn.example
		}
		return out
	}
	if m := argCountRE.FindStringSubmatch(msg); m != nil {
		if fn := functionIndex[m[2]]; fn != nil {
			return fmt.Sprintf("%s needs %d %s: %s. For example: %s", fn.name, len(fn.args), plural(len(fn.args), "value", "values"), strings.Join(fn.args, "; "), fn.example)
		}
		return fmt.Sprintf("%s has %s values", m[2], m[1])
	}
	if m := builtinArgs.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s cannot be used on %s", m[1], exprType(m[2]))
	}
	if m := noFieldRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s has no part called '%s'", strings.TrimPrefix(exprType(m[1]), "a "), m[2])
	}
	if m := tokenRE.FindStringSubmatch(msg); m != nil {
		if m[1] == "EOF" {
			return "the condition stops too early: something is missing at the end (a value, a closing bracket or quote?)"
		}
		tok := m[2]
		if u, err := strconv.Unquote(tok); err == nil {
			tok = u
		}
		if tok == "=" {
			return "'=' is out of place here: to compare two values write == (two equals signs)"
		}
		return fmt.Sprintf("'%s' is out of place here: check for a missing value, operator, comma or bracket before it", tok)
	}
	return "the condition has a mistake here: " + msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// exprType turns a type as expr names it into words.
func exprType(t string) string {
	switch t {
	case "string":
		return "text"
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "[]string":
		return "a list of text"
	case "[]interface {}", "[]any":
		return "a list"
	case "map[string]string":
		return "texts by code"
	case "map[string][]string":
		return "lists of text by code"
	case "<nil>", "nil":
		return "nothing (nil)"
	case "interface {}", "any", "unknown":
		return "a value of unknown kind"
	}
	return t
}
