package backoffice_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/activities/backoffice/sim"
)

// highways starts the REST simulator over real HTTP and a connector to it.
func highways(t *testing.T, step time.Duration) (*sim.Highways, *backoffice.REST) {
	t.Helper()
	h := sim.NewHighways("s3cret-token", step, 1)
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return h, &backoffice.REST{Name: "highways", BaseURL: srv.URL, Client: srv.Client(), Timeout: 2 * time.Second,
		Auth: backoffice.Auth{Type: "bearer", Token: "s3cret-token"}, Location: time.UTC}
}

var pothole = backoffice.Job{Ref: "CB-7KQ2M9", Fields: map[string]any{"easting": 529090.0, "northing": 183500.0, "defect": "POT"}}

func TestRESTCreateFindChanges(t *testing.T) {
	ctx := context.Background()
	h, r := highways(t, time.Minute)
	if _, found, err := r.Find(ctx, pothole.Ref); err != nil || found {
		t.Fatalf("Find before create = %v, %v; want not found", found, err)
	}
	rec, err := r.Create(ctx, pothole, "case-CB-7KQ2M9:highways")
	if err != nil || rec.ID == "" || rec.Status != "RAISED" {
		t.Fatalf("Create = %+v, %v", rec, err)
	}
	again, err := r.Create(ctx, pothole, "case-CB-7KQ2M9:highways")
	if err != nil || again.ID != rec.ID {
		t.Errorf("Create with the same key = %+v, %v; want job %s again", again, err, rec.ID)
	}
	got, found, err := r.Find(ctx, pothole.Ref)
	if err != nil || !found || got.ID != rec.ID {
		t.Errorf("Find = %+v, %v, %v; want %s", got, found, err, rec.ID)
	}
	h.Advance(time.Now().Add(5 * time.Minute))
	var all []backoffice.Change
	cursor := ""
	for range 10 {
		p, err := r.Changes(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Changes...)
		cursor = p.Next
		if !p.More {
			break
		}
	}
	var codes []string
	for _, c := range all {
		if c.Ref != pothole.Ref || c.JobID != rec.ID || c.ID == "" || c.At.IsZero() {
			t.Errorf("change %+v does not name the job and case", c)
		}
		codes = append(codes, c.Code)
	}
	if want := []string{"RAISED", "INSP", "SCH", "DONE"}; len(codes) != len(want) || codes[3] != "DONE" {
		t.Errorf("feed codes = %v, want %v", codes, want)
	}
	if p, err := r.Changes(ctx, cursor); err != nil || len(p.Changes) != 0 {
		t.Errorf("feed after its end = %+v, %v", p, err)
	}
	if err := r.Note(ctx, rec.ID, backoffice.Note{Text: "Resident says it is getting deeper", Public: true}); err != nil {
		t.Errorf("Note: %v", err)
	}
	if err := r.Cancel(ctx, rec.ID, "transferred"); err != nil {
		t.Errorf("Cancel: %v", err)
	}
	if n := len(h.Jobs()); n != 1 {
		t.Errorf("the system holds %d jobs, want 1", n)
	}
}

func TestRESTFailuresClassified(t *testing.T) {
	ctx := context.Background()
	h, r := highways(t, time.Minute)
	tests := []struct {
		name       string
		faults     sim.Faults
		job        backoffice.Job
		token      string
		permanent  bool
		retryAfter time.Duration
	}{
		{name: "500", faults: sim.Faults{FailRate: 1}, job: pothole},
		{name: "503 down", faults: sim.Faults{Down: true}, job: pothole},
		{name: "429", faults: sim.Faults{ThrottleRate: 1}, job: pothole, retryAfter: time.Second},
		{name: "no grid reference", job: backoffice.Job{Ref: "CB-1", Fields: map[string]any{"lat": 51.5}}, permanent: true},
		{name: "bad token", job: pothole, token: "wrong", permanent: true},
	}
	for _, tt := range tests {
		h.SetFaults(tt.faults)
		r.Auth.Token = "s3cret-token"
		if tt.token != "" {
			r.Auth.Token = tt.token
		}
		_, err := r.Create(ctx, tt.job, "k-"+tt.name)
		var be *backoffice.Error
		if !errors.As(err, &be) {
			t.Errorf("%s: Create err = %v, want a *backoffice.Error", tt.name, err)
			continue
		}
		if backoffice.Permanent(err) != tt.permanent || backoffice.RetryAfter(err) != tt.retryAfter {
			t.Errorf("%s: %v: permanent %v retry-after %v, want %v %v", tt.name, err, backoffice.Permanent(err), backoffice.RetryAfter(err), tt.permanent, tt.retryAfter)
		}
	}
	if n := len(h.Jobs()); n != 0 {
		t.Errorf("failed creates left %d jobs", n)
	}
}

// A create the system records after the caller gave up: the retry finds the
// job by reference (or the key answers with it), and there is one job.
func TestRESTSlowCreateThenRetry(t *testing.T) {
	ctx := context.Background()
	h, r := highways(t, time.Minute)
	r.Timeout = 200 * time.Millisecond
	h.SetFaults(sim.Faults{SlowCreateRate: 1, SlowCreate: 600 * time.Millisecond})
	_, err := r.Create(ctx, pothole, "k1")
	if err == nil || backoffice.Permanent(err) {
		t.Fatalf("slow Create = %v, want a retryable timeout", err)
	}
	h.SetFaults(sim.Faults{})
	r.Timeout = 2 * time.Second
	rec, err := r.Create(ctx, pothole, "k1") // waits for the first, as the key is under way
	if err != nil {
		t.Fatal(err)
	}
	if jobs := h.Jobs(); len(jobs) != 1 || jobs[0].ID != rec.ID {
		t.Errorf("jobs = %+v, want the one job %s", jobs, rec.ID)
	}
}

func TestRESTRefusesBadJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>gateway</html>")) }))
	defer srv.Close()
	r := &backoffice.REST{Name: "x", BaseURL: srv.URL, Client: srv.Client(), Location: time.UTC}
	if _, _, err := r.Find(context.Background(), "CB-1"); err == nil || backoffice.Permanent(err) {
		t.Errorf("Find on an HTML answer = %v, want a retryable error", err)
	}
}

func FuzzRESTDecodeChanges(f *testing.F) {
	f.Add([]byte(`{"changes":[{"id":"c1","job_id":"HW-1","ref":"CB-1","status":"INSP","at":"2026-12-07T12:00:00Z"}],"next_cursor":"1"}`))
	f.Add([]byte(`{"changes":[{"id":"c1","ref":"CB-1","at":"2026-12-07 12:00:00"}]}`))
	f.Add([]byte(`{"changes":[{}]}`))
	r := &backoffice.REST{Name: "x", Location: time.UTC}
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := r.DecodeChanges(b)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.ID == "" || c.Ref == "" || c.At.IsZero() {
				t.Errorf("decoded change %+v lacks id, ref or time", c)
			}
		}
	})
}
