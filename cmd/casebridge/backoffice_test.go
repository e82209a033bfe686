package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/casebridge/casebridge/activities"
	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/activities/backoffice/sim"
	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/worker"
	"github.com/casebridge/casebridge/workflows"
)

// backOfficeRig is the embedded Temporal server, real Redis and the highways
// simulator over real HTTP, with a worker whose connector gives up on a call
// after a second.
type backOfficeRig struct {
	c    client.Client
	hw   *sim.Highways
	acts *activities.Activities
	flow *caseflow.Client
	w    sdkworker.Worker
}

func startBackOfficeRig(t *testing.T) *backOfficeRig {
	t.Helper()
	rs := redistest.Start(t)
	_, c := embeddedTemporal(t, "")
	hw := sim.NewHighways("hw-token", time.Hour, 7)
	srv := httptest.NewServer(hw.Handler())
	t.Cleanup(srv.Close)
	cfg := config.Demo()
	b, _ := cfg.BackOffice("highways")
	route := cases.Decision{RuleSet: "default", RuleID: "default", Department: "highways", Priority: cases.PriorityNormal}
	r := &backOfficeRig{c: c, hw: hw}
	r.acts = &activities.Activities{
		Router:    activities.StaticRouter{Decision: route},
		Projector: readmodel.New(rs.Client(), "cb:"),
		Notifier:  notify.NewDispatcher(cfg, notify.NewStore(rs.Client(), "cb:"), func(string) string { return "" }, nil),
		Log:       slog.New(slog.DiscardHandler),
		BackOffices: map[string]activities.BackOffice{"highways": {Fields: b.Fields, StatusTo: b.StatusMap.To, Connector: &backoffice.REST{
			Name: "highways", BaseURL: srv.URL, Client: srv.Client(), Timeout: time.Second, Location: time.UTC,
			Auth: backoffice.Auth{Type: "bearer", Token: "hw-token"}}}},
	}
	r.startWorker(t)
	r.flow = caseflow.New(c, workflows.TaskQueue, "CB-", workflows.Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 2000,
		DefaultRoute: route, Calendar: cfg.Calendar, BackOffices: cfg.BackOfficeRoutes()})
	return r
}

func (r *backOfficeRig) startWorker(t *testing.T) {
	t.Helper()
	r.w = worker.New(r.c, r.acts, sdkworker.Options{})
	if err := r.w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.w.Stop)
}

func (r *backOfficeRig) report(key string) cases.Report {
	lat, long := 51.5362, -0.1426
	return cases.Report{IntakeKey: key, Source: cases.SourceFixMyStreet, ExternalID: key, ServiceCode: "POT", Description: "Deep hole",
		Location: cases.Location{Lat: &lat, Long: &long, Address: "1 Camden High St"}, Attributes: cases.Attributes{"dangerous": {"yes"}}, ReceivedAt: time.Now().UTC()}
}

// waitJob waits until the case records its job.
func (r *backOfficeRig) waitJob(t *testing.T, ref string, within time.Duration) *cases.Case {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := r.flow.Get(context.Background(), ref)
		if err == nil && c.Job != nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s has no job after %s (waits %+v, err %v)", ref, within, c.Waits, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// jobsFor counts the simulator's records by reference.
func (r *backOfficeRig) jobsFor() map[string]int {
	n := map[string]int{}
	for _, j := range r.hw.Jobs() {
		n[j.Ref]++
	}
	return n
}

// Every create is slow: the system records the job after the connector has
// given up, some calls fail with 500s and 429s, and for the first case the
// worker is stopped in the middle of the create and another takes over.
// Each case still ends with exactly one job, and it is the one the case
// records.
func TestBackOfficeExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	r.hw.SetFaults(sim.Faults{SlowCreateRate: 1, SlowCreate: 2500 * time.Millisecond, FailRate: 0.2, ThrottleRate: 0.1})

	first, err := r.flow.Start(ctx, r.report("bo-kill"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	// Stop the worker while the first create is under way on the far side.
	for deadline := time.Now().Add(20 * time.Second); r.hw.Calls()["create"] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no create reached the system")
		}
	}
	r.w.Stop()
	r.startWorker(t)

	var refs []string
	for i := range 4 {
		c, err := r.flow.Start(ctx, r.report(fmt.Sprintf("bo-slow-%d", i)), cases.Service{Code: "POT", Name: "Pothole"})
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, c.Ref)
	}
	refs = append(refs, first.Ref)
	for _, ref := range refs {
		c := r.waitJob(t, ref, 90*time.Second)
		if len(c.Waits) != 0 {
			t.Errorf("%s still waits: %+v", ref, c.Waits)
		}
		var rec []sim.Job
		for _, j := range r.hw.Jobs() {
			if j.Ref == ref {
				rec = append(rec, j)
			}
		}
		if len(rec) != 1 || rec[0].ID != c.Job.ID {
			t.Errorf("%s: the system holds %+v, the case records %s; want exactly that one job", ref, rec, c.Job.ID)
		}
	}
	for _, j := range r.hw.Jobs() {
		e, _ := j.Fields["easting"].(float64)
		if e < 528000 || e > 530000 {
			t.Errorf("job %s easting %v: not the report's point on the National Grid", j.ID, j.Fields["easting"])
		}
	}
	t.Logf("calls: %v", r.hw.Calls())
}

// waitCase waits until the case satisfies ok, and returns it.
func (r *backOfficeRig) waitCase(t *testing.T, ref, what string, within time.Duration, ok func(*cases.Case) bool) *cases.Case {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := r.flow.Get(context.Background(), ref)
		if err == nil && ok(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %s: no %s after %s (case %+v, err %v)", ref, what, within, c, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Closing a case closes its job in the highways system over real HTTP, with
// the status map's code; a system that takes no status changes is asked once,
// and the case records that the job is left as it is there.
func TestBackOfficeCloseJob(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	svc := cases.Service{Code: "POT", Name: "Pothole"}
	closed := func(c *cases.Case) bool { return c.Job != nil && c.Job.Closed != "" }

	fixed, err := r.flow.Start(ctx, r.report("bo-close"), svc)
	if err != nil {
		t.Fatal(err)
	}
	job := r.waitJob(t, fixed.Ref, 30*time.Second).Job.ID
	if _, err := r.flow.Transition(ctx, fixed.Ref, cases.Change{To: cases.StatusFixed, Note: "Filled", Public: true, Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	c := r.waitCase(t, fixed.Ref, "job closed", 30*time.Second, closed)
	if c.Job.ID != job || c.Job.Closed != cases.JobClosedThere || c.Job.Code != "DONE" {
		t.Errorf("case job %+v, want %s closed there with DONE", c.Job, job)
	}
	for _, j := range r.hw.Jobs() {
		if j.Ref == fixed.Ref && (j.ID != job || j.Status != "DONE") {
			t.Errorf("the system holds %+v, want %s at DONE", j, job)
		}
	}

	r.hw.SetFaults(sim.Faults{RefuseStatus: true})
	left, err := r.flow.Start(ctx, r.report("bo-close-refused"), svc)
	if err != nil {
		t.Fatal(err)
	}
	r.waitJob(t, left.Ref, 30*time.Second)
	before := r.hw.Calls()["status"]
	if _, err := r.flow.Transition(ctx, left.Ref, cases.Change{To: cases.StatusNoFurtherAction, Note: "Within tolerance", Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	c = r.waitCase(t, left.Ref, "close settled", 30*time.Second, closed)
	time.Sleep(3 * time.Second) // a retry would come within a second or two
	if c.Job.Closed != cases.JobLeftOpen || len(c.Waits) != 0 {
		t.Errorf("case job %+v waits %+v, want the job left open there and no wait", c.Job, c.Waits)
	}
	if n := r.hw.Calls()["status"] - before; n != 1 {
		t.Errorf("%d status calls, want 1: not supported is not retried", n)
	}
	last := c.Timeline[len(c.Timeline)-1]
	if !strings.Contains(last.Note, "highways takes no status changes") {
		t.Errorf("last entry %q, want the refusal recorded", last.Note)
	}
}

// A public note the system stores after the connector gave up on it is
// retried with the same key (case-<ref>:note:<seq>) and stored once.
func TestBackOfficeNoteOnceAfterTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	c, err := r.flow.Start(ctx, r.report("bo-note-slow"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	job := r.waitJob(t, c.Ref, 30*time.Second).Job.ID
	// The connector gives up after a second; the note is stored after 2.5.
	r.hw.SetFaults(sim.Faults{SlowNoteRate: 1, SlowNote: 2500 * time.Millisecond})
	if _, err := r.flow.Comment(ctx, c.Ref, cases.Comment{Note: "The resident says it is getting deeper", Public: true, Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(45 * time.Second); r.hw.Calls()["note"] < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the note was not retried: calls %v", r.hw.Calls())
		}
	}
	time.Sleep(3 * time.Second) // a second copy, if any, would be stored by now
	for _, j := range r.hw.Jobs() {
		if j.ID == job && len(j.Notes) != 1 {
			t.Errorf("job %s holds notes %q, want the note once", job, j.Notes)
		}
	}
	got, err := r.flow.Get(ctx, c.Ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got.Timeline {
		if strings.HasPrefix(e.Note, "Could not send note") {
			t.Errorf("timeline: %q", e.Note)
		}
	}
}

// TestRecordBackOfficeHistories records cases that keep a job in a back
// office, for workflows.TestReplay:
//
//	go test ./cmd/casebridge -run TestRecordBackOfficeHistories -record
func TestRecordBackOfficeHistories(t *testing.T) {
	if !*record {
		t.Skip("pass -record to record histories")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	svc := cases.Service{Code: "POT", Name: "Pothole"}

	// A job made, changes signalled (one twice), a transfer away withdrawing
	// it, back again making a new one, and the case fixed.
	life, err := r.flow.Start(ctx, r.report("record-bo-life"), svc)
	must(nil, err)
	c := r.waitJob(t, life.Ref, 30*time.Second)
	insp := cases.JobChange{System: "highways", ID: "HW-c2", JobID: c.Job.ID, Code: "INSP", Status: cases.StatusInvestigating, Note: "Inspected", At: time.Now().UTC()}
	for range 2 {
		must(nil, r.c.SignalWorkflow(ctx, cases.WorkflowID(life.Ref), "", "backoffice-change", insp))
	}
	must(r.flow.Comment(ctx, life.Ref, cases.Comment{Note: "Resident called again", Public: true, Actor: "staff:amy"}, ""))
	must(r.flow.Transfer(ctx, life.Ref, cases.Transfer{Department: "parks", Actor: "staff:amy"}, ""))
	time.Sleep(2 * time.Second)
	must(r.flow.Transfer(ctx, life.Ref, cases.Transfer{Department: "highways", Actor: "staff:amy"}, ""))
	time.Sleep(2 * time.Second)
	c = r.waitJob(t, life.Ref, 30*time.Second)
	must(nil, r.c.SignalWorkflow(ctx, cases.WorkflowID(life.Ref), "", "backoffice-change",
		cases.JobChange{System: "highways", ID: "HW-c9", JobID: c.Job.ID, Code: "DONE", Status: cases.StatusFixed, Note: "Repaired", At: time.Now().UTC()}))
	save(t, r.c, life.Ref, "backoffice-life.json")

	// The system is down, then slow: the case waits, then finds the job the
	// timed-out create made.
	r.hw.SetFaults(sim.Faults{Down: true})
	slow, err := r.flow.Start(ctx, r.report("record-bo-slow"), svc)
	must(nil, err)
	time.Sleep(65 * time.Second) // one series of attempts fails: the case records a wait
	r.hw.SetFaults(sim.Faults{SlowCreateRate: 1, SlowCreate: 2500 * time.Millisecond})
	r.waitJob(t, slow.Ref, 60*time.Second)
	save(t, r.c, slow.Ref, "backoffice-slow-create.json")
}

// TestRecordBackOfficeCodesHistory records a case whose back office sends a
// code mapping to the status staff already set, published to FixMyStreet with
// its code (version 1 of backoffice-codes), for workflows.TestReplay:
//
//	go test ./cmd/casebridge -run TestRecordBackOfficeCodesHistory -record
func TestRecordBackOfficeCodesHistory(t *testing.T) {
	if !*record {
		t.Skip("pass -record to record histories")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	k, err := r.flow.Start(ctx, r.report("record-bo-codes"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	c := r.waitJob(t, k.Ref, 30*time.Second)
	if _, err := r.flow.Transition(ctx, k.Ref, cases.Change{To: cases.StatusInvestigating, Note: "Looking at it", Public: true, Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	insp := cases.JobChange{System: "highways", ID: "HW-c2", JobID: c.Job.ID, Code: "INSP", Status: cases.StatusInvestigating, Note: "Inspected", At: time.Now().UTC()}
	for range 2 {
		if err := r.c.SignalWorkflow(ctx, cases.WorkflowID(k.Ref), "", "backoffice-change", insp); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		c, err = r.flow.Get(ctx, k.Ref)
		if err == nil && len(c.PublicUpdates()) > 0 && c.PublicUpdates()[len(c.PublicUpdates())-1].ExternalStatusCode == "INSP" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("INSP never reached the public updates: %v %+v", err, c)
		}
	}
	save(t, r.c, k.Ref, "backoffice-codes.json")
}

// simURL is the simulated back office dev's banner names.
func simURL(t testing.TB, banner, name string) string {
	t.Helper()
	for _, line := range strings.Split(banner, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "Back" && f[1] == "office" && f[2] == name {
			return f[3]
		}
	}
	t.Fatalf("dev's banner names no simulated %s:\n%s", name, banner)
	return ""
}

// A report reaches its department's system within seconds, and the
// system's progress (pushed to the webhook and read from its feed) comes
// back to the case and to FixMyStreet's feed once each, with the system's own
// codes: highways over REST, waste over SOAP.
func TestDevBackOfficeRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	rs := redistest.Start(t)
	d := startDev(t, t.TempDir(), rs.URL(), "--sim-step", "3s")
	tests := []struct {
		system, service string
		attrs           map[string]string
		codes           []string
		final           cases.Status
	}{
		{"highways", "POT", map[string]string{"dangerous": "yes"}, []string{"RAISED", "INSP", "SCH", "DONE"}, cases.StatusFixed},
		{"waste", "FLY", map[string]string{"waste_type": "furniture", "amount": "car_boot"}, []string{"LOGGED", "ALLOCATED", "CREW_DISPATCHED", "CLEARED"}, cases.StatusFixed},
	}
	for i, tt := range tests {
		t.Run(tt.system, func(t *testing.T) {
			simBase := simURL(t, d.stdout.String(), tt.system)
			posted := time.Now()
			code, body := postForm(t, d.base+"/open311/v2/requests.xml", report(d.key, strconv.Itoa(9001+i), tt.service, tt.attrs))
			if code != 200 {
				t.Fatalf("POST requests.xml: %d %s", code, body)
			}
			ref := receiptID(t, body)
			var kase cases.Case
			eventually(t, "job in the "+tt.system+" system", func() error {
				code, body := d.staff("GET", "/api/v1/cases/"+ref, "")
				kase = cases.Case{}
				if err := json.Unmarshal(body, &kase); code != 200 || err != nil || kase.Job == nil {
					return fmt.Errorf("%d %s", code, body)
				}
				return nil
			})
			t.Logf("report to job in %s: %s", tt.system, time.Since(posted))
			eventually(t, "the system's progress on the case", func() error {
				_, body := d.staff("GET", "/api/v1/cases/"+ref, "")
				kase = cases.Case{}
				json.Unmarshal(body, &kase)
				if kase.Status != tt.final {
					return fmt.Errorf("status %s, job %+v", kase.Status, kase.Job)
				}
				return nil
			})
			seen := map[string]int{}
			for _, e := range kase.Timeline {
				if e.ChangeID != "" {
					seen[e.ExternalStatusCode]++
				}
			}
			for _, code := range tt.codes {
				if seen[code] != 1 {
					t.Errorf("status %s applied %d times, want once (timeline codes %v)", code, seen[code], seen)
				}
			}
			eventually(t, "FixMyStreet's feed", func() error {
				resp, err := http.Get(d.base + "/open311/v2/servicerequestupdates.xml?api_key=")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				for _, code := range tt.codes[1:] {
					if n := strings.Count(string(b), "<external_status_code>"+code+"</external_status_code>"); n != 1 {
						return fmt.Errorf("%s appears %d times in the feed: %s", code, n, b)
					}
				}
				return nil
			})
			resp, err := http.Get(simBase + "/admin/jobs")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var jobs struct{ Jobs []sim.Job }
			json.NewDecoder(resp.Body).Decode(&jobs)
			n := 0
			for _, j := range jobs.Jobs {
				if j.Ref == ref {
					n++
				}
			}
			if n != 1 {
				t.Errorf("the %s system holds %d jobs for %s, want 1", tt.system, n, ref)
			}
		})
	}
}

var (
	boReports = flag.Int("bo-reports", 100, "BenchmarkBackOfficeJob: reports per run")
	boRate    = flag.Float64("bo-rate", 10, "BenchmarkBackOfficeJob: reports a second")
)

// BenchmarkBackOfficeJob measures, in dev with its simulators at their
// default latency, the time from a report acknowledged over Open311 to its
// job recorded in the highways system, the calls made to the system per
// case, and the jobs per case; with -faults, under 500s, 429s and creates
// that succeed after the connector gave up. docs/benchmarks.md has figures.
//
//	go test ./cmd/casebridge -run '^$' -bench BackOfficeJob -benchtime 1x
func BenchmarkBackOfficeJob(b *testing.B) {
	for _, faulty := range []bool{false, true} {
		name := map[bool]string{false: "clean", true: "faults"}[faulty]
		b.Run(name, func(b *testing.B) {
			rs := redistest.Start(b)
			d := startDev(b, b.TempDir(), rs.URL(), "--sim-step", "1h")
			hw := simURL(b, d.stdout.String(), "highways")
			if faulty {
				// A connector gives up after 10 s: slow creates outlast it.
				f := `{"latency":50000000,"fail_rate":0.2,"throttle_rate":0.1,"slow_create_rate":0.2,"slow_create":12000000000}`
				req, _ := http.NewRequest(http.MethodPut, hw+"/admin/faults", strings.NewReader(f))
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
					b.Fatalf("set faults: %v %v", resp, err)
				}
			}
			n := *boReports * b.N
			acked := map[string]time.Time{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			sem := make(chan struct{}, 4)
			for i := range n {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					code, body := postForm(b, d.base+"/open311/v2/requests.xml", report(d.key, fmt.Sprintf("bench-%s-%d", name, i), "POT", map[string]string{"dangerous": "no"}))
					if code != 200 {
						b.Errorf("POST: %d %s", code, body)
						return
					}
					ref := receiptID(b, body)
					mu.Lock()
					acked[ref] = time.Now()
					mu.Unlock()
				}()
				time.Sleep(time.Duration(float64(time.Second) / *boRate))
			}
			wg.Wait()
			var jobs []sim.Job
			deadline := time.Now().Add(5 * time.Minute)
			for {
				resp, err := http.Get(hw + "/admin/jobs")
				if err != nil {
					b.Fatal(err)
				}
				var got struct{ Jobs []sim.Job }
				json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				jobs = got.Jobs
				have := map[string]bool{}
				for _, j := range jobs {
					have[j.Ref] = true
				}
				if len(have) >= len(acked) || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			perCase := map[string]int{}
			var lat []time.Duration
			for _, j := range jobs {
				perCase[j.Ref]++
				if at, ok := acked[j.Ref]; ok && perCase[j.Ref] == 1 {
					lat = append(lat, max(j.Created.Sub(at), 0))
				}
			}
			dups, missing := 0, 0
			for ref := range acked {
				switch perCase[ref] {
				case 0:
					missing++
				case 1:
				default:
					dups++
				}
			}
			resp, err := http.Get(hw + "/admin/calls")
			if err != nil {
				b.Fatal(err)
			}
			var calls map[string]int
			json.NewDecoder(resp.Body).Decode(&calls)
			resp.Body.Close()
			// Inside the case: from routing's answer to the job recorded, as
			// the case's own timeline has it.
			var inCase []time.Duration
			for ref := range acked {
				_, body := d.staff("GET", "/api/v1/cases/"+ref, "")
				var c cases.Case
				json.Unmarshal(body, &c)
				var routed time.Time
				for _, e := range c.Timeline {
					switch {
					case e.Kind == cases.KindRouted && routed.IsZero():
						routed = e.At
					case e.Kind == cases.KindBackOffice && strings.HasPrefix(e.Note, "Job ") && !routed.IsZero():
						inCase = append(inCase, e.At.Sub(routed))
						routed = time.Time{}
					}
				}
			}
			slices.Sort(inCase)
			if len(inCase) > 0 {
				b.ReportMetric(float64(inCase[len(inCase)/2].Milliseconds()), "routed-to-job-p50-ms")
				b.ReportMetric(float64(inCase[len(inCase)*99/100].Milliseconds()), "routed-to-job-p99-ms")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
			b.ReportMetric(float64(calls["find"])/float64(len(acked)), "finds/case")
			b.ReportMetric(float64(calls["create"])/float64(len(acked)), "creates/case")
			b.ReportMetric(float64(dups), "cases-with-2+-jobs")
			b.ReportMetric(float64(missing), "cases-without-job")
			if dups > 0 || missing > 0 {
				b.Errorf("%d cases with more than one job, %d without one", dups, missing)
			}
		})
	}
}

// TestRecordBackOfficeNoteHistory records a case whose public staff note goes
// to its job (version 2 of the back-office path), for workflows.TestReplay:
//
//	go test ./cmd/casebridge -run TestRecordBackOfficeNoteHistory -record
func TestRecordBackOfficeNoteHistory(t *testing.T) {
	if !*record {
		t.Skip("pass -record to record histories")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	c, err := r.flow.Start(ctx, r.report("record-bo-notes"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitJob(t, c.Ref, 30*time.Second)
	for _, cm := range []cases.Comment{
		{Note: "The resident says it is getting deeper", Public: true, Actor: "staff:amy"},
		{Note: "Internal: chase the contractor", Actor: "staff:amy"},
	} {
		if _, err := r.flow.Comment(ctx, c.Ref, cm, ""); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if jobs := r.hw.Jobs(); len(jobs) == 1 && len(jobs[0].Notes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job holds %+v, want the public note", r.hw.Jobs())
		}
	}
	save(t, r.c, c.Ref, "backoffice-notes.json")
}

// `casebridge sim waste` serves the simulator with the faults its flags set,
// and stops when its context ends.
func TestSimCommand(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() {
		done <- run(ctx, []string{"sim", "waste", "--addr", addr, "--fail-rate", "0.5", "--latency", "0s"}, env(map[string]string{}), &out, io.Discard)
	}()
	var faults sim.Faults
	eventually(t, "the simulator answers", func() error {
		resp, err := http.Get("http://" + addr + "/admin/faults")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&faults)
	})
	if faults.FailRate != 0.5 {
		t.Errorf("faults %+v, want the flag's fail rate 0.5", faults)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sim stopped with %v", err)
	}
	if !strings.Contains(out.String(), "simulated waste back office on http://"+addr) {
		t.Errorf("banner %q", out.String())
	}
	if err := run(context.Background(), []string{"sim", "roads"}, env(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "highways, waste") {
		t.Errorf("an unknown simulator: %v", err)
	}
}

// TestRecordBackOfficeCloseHistory records a case that closes its job as it
// closes, reopens with a new job and closes that one too (versionBackOfficeClose),
// for workflows.TestReplay:
//
//	go test ./cmd/casebridge -run TestRecordBackOfficeCloseHistory -record
func TestRecordBackOfficeCloseHistory(t *testing.T) {
	if !*record {
		t.Skip("pass -record to record histories")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	c, err := r.flow.Start(ctx, r.report("record-bo-close"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	first := r.waitJob(t, c.Ref, 30*time.Second).Job.ID
	closedThere := func(c *cases.Case) bool { return c.Job != nil && c.Job.Closed == cases.JobClosedThere }
	for _, ch := range []cases.Change{
		{To: cases.StatusFixed, Note: "Filled", Public: true, Actor: "staff:amy"},
		{To: cases.StatusInProgress, Note: "Sunk again", Actor: "staff:amy"},
		{To: cases.StatusNoFurtherAction, Note: "Within tolerance", Actor: "staff:amy"},
	} {
		if _, err := r.flow.Transition(ctx, c.Ref, ch, ""); err != nil {
			t.Fatal(err)
		}
		if ch.To.Closed() {
			r.waitCase(t, c.Ref, "job closed", 30*time.Second, closedThere)
		} else {
			r.waitCase(t, c.Ref, "a new job", 30*time.Second, func(c *cases.Case) bool { return c.Job != nil && c.Job.ID != first })
		}
	}
	save(t, r.c, c.Ref, "backoffice-close.json")
}

// TestRecordBackOfficeCarryOverHistory records a case that continues as new
// while a public note to its job is still being retried (the system is
// down): both runs, the second sending the carried note, for
// workflows.TestReplay:
//
//	go test ./cmd/casebridge -run TestRecordBackOfficeCarryOverHistory -record
func TestRecordBackOfficeCarryOverHistory(t *testing.T) {
	if !*record {
		t.Skip("pass -record to record histories")
	}
	ctx := context.Background()
	r := startBackOfficeRig(t)
	cfg := config.Demo()
	flow := caseflow.New(r.c, workflows.TaskQueue, "CB-", workflows.Settings{ReopenWindow: 28 * 24 * time.Hour, MaxHistoryEvents: 80,
		DefaultRoute: cases.Decision{RuleSet: "default", RuleID: "default", Department: "highways", Priority: cases.PriorityNormal},
		Calendar:     cfg.Calendar, BackOffices: cfg.BackOfficeRoutes()})
	c, err := flow.Start(ctx, r.report("record-bo-carry"), cases.Service{Code: "POT", Name: "Pothole"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitJob(t, c.Ref, 30*time.Second)
	r.hw.SetFaults(sim.Faults{Down: true})
	if _, err := flow.Comment(ctx, c.Ref, cases.Comment{Note: "The resident says it is getting deeper", Public: true, Actor: "staff:amy"}, ""); err != nil {
		t.Fatal(err)
	}
	continued := func() bool {
		d, err := r.c.DescribeWorkflowExecution(ctx, cases.WorkflowID(c.Ref), "")
		return err == nil && d.GetWorkflowExecutionInfo().GetFirstRunId() != d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	for i := 0; !continued(); i++ {
		if i == 30 {
			t.Fatal("the case did not continue as new")
		}
		if _, err := flow.Comment(ctx, c.Ref, cases.Comment{Note: "Chased the contractor " + strconv.Itoa(i), Actor: "staff:amy"}, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	r.hw.SetFaults(sim.Faults{})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if jobs := r.hw.Jobs(); len(jobs) == 1 && len(jobs[0].Notes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job holds %+v, want the carried note once", r.hw.Jobs())
		}
	}
	saveFirstRun(t, r.c, c.Ref, "backoffice-carry-first.json")
	save(t, r.c, c.Ref, "backoffice-carry-next.json")
}
