package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice/sim"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/e2e/cluster"
)

// TestBackOfficeDrill checks issue 14 from outside, as a council's IT team
// would: the cluster of TestClusterDrill (Temporal on PostgreSQL, Redis with
// AOF, an api and two worker processes) with both simulated back offices run
// as their own `casebridge sim` processes, the demo's highways and waste
// departments wired to them. Reports arrive over Open311 and from staff while
// the simulators fail (500s, 429s, creates that succeed after casebridge's
// 3 s timeout):
//
//  1. a worker is killed (SIGKILL) with activities in flight, and started again;
//  2. the highways system goes down (503 to every call) for two minutes
//     (CASEBRIDGE_DRILL_BACKOFFICE_OUTAGE; ten minutes for the documented
//     manual run), while escalating cases (the demo-seconds ladder: 30, 60,
//     80, 100 s) are routed to it and the other worker is killed mid-activity;
//  3. the systems come back, faults off, and every job runs to its end
//     (one status every CASEBRIDGE_DRILL_SIM_STEP, default 20 s).
//
// Then it counts, from the simulators' own records (GET /admin/jobs and
// /admin/changes) and the Open311 servicerequestupdates feed, what must be
// zero: cases with other than exactly one job, back-office changes missing
// from or twice on the case timeline, status changes missing from or twice in
// the feed (or with another external_status_code), cases still waiting on a
// system, and escalation levels missing or more than
// CASEBRIDGE_DRILL_LATE_LIMIT (default 15 s) late. It fails naming the cases.
//
//	go test -v -timeout 30m -run TestBackOfficeDrill ./e2e/cluster
func TestBackOfficeDrill(t *testing.T) {
	pg := needPostgres(t)
	if testing.Short() {
		t.Skip("the drill takes several minutes")
	}
	outage := envDuration(t, "CASEBRIDGE_DRILL_BACKOFFICE_OUTAGE", 2*time.Minute)
	step := envDuration(t, "CASEBRIDGE_DRILL_SIM_STEP", 20*time.Second)
	lateLimit := envDuration(t, "CASEBRIDGE_DRILL_LATE_LIMIT", 15*time.Second)
	dir := t.TempDir()
	faults := []string{"--latency", "100ms", "--fail-rate", "0.1", "--throttle-rate", "0.05", "--slow-create-rate", "0.25", "--slow-create", "5s"}
	ctx, c := drillCluster(t, 20*time.Minute+outage, cluster.Options{Dir: dir, Postgres: pg, Shards: 4, APIs: 1, Workers: 2,
		Sims: cluster.Sims{Names: []string{"highways", "waste"}, Timeout: "3s", PollEvery: "10s",
			Args: append([]string{"--step", step.String(), "--seed", strconv.FormatInt(time.Now().UnixNano()%1e9, 10)}, faults...)}})
	if err := importDrillRules(ctx, c, dir); err != nil {
		t.Fatal(err)
	}

	l := newBOLoad(strconv.FormatInt(time.Now().Unix()%1e6, 10), c.Key, c.Token, c.APIs[0].URL)
	began := time.Now()
	at := func(d time.Duration) { time.Sleep(time.Until(began.Add(d))) }
	step2 := func(format string, args ...any) {
		t.Logf("%6.1fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	l.start(ctx, time.Second)
	for i := range 4 { // escalating cases while the systems merely fail
		l.submit(ctx, boEscalating, []string{"highways", "waste"}[i%2], false)
	}

	// 1. A worker dies with back-office calls in flight.
	at(20 * time.Second)
	killMidActivity(ctx, t, c.Workers[0], step2)
	at(30 * time.Second)
	if err := c.Workers[0].Start(ctx); err != nil {
		t.Fatal(err)
	}
	step2("%s started again", c.Workers[0].Name)

	// 2. The highways system is down; escalating cases are routed to it.
	at(40 * time.Second)
	setFaults(t, c.Sims["highways"].URL, func(f *sim.Faults) { f.Down = true })
	down := time.Now()
	step2("highways down (503) for %s", outage)
	l.outage.Store(true)
	for i := range 10 {
		l.submit(ctx, boEscalating, "highways", true)
		if i == 2 {
			killMidActivity(ctx, t, c.Workers[1], step2)
		}
		time.Sleep(2 * time.Second)
	}
	if err := c.Workers[1].Start(ctx); err != nil {
		t.Fatal(err)
	}
	step2("%s started again", c.Workers[1].Name)
	time.Sleep(time.Until(down.Add(outage)))

	// 3. Both systems back, faults off.
	for _, name := range []string{"highways", "waste"} {
		setFaults(t, c.Sims[name].URL, func(f *sim.Faults) { *f = sim.Faults{Latency: 50 * time.Millisecond} })
	}
	back := time.Now()
	l.outage.Store(false)
	step2("highways back after %s; faults off on both systems", back.Sub(down).Round(time.Second))
	time.Sleep(15 * time.Second)
	l.stop()
	acked, never := l.acknowledged()
	step2("load stopped: %d reports acknowledged, %d never", len(acked), never)

	n := checkBackOffices(ctx, t, c, l, began, back, 3*step+4*time.Minute, lateLimit)
	t.Logf("back-office drill counts after %s (outage %s, step %s):\n%s", time.Since(began).Round(time.Second), outage, step, n)
	n.mustBeZero(t, lateLimit)
}

// importDrillRules publishes the demo rules with two more in front: SLADEMO
// reports naming a system go to its department on the demo-seconds ladder,
// so escalations are due while that system is down.
func importDrillRules(ctx context.Context, c *cluster.Cluster, dir string) error {
	demo, err := os.ReadFile(filepath.Join(c.Bin.Root, "rules", "demo.yaml"))
	if err != nil {
		return err
	}
	extra := `rules:
  - id: drill-escalating-highways
    title: Back-office drill, escalating in highways
    priority: 1000
    when: service_code == "SLADEMO" && containsAny(description, ["drillhighways"])
    then: {department: highways, team: roads-north, sla_policy: demo-seconds}
  - id: drill-escalating-waste
    title: Back-office drill, escalating in waste
    priority: 1000
    when: service_code == "SLADEMO" && containsAny(description, ["drillwaste"])
    then: {department: waste, team: street-cleansing, sla_policy: demo-seconds}
`
	src := strings.Replace(string(demo), "rules:\n", extra, 1)
	if src == string(demo) {
		return fmt.Errorf("rules/demo.yaml has no rules: line to add the drill's rules to")
	}
	path := filepath.Join(dir, "drill-rules.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		return err
	}
	_, err = c.Casebridge(ctx, "rules", "import", path, "--publish", "--comment", "back-office drill")
	return err
}

// killMidActivity SIGKILLs a worker once it has activities running.
func killMidActivity(ctx context.Context, t *testing.T, w *cluster.Process, logf func(string, ...any)) {
	t.Helper()
	if err := waitFor(ctx, 30*time.Second, func() bool { return activitiesRunning(w.URL) > 0 }); err != nil {
		t.Errorf("%s never had an activity running to be killed in: %v", w.Name, err)
	}
	n := activitiesRunning(w.URL)
	w.Kill()
	logf("SIGKILL %s with %d activities running", w.Name, n)
}

// setFaults changes a simulator's faults through its admin endpoint.
func setFaults(t *testing.T, base string, edit func(*sim.Faults)) {
	t.Helper()
	var f sim.Faults
	if err := getJSON(base+"/admin/faults", &f); err != nil {
		t.Fatal(err)
	}
	edit(&f)
	b, _ := json.Marshal(f)
	req, _ := http.NewRequest(http.MethodPut, base+"/admin/faults", bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s/admin/faults: %s", base, resp.Status)
	}
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Kinds of report the back-office drill sends.
const (
	boOpen311Highways = iota // a pothole over Open311
	boOpen311Waste           // an overflowing litter bin over Open311
	boStaffHighways          // a pothole taken by staff
	boStaffWaste             // fly-tipping taken by staff
	boEscalating             // SLADEMO routed to a system by the drill's rules
)

// boReport is one report of the drill and what casebridge answered.
type boReport struct {
	id           string
	kind         int
	system       string // the back office its department uses
	duringOutage bool
	ref          string
	ackedAt      time.Time
}

// boLoad posts a report a second, in turn a pothole and a litter bin over
// Open311 and a pothole and fly-tipping from staff, each retried until it is
// acknowledged (Open311 with the same fixmystreet_id, staff with the same
// Idempotency-Key), spread over a grid so that none is a duplicate.
type boLoad struct {
	run        string
	key, token string
	api        *apiClient

	mu      sync.Mutex
	reports []*boReport
	outage  atomic.Bool

	stopping chan struct{}
	wg       sync.WaitGroup
}

func newBOLoad(run, key, token, base string) *boLoad {
	a := &apiClient{base: base}
	a.http = &http.Client{Transport: a, Timeout: 20 * time.Second}
	return &boLoad{run: run, key: key, token: token, api: a, stopping: make(chan struct{})}
}

func (l *boLoad) start(ctx context.Context, gap time.Duration) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(gap)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-l.stopping:
				return
			case <-tick.C:
			}
			kind := n % 4
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.submit(ctx, kind, map[bool]string{true: "highways", false: "waste"}[kind == boOpen311Highways || kind == boStaffHighways], l.outage.Load())
			}()
		}
	}()
}

func (l *boLoad) stop() {
	close(l.stopping)
	l.wg.Wait()
}

// submit sends one report until it is acknowledged, for up to two minutes.
func (l *boLoad) submit(ctx context.Context, kind int, system string, duringOutage bool) {
	l.mu.Lock()
	n := len(l.reports)
	r := &boReport{id: fmt.Sprintf("bo%s%05d", l.run, n), kind: kind, system: system, duringOutage: duringOutage}
	l.reports = append(l.reports, r)
	l.mu.Unlock()
	lat := 51.52 + float64(n%20)*0.003
	long := -0.16 + float64(n/20%20)*0.004
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ref := l.send(ctx, r, lat, long)
		if ref != "" {
			l.mu.Lock()
			r.ref, r.ackedAt = ref, time.Now()
			l.mu.Unlock()
			return
		}
		time.Sleep(time.Second)
	}
}

func (l *boLoad) send(ctx context.Context, r *boReport, lat, long float64) string {
	latS, longS := strconv.FormatFloat(lat, 'f', 5, 64), strconv.FormatFloat(long, 'f', 5, 64)
	desc := "Back-office drill report " + r.id
	if r.kind == boOpen311Highways || r.kind == boOpen311Waste || r.kind == boEscalating {
		v := url.Values{"api_key": {l.key}, "lat": {latS}, "long": {longS}, "email": {"drill@example.org"},
			"first_name": {"Dana"}, "attribute[fixmystreet_id]": {r.id}}
		switch r.kind {
		case boOpen311Highways:
			v.Set("service_code", "POT")
			v.Set("attribute[dangerous]", "no")
		case boOpen311Waste:
			v.Set("service_code", "LIT")
		case boEscalating:
			v.Set("service_code", "SLADEMO")
			desc += " drill" + r.system
		}
		v.Set("description", desc)
		code, body, err := l.api.do(ctx, "POST", "/open311/v2/requests.xml", strings.NewReader(v.Encode()), "application/x-www-form-urlencoded", "", "")
		var doc struct {
			IDs []string `xml:"request>service_request_id"`
		}
		if err != nil || code != 200 || xml.Unmarshal(body, &doc) != nil || len(doc.IDs) != 1 {
			return ""
		}
		return doc.IDs[0]
	}
	body := map[string]any{"description": desc, "source": "phone", "location": map[string]float64{"lat": lat, "long": long}}
	if r.kind == boStaffHighways {
		body["service_code"], body["attributes"] = "POT", map[string]any{"dangerous": "yes"}
	} else {
		body["service_code"], body["attributes"] = "FLY", map[string]any{"waste_type": []string{"furniture"}, "amount": "car_boot"}
	}
	b, _ := json.Marshal(body)
	code, answer, err := l.api.do(ctx, "POST", "/api/v1/cases", bytes.NewReader(b), "application/json", l.token, r.id)
	var res struct {
		Ref string `json:"ref"`
	}
	if err != nil || code/100 != 2 || json.Unmarshal(answer, &res) != nil {
		return ""
	}
	return res.Ref
}

// acknowledged returns the reports casebridge acknowledged, and how many it
// never did.
func (l *boLoad) acknowledged() (acked []*boReport, never int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.reports {
		if r.ref != "" {
			acked = append(acked, r)
		} else {
			never++
		}
	}
	return acked, never
}

// systemOf is the back office of each department the demo configuration
// (config/demo.yaml, back_offices) gives one.
var systemOf = map[string]string{"highways": "highways", "street-lighting": "highways", "waste": "waste"}

// boCounts are what the back-office drill found.
type boCounts struct {
	acknowledged, unacknowledged int
	missingCases                 int
	withSystem                   map[string]int // cases by the system their department uses
	jobs                         map[string]int // records in each simulator
	calls                        map[string]int // calls each simulator answered
	found                        int            // jobs found by look-up (a create that had timed out)

	notOneJob, jobMismatch, strayJobs, waiting int

	changes, changesMissing, changesTwice int
	statusChanges, statusNotApplied       int
	feedWanted, feedMissing, feedTwice    int
	feedWrongCode                         int
	escalating, levelsWanted, levelsFired int
	lateP50, lateP99, lateMax             time.Duration
	outageLateMax                         time.Duration
	late                                  int // levels later than the limit
	caughtUp                              time.Duration
	bad                                   map[string][]string // by what is wrong: the case refs and why
}

func (n *boCounts) offend(what, ref, why string) {
	if n.bad == nil {
		n.bad = map[string][]string{}
	}
	n.bad[what] = append(n.bad[what], ref+": "+why)
}

// simJobs reads a simulator's records: its jobs by reference and its changes
// by job.
func simJobs(base string) (map[string][]sim.Job, map[string][]sim.Change, map[string]int, error) {
	var jobs struct{ Jobs []sim.Job }
	var changes struct{ Changes []sim.Change }
	calls := map[string]int{}
	for u, v := range map[string]any{"/admin/jobs": &jobs, "/admin/changes": &changes, "/admin/calls": &calls} {
		if err := getJSON(base+u, v); err != nil {
			return nil, nil, nil, err
		}
	}
	byRef, byJob := map[string][]sim.Job{}, map[string][]sim.Change{}
	for _, j := range jobs.Jobs {
		byRef[j.Ref] = append(byRef[j.Ref], j)
	}
	for _, ch := range changes.Changes {
		byJob[ch.JobID] = append(byJob[ch.JobID], ch)
	}
	return byRef, byJob, calls, nil
}

// settled reports whether a case has its job, waits on nothing and holds
// every change its job made; "" when it does, else what it lacks.
func settled(k *cases.Case, system string, changes map[string][]sim.Change) string {
	switch {
	case len(k.Waits) > 0:
		return fmt.Sprintf("waits on %s since %s (%d attempts: %s)", k.Waits[0].On, k.Waits[0].Since.Format(time.TimeOnly), k.Waits[0].Attempts, k.Waits[0].Error)
	case system == "":
		return ""
	case k.Job == nil:
		return "no job recorded"
	}
	for _, ch := range changes[k.Job.ID] {
		if onTimeline(k, system, ch.ID) == 0 {
			return "change " + ch.ID + " (" + ch.Status + ") not on the timeline"
		}
	}
	return ""
}

func onTimeline(k *cases.Case, system, changeID string) int {
	n := 0
	for _, e := range k.Timeline {
		if e.ChangeID == system+":"+changeID {
			n++
		}
	}
	return n
}

func checkBackOffices(ctx context.Context, t *testing.T, c *cluster.Cluster, l *boLoad, began, back time.Time, settle, lateLimit time.Duration) boCounts {
	t.Helper()
	tc := dialTemporal(ctx, t, c)
	defer tc.Close()
	acked, never := l.acknowledged()
	n := boCounts{acknowledged: len(acked), unacknowledged: never, withSystem: map[string]int{}, jobs: map[string]int{}, calls: map[string]int{}}
	jobs := map[string]map[string][]sim.Job{}
	changes := map[string][]sim.Change{}
	read := func() {
		for _, name := range []string{"highways", "waste"} {
			byRef, byJob, calls, err := simJobs(c.Sims[name].URL)
			if err != nil {
				t.Fatalf("reading simulator %s: %v", name, err)
			}
			jobs[name] = byRef
			n.calls[name] = calls["create"] + calls["find"] + calls["note"] + calls["cancel"] + calls["changes"]
			for id, chs := range byJob {
				changes[id] = chs
			}
		}
	}

	// Wait for every job to run its course and every case to hold all of it.
	truth := map[string]*cases.Case{}
	deadline := time.Now().Add(settle)
	for {
		read()
		var lacking []string
		for _, r := range acked {
			k, err := temporalCase(ctx, tc, r.ref)
			if err != nil {
				lacking = append(lacking, r.ref+": "+err.Error())
				continue
			}
			truth[r.ref] = k
			if why := settled(k, systemOf[k.Department], changes); why != "" {
				lacking = append(lacking, r.ref+": "+why)
			}
		}
		for _, byRef := range jobs {
			for ref, js := range byRef {
				for _, j := range js {
					if !slices.Contains([]string{"DONE", "CANC", "CLEARED", "WITHDRAWN"}, j.Status) {
						lacking = append(lacking, fmt.Sprintf("%s: job %s still %s", ref, j.ID, j.Status))
					}
				}
			}
		}
		if len(lacking) == 0 {
			t.Logf("every case settled %s after the systems came back", time.Since(back).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Logf("%d cases not settled after %s: %s", len(lacking), settle, strings.Join(lacking[:min(len(lacking), 10)], "; "))
			break
		}
		time.Sleep(10 * time.Second)
	}

	// Jobs per case, from the simulators' records.
	ours := map[string]bool{}
	for _, r := range acked {
		ours[r.ref] = true
		k := truth[r.ref]
		if k == nil {
			n.missingCases++
			n.offend("acknowledged, no case in Temporal", r.ref, r.id)
			continue
		}
		want := systemOf[k.Department]
		if want != r.system {
			n.offend("routed to another system than the drill meant", r.ref, fmt.Sprintf("department %s", k.Department))
		}
		n.withSystem[want]++
		for name, byRef := range jobs {
			got := byRef[r.ref]
			switch {
			case name == want && len(got) != 1:
				n.notOneJob++
				n.offend("cases without exactly one job", r.ref, fmt.Sprintf("%d jobs in %s: %v", len(got), name, jobIDs(got)))
			case name == want && (k.Job == nil || k.Job.ID != got[0].ID || k.Job.System != name):
				n.jobMismatch++
				n.offend("case records another job than the system holds", r.ref, fmt.Sprintf("case %+v, %s holds %s", k.Job, name, got[0].ID))
			case name != want && len(got) > 0:
				n.strayJobs += len(got)
				n.offend("jobs in a system the case is not routed to", r.ref, fmt.Sprintf("%v in %s", jobIDs(got), name))
			}
		}
		if len(k.Waits) > 0 {
			n.waiting++
			n.offend("cases still waiting on a system", r.ref, settled(k, want, changes))
		}
		for _, e := range k.Timeline {
			if e.Kind == cases.KindBackOffice && strings.Contains(e.Note, "(made by an earlier attempt)") {
				n.found++
			}
		}
		if r.duringOutage && r.system == "highways" && k.Job != nil {
			for _, e := range k.Timeline {
				if e.Kind == cases.KindBackOffice && strings.HasPrefix(e.Note, "Job "+k.Job.ID+" ") {
					n.caughtUp = max(n.caughtUp, e.At.Sub(back))
				}
			}
		}
	}
	for name, byRef := range jobs {
		n.jobs[name] = 0
		for ref, js := range byRef {
			n.jobs[name] += len(js)
			if !ours[ref] {
				n.strayJobs += len(js)
				n.offend("jobs for no case of the drill", ref, fmt.Sprintf("%v in %s", jobIDs(js), name))
			}
		}
	}

	// Every change of each case's job on its timeline once; every status
	// change public, and in the feed once with the system's code.
	wantFeed := map[string]string{} // update_id → external_status_code
	updateRef := map[string]string{}
	for _, r := range acked {
		k := truth[r.ref]
		if k == nil || k.Job == nil {
			continue
		}
		system := k.Job.System
		for _, ch := range changes[k.Job.ID] {
			n.changes++
			switch on := onTimeline(k, system, ch.ID); {
			case on == 0:
				n.changesMissing++
				n.offend("back-office changes missing from the case", r.ref, ch.ID+" "+ch.Status)
			case on > 1:
				n.changesTwice++
				n.offend("back-office changes on the case more than once", r.ref, fmt.Sprintf("%s %s %d times", ch.ID, ch.Status, on))
			}
			if !statusCode[ch.Status] {
				continue
			}
			n.statusChanges++
			i := slices.IndexFunc(k.Timeline, func(e cases.Entry) bool { return e.ChangeID == system+":"+ch.ID })
			if i < 0 {
				continue
			}
			e := k.Timeline[i]
			// A code mapping to the status the case already holds (the
			// escalation ladder's last level publishes investigating) moves
			// nothing, but FixMyStreet must still hear it.
			if !e.Public {
				n.statusNotApplied++
				n.offend("status changes kept from FixMyStreet", r.ref, fmt.Sprintf("%s %s: %s %q", ch.ID, ch.Status, e.Kind, e.Note))
				continue
			}
			wantFeed[e.UpdateID(k.Ref)] = ch.Status
			updateRef[e.UpdateID(k.Ref)] = k.Ref
		}
	}
	n.feedWanted = len(wantFeed)
	// The feed is read from Redis, a projection behind Temporal: give it
	// two minutes to show everything.
	for feedDeadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Second) {
		seen, twice, err := readFeed(ctx, l.api, began)
		if err != nil {
			t.Errorf("servicerequestupdates: %v", err)
			break
		}
		n.feedMissing, n.feedTwice, n.feedWrongCode = 0, len(twice), 0
		var missing, wrong []string
		for id, code := range wantFeed {
			switch got, ok := seen[id]; {
			case !ok:
				n.feedMissing++
				missing = append(missing, updateRef[id]+": "+id+" "+code)
			case got != code:
				n.feedWrongCode++
				wrong = append(wrong, fmt.Sprintf("%s: %s has external_status_code %q, want %q", updateRef[id], id, got, code))
			}
		}
		if n.feedMissing == 0 || time.Now().After(feedDeadline) {
			for _, s := range missing {
				ref, why, _ := strings.Cut(s, ": ")
				n.offend("status changes missing from servicerequestupdates", ref, why)
			}
			for _, s := range wrong {
				ref, why, _ := strings.Cut(s, ": ")
				n.offend("status changes with the wrong external_status_code", ref, why)
			}
			for _, id := range twice {
				n.offend("updates twice in one servicerequestupdates window", id, "")
			}
			break
		}
	}

	// Escalations of the cases on the demo-seconds ladder, and how late.
	var late []time.Duration
	for _, r := range acked {
		k := truth[r.ref]
		if r.kind != boEscalating || k == nil {
			continue
		}
		n.escalating++
		fired := map[string]cases.Escalation{}
		if k.Promise != nil {
			for _, e := range k.Promise.Escalations {
				fired[e.Level] = e
			}
		}
		for i, level := range ladder {
			due := k.ReceivedAt.Add([]time.Duration{30, 60, 80, 100}[i] * time.Second)
			// A level due less than the late limit before the case closed (its
			// job done) may be overtaken by the close: the loop applies what
			// arrived before it fires what is due, and a fixed case escalates
			// no further.
			if k.ClosedAt != nil && !due.Before(k.ClosedAt.Add(-lateLimit)) {
				continue
			}
			n.levelsWanted++
			e, ok := fired[level]
			if !ok {
				n.offend("escalations missing", r.ref, level+" due "+due.Format(time.TimeOnly))
				continue
			}
			n.levelsFired++
			d := e.At.Sub(e.Due)
			late = append(late, d)
			if r.duringOutage {
				n.outageLateMax = max(n.outageLateMax, d)
			}
			if d > lateLimit {
				n.late++
				n.offend("escalations late", r.ref, fmt.Sprintf("%s %s late", level, d.Round(time.Millisecond)))
			}
		}
	}
	slices.Sort(late)
	if len(late) > 0 {
		n.lateP50, n.lateP99, n.lateMax = late[len(late)/2], late[(len(late)-1)*99/100], late[len(late)-1]
	}
	return n
}

// statusCode are the simulators' codes the demo configuration maps to a
// casebridge status (config/demo.yaml, status_map.from); the others are
// IGNOREd and reach the case as internal notes.
var statusCode = map[string]bool{"INSP": true, "SCH": true, "DONE": true, "ALLOCATED": true, "CREW_DISPATCHED": true, "CLEARED": true}

func jobIDs(js []sim.Job) []string {
	var ids []string
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	return ids
}

// readFeed reads servicerequestupdates from a minute before began until now
// in one-minute windows, both ends included as FixMyStreet asks, and returns
// each update's external_status_code and the updates a window held twice.
func readFeed(ctx context.Context, a *apiClient, began time.Time) (map[string]string, []string, error) {
	seen := map[string]string{}
	var twice []string
	end := time.Now().Add(time.Minute)
	for from := began.Add(-time.Minute).Truncate(time.Minute); from.Before(end); from = from.Add(time.Minute) {
		q := url.Values{"start_date": {from.UTC().Format(time.RFC3339)}, "end_date": {from.Add(time.Minute).UTC().Format(time.RFC3339)}}
		code, body, err := a.do(ctx, "GET", "/open311/v2/servicerequestupdates.json?"+q.Encode(), nil, "", "", "")
		if err != nil || code != 200 {
			return nil, nil, fmt.Errorf("GET %v: %d %v %.300s", q, code, err, body)
		}
		var updates []struct {
			ID   string `json:"update_id"`
			Code string `json:"external_status_code"`
		}
		if err := json.Unmarshal(body, &updates); err != nil {
			return nil, nil, err
		}
		inWindow := map[string]bool{}
		for _, u := range updates {
			if inWindow[u.ID] {
				twice = append(twice, u.ID)
			}
			inWindow[u.ID] = true
			seen[u.ID] = u.Code
		}
	}
	return seen, twice, nil
}

func (n boCounts) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(what string, v any, promise string) { fmt.Fprintf(w, "  %s\t%v\t%s\n", what, v, promise) }
	row("reports acknowledged", n.acknowledged, "")
	row("  never acknowledged (2 min of retries)", n.unacknowledged, "")
	row("  with no case in Temporal", n.missingCases, "0")
	row("cases routed to highways / waste", fmt.Sprintf("%d / %d", n.withSystem["highways"], n.withSystem["waste"]), "")
	row("jobs in the simulators, highways / waste", fmt.Sprintf("%d / %d", n.jobs["highways"], n.jobs["waste"]), "")
	row("  cases without exactly one job", n.notOneJob, "0")
	row("  cases recording another job than the system's", n.jobMismatch, "0")
	row("  jobs in a system no case of ours is routed to", n.strayJobs, "0")
	row("  jobs found (by look-up or their first change) after a create timed out", n.found, "")
	row("calls per case, highways / waste", fmt.Sprintf("%.1f / %.1f", perCase(n.calls["highways"], n.withSystem["highways"]), perCase(n.calls["waste"], n.withSystem["waste"])), "")
	row("cases still waiting on a system", n.waiting, "0")
	row("last outage case's job recorded after the system came back", n.caughtUp.Round(100*time.Millisecond), "")
	row("back-office changes in the simulators", n.changes, "")
	row("  missing from the case timeline", n.changesMissing, "0")
	row("  on the timeline more than once", n.changesTwice, "0")
	row("  status changes (mapped codes)", n.statusChanges, "")
	row("    recorded for staff only, not public", n.statusNotApplied, "0")
	row("    missing from servicerequestupdates", n.feedMissing, "0")
	row("    twice in a servicerequestupdates window", n.feedTwice, "0")
	row("    with another external_status_code", n.feedWrongCode, "0")
	row("escalating cases (demo-seconds, routed to a system)", n.escalating, "")
	row("  ladder levels fired", fmt.Sprintf("%d of %d due well before the case closed", n.levelsFired, n.levelsWanted), "all")
	row("  lateness p50 / p99 / max", fmt.Sprintf("%s / %s / %s", n.lateP50.Round(time.Millisecond), n.lateP99.Round(time.Millisecond), n.lateMax.Round(time.Millisecond)), "")
	row("  lateness max, cases opened while highways was down", n.outageLateMax.Round(time.Millisecond), "")
	w.Flush()
	whats := make([]string, 0, len(n.bad))
	for what := range n.bad {
		whats = append(whats, what)
	}
	slices.Sort(whats)
	for _, what := range whats {
		fmt.Fprintf(&b, "  %s (%d):\n", what, len(n.bad[what]))
		for i, s := range n.bad[what] {
			if i == 20 {
				fmt.Fprintf(&b, "    ...\n")
				break
			}
			fmt.Fprintf(&b, "    %s\n", s)
		}
	}
	return b.String()
}

func perCase(calls, cases int) float64 {
	if cases == 0 {
		return 0
	}
	return float64(calls) / float64(cases)
}

func (n boCounts) mustBeZero(t *testing.T, lateLimit time.Duration) {
	t.Helper()
	for what, v := range map[string]int{
		"acknowledged reports with no case":                     n.missingCases,
		"cases without exactly one job":                         n.notOneJob,
		"cases recording another job than the system's":         n.jobMismatch,
		"jobs in a system no case is routed to":                 n.strayJobs,
		"cases still waiting on a system":                       n.waiting,
		"back-office changes missing from the case timeline":    n.changesMissing,
		"back-office changes on the case timeline twice":        n.changesTwice,
		"status changes not applied":                            n.statusNotApplied,
		"status changes missing from servicerequestupdates":     n.feedMissing,
		"status changes twice in servicerequestupdates":         n.feedTwice,
		"status changes with another external_status_code":      n.feedWrongCode,
		"escalations missing":                                   n.levelsWanted - n.levelsFired,
		"escalations later than " + lateLimit.String():          n.late,
		"reports routed to another system than the drill meant": len(n.bad["routed to another system than the drill meant"]),
	} {
		if v != 0 {
			t.Errorf("%s: %d, want 0 (cases named in the counts above)", what, v)
		}
	}
	if n.withSystem["highways"] < 20 || n.withSystem["waste"] < 20 || n.escalating < 10 {
		t.Errorf("only %d highways, %d waste and %d escalating cases: the load never got going", n.withSystem["highways"], n.withSystem["waste"], n.escalating)
	}
	if n.feedWanted == 0 {
		t.Errorf("no status change reached any case: the jobs never progressed")
	}
}
