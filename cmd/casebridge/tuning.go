package main

import (
	"flag"
	"strconv"
	"time"

	sdkworker "go.temporal.io/sdk/worker"
)

// workerTuning are the worker's knobs, each with its environment variable.
// Zero leaves the SDK's default; README.md "Worker tuning" says when to turn
// which.
type workerTuning struct {
	workflowPollers, activityPollers int
	workflowTasks, activities        int
	stickyCache                      int
	stopTimeout                      time.Duration
}

func (t *workerTuning) flags(getenv func(string) string) func(*flag.FlagSet) {
	num := func(key string) int {
		n, _ := strconv.Atoi(getenv(key))
		return n
	}
	stop := 30 * time.Second
	if d, err := time.ParseDuration(getenv("CASEBRIDGE_WORKER_STOP_TIMEOUT")); err == nil {
		stop = d
	}
	return func(fs *flag.FlagSet) {
		fs.IntVar(&t.workflowPollers, "workflow-pollers", num("CASEBRIDGE_WORKER_WORKFLOW_POLLERS"), "`n` goroutines polling for workflow tasks (CASEBRIDGE_WORKER_WORKFLOW_POLLERS; default the SDK's, 2)")
		fs.IntVar(&t.activityPollers, "activity-pollers", num("CASEBRIDGE_WORKER_ACTIVITY_POLLERS"), "`n` goroutines polling for activity tasks (CASEBRIDGE_WORKER_ACTIVITY_POLLERS; default the SDK's, 2)")
		fs.IntVar(&t.workflowTasks, "workflow-tasks", num("CASEBRIDGE_WORKER_WORKFLOW_TASKS"), "at most `n` workflow tasks at once (CASEBRIDGE_WORKER_WORKFLOW_TASKS; default the SDK's, 1000)")
		fs.IntVar(&t.activities, "activities", num("CASEBRIDGE_WORKER_ACTIVITIES"), "at most `n` activities at once: projections and notices (CASEBRIDGE_WORKER_ACTIVITIES; default the SDK's, 1000)")
		fs.IntVar(&t.stickyCache, "sticky-cache", num("CASEBRIDGE_WORKER_STICKY_CACHE"), "keep at most `n` cases' workflows in memory between their tasks (CASEBRIDGE_WORKER_STICKY_CACHE; default the SDK's, 10000)")
		fs.DurationVar(&t.stopTimeout, "stop-timeout", stop, "on SIGTERM, let running activities finish for this `long` before cancelling them (CASEBRIDGE_WORKER_STOP_TIMEOUT)")
	}
}

// options are the SDK worker options for the tuning. The sticky cache is the
// process's: apply sets it, before the worker starts.
func (t workerTuning) options() sdkworker.Options {
	return sdkworker.Options{
		MaxConcurrentWorkflowTaskPollers:       t.workflowPollers,
		MaxConcurrentActivityTaskPollers:       t.activityPollers,
		MaxConcurrentWorkflowTaskExecutionSize: t.workflowTasks,
		MaxConcurrentActivityExecutionSize:     t.activities,
		WorkerStopTimeout:                      t.stopTimeout,
	}
}

func (t workerTuning) check() error {
	for _, n := range []int{t.workflowPollers, t.activityPollers, t.workflowTasks, t.activities, t.stickyCache} {
		if n < 0 {
			return usageError{"worker tuning: numbers cannot be negative"}
		}
	}
	if t.workflowPollers == 1 || t.workflowTasks == 1 {
		// Pollers take turns between the sticky and the shared queue.
		return usageError{"--workflow-pollers and --workflow-tasks must be at least 2"}
	}
	return nil
}

func (t workerTuning) apply() {
	if t.stickyCache > 0 {
		sdkworker.SetStickyWorkflowCacheSize(t.stickyCache)
	}
}
