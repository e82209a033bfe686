// Package metrics holds casebridge's Prometheus metrics and adapts the
// Temporal SDK's metrics to them.
//
// Everything hangs off a *Metrics built by New, which owns its own registry:
// tests build as many as they like, and nothing is registered globally.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is casebridge's set of metrics and the registry that exposes them.
// It is safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	handler  http.Handler

	intake   *prometheus.CounterVec
	http     *prometheus.HistogramVec
	routing  *prometheus.CounterVec
	backOff  *prometheus.CounterVec
	cases    *countCollector
	waiting  *countCollector
	temporal *temporalCollector
}

// New builds the metrics on a fresh registry that also carries the Go runtime
// and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		intake: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casebridge_intake_total",
			Help: "Reports received, by source and outcome (created, duplicate, rejected, failed).",
		}, []string{"source", "outcome"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "casebridge_http_request_duration_seconds",
			Help: "HTTP request latency by method, route pattern and status code.",
			// 1 ms to 10 s: a read from Redis is a few ms; an intake that waits
			// on Temporal can take seconds; anything slower is an outage.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "code"}),
		routing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casebridge_routing_decisions_total",
			Help: "Routing decisions by rule set and outcome; routing errors are outcome \"error\".",
		}, []string{"rule_set", "outcome"}),
		backOff: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casebridge_backoffice_calls_total",
			Help: "Calls to back-office systems by system, operation (find, create, cancel, status, note, poll) and outcome (ok, failed: retried, refused: final). A rising failed count is a system that is down; cases wait on it (waits in the staff API).",
		}, []string{"system", "op", "outcome"}),
		cases:   newCasesCollector(2 * time.Second),
		waiting: newWaitingCollector(2 * time.Second),
	}
	conflicts := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "casebridge_temporal_metric_conflicts_total",
		Help: "Temporal SDK instruments dropped because their name was already in use with another type.",
	})
	m.temporal = newTemporalCollector(conflicts)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.intake, m.http, m.routing, m.backOff, m.cases, m.waiting, m.temporal, conflicts,
	)
	// ContinueOnError: one broken collector costs its own series, not the
	// whole scrape; the failure is counted in promhttp_metric_handler_errors_total.
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg,
	})
	return m
}

// Registry is the registry the metrics live on, for adding collectors or
// gathering directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Intake counts one report received from source (e.g. "open311") with its
// outcome: "created", "duplicate", "rejected" or "failed".
func (m *Metrics) Intake(source, outcome string) {
	m.intake.WithLabelValues(source, outcome).Inc()
}

// ObserveHTTP records one request's latency. route must be the route pattern
// (e.g. "/api/v1/cases/:ref"), never the raw path, so that the number of
// series stays bounded.
func (m *Metrics) ObserveHTTP(method, route string, code int, d time.Duration) {
	m.http.WithLabelValues(methodLabel(method), route, strconv.Itoa(code)).Observe(d.Seconds())
}

// RoutingDecision counts one routing decision made under ruleSet with its
// outcome (e.g. "matched", "default", "error"). Call it from the activity
// that routes, not from workflow code, or replays count twice.
func (m *Metrics) RoutingDecision(ruleSet, outcome string) {
	m.routing.WithLabelValues(ruleSet, outcome).Inc()
}

// BackOfficeCall counts one call to a back-office system. system and op come
// from the configuration and the code, so the series stay bounded.
func (m *Metrics) BackOfficeCall(system, op, outcome string) {
	m.backOff.WithLabelValues(system, op, outcome).Inc()
}

// methodLabel folds methods outside the standard set into "other": clients
// choose the method, and each distinct one would otherwise be a new series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
