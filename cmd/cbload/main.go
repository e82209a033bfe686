// Command cbload measures a running `casebridge dev`: Open311 intake (POST a
// report → case workflow started) at several concurrencies, side by side with
// bare StartWorkflow of an empty workflow on the same Temporal server, and the
// memory of the dev process with many open cases. With -matrix it starts the
// configurations to compare itself, the embedded dev server and the PostgreSQL
// cluster of e2e/cluster with so many history shards and workers, one after
// another, and measures each the same way (matrix.go). docs/benchmarks.md
// shows how to run it and what it measured.
package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cbload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cbload", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "casebridge base URL")
	temporal := fs.String("temporal", "127.0.0.1:7233", "Temporal frontend of the same dev process")
	dataDir := fs.String("data-dir", "./data", "dev's data directory (for the Open311 key)")
	levels := fs.String("c", "1,8,32", "concurrency levels")
	dur := fs.Duration("d", 15*time.Second, "how long each measurement runs")
	settle := fs.Duration("settle", 15*time.Second, "pause before each measurement, so work left by the last one (routing and projecting the cases it opened) does not count against the next")
	openCases := fs.Int("open-cases", 0, "then open this many cases and report the dev process's memory")
	pid := fs.Int("pid", 0, "pid of the dev process, for memory figures")
	escalating := fs.Int("escalating", 0, "then open this many cases on the demo-seconds policy (service SLADEMO), one every -spread/N, and report how late their escalations fire")
	spread := fs.Duration("spread", time.Minute, "how long opening the escalating cases takes")
	var o outage
	fs.DurationVar(&o.length, "outage", 0, "with -escalating: stop Redis for this long as the escalating cases start opening, then report how long the read model took to catch up")
	fs.StringVar(&o.stop, "outage-stop", "", "shell command that stops Redis (e.g. redis-cli -p 6390 shutdown nosave)")
	fs.StringVar(&o.start, "outage-start", "", "shell command that starts Redis again")
	matrix := fs.String("matrix", "", "instead of measuring a running dev, start and measure each of these configurations in turn: dev (the embedded server) or SHARDSxWORKERS (the PostgreSQL cluster of e2e/cluster), e.g. dev,4x1,4x2,16x1,16x2")
	var mo matrixOptions
	fs.StringVar(&mo.dir, "matrix-dir", "", "with -matrix: where the configurations keep their data and logs (default a temporary directory, removed afterwards)")
	fs.IntVar(&mo.clients, "intake-clients", 16, "with -matrix: intake clients, each posting as soon as it is answered")
	fs.DurationVar(&mo.intake, "intake-d", 30*time.Second, "with -matrix: how long the intake clients post")
	fs.IntVar(&mo.burstRate, "burst-rate", 100, "with -matrix: reports a second while staff change cases")
	fs.DurationVar(&mo.burst, "burst-d", 30*time.Second, "with -matrix: how long the burst lasts")
	fs.IntVar(&mo.staff, "staff", 4, "with -matrix: staff clients changing cases during the burst")
	fs.IntVar(&mo.open, "matrix-open", 10000, "with -matrix: open cases before the escalations")
	fs.DurationVar(&mo.drain, "drain", 5*time.Minute, "with -matrix: longest wait for a phase's cases to be processed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *matrix != "" {
		mo.escalating, mo.spread = *escalating, *spread
		if mo.escalating == 0 {
			mo.escalating = 300
		}
		return runMatrix(ctx, out, os.Stderr, *matrix, mo)
	}
	key, token, err := credentials(*dataDir)
	if err != nil {
		return err
	}
	c, err := client.Dial(client.Options{HostPort: *temporal, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return err
	}
	defer c.Close()
	// The baseline: an empty workflow on its own task queue, run by a worker in
	// this process, started with the same client options casebridge uses.
	const emptyQueue = "cbload-empty"
	w := worker.New(c, emptyQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(empty, workflow.RegisterOptions{Name: "Empty"})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	run := time.Now().UnixNano()
	fmt.Fprintf(out, "%-22s %5s %8s %9s %9s %9s\n", "operation", "conc", "ops", "ops/s", "p50 ms", "p99 ms")
	for _, lv := range strings.Split(*levels, ",") {
		if lv == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(lv))
		if err != nil || n < 1 {
			return fmt.Errorf("bad concurrency %q", lv)
		}
		var seq atomic.Int64
		httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
		time.Sleep(*settle)
		r := measure(ctx, n, *dur, func(ctx context.Context) error {
			_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: fmt.Sprintf("cbload-%d-%d", run, seq.Add(1)), TaskQueue: emptyQueue,
			}, "Empty")
			return err
		})
		r.print(out, "bare StartWorkflow", n)
		time.Sleep(*settle)
		r = measure(ctx, n, *dur, func(ctx context.Context) error {
			id := fmt.Sprintf("%d%d", run%1e9, seq.Add(1))
			return postReport(ctx, httpc, *base, key, id)
		})
		r.print(out, "open311 POST → case", n)
	}
	if *openCases > 0 {
		if err := openMany(ctx, out, *base, key, *openCases, *pid, run); err != nil {
			return err
		}
	}
	if *escalating > 0 {
		return lateness(ctx, out, *base, key, token, *escalating, *spread, *pid, run, o)
	}
	return nil
}

func empty(workflow.Context) error { return nil }

// credentials reads the Open311 key and staff token dev wrote.
func credentials(dataDir string) (key, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "dev-credentials.txt"))
	if err != nil {
		return "", "", fmt.Errorf("read dev's credentials: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "Open311" && f[1] == "key":
			key = f[2]
		case len(f) >= 3 && f[0] == "Staff" && f[1] == "token":
			token = f[2]
		}
	}
	if key == "" || token == "" {
		return "", "", errors.New("no Open311 key or staff token in dev-credentials.txt")
	}
	return key, token, nil
}

func postReport(ctx context.Context, c *http.Client, base, key, fmsID string) error {
	_, err := post(ctx, c, base, key, fmsID, "LIT")
	return err
}

// post reports a problem in a category and returns its reference.
func post(ctx context.Context, c *http.Client, base, key, fmsID, service string) (string, error) {
	v := url.Values{"api_key": {key}, "service_code": {service}, "lat": {"51.539"}, "long": {"-0.1426"},
		"description": {"Litter bin overflowing"}, "attribute[fixmystreet_id]": {fmsID}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/open311/v2/requests.xml", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("POST requests.xml: %s", resp.Status)
	}
	var doc struct {
		IDs []string `xml:"request>service_request_id"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.IDs) != 1 {
		return "", fmt.Errorf("receipt %q: %v", b, err)
	}
	return doc.IDs[0], nil
}

type result struct {
	ops, errs int
	elapsed   time.Duration
	lat       []time.Duration
}

func measure(ctx context.Context, n int, d time.Duration, op func(context.Context) error) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var r result
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			errs := 0
			for ctx.Err() == nil {
				t := time.Now()
				if err := op(context.WithoutCancel(ctx)); err != nil {
					errs++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			r.lat = append(r.lat, mine...)
			r.errs += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.ops = len(r.lat)
	slices.Sort(r.lat)
	return r
}

func (r result) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return 0
	}
	return float64(r.lat[int(float64(len(r.lat)-1)*p)].Microseconds()) / 1000
}

func (r result) print(out io.Writer, name string, n int) {
	fmt.Fprintf(out, "%-22s %5d %8d %9.1f %9.2f %9.2f", name, n, r.ops, float64(r.ops)/r.elapsed.Seconds(), r.pct(0.5), r.pct(0.99))
	if r.errs > 0 {
		fmt.Fprintf(out, "  (%d errors)", r.errs)
	}
	fmt.Fprintln(out)
}

// openMany opens n cases through Open311 and reports the dev process's memory
// before and after, once the cases are projected.
func openMany(ctx context.Context, out io.Writer, base, key string, n, pid int, run int64) error {
	before := rss(pid)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 60 * time.Second}
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if err := postReport(ctx, httpc, base, key, fmt.Sprintf("9%d%07d", run%1e6, i)); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Fprintf(out, "\nopened %d cases in %s (%d failed)\n", n, time.Since(start).Round(time.Second), failed.Load())
	time.Sleep(10 * time.Second) // let projections and workflow tasks settle
	fmt.Fprintf(out, "dev process RSS: %s before, %s with the cases open\n", before, rss(pid))
	return nil
}

func rss(pid int) string {
	if pid == 0 {
		return "?"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// lateness opens n cases on the demo-seconds policy, spread evenly over a
// window, waits for their ladders to climb, and reports how long after each
// level was due it fired, with the dev process's memory.
func lateness(ctx context.Context, out io.Writer, base, key, token string, n int, spread time.Duration, pid int, run int64, o outage) error {
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 60 * time.Second}
	back := make(chan time.Time, 1)
	var away, returned time.Time // while Redis was away
	if o.length > 0 {
		away, returned = time.Now(), time.Now().Add(o.length)
		if err := o.begin(out, back); err != nil {
			return err
		}
	}
	refs, err := openEscalating(ctx, httpc, base, key, n, spread, run)
	if err != nil {
		return err
	}
	// Catching up is measured from the moment Redis returns, alongside the
	// ladders' climb, not after it.
	caught := make(chan error, 1)
	if o.length > 0 {
		go func() { caught <- caughtUp(ctx, out, httpc, base, token, refs, <-back) }()
	}
	escalations, err := readLadders(ctx, httpc, base, token, refs)
	if err != nil {
		return err
	}
	var lateAway []time.Duration
	for _, e := range escalations {
		if !e.Due.Before(away) && e.Due.Before(returned) {
			lateAway = append(lateAway, e.At.Sub(e.Due))
		}
	}
	l := summarise(escalations)
	fmt.Fprintf(out, "\n%d escalating cases: %d ladder levels fired (want %d), %d escalations with reminders\n", n, l.levels, 4*n, len(l.late.lat))
	fmt.Fprintf(out, "lateness after the due instant: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", l.late.pct(0.5), l.late.pct(0.99), l.late.pct(1))
	if len(lateAway) > 0 {
		slices.Sort(lateAway)
		a := result{lat: lateAway}
		fmt.Fprintf(out, "of which %d were due while Redis was away: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n", len(lateAway), a.pct(0.5), a.pct(0.99), a.pct(1))
	}
	fmt.Fprintf(out, "dev process RSS now: %s\n", rss(pid))
	if o.length > 0 {
		return <-caught
	}
	return nil
}

// openEscalating opens n cases on the demo-seconds policy (service SLADEMO,
// whose ladder climbs four levels at 30, 60, 80 and 100 s), one every
// spread/n, and returns their references.
func openEscalating(ctx context.Context, httpc *http.Client, base, key string, n int, spread time.Duration, run int64) ([]string, error) {
	refs := make([]string, 0, n)
	gap := spread / time.Duration(n)
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * gap)); wait > 0 {
			time.Sleep(wait)
		}
		ref, err := post(ctx, httpc, base, key, fmt.Sprintf("8%d%06d", run%1e6, i), "SLADEMO")
		if err != nil {
			return refs, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// escalation is one escalation a case records: its level, when it was due
// and when the case fired it.
type escalation struct {
	Level string    `json:"level"`
	Due   time.Time `json:"due"`
	At    time.Time `json:"at"`
}

// readLadders waits until the last case's ladder is due to have reached its
// top (the last level is due 100 s after the case opened), then reads every
// case's escalations.
func readLadders(ctx context.Context, httpc *http.Client, base, token string, refs []string) ([]escalation, error) {
	time.Sleep(100*time.Second + 30*time.Second)
	var all []escalation
	for _, ref := range refs {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/cases/"+ref, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpc.Do(req)
		if err != nil {
			return all, err
		}
		var c struct {
			Promise struct {
				Escalations []escalation `json:"escalations"`
			} `json:"promise"`
		}
		err = json.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if err != nil {
			return all, fmt.Errorf("case %s: %w", ref, err)
		}
		all = append(all, c.Promise.Escalations...)
	}
	return all, nil
}

// ladders sum up escalations.
type ladders struct {
	levels int    // ladder levels fired (reminders of a dormant case not counted)
	late   result // how long after its due instant each escalation fired
}

func summarise(es []escalation) ladders {
	var l ladders
	for _, e := range es {
		l.late.lat = append(l.late.lat, e.At.Sub(e.Due))
		if e.Level != "dormant" {
			l.levels++
		}
	}
	slices.Sort(l.late.lat)
	return l
}

// outage stops Redis for a while, by the commands the caller gave.
type outage struct {
	length      time.Duration
	stop, start string
}

// begin stops Redis now and starts it again after the outage's length,
// sending the time it came back on back.
func (o outage) begin(out io.Writer, back chan<- time.Time) error {
	if o.stop == "" || o.start == "" {
		return errors.New("-outage needs -outage-stop and -outage-start")
	}
	if b, err := exec.Command("sh", "-c", o.stop).CombinedOutput(); err != nil {
		return fmt.Errorf("outage-stop: %v: %s", err, b)
	}
	fmt.Fprintf(out, "Redis stopped for %v\n", o.length)
	time.AfterFunc(o.length, func() {
		if b, err := exec.Command("sh", "-c", o.start).CombinedOutput(); err != nil {
			fmt.Fprintf(out, "outage-start: %v: %s\n", err, b)
		}
		back <- time.Now()
	})
	return nil
}

// caughtUp waits until the read model holds every case at least as its
// workflow had it when Redis returned (read from Temporal then), and reports
// how long after Redis returned that was.
func caughtUp(ctx context.Context, out io.Writer, httpc *http.Client, base, token string, refs []string, back time.Time) error {
	get := func(path string, v any) error {
		var err error
		// A staff read answers 503 when the case's workflow does not answer
		// its query within 10 s, as a loaded worker may not: ask again.
		for try := 0; try < 5; try++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, rerr := httpc.Do(req)
			if rerr != nil {
				return rerr
			}
			if resp.StatusCode == http.StatusOK {
				err = json.NewDecoder(resp.Body).Decode(v)
				resp.Body.Close()
				return err
			}
			resp.Body.Close()
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
			if resp.StatusCode != http.StatusServiceUnavailable {
				return err
			}
			time.Sleep(time.Second)
		}
		return err
	}
	type summary struct {
		Ref       string    `json:"ref"`
		UpdatedAt time.Time `json:"updated_at"`
	}
	then := make(map[string]time.Time, len(refs))
	for _, ref := range refs {
		var live summary
		if err := get("/api/v1/cases/"+ref, &live); err != nil {
			return err
		}
		then[ref] = live.UpdatedAt
	}
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		// What the read model has: every demo-seconds case, page by page.
		listed := map[string]time.Time{}
		for cursor, first := "", true; first || cursor != ""; first = false {
			var page struct {
				Cases []summary `json:"cases"`
				Next  string    `json:"next"`
			}
			if err := get("/api/v1/cases?service_code=SLADEMO&limit=200&cursor="+url.QueryEscape(cursor), &page); err != nil {
				return err
			}
			for _, c := range page.Cases {
				listed[c.Ref] = c.UpdatedAt
			}
			cursor = page.Next
		}
		behind := 0
		for _, ref := range refs {
			if at, ok := listed[ref]; !ok || at.Before(then[ref]) {
				behind++
			}
		}
		if behind == 0 {
			fmt.Fprintf(out, "read model caught up %.1f s after Redis returned\n", time.Since(back).Seconds())
			return nil
		}
	}
	return errors.New("the read model had not caught up 10 minutes after Redis returned")
}
