// Package rules compiles and evaluates the routing rules staff write: which
// department, team and partner own a case, at what priority and under which SLA
// policy, and why.
//
// A rule set (Set) is read from YAML (Parse) and checked against the council's
// catalogue (Compile, Validate), with every mistake reported by rule, line and
// column in words its author can act on. A Compiled set routes a case's Facts
// (Route) to a cases.Decision that says which rule of which version decided and
// which rules were tried before it. Facts come from a report (BuildFacts);
// FACTS.md, generated from FactDocs and FunctionDocs, lists what a rule can use.
//
// The Store keeps versioned rule sets in Redis, and a Watcher keeps the active
// version compiled in each process. Simulate, Backtest and RunTests let staff
// check a draft before they publish it.
//
// Conditions are expr (github.com/expr-lang/expr) run in a sandbox: see
// sandbox.go for what a rule cannot do, and why no rule can hang a worker.
package rules
