package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/readmodel/readmodeltest"
	"github.com/casebridge/casebridge/workflows"
)

// BenchmarkVisibilityList asks Temporal's visibility for the lists that
// readmodel.BenchmarkList and api.BenchmarkListsOverHTTP ask the read model
// for: the embedded server as `casebridge dev` runs it (SQLite in a file)
// holding CB_BENCH_VIS_CASES (default 10,000) running workflows with
// casebridge's search attributes set as the case workflow sets them, drawn
// as readmodeltest.Council draws the cases. Each call is a page of 25 and
// the count of all matches (the read model's lists give both); p50 and p99
// are of the iterations (-benchtime 100x).
func BenchmarkVisibilityList(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("CB_BENCH_VIS_CASES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	_, c := embeddedTemporal(b, filepath.Join(b.TempDir(), "temporal.db"))

	// Start a workflow per case on a task queue nobody polls: visibility
	// indexes it at once; nothing runs.
	all := readmodeltest.Council(n, now)
	start := time.Now()
	work := make(chan *cases.Case)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "case-" + k.Ref, TaskQueue: "visibility-bench",
					TypedSearchAttributes: caseAttributes(k, now)}, "CaseWorkflow")
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range all {
		work <- k
	}
	close(work)
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		r, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: "TaskQueue = 'visibility-bench'"})
		if err == nil && r.Count == int64(n) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("visibility holds %v of %d workflows after 5 minutes (%v)", r.GetCount(), n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.Logf("%d workflows started and visible in %s", n, time.Since(start).Round(time.Second))

	due := now.Format(time.RFC3339)
	open := "CaseStatus = 'investigating'"
	for _, bc := range []struct{ name, query string }{
		{"dept-overdue", fmt.Sprintf("Department = 'dept3' AND %s AND CaseDueAt < '%s'", open, due)},
		{"service-open-overdue", fmt.Sprintf("ServiceCode = 'svc03' AND %s AND CaseDueAt < '%s'", open, due)},
		{"source-assignee-open", fmt.Sprintf("Source = 'phone' AND Assignee = 'amy' AND %s", open)},
		{"escalated-dept", "EscalationLevel >= 1 AND Department = 'dept3'"},
		{"dept-open", fmt.Sprintf("Department = 'dept3' AND %s", open)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			readmodeltest.TimeCalls(b, "matches", func() (float64, error) {
				if _, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: bc.query, PageSize: 25}); err != nil {
					return 0, fmt.Errorf("%s: %w", bc.query, err)
				}
				count, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: bc.query})
				if err != nil {
					return 0, fmt.Errorf("count %s: %w", bc.query, err)
				}
				return float64(count.Count), nil
			})
		})
	}
}

// caseAttributes are the search attributes the case workflow keeps for k.
func caseAttributes(k *cases.Case, now time.Time) temporal.SearchAttributes {
	up := []temporal.SearchAttributeUpdate{
		workflows.SAStatus.ValueSet(string(k.Status)), workflows.SADepartment.ValueSet(k.Department),
		workflows.SAServiceCode.ValueSet(k.Service.Code), workflows.SAPriority.ValueSet(string(k.Priority)),
		workflows.SASource.ValueSet(string(k.Report().Source)), workflows.SAReceivedAt.ValueSet(k.ReceivedAt),
	}
	if k.Assignee != "" {
		up = append(up, workflows.SAAssignee.ValueSet(k.Assignee))
	}
	if !k.DueAt.IsZero() {
		up = append(up, workflows.SADueAt.ValueSet(k.DueAt), workflows.SAOverdue.ValueSet(!k.Status.Closed() && k.DueAt.Before(now)))
	}
	if !k.Status.Closed() && k.Promise != nil && len(k.Promise.Escalations) > 0 {
		up = append(up, workflows.SAEscalationLevel.ValueSet(int64(len(k.Promise.Escalations))))
	}
	return temporal.NewSearchAttributes(up...)
}
