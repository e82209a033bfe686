package rules

import (
	"cmp"
	"slices"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/casebridge/casebridge/cases"
)

// Simulation is what a rule set would do with some facts, rule by rule, for
// staff testing a draft.
type Simulation struct {
	Decision cases.Decision `json:"decision"`
	// Rules are every rule in the order they are tried, with what each made of
	// the facts, including rules after the one that decided.
	Rules []RuleResult `json:"rules"`
}

// Outcome is what one rule made of the facts in a simulation.
type Outcome string

// Outcomes of a rule in a simulation.
const (
	OutcomeMatched Outcome = "matched" // the rule that decided
	// OutcomeAlsoMatches is a later rule whose condition is true too; it
	// lost to a rule tried before it.
	OutcomeAlsoMatches Outcome = "also_matches"
	OutcomeNoMatch     Outcome = "no_match"
	OutcomeError       Outcome = "error"
)

// RuleResult is one rule's part in a simulation.
type RuleResult struct {
	ID       string  `json:"id"`
	Title    string  `json:"title,omitempty"`
	Priority int     `json:"priority"`
	Outcome  Outcome `json:"outcome"`
	Reason   string  `json:"reason,omitempty"`
}

// Simulate routes the facts as Route does and also runs every rule, so staff
// see which rules match and which one wins.
func Simulate(c *Compiled, f Facts) Simulation {
	f = f.Normalize()
	sim := Simulation{Decision: c.Route(f)}
	m := machines.Get().(*vm.VM)
	defer machines.Put(m)
	decided := false
	for i := range c.rules {
		r := &c.rules[i]
		res := RuleResult{ID: r.ID, Title: r.Title, Priority: r.Priority}
		ok, err := r.run(m, &f)
		switch {
		case err != nil:
			res.Outcome, res.Reason = OutcomeError, runtimeMessage(err)
		case ok && !decided:
			res.Outcome, decided = OutcomeMatched, true
		case ok:
			res.Outcome, res.Reason = OutcomeAlsoMatches, "an earlier rule matched first"
		default:
			res.Outcome, res.Reason = OutcomeNoMatch, ReasonFalse
		}
		sim.Rules = append(sim.Rules, res)
	}
	return sim
}

// PastCase is a case already routed, for a backtest: its facts and the
// decision recorded when it was routed.
type PastCase struct {
	Ref      string         `json:"ref"`
	Facts    Facts          `json:"facts"`
	Decision cases.Decision `json:"decision"`
}

// BacktestReport says how a rule set would have routed past cases.
type BacktestReport struct {
	RuleSet string `json:"rule_set"`
	Version int    `json:"version"` // 0 for a draft
	Cases   int    `json:"cases"`
	// Changed counts cases that would go somewhere else (see RouteLabel).
	Changed int `json:"changed"`
	// Moves group the changed cases by old → new route, largest first.
	Moves []Move `json:"moves"`
	// Errors counts cases where a rule failed while routing them.
	Errors int `json:"errors"`
}

// Move is a group of past cases a rule set would send from one route to another.
type Move struct {
	From  string   `json:"from"`
	To    string   `json:"to"`
	Count int      `json:"count"`
	Refs  []string `json:"refs"`
	// Rules are the rules that would now decide these cases.
	Rules []string `json:"rules"`
}

// Backtest routes past cases with c and compares with the decisions recorded
// for them. The caller fetches the cases (the last N, or a date range).
func Backtest(c *Compiled, past []PastCase) BacktestReport {
	rep := BacktestReport{RuleSet: c.Name(), Version: c.Version(), Cases: len(past)}
	moves := map[[2]string]*Move{}
	for _, pc := range past {
		d := c.Route(pc.Facts)
		if hasError(d) {
			rep.Errors++
		}
		from, to := RouteLabel(pc.Decision), RouteLabel(d)
		if from == to {
			continue
		}
		rep.Changed++
		mv := moves[[2]string{from, to}]
		if mv == nil {
			mv = &Move{From: from, To: to}
			moves[[2]string{from, to}] = mv
		}
		mv.Count++
		mv.Refs = append(mv.Refs, pc.Ref)
		if !slices.Contains(mv.Rules, d.RuleID) {
			mv.Rules = append(mv.Rules, d.RuleID)
		}
	}
	for _, mv := range moves {
		rep.Moves = append(rep.Moves, *mv)
	}
	slices.SortFunc(rep.Moves, func(a, b Move) int {
		return cmp.Or(b.Count-a.Count, cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return rep
}

// hasError reports whether any rule failed while making the decision.
func hasError(d cases.Decision) bool {
	if d.Error != "" {
		return true
	}
	for _, m := range d.Tried {
		if strings.HasPrefix(m.Reason, ReasonError) {
			return true
		}
	}
	return false
}
