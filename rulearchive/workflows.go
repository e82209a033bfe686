// Package rulearchive keeps every published rule-set version, and the log of
// which version was made active when, in Temporal, so Redis holds only what can
// be rebuilt: Sync restores into Redis whatever it lost (a FLUSHALL, a lost
// AOF) and records in Temporal whatever it has that Temporal lacks.
//
// Each version is the start input of a workflow of its own,
// "ruleset:<name>:v<N>", which waits for ever, so retention never removes it
// and no payload ever holds more than one version's text (at most
// rules.MaxYAML). One workflow per rule set, "ruleset:<name>", folds the
// records it is signalled into the version numbers kept and the activation log,
// and continues as new, carrying only those, before its history grows long.
//
// Nothing here needs a worker to answer: a version is kept by starting its
// workflow and an activation by a signal, both durable once the server accepts
// them; and reading folds the rule-set workflow's history with the same
// function the workflow uses.
package rulearchive

import (
	"encoding/json"
	"slices"
	"strconv"

	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/durable"
	"github.com/casebridge/casebridge/rules"
)

// Names the worker registers and clients use. Changing one orphans what is kept.
const (
	SetWorkflowName     = "RuleSetWorkflow"
	VersionWorkflowName = "RuleVersionWorkflow"
	SignalRecord        = "record"
)

// Limits that keep every payload far under Temporal's 2 MB.
const (
	// maxLogBytes bounds the activation log a rule-set workflow carries over
	// continue-as-new: the newest activations within it are kept (at least a
	// couple of hundred, as comments are at most rules.MaxComment).
	maxLogBytes = 256 << 10
	// maxRunEvents is when a rule-set workflow continues as new: about 250
	// records a run.
	maxRunEvents = 1_000
)

// SetWorkflowID and VersionWorkflowID name the workflows of a rule set. Rule
// set names have no ':', so the two never meet, nor a case's "case-<ref>".
func SetWorkflowID(name string) string { return "ruleset:" + name }

// VersionWorkflowID names the workflow holding one version's text.
func VersionWorkflowID(name string, number int) string {
	return SetWorkflowID(name) + ":v" + strconv.Itoa(number)
}

// Record is what a rule-set workflow is signalled: a version whose workflow
// was started, an activation, or both (a publish).
type Record struct {
	Version    int               `json:"version,omitempty"`
	Activation *rules.Activation `json:"activation,omitempty"`
}

// Set is what Temporal keeps of a rule set besides its versions' texts.
type Set struct {
	Name     string             `json:"name"`
	Versions []int              `json:"versions,omitempty"` // ascending
	Log      []rules.Activation `json:"log,omitempty"`      // oldest first
	// Dropped counts the oldest activations no longer kept (maxLogBytes).
	Dropped int `json:"dropped,omitempty"`
}

// apply folds a record into the set. Applying one twice, or late, changes
// nothing more than applying it once, in order.
func (s *Set) apply(r Record) {
	if r.Version > 0 {
		if i, found := slices.BinarySearch(s.Versions, r.Version); !found {
			s.Versions = slices.Insert(s.Versions, i, r.Version)
		}
	}
	if a := r.Activation; a != nil && !s.Has(*a) {
		i := len(s.Log)
		for i > 0 && s.Log[i-1].At.After(a.At) {
			i--
		}
		s.Log = slices.Insert(s.Log, i, *a)
		s.trim()
	}
}

// trim drops the oldest activations beyond maxLogBytes, keeping the newest.
func (s *Set) trim() {
	size := 0
	for i := len(s.Log) - 1; i >= 0; i-- {
		b, _ := json.Marshal(s.Log[i])
		if size += len(b); size > maxLogBytes && i < len(s.Log)-1 {
			s.Dropped += i + 1
			s.Log = slices.Clone(s.Log[i+1:])
			return
		}
	}
}

// Has reports whether the set holds the activation, or dropped it as older
// than every one it keeps.
func (s Set) Has(a rules.Activation) bool {
	if s.Dropped > 0 && len(s.Log) > 0 && a.At.Before(s.Log[0].At) {
		return true
	}
	return slices.ContainsFunc(s.Log, func(b rules.Activation) bool { return rules.SameActivation(a, b) })
}

// HasVersion reports whether version n's text is kept.
func (s Set) HasVersion(n int) bool {
	_, found := slices.BinarySearch(s.Versions, n)
	return found
}

// Latest is the highest version number kept, 0 if none.
func (s Set) Latest() int {
	if len(s.Versions) == 0 {
		return 0
	}
	return s.Versions[len(s.Versions)-1]
}

// Active is the version the last activation made active, 0 if none.
func (s Set) Active() int {
	if len(s.Log) == 0 {
		return s.Latest()
	}
	return s.Log[len(s.Log)-1].Version
}

// SetWorkflow keeps a rule set's version numbers and activation log, folding
// in each record signalled, and continues as new before its history grows long.
func SetWorkflow(ctx workflow.Context, s Set) error {
	return durable.Fold(ctx, SignalRecord, SetWorkflowName, maxRunEvents, s, func(s Set, r Record) Set {
		s.apply(r)
		return s
	})
}

// VersionInfo is a version without its text, which travels beside it as raw
// bytes (no JSON escaping to inflate it).
type VersionInfo = rules.Version

// VersionWorkflow holds one published version of a rule set in its start
// input. It waits for ever: a running workflow is never removed by retention.
func VersionWorkflow(ctx workflow.Context, v VersionInfo, text []byte) error {
	return workflow.Await(ctx, func() bool { return false })
}
