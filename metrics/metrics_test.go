package metrics

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// scrape fails the test unless the registry gathers cleanly (the Handler
// continues past errors, so a scrape alone would hide them), then serves.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return serve(t, m)
}

// serve GETs /metrics from the Handler and parses the text exposition.
func serve(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200; body:\n%s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// sample finds the sample of name whose labels are exactly want.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric family %s", name)
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if maps.Equal(got, want) {
			return m
		}
	}
	t.Fatalf("%s has no series %v; it has %v", name, want, f.GetMetric())
	return nil
}

func TestIntake(t *testing.T) {
	m := New()
	m.Intake("open311", "created")
	m.Intake("open311", "created")
	m.Intake("fixmystreet", "duplicate")

	fams := scrape(t, m)
	for _, tc := range []struct {
		source, outcome string
		want            float64
	}{
		{"open311", "created", 2},
		{"fixmystreet", "duplicate", 1},
	} {
		got := sample(t, fams, "casebridge_intake_total", map[string]string{"source": tc.source, "outcome": tc.outcome}).GetCounter().GetValue()
		if got != tc.want {
			t.Errorf("casebridge_intake_total{source=%q,outcome=%q} = %v, want %v", tc.source, tc.outcome, got, tc.want)
		}
	}
}

func TestObserveHTTP(t *testing.T) {
	m := New()
	m.ObserveHTTP(http.MethodGet, "/api/v1/cases/:ref", 200, 30*time.Millisecond)
	m.ObserveHTTP("PROPFIND", "unmatched", 404, time.Millisecond)

	fams := scrape(t, m)
	h := sample(t, fams, "casebridge_http_request_duration_seconds",
		map[string]string{"method": "GET", "route": "/api/v1/cases/:ref", "code": "200"}).GetHistogram()
	if h.GetSampleCount() != 1 || math.Abs(h.GetSampleSum()-0.03) > 1e-9 {
		t.Errorf("count, sum = %d, %v; want 1, 0.03", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 0.05 {
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	// An unknown method is folded so that clients cannot mint series.
	sample(t, fams, "casebridge_http_request_duration_seconds",
		map[string]string{"method": "other", "route": "unmatched", "code": "404"})
}

func TestRoutingDecision(t *testing.T) {
	m := New()
	m.RoutingDecision("highways-v3", "matched")
	m.RoutingDecision("highways-v3", "error")
	m.RoutingDecision("highways-v3", "error")

	fams := scrape(t, m)
	got := sample(t, fams, "casebridge_routing_decisions_total", map[string]string{"rule_set": "highways-v3", "outcome": "error"})
	if v := got.GetCounter().GetValue(); v != 2 {
		t.Errorf("routing errors = %v, want 2", v)
	}
}

func TestCasesByStatus(t *testing.T) {
	m := New()
	var deadline time.Duration
	m.CasesByStatus(func(ctx context.Context) (map[string]int64, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		deadline = time.Until(d)
		return map[string]int64{"open": 3, "closed": 5}, nil
	})

	fams := scrape(t, m)
	for status, want := range map[string]float64{"open": 3, "closed": 5} {
		if got := sample(t, fams, "casebridge_cases", map[string]string{"status": status}).GetGauge().GetValue(); got != want {
			t.Errorf("casebridge_cases{status=%q} = %v, want %v", status, got, want)
		}
	}
	if got := sample(t, fams, "casebridge_cases_scrape_errors_total", nil).GetCounter().GetValue(); got != 0 {
		t.Errorf("scrape errors = %v, want 0", got)
	}
	if deadline <= 0 || deadline > m.cases.timeout {
		t.Errorf("callback deadline in %v, want within (0, %v]", deadline, m.cases.timeout)
	}
}

func TestCasesByStatusFailing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(ctx context.Context) (map[string]int64, error)
	}{
		{"error", func(context.Context) (map[string]int64, error) {
			return map[string]int64{"open": 1}, errors.New("redis: connection refused")
		}},
		{"timeout", func(ctx context.Context) (map[string]int64, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			m.cases.timeout = 20 * time.Millisecond
			m.Intake("open311", "created")
			m.CasesByStatus(tc.fn)

			// serve, not scrape: each collection calls fn, and this counts them.
			for scrapes := 1; scrapes <= 2; scrapes++ {
				fams := serve(t, m)
				if f := fams["casebridge_cases"]; f != nil {
					t.Errorf("scrape %d: casebridge_cases = %v, want absent", scrapes, f.GetMetric())
				}
				if got := sample(t, fams, "casebridge_cases_scrape_errors_total", nil).GetCounter().GetValue(); got != float64(scrapes) {
					t.Errorf("scrape %d: scrape errors = %v, want %d", scrapes, got, scrapes)
				}
				sample(t, fams, "casebridge_intake_total", map[string]string{"source": "open311", "outcome": "created"})
				if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
					t.Errorf("scrape %d: Go or process collector missing", scrapes)
				}
			}
			if _, err := m.Registry().Gather(); err != nil {
				t.Errorf("Gather: %v", err)
			}
		})
	}
}

// The SDK emits one name with different tag sets; both must be exposed with
// the same label names, and the registry must gather without error.
func TestTemporalUnionOfTags(t *testing.T) {
	m := New()
	root := m.Temporal()
	ns := root.WithTags(map[string]string{"namespace": "default"})
	start := ns.WithTags(map[string]string{"operation": "StartWorkflowExecution"})
	poll := ns.WithTags(map[string]string{"operation": "PollWorkflowTaskQueue", "task_queue": "casebridge"})
	start.Counter("temporal_request").Inc(2)
	poll.Counter("temporal_request").Inc(1)
	start.Counter("temporal_request").Inc(-1) // a counter only goes up: ignored
	start.Timer("temporal_request_latency").Record(3 * time.Millisecond)
	poll.Timer("temporal_request_latency").Record(2 * time.Second)
	root.Gauge("temporal_num_pollers").Update(1)
	poll.Gauge("temporal_num_pollers").Update(4)

	fams := scrape(t, m)
	wantLabels := map[string][]string{
		"temporal_request":         {"namespace", "operation", "task_queue"},
		"temporal_request_latency": {"namespace", "operation", "task_queue"},
		"temporal_num_pollers":     {"namespace", "operation", "task_queue"},
	}
	for name, want := range wantLabels {
		f := fams[name]
		if len(f.GetMetric()) != 2 {
			t.Fatalf("%s has %d series, want 2", name, len(f.GetMetric()))
		}
		for _, s := range f.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetName())
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s label names = %v, want %v", name, got, want)
			}
		}
	}
	if fams["temporal_request"].GetType() != dto.MetricType_COUNTER ||
		fams["temporal_num_pollers"].GetType() != dto.MetricType_GAUGE ||
		fams["temporal_request_latency"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("types = %v, %v, %v; want COUNTER, GAUGE, HISTOGRAM", fams["temporal_request"].GetType(),
			fams["temporal_num_pollers"].GetType(), fams["temporal_request_latency"].GetType())
	}

	startLabels := map[string]string{"namespace": "default", "operation": "StartWorkflowExecution", "task_queue": ""}
	pollLabels := map[string]string{"namespace": "default", "operation": "PollWorkflowTaskQueue", "task_queue": "casebridge"}
	if got := sample(t, fams, "temporal_request", startLabels).GetCounter().GetValue(); got != 2 {
		t.Errorf("temporal_request{start} = %v, want 2", got)
	}
	if got := sample(t, fams, "temporal_request", pollLabels).GetCounter().GetValue(); got != 1 {
		t.Errorf("temporal_request{poll} = %v, want 1", got)
	}
	if got := sample(t, fams, "temporal_num_pollers", pollLabels).GetGauge().GetValue(); got != 4 {
		t.Errorf("temporal_num_pollers{poll} = %v, want 4", got)
	}
	sample(t, fams, "temporal_num_pollers", map[string]string{"namespace": "", "operation": "", "task_queue": ""})
	h := sample(t, fams, "temporal_request_latency", pollLabels).GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
		t.Errorf("temporal_request_latency{poll} count, sum = %d, %v; want 1, 2", h.GetSampleCount(), h.GetSampleSum())
	}
}

func TestTemporalTimer(t *testing.T) {
	m := New()
	tm := m.Temporal().Timer("temporal_activity_execution_latency")
	tm.Record(3 * time.Millisecond)
	tm.Record(2 * time.Second)
	tm.Record(-time.Second) // a clock step; counted as zero
	tm.Record(30 * 24 * time.Hour)

	h := sample(t, scrape(t, m), "temporal_activity_execution_latency", nil).GetHistogram()
	wantSum := 0.003 + 2 + 30*86400
	if h.GetSampleCount() != 4 || math.Abs(h.GetSampleSum()-wantSum) > 1e-6 {
		t.Errorf("count, sum = %d, %v; want 4, %v", h.GetSampleCount(), h.GetSampleSum(), wantSum)
	}
	for _, tc := range []struct {
		le   float64
		want uint64
	}{{0.001, 1}, {0.0025, 1}, {0.005, 2}, {1, 2}, {2.5, 3}, {7 * 86400, 3}} {
		var got uint64
		found := false
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == tc.le {
				got, found = b.GetCumulativeCount(), true
			}
		}
		if !found || got != tc.want {
			t.Errorf("bucket le=%v = %d (found %v), want %d", tc.le, got, found, tc.want)
		}
	}
}

func TestTemporalNames(t *testing.T) {
	m := New()
	m.Temporal().Counter("temporal_worker_start").Inc(1)
	m.Temporal().Counter("worker_start").Inc(1) // same metric, prefixed once
	m.Temporal().Counter("sticky.cache-hit").Inc(1)

	fams := scrape(t, m)
	if got := sample(t, fams, "temporal_worker_start", nil).GetCounter().GetValue(); got != 2 {
		t.Errorf("temporal_worker_start = %v, want 2", got)
	}
	sample(t, fams, "temporal_sticky_cache_hit", nil)
	for name := range fams {
		if len(name) > 18 && name[:18] == "temporal_temporal_" {
			t.Errorf("doubled prefix: %s", name)
		}
	}
}

func TestTemporalTags(t *testing.T) {
	m := New()
	root := m.Temporal()
	a := root.WithTags(map[string]string{"workflow_type": "CaseWorkflow"})

	// An empty value is an absent tag, so both name one series.
	a.Counter("temporal_workflow_completed").Inc(1)
	a.WithTags(map[string]string{"activity_type": ""}).Counter("temporal_workflow_completed").Inc(1)
	// Later tags overwrite earlier ones; the same tag set is the same handler.
	b := a.WithTags(map[string]string{"workflow_type": "Other"})
	if b != root.WithTags(map[string]string{"workflow_type": "Other"}) {
		t.Error("WithTags gave two handlers for one tag set")
	}
	b.Counter("temporal_workflow_completed").Inc(5)
	// Keys Prometheus would reject or misread are renamed, not dropped.
	root.WithTags(map[string]string{"le": "x", "task-queue": "q"}).Timer("temporal_odd").Record(time.Millisecond)

	fams := scrape(t, m)
	for wf, want := range map[string]float64{"CaseWorkflow": 2, "Other": 5} {
		got := sample(t, fams, "temporal_workflow_completed", map[string]string{"workflow_type": wf}).GetCounter().GetValue()
		if got != want {
			t.Errorf("temporal_workflow_completed{workflow_type=%q} = %v, want %v", wf, got, want)
		}
	}
	sample(t, fams, "temporal_odd", map[string]string{"tag_le": "x", "tag_task_queue": "q"})
}

// A name can have only one type; a second type is dropped and counted
// rather than breaking the scrape.
func TestTemporalTypeConflict(t *testing.T) {
	m := New()
	h := m.Temporal()
	h.Counter("temporal_x").Inc(1)
	h.Gauge("temporal_x").Update(7)
	h.Gauge("temporal_x").Update(8)
	h.WithTags(map[string]string{"a": "b"}).Timer("temporal_x").Record(time.Second)

	fams := scrape(t, m)
	if f := fams["temporal_x"]; f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 {
		t.Errorf("temporal_x = %v, want one counter", f)
	}
	if got := sample(t, fams, "casebridge_temporal_metric_conflicts_total", nil).GetCounter().GetValue(); got != 2 {
		t.Errorf("conflicts = %v, want 2 (one per handler and type)", got)
	}
}

func TestTemporalConcurrent(t *testing.T) {
	m := New()
	root := m.Temporal()
	const workers, n = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tags := map[string]string{"worker": strconv.Itoa(w % 2)}
			for i := range n {
				h := root.WithTags(tags)
				h.Counter("temporal_c").Inc(1)
				h.Timer("temporal_t").Record(time.Duration(i) * time.Millisecond)
				h.WithTags(map[string]string{"n": strconv.Itoa(i % 3)}).Gauge("temporal_g").Update(float64(i))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := m.Registry().Gather(); err != nil {
				t.Errorf("Gather during writes: %v", err)
				return
			}
		}
	})
	wg.Wait()

	fams := scrape(t, m)
	var total float64
	var timed uint64
	for _, w := range []string{"0", "1"} {
		total += sample(t, fams, "temporal_c", map[string]string{"worker": w}).GetCounter().GetValue()
		timed += sample(t, fams, "temporal_t", map[string]string{"worker": w}).GetHistogram().GetSampleCount()
	}
	if total != workers*n || timed != workers*n {
		t.Errorf("counter total, timer count = %v, %d; want %d each", total, timed, workers*n)
	}
	if got := len(fams["temporal_g"].GetMetric()); got != 6 {
		t.Errorf("temporal_g has %d series, want 6", got)
	}
}

// The SDK asks its handler for an instrument on nearly every event; once a
// handle exists, asking again and using it must not allocate.
func TestTemporalCachedHandleAllocs(t *testing.T) {
	h := New().Temporal().WithTags(map[string]string{"namespace": "default"})
	h.Counter("temporal_request").Inc(1)
	if allocs := testing.AllocsPerRun(100, func() { h.Counter("temporal_request").Inc(1) }); allocs != 0 {
		t.Errorf("Counter+Inc allocates %v times, want 0", allocs)
	}
}

// A workflow run in the SDK's own test environment reports through the
// adapter, and what it reports gathers cleanly.
func TestTemporalSDKWorkflow(t *testing.T) {
	m := New()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s.SetMetricsHandler(m.Temporal())
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(context.Context) (string, error) { return "highways", nil },
		activity.RegisterOptions{Name: "Route"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: time.Second})
		return workflow.ExecuteLocalActivity(ctx, "Route").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "Case"})
	env.ExecuteWorkflow("Case")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow: %v", err)
	}

	fams := scrape(t, m)
	tags := map[string]string{"activity_type": "Route", "workflow_type": "Case"}
	if got := sample(t, fams, "temporal_local_activity_total", tags).GetCounter().GetValue(); got != 1 {
		t.Errorf("temporal_local_activity_total = %v, want 1", got)
	}
	if got := sample(t, fams, "temporal_local_activity_execution_latency", tags).GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("temporal_local_activity_execution_latency count = %v, want 1", got)
	}
}

var benchTags = map[string]string{"namespace": "default", "operation": "PollActivityTaskQueue", "task_queue": "casebridge"}

func BenchmarkTemporalCounterCached(b *testing.B) {
	c := New().Temporal().WithTags(benchTags).Counter("temporal_request")
	b.ReportAllocs()
	for b.Loop() {
		c.Inc(1)
	}
}

func BenchmarkTemporalCounterWithTags(b *testing.B) {
	root := New().Temporal()
	b.ReportAllocs()
	for b.Loop() {
		root.WithTags(benchTags).Counter("temporal_request").Inc(1)
	}
}

func BenchmarkTemporalCounterWithTagsParallel(b *testing.B) {
	root := New().Temporal()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			root.WithTags(benchTags).Counter("temporal_request").Inc(1)
		}
	})
}

func TestBackOfficeWaiting(t *testing.T) {
	m := New()
	m.BackOfficeWaiting(func(ctx context.Context) (map[string]int64, error) {
		return map[string]int64{"highways": 4, "waste": 0}, nil
	})
	fams := scrape(t, m)
	for system, want := range map[string]float64{"highways": 4, "waste": 0} {
		if got := sample(t, fams, "casebridge_backoffice_waiting_cases", map[string]string{"system": system}).GetGauge().GetValue(); got != want {
			t.Errorf("casebridge_backoffice_waiting_cases{system=%q} = %v, want %v", system, got, want)
		}
	}
	m.BackOfficeWaiting(func(ctx context.Context) (map[string]int64, error) { return nil, errors.New("redis away") })
	fams = serve(t, m) // one collection, one failure
	if f := fams["casebridge_backoffice_waiting_cases"]; f != nil {
		t.Errorf("with Redis away the gauge is %v, want absent", f.GetMetric())
	}
	if got := sample(t, fams, "casebridge_backoffice_waiting_scrape_errors_total", nil).GetCounter().GetValue(); got != 1 {
		t.Errorf("scrape errors = %v, want 1", got)
	}
}
