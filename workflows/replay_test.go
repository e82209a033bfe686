package workflows

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplay replays histories recorded from real cases against today's
// workflow code: a change that would break running cases fails here. New
// recordings come from `go test ./cmd/casebridge -run TestRecordHistories -record`
// (and TestRecordPartnerHistories for partner-*: cases handed to a partner,
// and a hand-off workflow's own history).
//
// Each history replays under the workflow ID it ran with, when its start
// event names it: a case's reference is part of the commands it gives (the
// ID of its hand-off workflow).
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want recorded histories in testdata, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			w := New()
			r.RegisterWorkflowWithOptions(w.Case, workflow.RegisterOptions{Name: WorkflowName})
			r.RegisterWorkflowWithOptions(w.Handoff, workflow.RegisterOptions{Name: HandoffWorkflowName})
			file, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			h, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var opts worker.ReplayWorkflowHistoryOptions
			if started := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes(); started.GetWorkflowId() != "" {
				opts.OriginalExecution = workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
			}
			if err := r.ReplayWorkflowHistoryWithOptions(log.NewStructuredLogger(slog.New(slog.DiscardHandler)), h, opts); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
	}
}
