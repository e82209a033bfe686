package backoffice_test

import (
	"context"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/activities/backoffice/sim"
)

// Both protocols close a job over real HTTP: the simulator moves it to the
// code asked for once (its feed says so once), stops its own progress,
// refuses a code it does not know for good, and, told to take no status
// changes, answers so that the connector reports the operation unsupported.
func TestSetStatus(t *testing.T) {
	ctx := context.Background()
	type system interface {
		SetFaults(sim.Faults)
		Jobs() []sim.Job
		Advance(time.Time)
	}
	hs, r := highways(t, time.Minute)
	ws, s := waste(t)
	for _, tt := range []struct {
		name string
		sys  system
		conn backoffice.Connector
		job  backoffice.Job
		code string
	}{
		{"rest", hs, r, pothole, "DONE"},
		{"soap", ws, s, flytip, "CLEARED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := tt.conn.Create(ctx, tt.job, "k-status")
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := tt.conn.SetStatus(ctx, rec.ID, tt.code, "The case was closed in casebridge: Fixed"); err != nil {
					t.Fatalf("SetStatus: %v", err)
				}
			}
			tt.sys.Advance(time.Now().Add(time.Hour))
			if jobs := tt.sys.Jobs(); len(jobs) != 1 || jobs[0].Status != tt.code {
				t.Errorf("jobs %+v, want the one job at %s, moving no more", jobs, tt.code)
			}
			p, err := tt.conn.Changes(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, c := range p.Changes {
				codes = append(codes, c.Code)
			}
			if len(codes) != 2 || codes[1] != tt.code {
				t.Errorf("feed codes %v, want the first code and %s once", codes, tt.code)
			}
			if err := tt.conn.SetStatus(ctx, rec.ID, "NO_SUCH_CODE", ""); !backoffice.Permanent(err) || backoffice.Unsupported(err) {
				t.Errorf("an unknown code: %v, want a final refusal, not unsupported", err)
			}
			tt.sys.SetFaults(sim.Faults{RefuseStatus: true})
			err = tt.conn.SetStatus(ctx, rec.ID, tt.code, "")
			if !backoffice.Unsupported(err) || !backoffice.Permanent(err) {
				t.Errorf("a system that takes no status changes: %v, want unsupported and final", err)
			}
			tt.sys.SetFaults(sim.Faults{FailRate: 1})
			if err := tt.conn.SetStatus(ctx, rec.ID, tt.code, ""); err == nil || backoffice.Permanent(err) || backoffice.Unsupported(err) {
				t.Errorf("a 500: %v, want a retryable error", err)
			}
		})
	}
}
