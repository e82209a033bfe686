package cluster_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load is the traffic of the drill: citizens' reports through Open311 from
// several clients, retried as FixMyStreet retries them, and staff changing
// cases, each change retried with its Idempotency-Key until it is answered.
// Requests alternate between the api processes.
type load struct {
	run   string // makes this run's FixMyStreet ids unique
	key   string // Open311 api_key
	token string // staff token
	apis  []*apiClient

	mu      sync.Mutex
	reports map[string]*report // by FixMyStreet id
	changes []*change

	staff    []chan string // new cases for each staff client, by hash of the ref
	next     atomic.Int64
	stopping chan struct{}
	wg       sync.WaitGroup
}

// report is one citizen's report and what casebridge answered.
type report struct {
	fmsID, service string
	ref            string          // the reference of the first acknowledgement
	refs           map[string]bool // every reference any acknowledgement gave
	ackedAt        time.Time
}

// change is one staff change and whether it was answered with success.
type change struct {
	ref, kind, value, key string
	immediate             bool // sent as soon as the case was acknowledged
	answered              bool // 2xx
	code                  int  // the last answer; 0 when none came
	answer                string
	sentAt                time.Time
}

// apiClient talks to one api process and counts its requests in flight, so
// the drill can kill the process in the middle of one.
type apiClient struct {
	base     string
	http     *http.Client
	inflight atomic.Int64
	failures atomic.Int64 // requests that got no answer or a 5xx
}

func (a *apiClient) RoundTrip(r *http.Request) (*http.Response, error) {
	a.inflight.Add(1)
	defer a.inflight.Add(-1)
	return http.DefaultTransport.RoundTrip(r)
}

func newLoad(run, key, token string, bases []string) *load {
	l := &load{run: run, key: key, token: token, reports: map[string]*report{}, stopping: make(chan struct{})}
	for _, b := range bases {
		a := &apiClient{base: b}
		a.http = &http.Client{Transport: a, Timeout: 20 * time.Second}
		l.apis = append(l.apis, a)
	}
	return l
}

// start runs reporters clients, together posting about rate reports a
// second, every fifth on the SLADEMO category whose ladder climbs four
// levels in 100 s; and staff clients changing the other cases.
func (l *load) start(ctx context.Context, reporters int, rate float64, staff int) {
	for i := range staff {
		ch := make(chan string, 10000)
		l.staff = append(l.staff, ch)
		l.wg.Add(1)
		go l.staffClient(ctx, i, ch)
	}
	gap := time.Duration(float64(reporters) / rate * float64(time.Second))
	for i := range reporters {
		l.wg.Add(1)
		go l.reporter(ctx, i, gap)
	}
}

// stop ends the traffic and waits for every client to finish what it was
// sending.
func (l *load) stop() {
	close(l.stopping)
	l.wg.Wait()
}

func (l *load) stopped() bool {
	select {
	case <-l.stopping:
		return true
	default:
		return false
	}
}

func (l *load) reporter(ctx context.Context, i int, gap time.Duration) {
	defer l.wg.Done()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-l.stopping:
			return
		case <-tick.C:
		}
		seq := l.next.Add(1)
		service := "LIT"
		if seq%5 == 0 {
			service = "SLADEMO"
		}
		r := &report{fmsID: fmt.Sprintf("%s%d%05d", l.run, i, n), service: service, refs: map[string]bool{}}
		l.mu.Lock()
		l.reports[r.fmsID] = r
		l.mu.Unlock()
		ref := l.post(ctx, r, int(seq))
		if ref != "" && service == "LIT" {
			l.staff[hash(ref)%len(l.staff)] <- ref
		}
	}
}

// post sends a report until it is acknowledged, as FixMyStreet does: the
// same fixmystreet_id each time, so a retry finds the case a lost answer
// opened. It gives up only when the load stops.
func (l *load) post(ctx context.Context, r *report, seq int) string {
	v := url.Values{"api_key": {l.key}, "service_code": {r.service}, "lat": {"51.5390"}, "long": {"-0.1426"},
		"description": {"Drill report " + r.fmsID}, "email": {"drill@example.org"}, "first_name": {"Dana"},
		"attribute[fixmystreet_id]": {r.fmsID}}
	for attempt := 0; ; attempt++ {
		a := l.apis[(seq+attempt)%len(l.apis)]
		code, body, err := a.do(ctx, "POST", "/open311/v2/requests.xml", strings.NewReader(v.Encode()), "application/x-www-form-urlencoded", "", "")
		if err == nil && code == 200 {
			var doc struct {
				IDs []string `xml:"request>service_request_id"`
			}
			if xml.Unmarshal(body, &doc) == nil && len(doc.IDs) == 1 {
				l.mu.Lock()
				if r.ref == "" {
					r.ref, r.ackedAt = doc.IDs[0], time.Now()
				}
				r.refs[doc.IDs[0]] = true
				l.mu.Unlock()
				return doc.IDs[0]
			}
		}
		if l.stopped() && attempt > 0 {
			return ""
		}
		time.Sleep(time.Second)
	}
}

// staffClient changes the cases it is given, one at a time so each case's
// changes have an order: a third of new cases get a change at once (as a
// call-centre agent re-prioritising a report that just came in), and every
// half second one of its cases gets a note, an assignment, a priority or a
// transfer.
func (l *load) staffClient(ctx context.Context, i int, fresh <-chan string) {
	defer l.wg.Done()
	var mine []string
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	for n := 0; ; n++ {
		select {
		case <-l.stopping:
			return
		case ref := <-fresh:
			mine = append(mine, ref)
			switch n % 6 {
			case 0:
				l.change(ctx, ref, "priority", "urgent", -n)
			case 2:
				l.change(ctx, ref, "transfer", "highways/drainage", -n)
			}
		case <-tick.C:
			if len(mine) == 0 {
				continue
			}
			ref := mine[rng.IntN(len(mine))]
			switch rng.IntN(5) {
			case 0:
				l.change(ctx, ref, "public-note", fmt.Sprintf("Crew visit %d-%d", i, n), n)
			case 1:
				l.change(ctx, ref, "internal-note", fmt.Sprintf("Checked stock %d-%d", i, n), n)
			case 2:
				l.change(ctx, ref, "assign", fmt.Sprintf("officer-%d@council.example", rng.IntN(20)), n)
			case 3:
				l.change(ctx, ref, "priority", []string{"low", "normal", "high", "urgent"}[rng.IntN(4)], n)
			case 4:
				l.change(ctx, ref, "transfer", []string{"highways/roads-south", "street-lighting/lighting-maintenance", "waste/street-cleansing"}[rng.IntN(3)], n)
			}
		}
	}
}

// change sends one staff change, retrying on no answer or a 5xx with the
// same Idempotency-Key (through the other api, as a client behind a load
// balancer would) for up to a minute. A negative n marks a change sent as
// soon as the case was acknowledged.
func (l *load) change(ctx context.Context, ref, kind, value string, n int) {
	ch := &change{ref: ref, kind: kind, value: value, key: fmt.Sprintf("%s-%s-%d-%s", l.run, ref, n, kind), sentAt: time.Now(), immediate: n < 0}
	n = max(n, -n)
	l.mu.Lock()
	l.changes = append(l.changes, ch)
	l.mu.Unlock()
	var path, body string
	switch kind {
	case "public-note", "internal-note":
		path, body = "/comments", fmt.Sprintf(`{"note":%q,"public":%t}`, value, kind == "public-note")
	case "assign":
		path, body = "/assignment", fmt.Sprintf(`{"assignee":%q}`, value)
	case "priority":
		path, body = "/priority", fmt.Sprintf(`{"priority":%q}`, value)
	case "transfer":
		dept, team, _ := strings.Cut(value, "/")
		path, body = "/transfer", fmt.Sprintf(`{"department":%q,"team":%q}`, dept, team)
	}
	deadline := time.Now().Add(time.Minute)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		a := l.apis[(n+attempt)%len(l.apis)]
		code, answer, err := a.do(ctx, "POST", "/api/v1/cases/"+ref+path, strings.NewReader(body), "application/json", l.token, ch.key)
		l.mu.Lock()
		if err == nil {
			ch.code, ch.answer = code, string(answer)
		}
		ch.answered = err == nil && code/100 == 2
		l.mu.Unlock()
		if err == nil && code < 500 {
			return
		}
		time.Sleep(time.Second)
	}
}

func (a *apiClient) do(ctx context.Context, method, path string, body io.Reader, contentType, token, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.failures.Add(1)
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 || err != nil {
		a.failures.Add(1)
	}
	return resp.StatusCode, b, err
}

func hash(s string) int {
	h := fnv.New32a()
	h.Write([]byte(s))
	return int(h.Sum32() & 0x7fffffff)
}

// acknowledged returns the reports casebridge acknowledged.
func (l *load) acknowledged() []*report {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*report
	for _, r := range l.reports {
		if r.ref != "" {
			out = append(out, r)
		}
	}
	return out
}
