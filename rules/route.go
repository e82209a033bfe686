package rules

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/casebridge/casebridge/cases"
)

// machines reuses expr VMs (their stacks) across decisions; a VM is not safe
// for concurrent use, a pool of them is.
var machines = sync.Pool{New: func() any { return new(vm.VM) }}

// Reasons a rule did not match, as recorded in cases.Miss.
const (
	ReasonFalse = "when was false"
	// A failed rule's reason is ReasonError followed by what went wrong.
	ReasonError = "error: "
)

// Route decides who owns a case: the first rule, by priority, whose condition
// is true for the facts, or the default route when none is. It never fails and
// never panics. A rule that fails at run time stops the decision: the default
// (triage) route is taken with the error in Decision.Error and in Tried,
// because the failed rule might have been the one meant to match, and a later
// rule's answer could send the case somewhere wrong; a person in triage sees
// it instead.
//
// Rules keyed on service codes (see serviceCodes) are only tried for their
// services, so a decision's cost does not grow with rules for other services;
// which rule wins is exactly as if every rule were tried in order, since a
// skipped rule could not have been true. DecidedAt is left for the caller to
// stamp from its own clock.
func (c *Compiled) Route(f Facts) cases.Decision {
	if !f.bounded {
		f = f.Normalize()
	}
	cands, ok := c.byCode[f.ServiceCode]
	if !ok {
		cands = c.unkeyed
	}
	m := machines.Get().(*vm.VM)
	defer machines.Put(m)

	var (
		tried   = make([]cases.Miss, 0, min(len(cands), 8))
		failed  []string
		used    = serviceCodeFact
		matched = -1
	)
	for _, j := range cands {
		r := &c.rules[j]
		used |= r.facts
		ok, err := r.run(m, &f)
		if err != nil {
			msg := runtimeMessage(err)
			tried = append(tried, cases.Miss{RuleID: r.ID, Reason: ReasonError + msg})
			failed = append(failed, fmt.Sprintf("rule %s failed: %s", r.ID, msg))
			break
		}
		if ok {
			matched = int(j)
			break
		}
		tried = append(tried, cases.Miss{RuleID: r.ID, Reason: ReasonFalse})
	}

	route, ruleID, title := c.set.Default, DefaultRuleID, "Default route"
	if matched >= 0 {
		r := c.rules[matched]
		route, ruleID, title = r.Then, r.ID, r.Title
	}
	d := cases.Decision{
		RuleSet:         c.set.Name,
		Version:         c.version,
		RuleID:          ruleID,
		RuleTitle:       title,
		Department:      route.Department,
		Team:            route.Team,
		Partner:         route.Partner,
		Priority:        route.priority(),
		SLAPolicy:       route.SLAPolicy,
		Tags:            append([]string(nil), route.Tags...),
		DuplicateRadius: route.DuplicateRadius,
		HoldForTriage:   route.HoldForTriage,
		Facts:           factsUsed(&f, used),
		Tried:           tried,
	}
	skipped := len(c.rules) - len(cands) // never reached
	if matched >= 0 {
		skipped = matched - len(tried)
	}
	var line string
	if matched >= 0 {
		line = c.rules[matched].matched
	}
	d.Explanation = c.explain(d, line, skipped, failed)
	if matched < 0 && len(failed) > 0 {
		d.Error = strings.Join(failed, "; ")
	}
	return d
}

// run evaluates the rule's condition.
func (r *compiledRule) run(m *vm.VM, f *Facts) (ok bool, err error) {
	defer func() {
		// vm.Run recovers its own panics; this is for a bug in a helper
		// that escapes it: routing must still go on.
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("%v", p)
		}
	}()
	m.MemoryBudget = memoryBudget
	out, err := m.Run(r.prog, f)
	if err != nil {
		return false, err
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("the condition gave %T, not true or false", out)
	}
	return b, nil
}

// runtimeMessage says why a condition failed while running, briefly.
func runtimeMessage(err error) string {
	var fe *file.Error
	msg := err.Error()
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	switch {
	case strings.Contains(msg, "memory budget exceeded"):
		return "the condition needed more memory than a rule may use"
	case errors.Is(err, errBadClock):
		return errBadClock.Error()
	}
	return msg
}

func factsUsed(f *Facts, used factSet) cases.Facts {
	out := make(cases.Facts, bits.OnesCount64(uint64(used)))
	for s := uint64(used); s != 0; s &= s - 1 {
		ft := factTable[bits.TrailingZeros64(s)]
		out[ft.name] = ft.value(f)
	}
	return out
}

// serviceCodeFact is always among the facts a decision records.
var serviceCodeFact = factSet(1) << factIndex["service_code"]

// explain says why, in lines staff read; matched is the deciding rule's line,
// "" for the default route. Routing is hot, so no fmt here.
func (c *Compiled) explain(d cases.Decision, matched string, skipped int, failed []string) []string {
	lines := make([]string, 0, 4+len(failed))
	lines = append(lines, c.heading)
	n := len(d.Tried)
	if matched != "" {
		lines = append(lines, matched)
		if n > 0 {
			lines = append(lines, count(n, "earlier rule", "earlier rules")+" tried first did not match.")
		}
	} else {
		if len(failed) == 0 {
			lines = append(lines, "No rule matched ("+strconv.Itoa(n)+" tried), so the default route was taken.")
		}
	}
	if skipped > 0 {
		lines = append(lines, count(skipped, "rule", "rules")+" for other services "+plural(skipped, "was", "were")+" not tried.")
	}
	for _, f := range failed {
		lines = append(lines, strings.ToUpper(f[:1])+f[1:]+"; rather than guess, the case takes the default route.")
	}
	return append(lines, "Routed to "+RouteLabel(d)+".")
}

func count(n int, one, many string) string { return strconv.Itoa(n) + " " + plural(n, one, many) }

// RouteLabel says where a decision sends a case, in one line:
// "highways/roads-north, urgent, SLA pothole-dangerous, with ukpn".
// Backtests group cases by it.
func RouteLabel(d cases.Decision) string {
	var b strings.Builder
	b.WriteString(d.Department)
	if d.Team != "" {
		b.WriteString("/" + d.Team)
	}
	if d.Priority != "" {
		b.WriteString(", " + string(d.Priority))
	}
	if d.SLAPolicy != "" {
		b.WriteString(", SLA " + d.SLAPolicy)
	}
	if d.Partner != "" {
		b.WriteString(", with " + d.Partner)
	}
	if d.HoldForTriage {
		b.WriteString(", held for triage")
	}
	return b.String()
}
