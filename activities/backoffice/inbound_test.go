package backoffice_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
)

// Polling reads the whole feed page by page, signals each change once, and
// a second poll (or a repeat after Redis lost the cursor) signals nothing new.
func TestPollSignalsEachChangeOnce(t *testing.T) {
	ctx := context.Background()
	h, r := highways(t, time.Minute)
	rs := redistest.Start(t)
	var mu sync.Mutex
	got := map[string]int{}
	var last cases.JobChange
	in := &backoffice.Inbound{System: "highways", Connector: r, Map: config.Demo().BackOffices[0].StatusMap, Store: backoffice.NewStore(rs.Client(), "cb:"),
		Signal: func(_ context.Context, ref string, ch cases.JobChange) error {
			mu.Lock()
			defer mu.Unlock()
			got[ch.ID]++
			last = ch
			return nil
		}}
	for i := range 30 {
		job := pothole
		job.Ref = fmt.Sprintf("CB-%04d", i)
		if _, err := r.Create(ctx, job, job.Ref); err != nil {
			t.Fatal(err)
		}
	}
	h.Advance(time.Now().Add(5 * time.Minute)) // 30 jobs × 4 statuses: 120 changes, 3 pages
	n, err := in.Poll(ctx)
	if err != nil || n != 120 {
		t.Fatalf("Poll = %d, %v; want 120 changes", n, err)
	}
	if last.Code != "DONE" || last.Status != cases.StatusFixed {
		t.Errorf("last change %+v, want DONE mapped to fixed", last)
	}
	if n, err := in.Poll(ctx); err != nil || n != 0 {
		t.Errorf("second Poll = %d, %v; want nothing new", n, err)
	}
	rs.Client().Del(ctx, "cb:bo:cursor:highways")
	if n, err := in.Poll(ctx); err != nil || n != 0 {
		t.Errorf("Poll after the cursor was lost = %d, %v; want nothing new", n, err)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("change %s signalled %d times", id, k)
		}
	}
}
