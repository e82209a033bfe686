package backoffice_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/internal/redistest"
)

// Two limiters on one Redis (two workers) share a system's rate: 40 calls at
// 20 a second take about a second, whoever makes them.
func TestLimiterSharedAcrossWorkers(t *testing.T) {
	rs := redistest.Start(t)
	a, b := backoffice.NewLimiter(rs.Client(), "cb:"), backoffice.NewLimiter(rs.Client(), "cb:")
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 40 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Wait(context.Background(), "highways", 20); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// The first 20 pass at once (a second's burst), the next 20 over a second.
	if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
		t.Errorf("40 calls at 20/s took %v, want about a second", d)
	}
}
