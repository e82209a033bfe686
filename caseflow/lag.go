package caseflow

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/workflows"
)

// Lag is how far the read model (every list, count and feed) is behind
// Temporal, which holds the truth.
type Lag struct {
	Checked time.Time
	// Cases is how many case workflows Temporal holds: open ones and finished
	// ones within the namespace's retention.
	Cases int64
	// Listed is how many cases the read model holds. It can exceed Cases:
	// finished cases stay listed after retention drops their workflows.
	Listed int64
	// Sampled is how many of the newest running cases were looked for in the
	// read model, and Missing how many of those it lacks.
	Sampled, Missing int
	// SampleFull says the sample was a whole page: Temporal holds more running
	// cases than were looked for, so more may be missing than were counted.
	SampleFull bool
	// Oldest is how long the longest-waiting missing case has been waiting.
	Oldest time.Duration
}

// Empty says the read model holds nothing while Temporal holds cases: Redis
// was emptied and `casebridge reindex` has not run.
func (l Lag) Empty() bool { return l.Listed == 0 && l.Cases > 0 }

// Behind says some cases are not in the lists yet.
func (l Lag) Behind() bool { return l.Empty() || l.Missing > 0 }

// String says it in a sentence staff and operators can act on.
func (l Lag) String() string {
	switch {
	case l.Empty():
		return fmt.Sprintf("empty: Temporal holds %d cases and the read model none; run `casebridge reindex`", l.Cases)
	case l.Missing > 0:
		return fmt.Sprintf("behind: %s not in the lists yet, the oldest waiting %s; workers catch up by themselves",
			l.MissingText(), l.Oldest.Round(time.Second))
	default:
		return "ok"
	}
}

// MissingText counts the missing cases in words: "1 recent case", "37
// recent cases", or "200 or more recent cases" when every case of a full
// sample was missing, since more may be.
func (l Lag) MissingText() string {
	switch {
	case l.SampleFull && l.Missing == l.Sampled:
		return fmt.Sprintf("%d or more recent cases", l.Missing)
	case l.Missing == 1:
		return "1 recent case"
	}
	return fmt.Sprintf("%d recent cases", l.Missing)
}

// Projected is what Freshness asks of the read model (readmodel.Store).
type Projected interface {
	// Count is how many cases the read model holds.
	Count(ctx context.Context) (int64, error)
	// Absent returns those of refs the read model has no case for.
	Absent(ctx context.Context, refs []string) ([]string, error)
}

// Freshness compares the read model with Temporal's visibility store: how many
// cases each holds, and which of the newest running cases (older than Settle,
// so a case projected within a moment of its start is not counted) the read
// model still lacks. A check costs a count and one page of a list in
// visibility plus one Redis pipeline, so answers are kept for TTL.
type Freshness struct {
	Temporal  client.Client
	Namespace string
	Read      Projected
	Sample    int           // newest running cases looked for; 0 means 200
	Settle    time.Duration // 0 means 15s
	TTL       time.Duration // 0 means 5s
	Now       func() time.Time

	measuring sync.Mutex // one measurement at a time; callers meanwhile wait and share it
	mu        sync.Mutex
	last      Lag
	lastErr   error
	running   bool
}

// Check returns the lag, measured at most TTL ago. Probes arriving together
// share one measurement.
func (f *Freshness) Check(ctx context.Context) (Lag, error) {
	f.measuring.Lock()
	defer f.measuring.Unlock()
	f.mu.Lock()
	if !f.last.Checked.IsZero() && f.now().Sub(f.last.Checked) < f.ttl() {
		l, err := f.last, f.lastErr
		f.mu.Unlock()
		return l, err
	}
	f.mu.Unlock()
	l, err := f.measure(ctx)
	f.mu.Lock()
	f.last, f.lastErr = l, err
	f.mu.Unlock()
	return l, err
}

// Known returns the last measured lag without waiting, and starts a new
// measurement in the background when it is older than TTL: for pages, which
// must not wait on visibility. ok is false until a measurement succeeded.
func (f *Freshness) Known() (Lag, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running && (f.last.Checked.IsZero() || f.now().Sub(f.last.Checked) >= f.ttl()) {
		f.running = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := f.measure(ctx)
			f.mu.Lock()
			f.last, f.lastErr, f.running = l, err, false
			f.mu.Unlock()
		}()
	}
	return f.last, !f.last.Checked.IsZero() && f.lastErr == nil
}

func (f *Freshness) measure(ctx context.Context) (Lag, error) {
	now := f.now()
	l := Lag{Checked: now}
	isCase := fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)
	n, err := f.Temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: f.Namespace, Query: isCase})
	if err != nil {
		return l, fmt.Errorf("count cases in Temporal: %w", err)
	}
	l.Cases = n.GetCount()
	if l.Listed, err = f.Read.Count(ctx); err != nil {
		return l, err
	}
	settled := now.Add(-f.settle()).UTC().Format(time.RFC3339Nano)
	page, err := f.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: f.Namespace,
		PageSize:  int32(f.sample()),
		Query:     isCase + " AND ExecutionStatus = 'Running' AND StartTime < '" + settled + "'",
	})
	if err != nil {
		return l, fmt.Errorf("list running cases in Temporal: %w", err)
	}
	started := map[string]time.Time{}
	refs := make([]string, 0, len(page.GetExecutions()))
	for _, e := range page.GetExecutions() {
		ref, ok := strings.CutPrefix(e.GetExecution().GetWorkflowId(), cases.WorkflowID(""))
		if !ok {
			continue
		}
		refs = append(refs, ref)
		started[ref] = e.GetStartTime().AsTime()
	}
	l.Sampled = len(refs)
	l.SampleFull = len(page.GetExecutions()) >= f.sample()
	absent, err := f.Read.Absent(ctx, refs)
	if err != nil {
		return l, err
	}
	l.Missing = len(absent)
	for _, ref := range absent {
		if wait := now.Sub(started[ref]); wait > l.Oldest {
			l.Oldest = wait
		}
	}
	return l, nil
}

func (f *Freshness) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Freshness) ttl() time.Duration    { return orDefault(f.TTL, 5*time.Second) }
func (f *Freshness) settle() time.Duration { return orDefault(f.Settle, 15*time.Second) }
func (f *Freshness) sample() int {
	if f.Sample > 0 {
		return f.Sample
	}
	return 200
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
