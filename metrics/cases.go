package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CasesByStatus sets the function that counts cases by status when the
// metrics are scraped (e.g. from the read model's indexes). fn gets a context
// with a short deadline and must honour it. When fn fails, the scrape goes on
// without casebridge_cases and casebridge_cases_scrape_errors_total counts the
// failure. A later call replaces fn; nil stops the gauge.
func (m *Metrics) CasesByStatus(fn func(ctx context.Context) (map[string]int64, error)) {
	m.cases.set(fn)
}

// BackOfficeWaiting sets the function that counts, when the metrics are
// scraped, the cases waiting on each back-office system (as the cases record
// it: a wait on back_office:<system>), for
// casebridge_backoffice_waiting_cases{system}. It behaves as CasesByStatus:
// a failure leaves the gauge out and counts in
// casebridge_backoffice_waiting_scrape_errors_total.
func (m *Metrics) BackOfficeWaiting(fn func(ctx context.Context) (map[string]int64, error)) {
	m.waiting.set(fn)
}

// countCollector asks for counts by one label at scrape time rather than
// keeping a gauge up to date, so the numbers come from the one source of
// truth.
type countCollector struct {
	timeout   time.Duration
	fn        atomic.Pointer[func(context.Context) (map[string]int64, error)]
	errors    atomic.Uint64
	desc      *prometheus.Desc
	errorDesc *prometheus.Desc
}

func newCasesCollector(timeout time.Duration) *countCollector {
	return &countCollector{
		timeout: timeout,
		desc: prometheus.NewDesc("casebridge_cases",
			"Cases by status, counted at scrape time.", []string{"status"}, nil),
		errorDesc: prometheus.NewDesc("casebridge_cases_scrape_errors_total",
			"Scrapes in which counting cases by status failed or timed out.", nil, nil),
	}
}

func newWaitingCollector(timeout time.Duration) *countCollector {
	return &countCollector{
		timeout: timeout,
		desc: prometheus.NewDesc("casebridge_backoffice_waiting_cases",
			"Cases waiting on a back-office system that has not answered (their wait back_office:<system>), counted at scrape time from the read model.",
			[]string{"system"}, nil),
		errorDesc: prometheus.NewDesc("casebridge_backoffice_waiting_scrape_errors_total",
			"Scrapes in which counting the cases waiting on back offices failed or timed out.", nil, nil),
	}
}

func (c *countCollector) set(fn func(ctx context.Context) (map[string]int64, error)) {
	if fn == nil {
		c.fn.Store(nil)
		return
	}
	c.fn.Store(&fn)
}

func (c *countCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.errorDesc
}

// Collect emits the error counter after calling fn, so a scrape that fails
// already shows its own failure.
func (c *countCollector) Collect(ch chan<- prometheus.Metric) {
	if fn := c.fn.Load(); fn != nil {
		// Collect has no context of its own; the timeout bounds a slow store.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		counts, err := (*fn)(ctx)
		cancel()
		if err != nil {
			c.errors.Add(1)
		} else {
			for label, n := range counts {
				m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, float64(n), label)
				if err != nil { // a label that is not UTF-8: report it, don't panic the scrape
					m = prometheus.NewInvalidMetric(c.desc, err)
				}
				ch <- m
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.errorDesc, prometheus.CounterValue, float64(c.errors.Load()))
}
