package readmodel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
)

func TestRequestsFilters(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	h := time.Hour
	project(t, s,
		newCase("CB-00000A", "pothole", "highways", t0),
		move(newCase("CB-00000B", "pothole", "highways", t0.Add(h)), cases.StatusFixed, t0.Add(6*h)),
		newCase("CB-00000C", "graffiti", "streetcare", t0.Add(2*h)),
		move(newCase("CB-00000D", "graffiti", "streetcare", t0.Add(3*h)), cases.StatusDuplicate, t0.Add(6*h)),
		move(newCase("CB-00000E", "bins", "waste", t0.Add(4*h)), cases.StatusWaitingOnCitizen, t0.Add(6*h)),
		newCase("CB-00000F", "pothole", "highways", t0.Add(5*h)),
	)
	for _, tc := range []struct {
		name string
		q    RequestQuery
		want string // refs' last letters, newest first
	}{
		{"everything", RequestQuery{}, "FEDCBA"},
		{"one service", RequestQuery{ServiceCodes: []string{"pothole"}}, "FBA"},
		{"two services", RequestQuery{ServiceCodes: []string{"pothole", "graffiti", "pothole"}}, "FDCBA"},
		{"unknown service", RequestQuery{ServiceCodes: []string{"streetlight"}}, ""},
		{"open", RequestQuery{Statuses: []string{"open"}}, "FECA"}, // waiting counts as open
		{"closed", RequestQuery{Statuses: []string{"closed"}}, "DB"},
		{"both families", RequestQuery{Statuses: []string{"CLOSED", "open"}}, "FEDCBA"},
		{"start inclusive", RequestQuery{Start: t0.Add(2 * h)}, "FEDC"},
		{"end inclusive", RequestQuery{End: t0.Add(2 * h)}, "CBA"},
		{"one instant", RequestQuery{Start: t0.Add(3 * h), End: t0.Add(3 * h)}, "D"},
		{"window between cases", RequestQuery{Start: t0.Add(time.Minute), End: t0.Add(59 * time.Minute)}, ""},
		{"service and status", RequestQuery{ServiceCodes: []string{"pothole"}, Statuses: []string{"closed"}}, "B"},
		{"all combined", RequestQuery{ServiceCodes: []string{"pothole", "graffiti"}, Statuses: []string{"open"}, Start: t0.Add(h), End: t0.Add(4 * h)}, "C"},
		{"limit", RequestQuery{Limit: 2}, "FE"},
		{"limit with filters", RequestQuery{Statuses: []string{"open"}, Limit: 3}, "FEC"},
		{"ids override", RequestQuery{IDs: []string{"CB-00000A", "CB-00000F", "CB-NOPE00", "CB-00000A"}, Statuses: []string{"closed"}, Limit: 1}, "FA"},
	} {
		got, err := s.Requests(ctx, tc.q)
		if err != nil {
			t.Errorf("%s: Requests(%+v): %v", tc.name, tc.q, err)
			continue
		}
		var b strings.Builder
		for _, c := range got {
			b.WriteString(strings.TrimPrefix(c.Ref, "CB-00000"))
		}
		if b.String() != tc.want {
			t.Errorf("%s: Requests(%+v) = %q, want %q", tc.name, tc.q, b.String(), tc.want)
		}
	}
	var in *cases.InputError
	if _, err := s.Requests(ctx, RequestQuery{Statuses: []string{"fixed"}}); !errors.As(err, &in) || in.Field != "status" {
		t.Errorf("Requests(status=fixed) error = %v, want an *InputError on status", err)
	}
}

// A bound inside a microsecond: scores are floored to it, the answer must not be.
func TestRequestsExactBounds(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	// Same microsecond; in a descending read B (the later one) comes first.
	project(t, s, newCase("CB-00000A", "pothole", "highways", t0), newCase("CB-00000B", "pothole", "highways", t0.Add(500)))
	for _, tc := range []struct {
		q    RequestQuery
		want []string
	}{
		{RequestQuery{End: t0, Limit: 1}, []string{"CB-00000A"}},
		{RequestQuery{Start: t0.Add(500)}, []string{"CB-00000B"}},
		{RequestQuery{Start: t0.Add(501)}, nil},
		{RequestQuery{Start: t0.Add(1), End: t0.Add(499)}, nil},
	} {
		got, err := s.Requests(ctx, tc.q)
		if err != nil || !slices.Equal(refsOf(got), tc.want) {
			t.Errorf("Requests(start %v, end %v) = %v, %v; want %v", tc.q.Start, tc.q.End, refsOf(got), err, tc.want)
		}
	}
}

// commandCounter counts commands by name, pipelines included.
type commandCounter struct{ hget atomic.Int64 }

func (h *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}
func (h *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.count(cmd)
		}
		return next(ctx, cmds)
	}
}
func (h *commandCounter) count(cmd redis.Cmder) {
	if cmd.Name() == "hget" {
		h.hget.Add(1)
	}
}

func TestRequestsLoadsOnlyWhatItReturns(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	for i := range 300 {
		code := []string{"pothole", "graffiti", "bins"}[i%3]
		c := newCase(fmt.Sprintf("CB-%06d", i), code, "highways", t0.Add(time.Duration(i)*time.Minute))
		if i%2 == 0 {
			move(c, cases.StatusFixed, t0.Add(time.Duration(i+1)*time.Minute))
		}
		project(t, s, c)
	}
	var hooks commandCounter
	rdb.AddHook(&hooks)
	got, err := s.Requests(ctx, RequestQuery{ServiceCodes: []string{"graffiti"}, Statuses: []string{"open"}, Limit: 10})
	if err != nil || len(got) != 10 {
		t.Fatalf("Requests = %d cases, %v; want 10", len(got), err)
	}
	for _, c := range got {
		if c.Service.Code != "graffiti" || c.Status.Closed() {
			t.Errorf("Requests(graffiti, open) returned %s, %s %s", c.Ref, c.Service.Code, c.Status)
		}
	}
	if n := hooks.hget.Load(); n != 10 {
		t.Errorf("Requests loaded %d cases to return 10; it should read the indexes, not filter loaded cases", n)
	}
}

// updatesFixture: two cases whose public updates interleave in time.
//
//	X-2 in_progress  t0+1h
//	X-3 internal comment (not public), X-4 the citizen's own comment (from FixMyStreet)
//	Y-2 comment      t0+2h
//	Y-3 waiting      t0+2h30 (published as investigating)
//	X-5 fixed        t0+3h
func updatesFixture(t *testing.T) (*Store, *cases.Case) {
	s, _ := newStore(t)
	x := newCase("CB-00000X", "pothole", "highways", t0)
	move(x, cases.StatusInProgress, t0.Add(time.Hour))
	x.Append(cases.Entry{At: t0.Add(90 * time.Minute), Actor: "agent", Kind: cases.KindComment, Note: "internal"})
	x.Append(cases.Entry{At: t0.Add(100 * time.Minute), Actor: "citizen", Kind: cases.KindComment, Note: "still there", Public: true, ExternalID: "fms-77"})
	move(x, cases.StatusFixed, t0.Add(3*time.Hour))
	y := newCase("CB-00000Y", "graffiti", "streetcare", t0.Add(30*time.Minute))
	y.Append(cases.Entry{At: t0.Add(2 * time.Hour), Actor: "agent", Kind: cases.KindComment, Note: "booked", Public: true})
	move(y, cases.StatusWaitingOnCitizen, t0.Add(150*time.Minute))
	project(t, s, x, y)
	return s, x
}

func updateIDs(us []cases.Update) []string {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = strings.TrimPrefix(u.ID, "CB-00000")
	}
	return ids
}

func TestUpdatesWindows(t *testing.T) {
	ctx := context.Background()
	s, _ := updatesFixture(t)
	h := time.Hour
	for _, tc := range []struct {
		start, end time.Time
		limit      int
		want       []string
	}{
		{time.Time{}, time.Time{}, 0, []string{"X-2", "Y-2", "Y-3", "X-5"}},
		{t0.Add(h), t0.Add(2 * h), 0, []string{"X-2", "Y-2"}},            // both bounds inclusive
		{t0.Add(2 * h), t0.Add(3 * h), 0, []string{"Y-2", "Y-3", "X-5"}}, // overlaps the one above: Y-2 again
		{t0.Add(2 * h), t0.Add(2 * h), 0, []string{"Y-2"}},
		{t0.Add(2*h + 1), t0.Add(3*h - 1), 0, []string{"Y-3"}},
		{t0.Add(4 * h), t0.Add(5 * h), 0, []string{}},
		{time.Time{}, time.Time{}, 2, []string{"X-2", "Y-2"}},
		{t0.Add(2 * h), time.Time{}, 1, []string{"Y-2"}},
	} {
		got, err := s.Updates(ctx, tc.start, tc.end, tc.limit)
		if err != nil || !slices.Equal(updateIDs(got), tc.want) {
			t.Errorf("Updates(%v, %v, %d) = %v, %v; want %v", tc.start, tc.end, tc.limit, updateIDs(got), err, tc.want)
		}
	}
	// The same windows again: nothing was consumed.
	again, err := s.Updates(ctx, t0.Add(h), t0.Add(2*h), 0)
	if err != nil || !slices.Equal(updateIDs(again), []string{"X-2", "Y-2"}) {
		t.Errorf("Updates asked twice = %v, %v", updateIDs(again), err)
	}

	all, _ := s.Updates(ctx, time.Time{}, time.Time{}, 0)
	want := cases.Update{ID: "CB-00000Y-3", Ref: "CB-00000Y", Status: cases.StatusInvestigating, At: t0.Add(150 * time.Minute), Description: "now waiting_on_citizen"}
	if len(all) != 4 || all[2] != want {
		t.Errorf("Updates()[2] = %+v, want %+v", all[2], want)
	}
}

func TestUpdatesReprojection(t *testing.T) {
	ctx := context.Background()
	s, x := updatesFixture(t)
	old := clone(t, x)
	move(x, cases.StatusInProgress, t0.Add(4*time.Hour)) // reopened: KindReopened is public
	for _, c := range []*cases.Case{x, x, old} {
		project(t, s, c)
	}
	got, err := s.Updates(ctx, time.Time{}, time.Time{}, 0)
	if want := []string{"X-2", "Y-2", "Y-3", "X-5", "X-6"}; err != nil || !slices.Equal(updateIDs(got), want) {
		t.Errorf("after re-projections, Updates() = %v, %v; want %v", updateIDs(got), err, want)
	}
}

// One workflow task can append several entries at the same instant; they must
// come out in timeline order, the 10th after the 9th.
func TestUpdatesSameInstantKeepTimelineOrder(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	c := newCase("CB-00000Z", "pothole", "highways", t0)
	for i := 2; i <= 12; i++ {
		at := t0.Add(time.Hour)
		if i <= 8 {
			at = t0.Add(time.Duration(i) * time.Minute)
		}
		c.Append(cases.Entry{At: at, Actor: "agent", Kind: cases.KindComment, Note: fmt.Sprint(i), Public: true})
	}
	project(t, s, c)
	got, err := s.Updates(ctx, t0.Add(time.Hour), t0.Add(time.Hour), 0)
	if want := []string{"Z-9", "Z-10", "Z-11", "Z-12"}; err != nil || !slices.Equal(updateIDs(got), want) {
		t.Errorf("Updates at one instant = %v, %v; want %v", updateIDs(got), err, want)
	}
}

func TestUpdatesExactBounds(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	c := newCase("CB-00000Z", "pothole", "highways", t0)
	c.Append(cases.Entry{At: t0.Add(time.Hour + 500), Actor: "agent", Kind: cases.KindComment, Note: "x", Public: true})
	project(t, s, c)
	for _, tc := range []struct {
		start, end time.Time
		n          int
	}{
		{t0, t0.Add(time.Hour), 0},
		{t0.Add(time.Hour + 500), time.Time{}, 1},
		{t0.Add(time.Hour + 501), time.Time{}, 0},
	} {
		if got, err := s.Updates(ctx, tc.start, tc.end, 1); err != nil || len(got) != tc.n {
			t.Errorf("Updates(%v, %v) = %v, %v; want %d", tc.start, tc.end, updateIDs(got), err, tc.n)
		}
	}
}
