package readmodel

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// listFixture is 14 cases spread over departments, services and statuses,
// received in pairs at the same instant (so ties need the ref to order them),
// some overdue at listNow, some due later, some with no due time.
var listNow = t0.Add(8 * time.Hour)

func listFixture(t *testing.T) (*Store, []*cases.Case) {
	s, _ := newStore(t)
	statuses := []cases.Status{cases.StatusOpen, cases.StatusInProgress, cases.StatusFixed,
		cases.StatusWaitingOnPartner, cases.StatusClosed, cases.StatusForTriage}
	var all []*cases.Case
	for i := range 14 {
		c := newCase(fmt.Sprintf("CB-0000%02d", i), []string{"pothole", "graffiti", "bins"}[i%3],
			[]string{"highways", "streetcare"}[i%2], t0.Add(time.Duration(i/2)*time.Hour))
		if i%3 != 0 {
			c.DueAt = t0.Add(time.Duration(i*7%12) * time.Hour)
		}
		if i == 5 {
			c.DueAt = listNow // due this instant: not overdue yet
		}
		if st := statuses[i%len(statuses)]; st != cases.StatusOpen {
			move(c, st, t0.Add(time.Duration(20-i)*time.Hour))
		}
		all = append(all, c)
	}
	project(t, s, all...)
	return s, all
}

// expectList is what List must return, worked out case by case.
func expectList(all []*cases.Case, q ListQuery) []string {
	var out []*cases.Case
	for _, c := range all {
		if (q.Status != "" && c.Status != q.Status) ||
			(q.Family != "" && c.Open311Status() != q.Family) ||
			(q.Department != "" && c.Department != q.Department) ||
			(q.ServiceCode != "" && c.Service.Code != q.ServiceCode) ||
			(q.Overdue && (c.Status.Closed() || c.DueAt.IsZero() || !c.DueAt.Before(q.Now))) ||
			(q.Search != "" && !containsAll(caseTerms(c), Terms(q.Search))) ||
			(q.Source != "" && c.Report().Source != q.Source) ||
			(q.Assignee != "" && !strings.EqualFold(c.Assignee, q.Assignee)) ||
			(q.Area != "" && !slices.Contains(bandAreas{}.Lookup(*c.Report().Location.Lat, *c.Report().Location.Long), q.Area)) ||
			(q.Escalation != "" && (c.Status.Closed() || c.Promise == nil || len(c.Promise.Escalations) == 0 ||
				(q.Escalation != "any" && c.Promise.Escalations[len(c.Promise.Escalations)-1].Level != q.Escalation))) ||
			(q.Scope != nil && !slices.Contains(q.Scope.Departments, c.Department) && (q.Scope.Assignee == "" || !strings.EqualFold(c.Assignee, q.Scope.Assignee))) {
			continue
		}
		out = append(out, c)
	}
	value := func(c *cases.Case) (time.Time, bool) {
		switch q.Sort {
		case SortUpdated:
			return c.UpdatedAt, true
		case SortDue:
			return c.DueAt, !c.DueAt.IsZero() && !c.Status.Closed()
		}
		return c.ReceivedAt, true
	}
	slices.SortFunc(out, func(a, b *cases.Case) int {
		va, oka := value(a)
		vb, okb := value(b)
		switch {
		case !oka || !okb:
			// No value: last, by ref, whichever the direction.
			return cmp.Or(cmp.Compare(boolInt(!oka), boolInt(!okb)), strings.Compare(a.Ref, b.Ref))
		case q.Desc:
			return cmp.Or(vb.Compare(va), strings.Compare(b.Ref, a.Ref))
		}
		return cmp.Or(va.Compare(vb), strings.Compare(a.Ref, b.Ref))
	})
	return refsOf(out)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// bandAreas puts a point in "north" or "south" of latitude 51.5, and in
// "centre" too within 0.05° of it.
type bandAreas struct{}

func (bandAreas) Lookup(lat, long float64) []string {
	var out []string
	if lat >= 51.5 {
		out = append(out, "north")
	} else {
		out = append(out, "south")
	}
	if lat > 51.45 && lat < 51.55 {
		out = append(out, "centre")
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestListFiltersAndSorts(t *testing.T) {
	ctx := context.Background()
	s, all := listFixture(t)
	queries := []ListQuery{
		{},
		{Desc: true},
		{Sort: SortUpdated, Desc: true},
		{Sort: SortUpdated},
		{Sort: SortDue},
		{Sort: SortDue, Desc: true},
		{Department: "highways"},
		{Department: "highways", Desc: true, Sort: SortUpdated},
		{Status: cases.StatusInProgress},
		{Family: "closed"},
		{Family: "open", Sort: SortDue},
		{ServiceCode: "pothole"},
		{ServiceCode: "pothole", Family: "open"},
		{ServiceCode: "graffiti", Department: "streetcare", Sort: SortUpdated},
		{Overdue: true, Now: listNow, Sort: SortDue},
		{Overdue: true, Now: listNow, Sort: SortDue, Desc: true},
		{Overdue: true, Now: listNow},
		{Overdue: true, Now: listNow, Department: "streetcare", Sort: SortUpdated, Desc: true},
		{Overdue: true, Now: listNow, Status: cases.StatusForTriage},
		{Overdue: true, Now: listNow, Department: "streetcare", Sort: SortDue},
		{Overdue: true, Now: listNow, Department: "streetcare", Sort: SortDue, Desc: true},
		{Department: "highways", Sort: SortDue},
		{Department: "streetcare", Sort: SortDue, Desc: true},
		{Department: "waste", Sort: SortDue},
		{Department: "highways", Family: "open", Sort: SortDue, Desc: true},
		{Status: cases.StatusFixed, Department: "streetcare", ServiceCode: "bins"},
		{Department: "waste"},
	}
	for _, q := range queries {
		want := expectList(all, q)
		q.Limit = 100
		page, err := s.List(ctx, q)
		if err != nil {
			t.Errorf("List(%+v): %v", q, err)
			continue
		}
		if got := refsOf(page.Cases); !slices.Equal(got, want) || page.Total != int64(len(want)) || page.Next != "" {
			t.Errorf("List(%+v) = %v (total %d, next %q)\nwant %v (total %d, no next)", q, got, page.Total, page.Next, want, len(want))
		}
	}

	// A few worked out by hand, so expectList is not the only judge.
	for _, tc := range []struct {
		q    ListQuery
		want []string
	}{
		// Open, due before 08:00: 07 (01:00), 11 (05:00), then 01 and 13 (both 07:00, by ref).
		{ListQuery{Overdue: true, Now: listNow, Sort: SortDue}, []string{"CB-000007", "CB-000011", "CB-000001", "CB-000013"}},
		{ListQuery{Overdue: true, Now: listNow, Sort: SortDue, Desc: true}, []string{"CB-000013", "CB-000001", "CB-000011", "CB-000007"}},
		// For triage: 05 (due 08:00, now) and 11 (due 05:00); only 11 is overdue.
		{ListQuery{Overdue: true, Now: listNow, Status: cases.StatusForTriage}, []string{"CB-000011"}},
		{ListQuery{Overdue: true, Now: listNow, Department: "streetcare", Sort: SortDue}, []string{"CB-000007", "CB-000011", "CB-000001", "CB-000013"}},
		{ListQuery{Department: "highways", Status: cases.StatusOpen, Desc: true}, []string{"CB-000012", "CB-000006", "CB-000000"}},
		// Streetcare by due: 07 (01:00), 11 (05:00), 01 and 13 (07:00), 05
		// (08:00); then 03 and 09, which have no due time, by ref whichever the
		// direction.
		{ListQuery{Department: "streetcare", Sort: SortDue}, []string{"CB-000007", "CB-000011", "CB-000001", "CB-000013", "CB-000005", "CB-000003", "CB-000009"}},
		{ListQuery{Department: "streetcare", Sort: SortDue, Desc: true}, []string{"CB-000005", "CB-000013", "CB-000001", "CB-000011", "CB-000007", "CB-000003", "CB-000009"}},
		// Highways has no open case with a due time: all by ref.
		{ListQuery{Department: "highways", Sort: SortDue, Desc: true}, []string{"CB-000000", "CB-000002", "CB-000004", "CB-000006", "CB-000008", "CB-000010", "CB-000012"}},
		// Closed cases have no due time to sort by: by ref.
		{ListQuery{Family: "closed", Sort: SortDue, Desc: true}, []string{"CB-000002", "CB-000004", "CB-000008", "CB-000010"}},
	} {
		page, err := s.List(ctx, tc.q)
		if got := refsOf(page.Cases); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("List(%+v) = %v, %v; want %v", tc.q, got, err, tc.want)
		}
	}
}

func TestListPaging(t *testing.T) {
	ctx := context.Background()
	s, all := listFixture(t)
	for _, q := range []ListQuery{
		{Desc: true},    // one sorted set
		{Sort: SortDue}, // scan, with cases that have no due time
		{Department: "highways", Sort: SortUpdated}, // scan
		{Overdue: true, Now: listNow, Sort: SortDue, Desc: true},
		{Department: "streetcare", Sort: SortDue},                              // department due index, then the rest
		{Department: "highways", Sort: SortDue, Desc: true},                    // mostly the rest
		{Department: "streetcare", Overdue: true, Now: listNow, Sort: SortDue}, // department due index
	} {
		want := expectList(all, q)
		for _, byCursor := range []bool{true, false} {
			var got []string
			q := q
			q.Limit = 3
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatalf("List(%+v) pages never end", q)
				}
				page, err := s.List(ctx, q)
				if err != nil {
					t.Fatalf("List(%+v): %v", q, err)
				}
				if page.Total != int64(len(want)) {
					t.Errorf("List(%+v).Total = %d, want %d", q, page.Total, len(want))
				}
				got = append(got, refsOf(page.Cases)...)
				if page.Next == "" {
					break
				}
				if byCursor {
					q.Cursor = page.Next
				} else {
					q.Offset += q.Limit
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("List(%+v) paged by cursor=%v = %v, want %v", q, byCursor, got, want)
			}
		}
	}
}

func TestListCursorSurvivesChanges(t *testing.T) {
	ctx := context.Background()
	later := t0.Add(99 * time.Hour)
	// A new case that sorts first would shift every offset by one.
	addNewest := func(_ []*cases.Case, _ []string) *cases.Case {
		c := newCase("CB-000099", "pothole", "highways", later)
		c.DueAt = later
		c.Append(cases.Entry{At: later, Actor: "agent", Kind: cases.KindComment})
		return c
	}
	// The cursor's own case is worked on and leaves its place.
	moveCursorCase := func(all []*cases.Case, listed []string) *cases.Case {
		i := slices.IndexFunc(all, func(c *cases.Case) bool { return c.Ref == listed[2] })
		all[i].Append(cases.Entry{At: later, Actor: "agent", Kind: cases.KindComment})
		return all[i]
	}
	for _, tc := range []struct {
		q      ListQuery
		change func(all []*cases.Case, listed []string) *cases.Case
	}{
		{ListQuery{Desc: true}, addNewest},                                     // one sorted set
		{ListQuery{Desc: true, Department: "highways"}, addNewest},             // one sorted set
		{ListQuery{Desc: true, Sort: SortDue}, addNewest},                      // scan
		{ListQuery{Desc: true, Family: "open", Sort: SortUpdated}, addNewest},  // scan
		{ListQuery{Sort: SortUpdated}, moveCursorCase},                         // one sorted set
		{ListQuery{Sort: SortUpdated, Department: "highways"}, moveCursorCase}, // scan
		{ListQuery{Sort: SortDue, Department: "highways"}, addNewest},          // department due index and the rest
		{ListQuery{Sort: SortDue, Department: "streetcare", Desc: true}, addNewest},
	} {
		s, all := listFixture(t)
		q := tc.q
		q.Limit = 3
		listed := expectList(all, q)
		first, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		project(t, s, tc.change(all, listed))
		q.Cursor = first.Next
		second, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := refsOf(second.Cases); !slices.Equal(got, listed[3:6]) {
			t.Errorf("List(%+v) after a change = %v, want %v", q, got, listed[3:6])
		}
	}
}

func TestListRejectsBadQueries(t *testing.T) {
	ctx := context.Background()
	s, _ := listFixture(t)
	page, err := s.List(ctx, ListQuery{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for field, q := range map[string]ListQuery{
		"status": {Status: "resolved"},
		"family": {Family: "fixed"},
		"sort":   {Sort: "priority"},
		"now":    {Overdue: true},
		"offset": {Offset: -1},
		"cursor": {Cursor: page.Next, Desc: true}, // made for ascending
	} {
		_, err := s.List(ctx, q)
		var in *cases.InputError
		if !errors.As(err, &in) || in.Field != field {
			t.Errorf("List(%+v) error = %v, want an *InputError on %s", q, err, field)
		}
	}
	for _, bad := range []string{"%%%", "received", "received|false|soon|CB-000001", "received|false||CB-000001", "received|false|1|"} {
		enc := base64.RawURLEncoding.EncodeToString([]byte(bad))
		if _, err := s.List(ctx, ListQuery{Cursor: enc}); err == nil {
			t.Errorf("List(cursor %q) succeeded", bad)
		}
	}
}

// A department's queue by due time comes from its own due index, then its
// cases without a due time by ref: here received in the opposite order, so
// an order by received would show.
func TestListDepartmentByDue(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var all []*cases.Case
	for i, ref := range []string{"CB-0000D5", "CB-0000D4", "CB-0000D3", "CB-0000D2", "CB-0000D1"} {
		all = append(all, newCase(ref, "pothole", "parks", t0.Add(time.Duration(i)*time.Minute)))
	}
	all[1].DueAt = t0.Add(2 * time.Hour) // D4
	all[3].DueAt = t0.Add(time.Hour)     // D2
	all[4].DueAt = t0.Add(3 * time.Hour) // D1, then fixed: no longer due
	move(all[4], cases.StatusFixed, t0.Add(time.Hour))
	other := newCase("CB-0000E1", "pothole", "highways", t0) // another department's
	other.DueAt = t0
	project(t, s, append(all, other)...)

	for _, tc := range []struct {
		q    ListQuery
		want []string
	}{
		{ListQuery{Department: "parks", Sort: SortDue}, []string{"CB-0000D2", "CB-0000D4", "CB-0000D1", "CB-0000D3", "CB-0000D5"}},
		{ListQuery{Department: "parks", Sort: SortDue, Desc: true}, []string{"CB-0000D4", "CB-0000D2", "CB-0000D1", "CB-0000D3", "CB-0000D5"}},
		{ListQuery{Department: "parks", Sort: SortDue, Overdue: true, Now: t0.Add(90 * time.Minute)}, []string{"CB-0000D2"}},
	} {
		if want := expectList(append(all, other), tc.q); !slices.Equal(want, tc.want) {
			t.Fatalf("expectList(%+v) = %v, the hand-worked %v", tc.q, want, tc.want)
		}
		// Whole, then a case at a time by cursor (resuming inside the rest too).
		for _, limit := range []int{10, 1} {
			q := tc.q
			q.Limit = limit
			var got []string
			for range 10 {
				page, err := s.List(ctx, q)
				if err != nil {
					t.Fatalf("List(%+v): %v", q, err)
				}
				if page.Total != int64(len(tc.want)) {
					t.Errorf("List(%+v).Total = %d, want %d", q, page.Total, len(tc.want))
				}
				got = append(got, refsOf(page.Cases)...)
				if q.Cursor = page.Next; q.Cursor == "" {
					break
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%+v) = %v, want %v", q, got, tc.want)
			}
		}
	}
}

// A department's open and Overdue lists by last update walk the department's
// own index of open cases by last update: it must follow every projection
// (a transfer, a close, a reopen, an update) and be rebuilt by reindex.
func TestListDepartmentOpenByUpdateFollowsProjections(t *testing.T) {
	ctx := context.Background()
	s, all := listFixture(t)
	byRef := map[string]*cases.Case{}
	for _, c := range all {
		byRef[c.Ref] = c
	}
	// 07: open and overdue in streetcare, transferred to highways.
	byRef["CB-000007"].Department = "highways"
	move(byRef["CB-000007"], cases.StatusInvestigating, listNow.Add(-time.Minute))
	// 11: open and overdue in streetcare, closed.
	move(byRef["CB-000011"], cases.StatusClosed, listNow.Add(-2*time.Minute))
	// 04: closed in highways with a due time past, reopened.
	move(byRef["CB-000004"], cases.StatusInProgress, listNow.Add(-3*time.Minute))
	// 13: overdue in streetcare, updated after 01 was (t0+19h): it moves
	// ahead of 01.
	move(byRef["CB-000013"], cases.StatusWaitingOnPartner, t0.Add(20*time.Hour))
	project(t, s, byRef["CB-000007"], byRef["CB-000011"], byRef["CB-000004"], byRef["CB-000013"])

	// Worked out by hand, so expectList is not the only judge: highways'
	// overdue by last update, newest first, is 07 (transferred) and 04
	// (reopened); streetcare's is 13 (updated), then 01; 11 is closed.
	check := func(when string) {
		t.Helper()
		for _, tc := range []struct {
			q    ListQuery
			want []string
		}{
			{ListQuery{Department: "highways", Overdue: true, Now: listNow, Sort: SortUpdated, Desc: true}, []string{"CB-000007", "CB-000004"}},
			{ListQuery{Department: "streetcare", Overdue: true, Now: listNow, Sort: SortUpdated, Desc: true}, []string{"CB-000013", "CB-000001"}},
		} {
			if want := expectList(all, tc.q); !slices.Equal(want, tc.want) {
				t.Fatalf("expectList(%+v) = %v, the hand-worked %v", tc.q, want, tc.want)
			}
		}
		for _, dept := range []string{"highways", "streetcare", "waste"} {
			for _, q := range []ListQuery{
				{Department: dept, Overdue: true, Now: listNow, Sort: SortUpdated, Desc: true},
				{Department: dept, Overdue: true, Now: listNow, Sort: SortUpdated},
				{Department: dept, Family: "open", Sort: SortUpdated, Desc: true},
				{Department: dept, Family: "open", Overdue: true, Now: listNow, Sort: SortUpdated},
				{Department: dept, Family: "closed", Sort: SortUpdated},
				{Department: dept, ServiceCode: "pothole", Overdue: true, Now: listNow, Sort: SortUpdated, Desc: true},
			} {
				want := expectList(all, q)
				// Whole, then a case at a time by cursor.
				for _, limit := range []int{100, 1} {
					q.Limit = limit
					var got []string
					for range 20 {
						page, err := s.List(ctx, q)
						if err != nil {
							t.Fatalf("%s: List(%+v): %v", when, q, err)
						}
						if page.Total != int64(len(want)) {
							t.Errorf("%s: List(%+v).Total = %d, want %d", when, q, page.Total, len(want))
						}
						got = append(got, refsOf(page.Cases)...)
						if q.Cursor = page.Next; q.Cursor == "" {
							break
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s: List(%+v) = %v, want %v", when, q, got, want)
					}
				}
			}
		}
	}
	check("projected")

	// Lost, or part-built (as on a read model older than the index while
	// reindex runs): the lists read every case by last update until reindex
	// has rebuilt it.
	if err := s.rdb.Del(ctx, s.departmentOpenUpdatedKey("highways")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.ZRem(ctx, s.departmentOpenUpdatedKey("streetcare"), "CB-000001").Err(); err != nil {
		t.Fatal(err)
	}
	check("lost")
	if _, err := s.RebuildStored(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("reindexed")
}

// The overdue cases by last update (lateKey) follow the projections and the
// clock: a sweep puts in the cases that fell due, a projection moves a case's
// place when it is updated and takes it out when it closes, pauses or falls
// due later, and a list asked with an earlier "now" than the sweep's (another
// api's clock) still answers only what was overdue then.
func TestListOverdueByUpdateFollowsProjectionsAndClock(t *testing.T) {
	ctx := context.Background()
	s, all := findingFixture(t, 300)
	// What lateKey must hold once swept to bound: every open case due by
	// then, scored by its last update.
	holds := func(bound time.Time) {
		t.Helper()
		got, err := s.rdb.ZRangeWithScores(ctx, s.lateKey(), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]float64{}
		for _, z := range got {
			have[z.Member.(string)] = z.Score
		}
		want := map[string]float64{}
		for _, c := range all {
			if !c.Status.Closed() && !c.DueAt.IsZero() && !c.DueAt.After(bound) {
				want[c.Ref] = score(c.UpdatedAt)
			}
		}
		if !maps.Equal(have, want) || len(want) == 0 {
			t.Errorf("lateKey holds %d cases, want the %d open cases due by %s", len(have), len(want), bound)
		}
	}
	agrees := func(now time.Time) {
		t.Helper()
		for _, q := range []ListQuery{
			{Overdue: true, Now: now, Sort: SortUpdated, Desc: true},
			{Overdue: true, Now: now, Sort: SortUpdated, Search: "pothole"},
			{Overdue: true, Now: now, Sort: SortUpdated, Desc: true, Area: "north", Family: "open"},
		} {
			want := expectList(all, q)
			q.Limit = 7
			var got []string
			for {
				p, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != int64(len(want)) {
					t.Errorf("List(%+v) total %d, want %d", q, p.Total, len(want))
				}
				got = append(got, refsOf(p.Cases)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("List(%+v) = %v, want %v", q, got, want)
			}
		}
	}
	late := t0.Add(200 * time.Minute)
	agrees(late) // the first sweep puts every overdue case in
	holds(late.Add(-time.Microsecond))
	agrees(t0.Add(100 * time.Minute)) // an earlier clock: more held than overdue then

	// Cases change: one overdue closes, one is updated, one falls due later,
	// one is paused, and a new one already overdue arrives.
	var changed []*cases.Case
	n := 0
	for _, c := range all {
		if c.Status.Closed() || c.DueAt.IsZero() || !c.DueAt.Before(late) {
			continue
		}
		at := late.Add(-time.Duration(n+1) * time.Minute)
		switch n {
		case 0:
			move(c, cases.StatusFixed, at)
		case 1:
			move(c, cases.StatusInvestigating, at)
		case 2:
			c.DueAt = late.Add(time.Hour)
			move(c, cases.StatusInProgress, at)
		case 3:
			move(c, cases.StatusWaitingOnCitizen, at)
			c.DueAt = time.Time{}
		}
		changed = append(changed, c)
		if n++; n == 4 {
			break
		}
	}
	fresh := newCase("CB-09999", "svc1", "parks", t0)
	fresh.DueAt = t0.Add(time.Minute)
	all = append(all, fresh)
	project(t, s, append(changed, fresh)...)
	holds(late.Add(-time.Microsecond))
	agrees(late)
	// The clock moves on: the next sweep adds what fell due since.
	later := t0.Add(300 * time.Minute)
	agrees(later)
	holds(later.Add(-time.Microsecond))
}
