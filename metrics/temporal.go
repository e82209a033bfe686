package metrics

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// Temporal returns the handler to pass as client.Options.MetricsHandler. The
// SDK's metrics appear on the same registry under their own names, which
// already start with "temporal_" (a name that does not is given the prefix).
//
// Counters are counters and gauges are gauges. Timers are histograms in
// seconds rather than summaries: histograms aggregate across workers and
// replicas, and recording one is an atomic add where a summary takes a lock.
// Names are kept as Temporal's SDK metrics reference lists them (no
// "_seconds" suffix; it documents Go SDK histograms as seconds), so queries
// written against that reference work here.
func (m *Metrics) Temporal() client.MetricsHandler { return m.temporal.root }

var _ client.MetricsHandler = (*temporalHandler)(nil)

// temporalCollector holds every SDK series and exposes them at scrape time.
//
// The SDK uses one metric name with different tag sets (a worker adds
// task_queue, a failure adds failure_reason), while Prometheus wants one set
// of label names per metric. So each series keeps only the tags it was given,
// and Collect emits every series of a name with the union of the label names
// seen for that name, missing ones empty. A tag with an empty value is
// dropped up front: to Prometheus an empty label is an absent one, and
// keeping both would make two series that collide.
//
// The hot path takes no lock: handlers are cached by tag set and instruments
// by (handler, name) in copy-on-write maps read with one atomic load. Only the
// first use of a tag set or a name takes mu.
type temporalCollector struct {
	root      *temporalHandler
	buckets   []float64 // timer bucket upper bounds in seconds; never changed
	conflicts prometheus.Counter
	scratch   sync.Pool // *tagScratch, so that WithTags need not allocate

	handlers atomic.Pointer[map[string]*temporalHandler] // by tag key; written under mu

	mu       sync.Mutex
	families map[string]*family // by exported name
}

// family is one exported metric name.
type family struct {
	kind   kind
	labels []string // sorted union of label names; replaced, never changed in place
	desc   *prometheus.Desc
	series map[string]series // by tag key
}

type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindTimer
)

func (k kind) help() string {
	switch k {
	case kindCounter:
		return "Temporal SDK counter."
	case kindGauge:
		return "Temporal SDK gauge."
	default:
		return "Temporal SDK timer, in seconds."
	}
}

type labelPair struct{ name, value string }

// series is one (name, tag set)'s value.
type series interface {
	pairs() []labelPair
	metric(desc *prometheus.Desc, labelValues []string) (prometheus.Metric, error)
}

func newTemporalCollector(conflicts prometheus.Counter) *temporalCollector {
	c := &temporalCollector{
		// From a millisecond (a gRPC call) past the SDK's one-minute long
		// polls to a week, because workflow_endtoend_latency spans whole cases.
		buckets: []float64{
			.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10,
			30, 60, 120, 300, 900, 3600, 4 * 3600, 86400, 7 * 86400,
		},
		conflicts: conflicts,
		families:  map[string]*family{},
		scratch:   sync.Pool{New: func() any { return new(tagScratch) }},
	}
	c.root = c.newHandler("", nil)
	c.handlers.Store(&map[string]*temporalHandler{"": c.root})
	return c
}

// Describe sends nothing: the SDK's metrics appear as it first uses them, so
// this is an unchecked collector. Collect keeps each name consistent itself.
func (c *temporalCollector) Describe(chan<- *prometheus.Desc) {}

func (c *temporalCollector) Collect(ch chan<- prometheus.Metric) {
	type snapshot struct {
		desc   *prometheus.Desc
		labels []string
		series []series
	}
	c.mu.Lock()
	snaps := make([]snapshot, 0, len(c.families))
	for name, f := range c.families {
		if f.desc == nil {
			f.desc = prometheus.NewDesc(name, f.kind.help(), f.labels, nil)
		}
		s := snapshot{desc: f.desc, labels: f.labels, series: make([]series, 0, len(f.series))}
		for _, se := range f.series {
			s.series = append(s.series, se)
		}
		snaps = append(snaps, s)
	}
	c.mu.Unlock()

	var values []string
	for _, s := range snaps {
		for _, se := range s.series {
			values = fillLabels(values[:0], s.labels, se.pairs())
			m, err := se.metric(s.desc, values)
			if err != nil {
				m = prometheus.NewInvalidMetric(s.desc, err)
			}
			ch <- m
		}
	}
}

// fillLabels appends, for each name in labels, the series' value or "".
// Both lists are sorted by name and labels holds every name in pairs.
func fillLabels(dst, labels []string, pairs []labelPair) []string {
	i := 0
	for _, name := range labels {
		if i < len(pairs) && pairs[i].name == name {
			dst = append(dst, pairs[i].value)
			i++
		} else {
			dst = append(dst, "")
		}
	}
	return dst
}

// temporalHandler is a tag set. Handlers with the same tags are one value.
type temporalHandler struct {
	c           *temporalCollector
	key         string      // encoded tags; see appendTagKey
	tags        []labelPair // sorted by name, no empty values
	instruments atomic.Pointer[map[instrumentKey]any]
}

type instrumentKey struct {
	name string
	kind kind
}

func (c *temporalCollector) newHandler(key string, tags []labelPair) *temporalHandler {
	h := &temporalHandler{c: c, key: key, tags: tags}
	h.instruments.Store(&map[instrumentKey]any{})
	return h
}

// tagScratch is WithTags's working space, pooled so that asking again for a
// tag set the collector already knows allocates nothing.
type tagScratch struct {
	tags []labelPair
	key  []byte
}

// WithTags returns the handler for h's tags overlaid with tags.
func (h *temporalHandler) WithTags(tags map[string]string) client.MetricsHandler {
	if len(tags) == 0 {
		return h
	}
	sc := h.c.scratch.Get().(*tagScratch)
	defer h.c.scratch.Put(sc)

	merged := append(sc.tags[:0], h.tags...)
	for k, v := range tags {
		merged = setTag(merged, labelName(k), v)
	}
	merged = slices.DeleteFunc(merged, func(p labelPair) bool { return p.value == "" })
	slices.SortFunc(merged, func(a, b labelPair) int { return strings.Compare(a.name, b.name) })
	sc.tags = merged
	sc.key = appendTagKey(sc.key[:0], merged)

	if found := (*h.c.handlers.Load())[string(sc.key)]; found != nil {
		return found
	}
	return h.c.handler(sc.key, merged)
}

func setTag(tags []labelPair, name, value string) []labelPair {
	for i := range tags {
		if tags[i].name == name {
			tags[i].value = value
			return tags
		}
	}
	return append(tags, labelPair{name, value})
}

// appendTagKey encodes sorted tags with length prefixes, so that no choice of
// names and values can make two tag sets encode alike.
func appendTagKey(dst []byte, tags []labelPair) []byte {
	for _, t := range tags {
		dst = binary.AppendUvarint(dst, uint64(len(t.name)))
		dst = append(dst, t.name...)
		dst = binary.AppendUvarint(dst, uint64(len(t.value)))
		dst = append(dst, t.value...)
	}
	return dst
}

// handler returns the handler for a tag set, making it on first use. key and
// tags are scratch space and are copied.
func (c *temporalCollector) handler(key []byte, tags []labelPair) *temporalHandler {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.handlers.Load()
	if h := old[string(key)]; h != nil {
		return h
	}
	h := c.newHandler(string(key), slices.Clone(tags))
	next := maps.Clone(old)
	next[h.key] = h
	c.handlers.Store(&next)
	return h
}

// Counter, Gauge and Timer fall back to a no-op when the name is already in
// use with another type: one name can only have one type in Prometheus.

func (h *temporalHandler) Counter(name string) client.MetricsCounter {
	if c, ok := h.instrument(name, kindCounter).(client.MetricsCounter); ok {
		return c
	}
	return client.MetricsNopHandler.Counter(name)
}

func (h *temporalHandler) Gauge(name string) client.MetricsGauge {
	if g, ok := h.instrument(name, kindGauge).(client.MetricsGauge); ok {
		return g
	}
	return client.MetricsNopHandler.Gauge(name)
}

func (h *temporalHandler) Timer(name string) client.MetricsTimer {
	if t, ok := h.instrument(name, kindTimer).(client.MetricsTimer); ok {
		return t
	}
	return client.MetricsNopHandler.Timer(name)
}

// instrument returns h's series for name: a *counter, *gauge or *timer, or
// conflict{} when the name has another type.
func (h *temporalHandler) instrument(name string, k kind) any {
	if v, ok := (*h.instruments.Load())[instrumentKey{name, k}]; ok {
		return v
	}
	return h.c.instrument(h, name, k)
}

// conflict is cached in place of an instrument whose name has another type.
type conflict struct{}

func (c *temporalCollector) instrument(h *temporalHandler, name string, k kind) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := instrumentKey{name, k}
	old := *h.instruments.Load()
	if v, ok := old[key]; ok {
		return v
	}
	var v any = conflict{}
	exported := metricName(name)
	f := c.families[exported]
	if f == nil {
		f = &family{kind: k, series: map[string]series{}}
		c.families[exported] = f
	}
	if f.kind != k {
		c.conflicts.Inc()
	} else {
		s := f.series[h.key]
		if s == nil {
			s = c.newSeries(k, h.tags)
			f.series[h.key] = s
			f.addLabels(h.tags)
		}
		v = s
	}
	next := maps.Clone(old)
	next[key] = v
	h.instruments.Store(&next)
	return v
}

func (c *temporalCollector) newSeries(k kind, tags []labelPair) series {
	switch k {
	case kindCounter:
		return &counter{tags: tags}
	case kindGauge:
		return &gauge{tags: tags}
	default:
		return &timer{tags: tags, bounds: c.buckets, counts: make([]atomic.Uint64, len(c.buckets)+1)}
	}
}

// addLabels widens the family's label names to include tags'.
func (f *family) addLabels(tags []labelPair) {
	var added []string
	for _, t := range tags {
		if _, found := slices.BinarySearch(f.labels, t.name); !found {
			added = append(added, t.name)
		}
	}
	if len(added) == 0 {
		return
	}
	labels := append(slices.Clone(f.labels), added...)
	slices.Sort(labels)
	f.labels = labels
	f.desc = nil
}

type counter struct {
	tags []labelPair
	n    atomic.Int64
}

// Inc ignores negative deltas: a Prometheus counter only goes up.
func (c *counter) Inc(d int64) {
	if d > 0 {
		c.n.Add(d)
	}
}

func (c *counter) pairs() []labelPair { return c.tags }

func (c *counter) metric(desc *prometheus.Desc, values []string) (prometheus.Metric, error) {
	return prometheus.NewConstMetric(desc, prometheus.CounterValue, float64(c.n.Load()), values...)
}

type gauge struct {
	tags []labelPair
	bits atomic.Uint64 // math.Float64bits of the value
}

func (g *gauge) Update(v float64) { g.bits.Store(math.Float64bits(v)) }

func (g *gauge) pairs() []labelPair { return g.tags }

func (g *gauge) metric(desc *prometheus.Desc, values []string) (prometheus.Metric, error) {
	return prometheus.NewConstMetric(desc, prometheus.GaugeValue, math.Float64frombits(g.bits.Load()), values...)
}

type timer struct {
	tags    []labelPair
	bounds  []float64       // bucket upper bounds in seconds
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64   // math.Float64bits of the sum in seconds
}

func (t *timer) Record(d time.Duration) {
	s := max(d.Seconds(), 0)
	t.counts[sort.SearchFloat64s(t.bounds, s)].Add(1)
	for {
		old := t.sumBits.Load()
		if t.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+s)) {
			return
		}
	}
}

func (t *timer) pairs() []labelPair { return t.tags }

// metric derives the count from the buckets it read, so that a Record racing
// with the scrape cannot make the count disagree with the buckets.
func (t *timer) metric(desc *prometheus.Desc, values []string) (prometheus.Metric, error) {
	buckets := make(map[float64]uint64, len(t.bounds))
	var n uint64
	for i, bound := range t.bounds {
		n += t.counts[i].Load()
		buckets[bound] = n
	}
	n += t.counts[len(t.bounds)].Load()
	sum := math.Float64frombits(t.sumBits.Load())
	return prometheus.NewConstHistogram(desc, n, sum, buckets, values...)
}

// metricName is the exported name for an SDK metric name: "temporal_"
// prefixed once, and any character Prometheus does not allow replaced by "_".
func metricName(name string) string {
	if !strings.HasPrefix(name, "temporal_") {
		name = "temporal_" + name
	}
	return strings.Map(func(r rune) rune {
		if r == ':' || r < utf8.RuneSelf && labelByte(byte(r)) {
			return r
		}
		return '_'
	}, name)
}

// labelName makes an SDK tag key a label name Prometheus accepts everywhere:
// [a-zA-Z_][a-zA-Z0-9_]*, not starting "__" (reserved) and not "le" or
// "quantile" (reserved by histograms and summaries). The SDK's own keys pass
// through untouched and without allocating.
func labelName(k string) string {
	valid := k != "" && !strings.HasPrefix(k, "__") && k != "le" && k != "quantile" && !('0' <= k[0] && k[0] <= '9')
	for i := 0; valid && i < len(k); i++ {
		valid = labelByte(k[i])
	}
	if valid {
		return k
	}
	return "tag_" + strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && labelByte(byte(r)) {
			return r
		}
		return '_'
	}, k)
}

func labelByte(b byte) bool {
	return b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}
