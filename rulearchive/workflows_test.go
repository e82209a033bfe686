package rulearchive

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/rules"
)

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

func activation(version int, action string, minutes int) *rules.Activation {
	return &rules.Activation{Version: version, Action: action, Author: "alice", At: t0.Add(time.Duration(minutes) * time.Minute)}
}

func TestSetApply(t *testing.T) {
	var s Set
	for _, r := range []Record{
		{Version: 1, Activation: activation(1, rules.ActionSeed, 0)},
		{Version: 2, Activation: activation(2, rules.ActionPublish, 10)},
		{Activation: activation(1, rules.ActionRollback, 20)},
		{Version: 2, Activation: activation(2, rules.ActionPublish, 10)}, // a retry
		{Version: 3}, // a version whose signal came late
		{Activation: activation(3, rules.ActionPublish, 15)}, // and its activation, out of order
	} {
		s.apply(r)
	}
	if !slices.Equal(s.Versions, []int{1, 2, 3}) || s.Latest() != 3 {
		t.Errorf("versions = %v", s.Versions)
	}
	var order []int
	for _, a := range s.Log {
		order = append(order, a.Version)
	}
	if !slices.Equal(order, []int{1, 2, 3, 1}) || s.Active() != 1 {
		t.Errorf("log versions in time order = %v, active %d; want [1 2 3 1], active 1", order, s.Active())
	}
	if !s.Has(*activation(1, rules.ActionRollback, 20)) || s.Has(*activation(1, rules.ActionRollback, 21)) {
		t.Errorf("Has does not tell activations apart by version, action and time")
	}
}

// The log a rule-set workflow carries stays within maxLogBytes, keeping the
// newest activations, and one older than all it keeps counts as had.
func TestSetLogStaysSmall(t *testing.T) {
	var s Set
	long := strings.Repeat("x", rules.MaxComment)
	for i := range 1_000 {
		a := activation(1+i%3, rules.ActionRollback, i)
		a.Comment = long
		s.apply(Record{Activation: a})
	}
	carried, err := converter.GetDefaultDataConverter().ToPayloads(s)
	if err != nil {
		t.Fatal(err)
	}
	if n := carried.Size(); n > maxLogBytes+64<<10 {
		t.Errorf("the carried set is %d bytes, want about %d at most", n, maxLogBytes)
	}
	if s.Dropped == 0 || s.Dropped+len(s.Log) != 1_000 || s.Log[len(s.Log)-1].At != t0.Add(999*time.Minute) {
		t.Errorf("kept %d, dropped %d; want the newest kept and the count right", len(s.Log), s.Dropped)
	}
	if !s.Has(*activation(1, rules.ActionRollback, 0)) {
		t.Errorf("a dropped activation would be recorded again")
	}
}

func TestSetWorkflowContinuesAsNewWithEveryRecord(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SetWorkflow, workflow.RegisterOptions{Name: SetWorkflowName})
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalRecord, Record{Version: 1, Activation: activation(1, rules.ActionSeed, 0)})
		env.SignalWorkflow(SignalRecord, Record{Version: 2, Activation: activation(2, rules.ActionPublish, 10)})
	}, time.Minute)
	// The test environment does not count history events: say the history has
	// grown long.
	env.RegisterDelayedCallback(func() {
		env.SetCurrentHistoryLength(maxRunEvents)
		env.SignalWorkflow(SignalRecord, Record{Activation: activation(1, rules.ActionRollback, 20)})
	}, 2*time.Minute)
	env.ExecuteWorkflow(SetWorkflowName, Set{Name: rules.Routing})

	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next Set
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Name != rules.Routing || !slices.Equal(next.Versions, []int{1, 2}) || len(next.Log) != 3 || next.Active() != 1 {
		t.Errorf("carried %+v; want both versions and all three activations", next)
	}
}
