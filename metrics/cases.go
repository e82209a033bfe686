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
	if fn == nil {
		m.cases.fn.Store(nil)
		return
	}
	m.cases.fn.Store(&fn)
}

// casesCollector asks for the counts at scrape time rather than keeping a
// gauge up to date, so the numbers come from the one source of truth.
type casesCollector struct {
	timeout   time.Duration
	fn        atomic.Pointer[func(context.Context) (map[string]int64, error)]
	errors    atomic.Uint64
	desc      *prometheus.Desc
	errorDesc *prometheus.Desc
}

func newCasesCollector(timeout time.Duration) *casesCollector {
	return &casesCollector{
		timeout: timeout,
		desc: prometheus.NewDesc("casebridge_cases",
			"Cases by status, counted at scrape time.", []string{"status"}, nil),
		errorDesc: prometheus.NewDesc("casebridge_cases_scrape_errors_total",
			"Scrapes in which counting cases by status failed or timed out.", nil, nil),
	}
}

func (c *casesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.desc
	ch <- c.errorDesc
}

// Collect emits the error counter after calling fn, so a scrape that fails
// already shows its own failure.
func (c *casesCollector) Collect(ch chan<- prometheus.Metric) {
	if fn := c.fn.Load(); fn != nil {
		// Collect has no context of its own; the timeout bounds a slow store.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		counts, err := (*fn)(ctx)
		cancel()
		if err != nil {
			c.errors.Add(1)
		} else {
			for status, n := range counts {
				m, err := prometheus.NewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
				if err != nil { // a status that is not UTF-8: report it, don't panic the scrape
					m = prometheus.NewInvalidMetric(c.desc, err)
				}
				ch <- m
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.errorDesc, prometheus.CounterValue, float64(c.errors.Load()))
}
