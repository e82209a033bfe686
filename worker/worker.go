// Package worker registers casebridge's workflows (cases, and the rule-set
// archive) and activities on the task queue, so `casebridge worker` and
// `casebridge dev` run the same code.
package worker

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/accountarchive"
	"github.com/casebridge/casebridge/activities"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/workflows"
)

// New returns a worker for the case task queue with every workflow and activity
// registered under the names the workflows call them by.
func New(c client.Client, acts *activities.Activities, opts sdkworker.Options) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, opts)
	Register(w, acts)
	return w
}

// Register adds casebridge's workflows and activities to a registry (a worker,
// or a replayer in tests).
func Register(r interface {
	sdkworker.WorkflowRegistry
	sdkworker.ActivityRegistry
}, acts *activities.Activities) {
	wfs := workflows.New()
	r.RegisterWorkflowWithOptions(wfs.Case, workflow.RegisterOptions{Name: workflows.WorkflowName})
	r.RegisterWorkflowWithOptions(wfs.Handoff, workflow.RegisterOptions{Name: workflows.HandoffWorkflowName})
	r.RegisterWorkflowWithOptions(rulearchive.SetWorkflow, workflow.RegisterOptions{Name: rulearchive.SetWorkflowName})
	r.RegisterWorkflowWithOptions(rulearchive.VersionWorkflow, workflow.RegisterOptions{Name: rulearchive.VersionWorkflowName})
	r.RegisterWorkflowWithOptions(accountarchive.Workflow, workflow.RegisterOptions{Name: accountarchive.WorkflowName})
	r.RegisterActivityWithOptions(acts.RouteCase, activity.RegisterOptions{Name: effects.ActivityRoute})
	r.RegisterActivityWithOptions(acts.ProjectCase, activity.RegisterOptions{Name: effects.ActivityProject})
	r.RegisterActivityWithOptions(acts.NotifyRecipient, activity.RegisterOptions{Name: effects.ActivityNotify})
	r.RegisterActivityWithOptions(acts.PostPartnerHandoff, activity.RegisterOptions{Name: effects.ActivityHandoff})
	r.RegisterActivityWithOptions(acts.OpenJob, activity.RegisterOptions{Name: effects.ActivityOpenJob})
	r.RegisterActivityWithOptions(acts.WithdrawJob, activity.RegisterOptions{Name: effects.ActivityWithdrawJob})
	r.RegisterActivityWithOptions(acts.CloseJob, activity.RegisterOptions{Name: effects.ActivityCloseJob})
	r.RegisterActivityWithOptions(acts.NoteJob, activity.RegisterOptions{Name: effects.ActivityNoteJob})
	r.RegisterActivityWithOptions(acts.PollBackOffice, activity.RegisterOptions{Name: effects.ActivityPollBackOffice})
	r.RegisterWorkflowWithOptions(workflows.PollBackOffice, workflow.RegisterOptions{Name: effects.WorkflowPollBackOffice})
}
