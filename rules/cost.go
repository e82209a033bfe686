package rules

import (
	"math"
	"reflect"

	"github.com/expr-lang/expr/ast"
)

// A condition's worst-case cost is estimated when it is saved, and one that
// could run too long on the longest facts a case can have is refused. The
// other limits bound each dimension (size, nesting, ranges, text length); this
// bounds their product, e.g. a list inside a list, each item searching the
// whole description for fifty words.
//
// A unit is roughly a nanosecond: comparing a byte of text costs 1, a
// regular expression about 20 per byte of text per byte of pattern (measured
// for Go's linear-time regexp), an expr operation about 20.
const (
	maxCost      = 20_000_000 // ~20 ms per rule on the worst facts
	opCost       = 20
	regexpFactor = 20
)

// estimate is the worst-case cost of a node and the longest text it can give.
type estimate struct {
	cost float64
	text float64
}

type coster struct {
	vars map[string]float64 // let names → text length
	lens map[string]float64 // let names → list length
}

// costOf estimates the worst-case cost of a condition.
func costOf(n ast.Node) float64 {
	c := coster{vars: map[string]float64{}, lens: map[string]float64{}}
	return c.node(n, 0).cost
}

// maxFactText is the longest text a fact can hold after Facts.Normalize.
func maxFactText(name string) float64 {
	i, ok := factIndex[name]
	if !ok || factTable[i].typ.Kind() != reflect.String {
		return 0
	}
	return maxText
}

func (c *coster) node(n ast.Node, item float64) estimate {
	switch n := n.(type) {
	case nil:
		return estimate{}
	case *ast.StringNode:
		return estimate{opCost, float64(len(n.Value))}
	case *ast.IdentifierNode:
		if t, ok := c.vars[n.Value]; ok {
			return estimate{opCost, t}
		}
		return estimate{opCost, maxFactText(n.Value)}
	case *ast.PointerNode:
		return estimate{opCost, item}
	case *ast.UnaryNode:
		e := c.node(n.Node, item)
		e.cost += opCost
		return e
	case *ast.MemberNode:
		e := c.node(n.Node, item)
		p := c.node(n.Property, item)
		// attributes["x"]: an answer; #.x: part of an item.
		return estimate{e.cost + p.cost + opCost, maxAttrValueLn}
	case *ast.ChainNode:
		return c.node(n.Node, item)
	case *ast.SliceNode:
		e := c.node(n.Node, item)
		from, to := c.node(n.From, item), c.node(n.To, item)
		return estimate{e.cost + from.cost + to.cost + opCost + e.text, e.text}
	case *ast.BinaryNode:
		return c.binary(n, item)
	case *ast.ConditionalNode:
		cond, a, b := c.node(n.Cond, item), c.node(n.Exp1, item), c.node(n.Exp2, item)
		return estimate{cond.cost + math.Max(a.cost, b.cost), math.Max(a.text, b.text)}
	case *ast.VariableDeclaratorNode:
		v := c.node(n.Value, item)
		c.vars[n.Name] = v.text
		c.lens[n.Name] = c.length(n.Value)
		e := c.node(n.Expr, item)
		return estimate{v.cost + e.cost, e.text}
	case *ast.SequenceNode:
		var e estimate
		for _, s := range n.Nodes {
			x := c.node(s, item)
			e = estimate{e.cost + x.cost, x.text}
		}
		return e
	case *ast.ArrayNode:
		e := estimate{cost: opCost}
		for _, x := range n.Nodes {
			e.cost += c.node(x, item).cost
		}
		return e
	case *ast.MapNode:
		e := estimate{cost: opCost}
		for _, p := range n.Pairs {
			e.cost += c.node(p, item).cost
		}
		return e
	case *ast.PairNode:
		k, v := c.node(n.Key, item), c.node(n.Value, item)
		return estimate{k.cost + v.cost, 0}
	case *ast.CallNode:
		return c.call(n, item)
	case *ast.BuiltinNode:
		return c.builtin(n, item)
	}
	return estimate{cost: opCost}
}

func (c *coster) binary(n *ast.BinaryNode, item float64) estimate {
	l, r := c.node(n.Left, item), c.node(n.Right, item)
	e := estimate{cost: l.cost + r.cost + opCost}
	switch n.Operator {
	case "matches":
		e.cost += l.text * math.Max(r.text, 1) * regexpFactor
	case "+":
		e.cost += l.text + r.text
		e.text = l.text + r.text
	case "==", "!=", "<", ">", "<=", ">=", "contains", "startsWith", "endsWith", "not contains", "not startsWith", "not endsWith":
		e.cost += l.text + r.text
	case "in", "not in":
		e.cost += c.length(n.Right) * (l.text + c.itemText(n.Right) + opCost)
	case "..":
		e.cost += c.length(n)
	case "??":
		e.text = math.Max(l.text, r.text)
	}
	return e
}

func (c *coster) call(n *ast.CallNode, item float64) estimate {
	e := estimate{cost: opCost}
	var args []estimate
	for _, a := range n.Arguments {
		x := c.node(a, item)
		e.cost += x.cost
		args = append(args, x)
	}
	id, _ := n.Callee.(*ast.IdentifierNode)
	if id == nil {
		return e
	}
	switch id.Value {
	case "containsAny", "containsAll", "containsAnyWord":
		if len(args) == 2 {
			// The text is lowered once, then searched once for each word.
			e.cost += args[0].text * (c.length(n.Arguments[1]) + 1)
		}
	case "inArea", "inAnyArea":
		e.cost += maxListItems * opCost
		if id.Value == "inAnyArea" && len(n.Arguments) == 1 {
			e.cost *= c.length(n.Arguments[0])
		}
	case "attr":
		e.text = maxAttrValueLn
	case "attrHas":
		e.cost += maxListItems * maxAttrValueLn
	case "attrNumber":
		e.cost += maxAttrValueLn
	}
	return e
}

func (c *coster) builtin(n *ast.BuiltinNode, item float64) estimate {
	if len(n.Arguments) == 0 {
		return estimate{cost: opCost}
	}
	first := c.node(n.Arguments[0], item)
	e := estimate{cost: first.cost + opCost}
	if pred, ok := predicateArg(n); ok {
		body := c.node(pred, c.itemText(n.Arguments[0]))
		e.cost += c.length(n.Arguments[0]) * (body.cost + opCost)
		switch n.Name {
		case "find", "findLast":
			e.text = c.itemText(n.Arguments[0])
		}
		return e
	}
	rest := 0.0
	for _, a := range n.Arguments[1:] {
		x := c.node(a, item)
		e.cost += x.cost
		rest += x.text
	}
	switch n.Name {
	case "lower", "upper", "trim", "trimPrefix", "trimSuffix":
		e.cost += first.text + rest
		e.text = first.text
	case "hasPrefix", "hasSuffix", "indexOf", "lastIndexOf":
		e.cost += first.text + rest
	case "first", "last":
		e.text = c.itemText(n.Arguments[0])
	case "join":
		e.text = c.length(n.Arguments[0]) * (c.itemText(n.Arguments[0]) + rest)
		e.cost += e.text
	case "string":
		e.text = maxText
		e.cost += e.text
	case "max", "min", "mean", "median", "sum":
		e.cost += c.length(n.Arguments[0]) * opCost
	}
	return e
}

func predicateArg(n *ast.BuiltinNode) (ast.Node, bool) {
	for _, a := range n.Arguments[1:] {
		if p, ok := a.(*ast.PredicateNode); ok {
			return p.Node, true
		}
	}
	return nil, false
}

// length is how many items a list can have.
func (c *coster) length(n ast.Node) float64 {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if l, ok := c.lens[n.Value]; ok {
			return l
		}
	case *ast.ArrayNode:
		return float64(len(n.Nodes))
	case *ast.BinaryNode:
		if n.Operator == ".." {
			lo, ok1 := intLiteral(n.Left)
			hi, ok2 := intLiteral(n.Right)
			if ok1 && ok2 {
				return math.Max(float64(hi-lo+1), 0)
			}
			return maxRange
		}
	case *ast.BuiltinNode:
		if len(n.Arguments) > 0 {
			switch n.Name {
			case "filter", "map":
				return c.length(n.Arguments[0])
			}
		}
	}
	return maxListItems
}

// itemText is the longest text an item of a list can be.
func (c *coster) itemText(n ast.Node) float64 {
	if arr, ok := n.(*ast.ArrayNode); ok {
		longest := 0.0
		for _, x := range arr.Nodes {
			longest = math.Max(longest, c.node(x, 0).text)
		}
		return longest
	}
	return maxAttrValueLn
}
