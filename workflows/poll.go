package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/effects"
)

// PollBackOffice reads one back office's change feed once, signalling each
// change to its case. A Temporal Schedule per back office starts it every
// poll_every (skipping a poll while the last one still runs), so polling
// survives any worker and is visible in Temporal's UI.
func PollBackOffice(ctx workflow.Context, system string) (int, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{effects.ErrTypeBackOfficePermanent}},
	})
	var n int
	err := workflow.ExecuteActivity(actx, effects.ActivityPollBackOffice, system).Get(ctx, &n)
	return n, err
}

// PollScheduleID is the Temporal Schedule that polls a back office.
func PollScheduleID(system string) string { return "backoffice-poll:" + system }
