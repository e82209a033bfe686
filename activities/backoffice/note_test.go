package backoffice_test

import (
	"context"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/activities/backoffice/sim"
)

// A note the system stores after the caller gave up is not stored again by
// the retry, which carries the same key, over both protocols; a system that
// ignores keys stores it twice, as the key is all that prevents it.
func TestNoteStoredOncePerKey(t *testing.T) {
	ctx := context.Background()
	hs, r := highways(t, time.Minute)
	ws, s := waste(t)
	type system interface {
		SetFaults(sim.Faults)
		Jobs() []sim.Job
	}
	for _, tt := range []struct {
		name    string
		sys     system
		conn    backoffice.Connector
		timeout *time.Duration
		job     backoffice.Job
	}{
		{"rest", hs, r, &r.Timeout, pothole},
		{"soap", ws, s, &s.Timeout, flytip},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := tt.conn.Create(ctx, tt.job, "k-notes")
			if err != nil {
				t.Fatal(err)
			}
			notes := func() []string {
				for _, j := range tt.sys.Jobs() {
					if j.ID == rec.ID {
						return j.Notes
					}
				}
				return nil
			}
			send := func(key string, faults sim.Faults) (first, retry error) {
				tt.sys.SetFaults(faults)
				*tt.timeout = 200 * time.Millisecond
				n := backoffice.Note{Text: "Resident says it is getting deeper", Public: true, Key: key}
				first = tt.conn.Note(ctx, rec.ID, n)
				time.Sleep(500 * time.Millisecond) // the slow note is stored meanwhile
				*tt.timeout = 2 * time.Second
				return first, tt.conn.Note(ctx, rec.ID, n)
			}
			first, retry := send("case-CB-7KQ2M9:note:5", sim.Faults{SlowNoteRate: 1, SlowNote: 400 * time.Millisecond})
			if first == nil || backoffice.Permanent(first) || retry != nil {
				t.Fatalf("slow note: first %v (want a retryable timeout), retry %v (want ok)", first, retry)
			}
			if got := notes(); len(got) != 1 {
				t.Errorf("notes after a timed-out note and its retry: %q, want it once", got)
			}
			send("case-CB-7KQ2M9:note:6", sim.Faults{SlowNoteRate: 1, SlowNote: 400 * time.Millisecond, IgnoreIdempotencyKey: true})
			if got := notes(); len(got) != 3 {
				t.Errorf("a system that ignores keys holds %d notes, want 3 (the second note twice)", len(got))
			}
		})
	}
}
