package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casebridge/casebridge/e2e/cluster"
)

// matrixOptions say what -matrix measures in each configuration.
type matrixOptions struct {
	dir        string        // where the configurations keep their data
	clients    int           // intake clients, each posting as fast as it is answered
	intake     time.Duration // how long they post
	burstRate  int           // reports a second during the staff burst
	burst      time.Duration // how long the burst lasts
	staff      int           // staff clients during the burst
	open       int           // open cases before the escalations
	escalating int           // escalating cases, opened over spread
	spread     time.Duration
	drain      time.Duration // longest wait for the cases of a phase to be processed
}

// configuration is one column of the benchmark: the embedded dev server, or
// the PostgreSQL cluster with so many history shards and workers.
type configuration struct {
	name            string
	dev             bool
	shards, workers int
}

func parseConfigurations(s string) ([]configuration, error) {
	var out []configuration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "dev" {
			out = append(out, configuration{name: "dev (SQLite, 1 shard)", dev: true})
			continue
		}
		sh, w, ok := strings.Cut(f, "x")
		shards, err1 := strconv.Atoi(sh)
		workers, err2 := strconv.Atoi(w)
		if !ok || err1 != nil || err2 != nil || shards < 1 || workers < 1 {
			return nil, fmt.Errorf("configuration %q: want dev or SHARDSxWORKERS, e.g. 16x2", f)
		}
		out = append(out, configuration{name: fmt.Sprintf("PostgreSQL, %d shards, %d worker%s", shards, workers, map[bool]string{true: "s"}[workers > 1]), shards: shards, workers: workers})
	}
	return out, nil
}

// figures are what one configuration measured.
type figures struct {
	cfg configuration
	err error

	intake     result
	intakeCPU  cpuShares
	processed  int           // cases of the intake phase routed into the read model
	processing time.Duration // from the first post until the last of them was
	burstSent  int
	burstIn    result // reports acknowledged during the burst
	staff      result // staff changes answered 2xx during the burst
	staffFail  int
	burstCPU   cpuShares
	opened     int
	openTook   time.Duration
	ladders    ladders
	ladderCPU  cpuShares
	escalating int
}

// runMatrix measures each configuration in turn, in one run: it starts it
// (cluster.Start or cluster.StartDev), measures, stops it and drops its
// databases. Each configuration's figures are printed as soon as it is done,
// and all of them as a table at the end.
func runMatrix(ctx context.Context, out, logw io.Writer, spec string, o matrixOptions) error {
	configs, err := parseConfigurations(spec)
	if err != nil {
		return err
	}
	pg, err := cluster.PostgresFromEnv()
	if err != nil {
		return err
	}
	if o.dir == "" {
		if o.dir, err = os.MkdirTemp("", "cbload-matrix-"); err != nil {
			return err
		}
		defer os.RemoveAll(o.dir)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	logf("building Temporal's server and casebridge")
	bins, err := cluster.Build(ctx, o.dir)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(configs, func(c configuration) bool { return c.dev }) {
		if err := cluster.BuildDev(ctx, &bins, o.dir); err != nil {
			return err
		}
	}
	var all []figures
	for i, cfg := range configs {
		dir := filepath.Join(o.dir, strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		logf("== %s", cfg.name)
		f := measureConfiguration(ctx, bins, pg, dir, cfg, o, logf)
		all = append(all, f)
		f.print(out, o)
	}
	fmt.Fprintln(out)
	table(out, all, o)
	return nil
}

func measureConfiguration(ctx context.Context, bins cluster.Binaries, pg cluster.Postgres, dir string, cfg configuration, o matrixOptions, logf func(string, ...any)) (f figures) {
	f.cfg = cfg
	var c *cluster.Cluster
	var err error
	if cfg.dev {
		c, err = cluster.StartDev(ctx, bins, dir)
	} else {
		c, err = cluster.Start(ctx, bins, cluster.Options{Dir: dir, Postgres: pg, Shards: cfg.shards, APIs: 1, Workers: cfg.workers, Logf: logf})
	}
	if err != nil {
		f.err = err
		return f
	}
	defer func() {
		if err := c.Close(); err != nil {
			logf("stopping: %v", err)
		}
	}()
	m := &matrixRun{c: c, base: c.APIs[0].URL, o: o, run: time.Now().UnixNano() % 1e9,
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}}
	cpu := newCPUWatch(c)

	// 1. Intake as fast as it is answered, then until every case of it is processed.
	before, err := m.routed(ctx)
	if err != nil {
		f.err = err
		return f
	}
	start := time.Now()
	cpu.mark()
	f.intake = measure(ctx, o.clients, o.intake, func(ctx context.Context) error {
		_, err := m.post(ctx, "LIT")
		return err
	})
	f.intakeCPU = cpu.shares()
	logf("intake: %d acknowledged in %s", f.intake.ops, f.intake.elapsed.Round(time.Second))
	f.processed, f.processing = m.waitRouted(ctx, int64(before+f.intake.ops), start, logf)
	logf("processed: %d of %d in %s", f.processed-before, f.intake.ops, f.processing.Round(100*time.Millisecond))
	f.processed -= before

	// 2. Staff change cases while reports arrive at a steady rate.
	cpu.mark()
	f.burstSent, f.burstIn, f.staff, f.staffFail = m.burst(ctx)
	f.burstCPU = cpu.shares()
	logf("burst: %d of %d reports acknowledged, %d staff changes (%d failed)", f.burstIn.ops, f.burstSent, f.staff.ops, f.staffFail)

	// 3. Open cases up to o.open, and let the worker catch up.
	t := time.Now()
	f.opened = m.openUpTo(ctx, o.open)
	f.openTook = time.Since(t)
	routed, took := m.waitRouted(ctx, m.acked.Load(), t, logf)
	logf("%d cases open, %d of them routed %s after the top-up began", m.acked.Load(), routed, took.Round(time.Second))

	// 4. Escalations on time with those cases open.
	cpu.mark()
	refs, err := openEscalating(ctx, m.http, m.base, c.Key, o.escalating, o.spread, m.run)
	if err != nil {
		f.err = fmt.Errorf("open escalating cases: %w", err)
		return f
	}
	f.escalating = len(refs)
	escalations, err := readLadders(ctx, m.http, m.base, c.Token, refs)
	if err != nil {
		f.err = fmt.Errorf("read escalations: %w", err)
	}
	f.ladders = summarise(escalations)
	f.ladderCPU = cpu.shares()
	return f
}

// matrixRun is one configuration being measured.
type matrixRun struct {
	c     *cluster.Cluster
	base  string
	o     matrixOptions
	run   int64
	http  *http.Client
	seq   atomic.Int64
	acked atomic.Int64 // LIT reports acknowledged, every phase
	mu    sync.Mutex
	refs  []string // the intake phase's cases, for staff to change
}

func (m *matrixRun) post(ctx context.Context, service string) (string, error) {
	ref, err := post(ctx, m.http, m.base, m.c.Key, fmt.Sprintf("%d%07d", m.run, m.seq.Add(1)), service)
	if err == nil && service == "LIT" {
		m.acked.Add(1)
		m.mu.Lock()
		if len(m.refs) < 5000 {
			m.refs = append(m.refs, ref)
		}
		m.mu.Unlock()
	}
	return ref, err
}

// routed is how many litter cases the read model holds routed to their
// department by the rules: a case is fully processed when it is there.
func (m *matrixRun) routed(ctx context.Context) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/api/v1/cases?limit=1&service_code=LIT&department=waste", nil)
	req.Header.Set("Authorization", "Bearer "+m.c.Token)
	resp, err := m.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var page struct {
		Total int `json:"total"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("list cases: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	return page.Total, err
}

// waitRouted waits until want litter cases are routed in the read model, or
// o.drain has passed, and returns how many were and how long after start.
func (m *matrixRun) waitRouted(ctx context.Context, want int64, start time.Time, logf func(string, ...any)) (int, time.Duration) {
	deadline := time.Now().Add(m.o.drain)
	n := 0
	for {
		got, err := m.routed(ctx)
		if err == nil {
			n = got
		}
		if int64(n) >= want {
			return n, time.Since(start)
		}
		if time.Now().After(deadline) {
			logf("only %d of %d cases processed %s after the phase began", n, want, time.Since(start).Round(time.Second))
			return n, time.Since(start)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// burst posts o.burstRate reports a second for o.burst, whatever the answers
// take (open loop), while o.staff staff clients each change one of the intake
// phase's cases after another: an assignment, a priority or a note.
func (m *matrixRun) burst(ctx context.Context) (sent int, intake, staff result, staffFail int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t := time.Now()
	for i := range m.o.staff {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(m.run)))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				m.mu.Lock()
				ref := m.refs[rng.IntN(len(m.refs))]
				m.mu.Unlock()
				path, body := "/assignment", fmt.Sprintf(`{"assignee":"officer-%d@council.example"}`, rng.IntN(20))
				switch n % 3 {
				case 1:
					path, body = "/priority", fmt.Sprintf(`{"priority":%q}`, []string{"low", "normal", "high", "urgent"}[rng.IntN(4)])
				case 2:
					path, body = "/comments", fmt.Sprintf(`{"note":"Crew booked %d-%d","public":%t}`, i, n, n%2 == 0)
				}
				began := time.Now()
				code, err := m.staffPost(ctx, ref+path, body, fmt.Sprintf("%d-%d-%d", m.run, i, n))
				mu.Lock()
				if err == nil && code/100 == 2 {
					staff.lat = append(staff.lat, time.Since(began))
				} else {
					staffFail++
				}
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}
	tick := time.NewTicker(time.Second / time.Duration(m.o.burstRate))
	end := time.After(m.o.burst)
	var posts sync.WaitGroup
loop:
	for {
		select {
		case <-end:
			break loop
		case <-tick.C:
		}
		sent++
		posts.Add(1)
		go func() {
			defer posts.Done()
			began := time.Now()
			_, err := m.post(ctx, "LIT")
			mu.Lock()
			if err == nil {
				intake.lat = append(intake.lat, time.Since(began))
			} else {
				intake.errs++
			}
			mu.Unlock()
		}()
	}
	tick.Stop()
	close(stop)
	posts.Wait()
	wg.Wait()
	for _, r := range []*result{&intake, &staff} {
		r.elapsed, r.ops = time.Since(t), len(r.lat)
		slices.Sort(r.lat)
	}
	staff.errs = staffFail
	return sent, intake, staff, staffFail
}

func (m *matrixRun) staffPost(ctx context.Context, path, body, key string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.base+"/api/v1/cases/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.c.Token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := m.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// openUpTo posts litter reports with 32 clients until n have been
// acknowledged in this configuration, and returns how many it posted.
func (m *matrixRun) openUpTo(ctx context.Context, n int) int {
	var wg sync.WaitGroup
	var posted atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m.acked.Load() < int64(n) {
				if _, err := m.post(ctx, "LIT"); err == nil {
					posted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(posted.Load())
}

func (f figures) print(out io.Writer, o matrixOptions) {
	fmt.Fprintf(out, "\n%s\n", f.cfg.name)
	if f.err != nil {
		fmt.Fprintf(out, "  failed: %v\n", f.err)
	}
	fmt.Fprintf(out, "  intake, %d clients: %d acknowledged, %.1f/s, p50 %.0f ms, p99 %.0f ms, %d errors; cpu %s\n",
		o.clients, f.intake.ops, f.intake.rate(), f.intake.pct(0.5), f.intake.pct(0.99), f.intake.errs, f.intakeCPU)
	fmt.Fprintf(out, "  processed: %d of %d routed into the read model in %s: %.1f/s\n", f.processed, f.intake.ops, f.processing.Round(100*time.Millisecond), f.processedRate())
	fmt.Fprintf(out, "  burst: %d of %d reports acknowledged (p99 %.0f ms); staff changes %d, p50 %.0f ms, p99 %.0f ms, %d failed; cpu %s\n",
		f.burstIn.ops, f.burstSent, f.burstIn.pct(0.99), f.staff.ops, f.staff.pct(0.5), f.staff.pct(0.99), f.staffFail, f.burstCPU)
	fmt.Fprintf(out, "  opened %d more cases in %s\n", f.opened, f.openTook.Round(time.Second))
	fmt.Fprintf(out, "  escalations: %d cases, %d of %d levels fired, lateness p50 %.0f ms, p99 %.0f ms, max %.0f ms; cpu %s\n",
		f.escalating, f.ladders.levels, 4*f.escalating, f.ladders.late.pct(0.5), f.ladders.late.pct(0.99), f.ladders.late.pct(1), f.ladderCPU)
}

func (r result) rate() float64 {
	if r.elapsed == 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

func (f figures) processedRate() float64 {
	if f.processing == 0 {
		return 0
	}
	return float64(f.processed) / f.processing.Seconds()
}

// table prints the figures as docs/benchmarks.md shows them.
func table(out io.Writer, all []figures, o matrixOptions) {
	fmt.Fprintf(out, "| configuration | intake (%d clients): acks/s, p99 | cases processed/s | staff change p50 / p99 at %d reports/s | escalation lateness p50 / p99, %d open cases |\n", o.clients, o.burstRate, o.open)
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- |")
	for _, f := range all {
		if f.err != nil && f.intake.ops == 0 {
			fmt.Fprintf(out, "| %s | failed: %v | | | |\n", f.cfg.name, f.err)
			continue
		}
		fmt.Fprintf(out, "| %s | %.0f/s, %.0f ms | %.1f/s | %.0f / %.0f ms (%d of %d reports acknowledged) | %.0f / %.0f ms (%d of %d levels) |\n",
			f.cfg.name, f.intake.rate(), f.intake.pct(0.99), f.processedRate(),
			f.staff.pct(0.5), f.staff.pct(0.99), f.burstIn.ops, f.burstSent,
			f.ladders.late.pct(0.5), f.ladders.late.pct(0.99), f.ladders.levels, 4*f.escalating)
	}
}

// cpuWatch reads how much CPU each part of a configuration used between a
// mark and now, from /proc: casebridge's processes by pid, Temporal's
// server, Redis, every PostgreSQL process, and the whole machine.
type cpuWatch struct {
	c     *cluster.Cluster
	at    time.Time
	ticks map[string]uint64
}

// cpuShares are cores used, by part ("machine" is every core's busy time).
type cpuShares map[string]float64

func newCPUWatch(c *cluster.Cluster) *cpuWatch { return &cpuWatch{c: c} }

func (w *cpuWatch) mark() { w.at, w.ticks = time.Now(), w.read() }

func (w *cpuWatch) shares() cpuShares {
	now := w.read()
	secs := time.Since(w.at).Seconds()
	out := cpuShares{}
	for k, v := range now {
		if v >= w.ticks[k] {
			out[k] = float64(v-w.ticks[k]) / 100 / secs // USER_HZ is 100 on Linux
		}
	}
	return out
}

func (w *cpuWatch) read() map[string]uint64 {
	t := map[string]uint64{}
	procs := append([]*cluster.Process{w.c.Temporal, w.c.Redis}, append(w.c.APIs, w.c.Workers...)...)
	for _, p := range procs {
		if p == nil {
			continue
		}
		if pid := p.Pid(); pid != 0 {
			t[p.Name] = procTicks(strconv.Itoa(pid))
		}
	}
	if dirs, err := os.ReadDir("/proc"); err == nil {
		for _, d := range dirs {
			if _, err := strconv.Atoi(d.Name()); err != nil {
				continue
			}
			if comm, err := os.ReadFile("/proc/" + d.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "postgres" {
				t["postgres"] += procTicks(d.Name())
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		var busy uint64
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		t["machine"] = busy
	}
	return t
}

// procTicks is a process's user and system CPU time, in clock ticks.
func procTicks(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return u + k
}

func (s cpuShares) String() string {
	var keys []string
	for k := range s {
		if k != "machine" {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if s[a] != s[b] {
			if s[a] > s[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		if s[k] >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, s[k]))
		}
	}
	return fmt.Sprintf("[cores: %s; machine %.2f of 2 busy]", strings.Join(parts, ", "), s["machine"])
}
