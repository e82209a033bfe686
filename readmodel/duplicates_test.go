package readmodel

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

const month = 30 * 24 * time.Hour

func TestFindParentConcurrentReportsFindTheFirst(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	answers := make([]string, 40)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Within a few metres of each other.
			lat, long := 51.5007+float64(i)*0.000002, -0.1246 // 40 reports along 9 m
			p, err := s.FindParent(ctx, fmt.Sprintf("CB-D%02d", i), "SGN", lat, long, 25, t0.Add(time.Duration(i)*time.Second), month)
			if err != nil {
				t.Error(err)
			}
			answers[i] = p
		}()
	}
	wg.Wait()
	parents := map[string]int{}
	none := 0
	for _, a := range answers {
		if a == "" {
			none++
		} else {
			parents[a]++
		}
	}
	if none != 1 || len(parents) != 1 {
		t.Fatalf("answers %v: want one case with no parent and 39 linked to it", answers)
	}
	// A retry gets its first answer.
	for i, a := range answers {
		if p, _ := s.FindParent(ctx, fmt.Sprintf("CB-D%02d", i), "SGN", 51.5007, -0.1246, 25, t0, month); p != a {
			t.Fatalf("retry of CB-D%02d: %q, first answer %q", i, p, a)
		}
	}
	// Another service, or farther than the radius, is not linked.
	if p, _ := s.FindParent(ctx, "CB-OTHER", "VEG", 51.5007, -0.1246, 25, t0, month); p != "" {
		t.Errorf("another service linked to %s", p)
	}
	if p, _ := s.FindParent(ctx, "CB-FAR", "SGN", 51.5030, -0.1246, 25, t0, month); p != "" {
		t.Errorf("a report 250 m away linked to %s", p)
	}
	// Outside the window, the old case is not a parent.
	if p, _ := s.FindParent(ctx, "CB-LATER", "SGN", 51.5007, -0.1246, 25, t0.Add(2*month), month); p != "" {
		t.Errorf("a report two months later linked to %s", p)
	}
}

// The look-up works from the geo index the projections keep: after Redis is
// lost and reindex rebuilds the read model, an open case is found again, a
// closed one is not.
func TestFindParentAfterReindex(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	open := newCase("CB-OPEN1", "SGN", "highways", t0)
	closed := place(newCase("CB-SHUT1", "SGN", "highways", t0), 51.5100, -0.1246)
	closed = move(closed, cases.StatusFixed, t0.Add(time.Hour))
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*cases.Case{open, closed} {
		if err := s.Rebuild(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := s.FindParent(ctx, "CB-NEW01", "SGN", 51.50071, -0.1246, 25, t0.Add(time.Hour), month); err != nil || p != "CB-OPEN1" {
		t.Errorf("near the open case: %q, %v; want CB-OPEN1", p, err)
	}
	if p, _ := s.FindParent(ctx, "CB-NEW02", "SGN", 51.5100, -0.1246, 25, t0.Add(time.Hour), month); p != "" {
		t.Errorf("near the fixed case: %q, want none", p)
	}
}

// A parent's public updates reach each linked case's feed under its own
// reference, from the moment it was linked.
func TestDuplicateUpdatesReachTheChildFeed(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p := newCase("CB-PAR01", "SGN", "highways", t0)
	p.Append(cases.Entry{At: t0.Add(time.Minute), Actor: "staff:amy", Kind: cases.KindComment, Note: "Before the link", Public: true})
	p.Attach(cases.DuplicateLink{Child: "CB-KID01", Actor: "intake"}, t0.Add(2*time.Minute))
	p.Apply(cases.Change{To: cases.StatusFixed, Note: "Sign replaced", Public: true, Actor: "staff:amy"}, t0.Add(time.Hour))
	project(t, s, p)
	ups, err := s.Updates(ctx, t0, t0.Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var kid []cases.Update
	for _, u := range ups {
		if u.Ref == "CB-KID01" {
			kid = append(kid, u)
		}
	}
	if len(kid) != 1 || kid[0].Status != cases.StatusFixed || kid[0].ID != "CB-KID01-d4" {
		t.Fatalf("child's feed %+v, want one fixed update from after the link", kid)
	}
}
