package metrics

import "github.com/prometheus/client_golang/prometheus"

// ReadModelLag is the read model's lag behind Temporal as the metrics show it.
type ReadModelLag struct {
	Missing       int     // recent running cases not yet in the read model
	OldestSeconds float64 // how long the longest-waiting of them has waited
	Listed, Cases int64   // cases in the read model, and in Temporal
}

// ReadModel exposes the read model's lag, from fn at scrape time (fn returns
// ok false when it has no measurement, and then the gauges are left out):
// casebridge_read_model_missing_cases, _oldest_missing_seconds, _cases and
// casebridge_temporal_cases. Alert on missing cases that stay above zero, or
// on _cases at zero while casebridge_temporal_cases is not. Call it once.
func (m *Metrics) ReadModel(fn func() (ReadModelLag, bool)) {
	m.registry.MustRegister(&lagCollector{fn: fn,
		missing: prometheus.NewDesc("casebridge_read_model_missing_cases",
			"Recent running cases (of a sample of the newest) that the read model does not list yet.", nil, nil),
		oldest: prometheus.NewDesc("casebridge_read_model_oldest_missing_seconds",
			"How long the longest-waiting case missing from the read model has waited.", nil, nil),
		listed: prometheus.NewDesc("casebridge_read_model_cases",
			"Cases the read model holds (finished cases stay after Temporal's retention).", nil, nil),
		cases: prometheus.NewDesc("casebridge_temporal_cases",
			"Case workflows Temporal holds, open and within retention.", nil, nil),
	})
}

type lagCollector struct {
	fn                             func() (ReadModelLag, bool)
	missing, oldest, listed, cases *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.missing
	ch <- c.oldest
	ch <- c.listed
	ch <- c.cases
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	l, ok := c.fn()
	if !ok {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.missing, prometheus.GaugeValue, float64(l.Missing))
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, l.OldestSeconds)
	ch <- prometheus.MustNewConstMetric(c.listed, prometheus.GaugeValue, float64(l.Listed))
	ch <- prometheus.MustNewConstMetric(c.cases, prometheus.GaugeValue, float64(l.Cases))
}
