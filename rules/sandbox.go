package rules

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"

	"github.com/casebridge/casebridge/cases"
)

// The sandbox. A rule runs inside a worker on every new case, so a careless or
// hostile condition must never hang or exhaust it. expr has no loops or
// recursion; what remains is bounded here:
//
//   - size: a condition has at most maxExprLen characters, maxNodes parts and
//     maxBracketDepth nested brackets (checked before expr parses it, since
//     brackets cost expr stack but count no parts);
//   - work: only allowedBuiltins may be called (no reduce, repeat, replace,
//     split, sort, ... which can grow text or lists without bound), list checks
//     nest at most maxPredicateDepth deep, ranges are written out in whole
//     numbers and span at most maxRange values, and the facts themselves are
//     bounded (see Facts.Normalize), so every condition's work is bounded by
//     its size;
//   - cost: the worst-case work of a condition, on the longest facts a case
//     can have, is estimated when it is saved (cost.go) and a condition over
//     maxCost is refused, so the limits above cannot be multiplied together;
//   - memory: each run gets memoryBudget units of expr's memory budget, so a
//     condition that builds big lists stops with an error;
//   - regular expressions: Go's are linear-time, and `matches` takes only a
//     pattern written in the rule (checked when saved), never one built from
//     a citizen's text;
//   - the clock and the outside world: now(), date(), duration() and
//     timezone() are not available, and helpers are pure functions, so a
//     decision depends on the facts alone and replays the same.
const (
	maxExprLen        = 10_000
	maxNodes          = 1_000
	maxBracketDepth   = 32
	maxPredicateDepth = 2
	maxRange          = 1_000
	maxPattern        = 500
	memoryBudget      = 20_000
)

// allowedBuiltins are expr's builtins a rule may use: predicates over lists,
// and text and number functions whose result is no bigger than their input.
var allowedBuiltins = []string{
	"all", "any", "none", "one", "filter", "map", "count", "sum",
	"find", "findIndex", "findLast", "findLastIndex",
	"len", "abs", "ceil", "floor", "round", "int", "float", "string",
	"trim", "trimPrefix", "trimSuffix", "upper", "lower", "hasPrefix", "hasSuffix",
	"indexOf", "lastIndexOf", "max", "min", "mean", "median", "first", "last", "join",
}

// predicateBuiltins take a condition run once per item of a list.
var predicateBuiltins = []string{
	"all", "any", "none", "one", "filter", "map", "count", "sum",
	"find", "findIndex", "findLast", "findLastIndex", "groupBy", "sortBy", "reduce",
}

// clockBuiltins are refused with their own explanation.
var clockBuiltins = []string{"now", "date", "duration", "timezone"}

// exprOptions are the options every condition is compiled with.
var exprOptions = func() []expr.Option {
	opts := []expr.Option{
		// A struct value, not a pointer, so facts compile to loads by field
		// index rather than lookups by name; Route passes *Facts, which
		// expr reads the same way.
		expr.Env(Facts{}),
		expr.AsBool(),
		expr.MaxNodes(maxNodes),
		expr.DisableAllBuiltins(),
		expr.Patch(envPatch{}),
	}
	for _, b := range allowedBuiltins {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	for i := range functions {
		opts = append(opts, functions[i].options())
	}
	return opts
}()

// parserConfig parses conditions the way expr.Compile will.
func parserConfig() *conf.Config {
	c := conf.CreateNew()
	for _, op := range exprOptions {
		op(c)
	}
	for name := range c.Disabled {
		delete(c.Builtins, name)
	}
	return c
}

// envPatch gives helpers that read facts (inArea, attr, ...) the facts as a
// hidden first argument, so the facts stay plain data and a call costs no
// closure.
type envPatch struct{}

func (envPatch) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	fn := functionIndex[id.Value]
	if fn == nil || !fn.readsEnv() {
		return
	}
	if len(call.Arguments) > 0 {
		if e, ok := call.Arguments[0].(*ast.IdentifierNode); ok && e.Value == "$env" {
			return // already patched
		}
	}
	env := &ast.IdentifierNode{Value: "$env"}
	env.SetLocation(call.Location())
	patched := &ast.CallNode{Callee: call.Callee, Arguments: append([]ast.Node{env}, call.Arguments...)}
	ast.Patch(node, patched)
}

// checkText catches what must be refused before expr parses the condition.
func checkText(src string) (offset int, msg string) {
	if n := utf8.RuneCountInString(src); n > maxExprLen {
		return 0, fmt.Sprintf("the condition is %s characters long; at most %s are allowed. Split it into several rules", thousands(n), thousands(maxExprLen))
	}
	depth, offset := 0, -1
	var quote rune // the quote of the string we are in, or 0
	escaped := false
	for _, r := range src {
		offset++
		switch {
		case escaped:
			escaped = false
		case quote != 0:
			if r == '\\' && quote != '`' {
				escaped = true
			} else if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote = r
		case r == '(' || r == '[' || r == '{':
			depth++
			if depth > maxBracketDepth {
				return offset, fmt.Sprintf("brackets are nested more than %d deep here; write the condition more simply", maxBracketDepth)
			}
		case r == ')' || r == ']' || r == '}':
			depth--
		}
	}
	return 0, ""
}

// analysis is what the checks learn about one condition.
type analysis struct {
	facts    factSet
	codes    []string // service codes the condition requires, when keyed
	keyed    bool
	problems []exprProblem
}

// exprProblem is a problem at a rune offset of the condition.
type exprProblem struct {
	offset int
	msg    string
}

// factSet is a set of indexes into factTable.
type factSet uint64

func (s *factSet) add(name string) {
	if i, ok := factIndex[name]; ok {
		*s |= 1 << i
	}
}

type checker struct {
	cat *Catalogue
	a   *analysis
}

// analyse checks a parsed condition against the sandbox and the catalogue and
// records the facts it reads.
func analyse(root ast.Node, cat *Catalogue) *analysis {
	a := &analysis{}
	c := checker{cat: cat, a: a}
	c.walk(root, 0, nil)
	a.codes, a.keyed = serviceCodes(root)
	return a
}

func (c *checker) problem(n ast.Node, format string, args ...any) {
	c.a.problems = append(c.a.problems, exprProblem{offset: n.Location().From, msg: fmt.Sprintf(format, args...)})
}

func (c *checker) walk(n ast.Node, depth int, vars []string) {
	switch n := n.(type) {
	case nil, *ast.NilNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.StringNode, *ast.PointerNode:
	case *ast.IdentifierNode:
		c.identifier(n, vars, false)
	case *ast.UnaryNode:
		c.walk(n.Node, depth, vars)
	case *ast.BinaryNode:
		c.binary(n)
		c.walk(n.Left, depth, vars)
		c.walk(n.Right, depth, vars)
	case *ast.ChainNode:
		c.walk(n.Node, depth, vars)
	case *ast.MemberNode:
		c.walk(n.Node, depth, vars)
		c.walk(n.Property, depth, vars)
	case *ast.SliceNode:
		c.walk(n.Node, depth, vars)
		c.walk(n.From, depth, vars)
		c.walk(n.To, depth, vars)
	case *ast.CallNode:
		c.call(n, vars)
		for _, arg := range n.Arguments {
			c.walk(arg, depth, vars)
		}
	case *ast.BuiltinNode:
		c.builtin(n, depth, vars)
	case *ast.PredicateNode:
		c.walk(n.Node, depth, vars)
	case *ast.ConditionalNode:
		c.walk(n.Cond, depth, vars)
		c.walk(n.Exp1, depth, vars)
		c.walk(n.Exp2, depth, vars)
	case *ast.VariableDeclaratorNode:
		c.walk(n.Value, depth, vars)
		if _, ok := factIndex[n.Name]; ok {
			c.problem(n, "'%s' is the name of a fact; give the value another name", n.Name)
		}
		c.walk(n.Expr, depth, append(slices.Clip(vars), n.Name))
	case *ast.SequenceNode:
		for _, s := range n.Nodes {
			c.walk(s, depth, vars)
		}
	case *ast.ArrayNode:
		for _, e := range n.Nodes {
			c.walk(e, depth, vars)
		}
	case *ast.MapNode:
		for _, p := range n.Pairs {
			c.walk(p, depth, vars)
		}
	case *ast.PairNode:
		c.walk(n.Key, depth, vars)
		c.walk(n.Value, depth, vars)
	default:
		c.problem(n, "this kind of expression (%T) is not available in routing rules", n)
	}
}

// identifier checks a name used as a value (or, with call, as a function).
func (c *checker) identifier(n *ast.IdentifierNode, vars []string, call bool) {
	name := n.Value
	switch {
	case slices.Contains(vars, name):
		return
	case name == "$env":
		c.problem(n, "$env is not available in routing rules; write the fact's name, e.g. description")
		return
	}
	if _, ok := factIndex[name]; ok {
		if call {
			c.problem(n, "'%s' is a fact, not a helper; use it as a value, e.g. %s", name, factExample(name))
			return
		}
		c.a.facts.add(name)
		return
	}
	if fn := functionIndex[name]; fn != nil {
		if !call {
			c.problem(n, "'%s' is a helper: call it with its values in brackets, e.g. %s", name, fn.example)
		}
		return
	}
	if slices.Contains(clockBuiltins, name) {
		c.problem(n, "'%s' is not available: a rule must give the same answer whenever it runs, so it cannot read the clock. Use the time the case was received: hour, minute, weekday, received_date, working_hours", name)
		return
	}
	if isBuiltinName(name) {
		c.problem(n, "'%s' is not available in routing rules", name)
		return
	}
	names := append(factNames(), vars...)
	if call {
		c.problem(n, "there is no helper called '%s'%s", name, didYouMean(name, append(functionNames(), allowedBuiltins...)))
		return
	}
	c.problem(n, "there is no fact called '%s'%s", name, didYouMean(name, append(names, functionNames()...)))
}

func (c *checker) call(n *ast.CallNode, vars []string) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok {
		// A method, as in now().Year(): what it is called on may be the
		// real mistake.
		before := len(c.a.problems)
		c.walk(n.Callee, 0, vars)
		if len(c.a.problems) == before {
			c.problem(n, "only helpers can be called, e.g. inArea(\"Camden Town\")")
		}
		return
	}
	c.identifier(id, vars, true)
	fn := functionIndex[id.Value]
	if fn == nil {
		return
	}
	for _, f := range fn.facts {
		c.a.facts.add(f)
	}
	args := n.Arguments
	switch fn.name {
	case "containsAny", "containsAll", "containsAnyWord":
		if len(args) == 2 {
			c.wordList(args[1], fn, nil)
		}
	case "inArea":
		if len(args) == 1 {
			if s, ok := args[0].(*ast.StringNode); ok {
				c.known(s, s.Value, "area", c.cat.Areas)
			}
		}
	case "inAnyArea":
		if len(args) == 1 {
			c.wordList(args[0], fn, func(s *ast.StringNode) { c.known(s, s.Value, "area", c.cat.Areas) })
		}
	case "attr", "attrHas", "attrNumber":
		if len(args) >= 1 {
			if s, ok := args[0].(*ast.StringNode); ok {
				c.known(s, s.Value, "question (attribute) code", c.cat.Attributes)
			}
		}
	case "timeBetween":
		for _, arg := range args {
			s, ok := arg.(*ast.StringNode)
			if !ok {
				c.problem(arg, "write the time in quotes, e.g. \"07:30\"")
				continue
			}
			if _, ok := clockMinutes(s.Value); !ok {
				c.problem(arg, "'%s' is not a time; write times as HH:MM on the 24-hour clock, e.g. \"07:30\" or \"23:00\"", s.Value)
			}
		}
	}
}

// wordList checks a list written in the rule holds only text.
func (c *checker) wordList(n ast.Node, fn *function, each func(*ast.StringNode)) {
	arr, ok := n.(*ast.ArrayNode)
	if !ok {
		return // a fact such as areas; expr checks its type
	}
	if len(arr.Nodes) == 0 {
		c.problem(n, "the list is empty; put the words in it, e.g. %s", fn.example)
	}
	for _, e := range arr.Nodes {
		s, ok := e.(*ast.StringNode)
		if !ok {
			c.problem(e, "each item of the list should be text in quotes, e.g. %s", fn.example)
			continue
		}
		if each != nil {
			each(s)
		}
	}
}

// known checks a value written in the rule is one the council has; an empty
// list means the catalogue does not say, so anything goes.
func (c *checker) known(n ast.Node, value, what string, known []string) {
	if len(known) == 0 || slices.Contains(known, value) {
		return
	}
	c.problem(n, "there is no %s called '%s'%s", what, value, didYouMean(value, known))
}

func (c *checker) builtin(n *ast.BuiltinNode, depth int, vars []string) {
	if !slices.Contains(allowedBuiltins, n.Name) {
		if slices.Contains(clockBuiltins, n.Name) {
			c.identifier(&ast.IdentifierNode{Value: n.Name}, nil, true)
		} else {
			c.problem(n, "'%s' is not available in routing rules", n.Name)
		}
	}
	pred := slices.Contains(predicateBuiltins, n.Name)
	for _, arg := range n.Arguments {
		if _, ok := arg.(*ast.PredicateNode); ok && pred {
			if depth+1 > maxPredicateDepth {
				c.problem(n, "a rule can look inside lists at most %d levels deep; this is %d", maxPredicateDepth, depth+1)
				continue
			}
			c.walk(arg, depth+1, vars)
			continue
		}
		c.walk(arg, depth, vars)
	}
}

// enumerations are facts with a fixed set of values, so a misspelt value is
// caught when the rule is saved instead of never matching.
func (c *checker) enumeration(fact string) (what string, values []string) {
	switch fact {
	case "service_code":
		return "service with code", c.cat.Services
	case "source":
		return "source", sources
	case "weekday":
		return "weekday", weekdays
	}
	return "", nil
}

var (
	sources = []string{string(cases.SourceFixMyStreet), string(cases.SourceOpen311), string(cases.SourcePhone),
		string(cases.SourceWeb), string(cases.SourceStaff)}
	weekdays = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
)

func (c *checker) binary(n *ast.BinaryNode) {
	switch n.Operator {
	case "..":
		lo, ok1 := intLiteral(n.Left)
		hi, ok2 := intLiteral(n.Right)
		if !ok1 || !ok2 {
			c.problem(n, "write a range with whole numbers, e.g. 9..17")
		} else if hi-lo+1 > maxRange {
			c.problem(n, "this range has %s values; at most %s are allowed", thousands(hi-lo+1), thousands(maxRange))
		}
	case "matches":
		s, ok := n.Right.(*ast.StringNode)
		if !ok {
			c.problem(n.Right, "write the pattern after 'matches' in quotes in the rule, e.g. description matches \"(?i)fly.?tip\"")
		} else if utf8.RuneCountInString(s.Value) > maxPattern {
			c.problem(n.Right, "the pattern is longer than %d characters", maxPattern)
		}
	case "==", "!=":
		c.enumValue(n.Left, n.Right)
		c.enumValue(n.Right, n.Left)
	case "in", "not in":
		if arr, ok := n.Right.(*ast.ArrayNode); ok {
			for _, e := range arr.Nodes {
				c.enumValue(n.Left, e)
			}
		}
	}
}

func (c *checker) enumValue(factNode, valueNode ast.Node) {
	id, ok := factNode.(*ast.IdentifierNode)
	if !ok {
		return
	}
	s, ok := valueNode.(*ast.StringNode)
	if !ok {
		return
	}
	what, values := c.enumeration(id.Value)
	if len(values) == 0 || slices.Contains(values, s.Value) {
		return
	}
	msg := fmt.Sprintf("there is no %s '%s'%s", what, s.Value, didYouMean(s.Value, values))
	if len(values) <= 10 {
		msg += "; it can be " + listOf(values)
	}
	c.a.problems = append(c.a.problems, exprProblem{offset: valueNode.Location().From, msg: msg})
}

func intLiteral(n ast.Node) (int, bool) {
	switch n := n.(type) {
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.UnaryNode:
		if v, ok := intLiteral(n.Node); ok && n.Operator == "-" {
			return -v, true
		}
	}
	return 0, false
}

// serviceCodes finds the service codes a condition requires: a condition
// that is only true when service_code is one of them, by its shape alone
// (service_code == "X", service_code in ["X", "Y"], joined with && or ||).
// Route then only tries such a rule for those services. keyed is false when
// the condition may be true for any service.
func serviceCodes(n ast.Node) (codes []string, keyed bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==":
			if isFact(n.Left, "service_code") {
				if s, ok := n.Right.(*ast.StringNode); ok {
					return []string{s.Value}, true
				}
			}
			if isFact(n.Right, "service_code") {
				if s, ok := n.Left.(*ast.StringNode); ok {
					return []string{s.Value}, true
				}
			}
		case "in":
			arr, ok := n.Right.(*ast.ArrayNode)
			if !ok || !isFact(n.Left, "service_code") {
				return nil, false
			}
			for _, e := range arr.Nodes {
				s, ok := e.(*ast.StringNode)
				if !ok {
					return nil, false
				}
				codes = append(codes, s.Value)
			}
			return codes, true
		case "&&", "and":
			l, lok := serviceCodes(n.Left)
			r, rok := serviceCodes(n.Right)
			switch {
			case lok && rok:
				return intersect(l, r), true
			case lok:
				return l, true
			case rok:
				return r, true
			}
		case "||", "or":
			l, lok := serviceCodes(n.Left)
			r, rok := serviceCodes(n.Right)
			if lok && rok {
				return union(l, r), true
			}
		}
	}
	return nil, false
}

func isFact(n ast.Node, name string) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == name
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func isBuiltinName(name string) bool { return builtinNames[name] }

// builtinNames are all of expr's builtins, allowed or not.
var builtinNames = func() map[string]bool {
	m := map[string]bool{}
	for name := range conf.CreateNew().Builtins {
		m[name] = true
	}
	return m
}()

func factNames() []string {
	names := make([]string, len(factTable))
	for i, f := range factTable {
		names[i] = f.name
	}
	return names
}

func functionNames() []string {
	names := make([]string, len(functions))
	for i, f := range functions {
		names[i] = f.name
	}
	return names
}

// factExample is a condition using a fact, for messages.
func factExample(name string) string {
	for _, d := range FactDocs() {
		if d.Name == name {
			return d.Example
		}
	}
	return name
}
