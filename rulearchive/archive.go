package rulearchive

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/casebridge/casebridge/durable"
	"github.com/casebridge/casebridge/rules"
)

// Archive records rule-set versions and activations in Temporal and reads them
// back. It is the rules.Archive a rules.Store records in.
type Archive struct {
	temporal  client.Client
	taskQueue string
	data      converter.DataConverter
}

// New returns an archive whose workflows run on taskQueue.
func New(c client.Client, taskQueue string) *Archive {
	return &Archive{temporal: c, taskQueue: taskQueue, data: converter.GetDefaultDataConverter()}
}

// Record keeps version v of the rule set (if v is not nil) in a workflow of its
// own, then signals the rule-set workflow the version number and the
// activation a (if not nil), starting it if need be. Both steps are
// idempotent, so a retry, or a Sync after a failure, records nothing twice.
// A version number Temporal keeps with another text is refused with
// rules.ErrConflict.
func (a *Archive) Record(ctx context.Context, name string, v *rules.Version, act *rules.Activation) error {
	r := Record{Activation: act}
	if v != nil {
		if err := a.keepVersion(ctx, *v); err != nil {
			return err
		}
		r.Version = v.Number
	}
	id := SetWorkflowID(name)
	_, err := a.temporal.SignalWithStartWorkflow(ctx, id, SignalRecord, r, client.StartWorkflowOptions{
		ID: id, TaskQueue: a.taskQueue, StaticSummary: "rule set " + name,
	}, SetWorkflowName, Set{Name: name})
	if err != nil {
		return fmt.Errorf("record rule set %s in Temporal: %w", name, err)
	}
	return nil
}

func (a *Archive) keepVersion(ctx context.Context, v rules.Version) error {
	id := VersionWorkflowID(v.Name, v.Number)
	info := v
	info.YAML = ""
	_, err := a.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: a.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("rule set %s version %d", v.Name, v.Number),
	}, VersionWorkflowName, info, []byte(v.YAML))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		kept, err := a.Version(ctx, v.Name, v.Number)
		if err != nil {
			return err
		}
		if kept.YAML != v.YAML {
			return fmt.Errorf("version %d of %s: Temporal keeps another text under this number: %w", v.Number, v.Name, rules.ErrConflict)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("keep version %d of %s in Temporal: %w", v.Number, v.Name, err)
	}
	return nil
}

// Version reads one kept version, text included, from its workflow's start.
func (a *Archive) Version(ctx context.Context, name string, number int) (rules.Version, error) {
	var v rules.Version
	err := a.history(ctx, VersionWorkflowID(name, number), func(ev *historypb.HistoryEvent) (bool, error) {
		start := ev.GetWorkflowExecutionStartedEventAttributes()
		if start == nil {
			return false, fmt.Errorf("history does not begin with its start")
		}
		var text []byte
		if err := a.data.FromPayloads(start.GetInput(), &v, &text); err != nil {
			return false, err
		}
		v.YAML = string(text)
		return false, nil
	})
	if err != nil {
		return rules.Version{}, fmt.Errorf("read version %d of %s from Temporal: %w", number, name, err)
	}
	return v, nil
}

// Load reads what Temporal keeps of a rule set: the version numbers and the
// activation log, folded from the rule-set workflow's history as the workflow
// folds them. A rule set Temporal does not know is rules.ErrNotFound.
func (a *Archive) Load(ctx context.Context, name string) (Set, error) {
	s := Set{Name: name}
	err := a.history(ctx, SetWorkflowID(name), func(ev *historypb.HistoryEvent) (bool, error) {
		if start := ev.GetWorkflowExecutionStartedEventAttributes(); start != nil {
			s = Set{}
			return true, a.data.FromPayloads(start.GetInput(), &s)
		}
		if sig := ev.GetWorkflowExecutionSignaledEventAttributes(); sig != nil && sig.GetSignalName() == SignalRecord {
			var r Record
			if err := a.data.FromPayloads(sig.GetInput(), &r); err != nil {
				return false, err
			}
			s.apply(r)
		}
		return true, nil
	})
	if err != nil {
		return Set{}, fmt.Errorf("read rule set %s from Temporal: %w", name, err)
	}
	return s, nil
}

// Latest is the highest version number kept of the rule set, 0 if none.
func (a *Archive) Latest(ctx context.Context, name string) (int, error) {
	s, err := a.Load(ctx, name)
	if errors.Is(err, rules.ErrNotFound) {
		return 0, nil
	}
	return s.Latest(), err
}

// history calls each with the events of a workflow's latest run, in order,
// until it returns false.
func (a *Archive) history(ctx context.Context, id string, each func(*historypb.HistoryEvent) (bool, error)) error {
	return durable.History(ctx, a.temporal, id, rules.ErrNotFound, each)
}

// Names lists the rule sets Temporal keeps.
func (a *Archive) Names(ctx context.Context) ([]string, error) {
	names, err := durable.Running(ctx, a.temporal, SetWorkflowName, SetWorkflowID(""))
	if err != nil {
		return nil, fmt.Errorf("list rule sets in Temporal: %w", err)
	}
	return names, nil
}
