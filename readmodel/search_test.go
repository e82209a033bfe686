package readmodel

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

func TestTerms(t *testing.T) {
	for in, want := range map[string][]string{
		"CB-7KQ2M9":                          {"cb", "7kq2m9"},
		"Pothole on the HIGH Street, 4 deep": {"pothole", "high", "street", "4", "deep"},
		"Café Rouge — Ærø's pothole pothole": {"cafe", "rouge", "ærø", "pothole"},
		"the a of": nil,
	} {
		if got := Terms(in); !slices.Equal(got, want) {
			t.Errorf("Terms(%q) = %q, want %q", in, got, want)
		}
	}
}

var searchWords = []string{"pothole", "drain", "blocked", "lamp", "flickering", "graffiti", "bins", "overflowing", "tree", "fallen"}
var streets = []string{"High Street", "Mill Lane", "Church Road", "Station Approach", "Acacia Avenue"}
var people = [][2]string{{"Ada", "Lovelace"}, {"Grace", "Hopper"}, {"Alan", "Turing"}, {"Mary", "Somerville"}}

// findingFixture is n cases with words, streets, reporters, sources,
// assignees, areas and escalations drawn at random.
func findingFixture(t *testing.T, n int) (*Store, []*cases.Case) {
	s, _ := newStore(t)
	s.UseAreas(bandAreas{})
	r := rand.New(rand.NewPCG(11, 12))
	var all []*cases.Case
	for i := range n {
		c := newCase(fmt.Sprintf("CB-%05d", i), fmt.Sprintf("svc%d", r.IntN(3)), []string{"highways", "streetcare", "parks"}[r.IntN(3)],
			t0.Add(time.Duration(r.IntN(200))*time.Minute))
		place(c, 51.3+r.Float64()*0.4, -0.2)
		rep := &c.Reports[0]
		rep.Description = searchWords[r.IntN(len(searchWords))] + " and " + searchWords[r.IntN(len(searchWords))] + " by the " + streets[r.IntN(len(streets))] + ", reported"
		rep.Location.Address = fmt.Sprintf("%d %s", 1+r.IntN(40), streets[r.IntN(len(streets))])
		p := people[r.IntN(len(people))]
		rep.Reporter.FirstName, rep.Reporter.LastName = p[0], p[1]
		rep.Source = []cases.Source{cases.SourceFixMyStreet, cases.SourcePhone, cases.SourceWeb}[r.IntN(3)]
		if r.IntN(3) > 0 {
			c.DueAt = t0.Add(time.Duration(r.IntN(400)) * time.Minute)
		}
		if r.IntN(3) == 0 {
			c.Assignee = []string{"amy", "Bob", "roads-team"}[r.IntN(3)]
		}
		if r.IntN(4) == 0 {
			c.Promise = &cases.Promise{Policy: "p", Version: 1}
			for l := range 1 + r.IntN(2) {
				c.Promise.Escalations = append(c.Promise.Escalations, cases.Escalation{Seq: l + 1, Level: []string{"warn", "breach"}[l]})
			}
		}
		switch r.IntN(4) {
		case 0:
			move(c, cases.StatusFixed, c.ReceivedAt.Add(time.Duration(1+r.IntN(100))*time.Minute))
		case 1:
			move(c, cases.StatusInProgress, c.ReceivedAt.Add(time.Duration(1+r.IntN(100))*time.Minute))
		}
		all = append(all, c)
	}
	project(t, s, all...)
	return s, all
}

// Search and the new filters, alone and with the old ones, in every order,
// answer what the cases say, walking or intersecting, a page at a time by
// offset and by cursor.
func TestListFindingAgreesWithTheCases(t *testing.T) {
	ctx := context.Background()
	s, all := findingFixture(t, 300)
	now := t0.Add(200 * time.Minute)
	base := []ListQuery{
		{Search: "pothole"},
		{Search: "Pothole high street"},
		{Search: "LOVELACE"},
		{Search: "cb-00042"},
		{Search: "mill", Family: "open"},
		{Search: "drain", Department: "parks", Sort: SortDue},
		{Area: "north"},
		{Area: "centre", Family: "open", Overdue: true, Now: now},
		{Escalation: "any"},
		{Escalation: "breach", Department: "highways"},
		{Source: cases.SourcePhone, Family: "closed"},
		{Assignee: "AMY"},
		{Assignee: "roads-team", Overdue: true, Now: now, Sort: SortDue},
		{Family: "open", Department: "streetcare"},
		{Family: "open", Department: "streetcare", Sort: SortDue},
		{Family: "open", Sort: SortDue},
		{Family: "open", Sort: SortUpdated},
		{Department: "parks", Overdue: true, Now: now, Sort: SortUpdated},
		{Source: cases.SourceWeb, Area: "south", Search: "lamp", Status: cases.StatusOpen},
		{Search: "pothole", Overdue: true, Now: now},
		{Search: "mill lane", Department: "highways", Overdue: true, Now: now, Sort: SortUpdated},
		{Area: "north", Department: "parks", Family: "open", Overdue: true, Now: now},
		{Source: cases.SourcePhone, ServiceCode: "svc1", Family: "open", Overdue: true, Now: now},
		{Escalation: "any", Department: "streetcare", Sort: SortDue},
		// A word in every case filters nothing: it is left out of the sets,
		// but never left with no set at all.
		{Search: "reported"},
		{Search: "reported pothole", Family: "open"},
		{Search: "reported", Overdue: true, Now: now, Sort: SortUpdated},
		{Search: "reported mill", Overdue: true, Now: now, Sort: SortUpdated},
		// A scope of one department is answered as that department; with
		// someone's assigned cases, through a union.
		{Family: "open", Overdue: true, Now: now, Sort: SortDue, Scope: &Scope{Departments: []string{"parks"}, Assignee: "nobody"}},
		{Family: "open", Department: "highways", Scope: &Scope{Departments: []string{"parks"}}},
		{Search: "pothole", Scope: &Scope{Departments: []string{"parks"}, Assignee: "amy"}},
		{Family: "open", Overdue: true, Now: now, Sort: SortDue, Scope: &Scope{Departments: []string{"parks"}, Assignee: "amy"}},
	}
	var queries []ListQuery
	for _, q := range base {
		for _, sortBy := range []SortField{q.Sort, SortReceived, SortUpdated, SortDue} {
			for _, desc := range []bool{false, true} {
				q := q
				q.Sort, q.Desc = sortBy, desc
				queries = append(queries, q)
			}
		}
	}
	paged := 0
	// Walking the order (an Overdue list's filters intersected at once, or
	// counted from Lua), walking it but giving up after a chunk (the
	// intersection then answers), and intersecting at once.
	modes := []struct {
		walk       bool
		cap, build int
	}{{true, -1, CountLimit}, {true, -1, 0}, {true, 0, 0}, {false, -1, CountLimit}}
	for _, mode := range modes {
		walk := mode.walk
		listWalk, listWalkCap, listOverdueBuild = mode.walk, mode.cap, mode.build
		for _, q := range queries {
			want := expectList(all, q)
			if len(want) > 7 {
				paged++
			}
			q.Limit = 7
			// By cursor.
			var got []string
			for page := 0; ; page++ {
				p, err := s.List(ctx, q)
				if err != nil {
					t.Fatalf("List(%+v): %v", q, err)
				}
				if p.Total != int64(len(want)) {
					t.Errorf("walk %t: List(%+v) total %d, want %d", walk, q, p.Total, len(want))
				}
				got = append(got, refsOf(p.Cases)...)
				if p.Next == "" || page > 60 {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, want) {
				t.Errorf("walk %t: List(%+v) by cursor = %v\nwant %v", walk, q, got, want)
			}
			// By page number.
			q.Cursor, got = "", nil
			for q.Offset = 0; q.Offset < len(want)+7; q.Offset += 7 {
				p, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, refsOf(p.Cases)...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("walk %t: List(%+v) by offset = %v\nwant %v", walk, q, got, want)
			}
		}
	}
	listWalk, listWalkCap, listOverdueBuild = true, -1, 4*CountLimit
	if paged/len(modes) < len(queries)/2 {
		t.Errorf("only %d of %d queries run to a second page: the fixture is too thin", paged/len(modes), len(queries))
	}

	// Past the count limit a total is a floor, and every page is still there;
	// so too an Overdue list counted as it is walked. Overdue alone is one
	// range of the due index, counted in full.
	countLimit, listOverdueBuild = 10, 0
	for _, tc := range []struct {
		q     ListQuery
		floor bool
	}{
		{ListQuery{Search: "pothole", Family: "open", Limit: 7}, true},
		{ListQuery{Search: "pothole", Overdue: true, Now: now, Sort: SortDue, Desc: true, Limit: 7}, true},
		{ListQuery{Family: "open", Overdue: true, Now: now, Limit: 7}, false},
		// An agent's overdue cases: their department's alone reach the limit.
		{ListQuery{Family: "open", Overdue: true, Now: now, Sort: SortDue, Limit: 7, Scope: &Scope{Departments: []string{"parks"}, Assignee: "amy"}}, true},
	} {
		q := tc.q
		want := expectList(all, q)
		var got []string
		for {
			p, err := s.List(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if tc.floor && (p.Total != 10 || !p.AtLeast) {
				t.Errorf("List(%+v) counted to %d (at least: %t), want 10 at least of %d", q, p.Total, p.AtLeast, len(want))
			}
			if !tc.floor && (p.Total != int64(len(want)) || p.AtLeast) {
				t.Errorf("List(%+v) counted to %d (at least: %t), want all %d", q, p.Total, p.AtLeast, len(want))
			}
			got = append(got, refsOf(p.Cases)...)
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		if len(want) <= 10 || !slices.Equal(got, want) {
			t.Errorf("List(%+v) past the count limit: %d cases by cursor, want %d", q, len(got), len(want))
		}
	}
	countLimit, listOverdueBuild = CountLimit, 4*CountLimit

	// A search of only common words is refused, naming q.
	if _, err := s.List(ctx, ListQuery{Search: "the of"}); !isInputError(err, "q") {
		t.Errorf("a search for nothing: %v", err)
	}

	// A case's words follow it: a new description replaces the old words.
	c := all[0]
	c.Reports[0].Description = "zebra crossing faded"
	c.Reports[0].Location.Address, c.Reports[0].Reporter.FirstName, c.Reports[0].Reporter.LastName = "", "", ""
	c.Append(cases.Entry{At: c.UpdatedAt.Add(time.Minute), Actor: "agent", Kind: cases.KindComment, Note: "typo fixed"})
	project(t, s, c)
	for q, n := range map[string]int{"zebra": 1, "zebra faded": 1, "zebra pothole": 0} {
		p, err := s.List(ctx, ListQuery{Search: q})
		if err != nil || len(p.Cases) != n {
			t.Errorf("search %q: %d cases, %v; want %d", q, len(p.Cases), err, n)
		}
	}
}

func isInputError(err error, field string) bool {
	var ie *cases.InputError
	return errors.As(err, &ie) && ie.Field == field
}

// Indexes added after cases were stored (search words, areas) are built from
// the stored snapshots, without Temporal.
func TestRebuildStored(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	var all []*cases.Case
	for i := range 1200 {
		c := newCase(fmt.Sprintf("CB-%05d", i), "svc", "highways", t0.Add(time.Duration(i)*time.Second))
		c.Reports[0].Description = "pothole"
		all = append(all, c)
	}
	project(t, s, all...)
	// An older read model: no word sets, and no areas filed.
	if err := rdb.Del(ctx, s.termKey("pothole")).Err(); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.List(ctx, ListQuery{Search: "pothole"}); p.Total != 0 {
		t.Fatalf("the words are still there: %d", p.Total)
	}
	s.UseAreas(bandAreas{})
	var batches, total int
	n, err := s.RebuildStored(ctx, func(done, of int) { batches, total = batches+1, of })
	if err != nil || n != 1200 || batches != 3 || total != 1200 {
		t.Fatalf("RebuildStored = %d, %v after %d batches of %d", n, err, batches, total)
	}
	for q, want := range map[ListQuery]int64{{Search: "pothole"}: 1200, {Area: "north"}: 1200, {Area: "centre"}: 1200} {
		if p, err := s.List(ctx, q); err != nil || p.Total != want {
			t.Errorf("List(%+v) = %d, %v; want %d", q, p.Total, err, want)
		}
	}
}

// A word of an address, a name or the reference is found by its start; a
// description's words only whole. No key name holds a word: the word sets
// are named by a keyed hash, and another key names other sets.
func TestSearchByStartsAndKeyedNames(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	c := newCase("CB-7KQ2M9", "svc", "highways", t0)
	c.Reports[0].Location.Address = "12 Acacia Avenue"
	c.Reports[0].Reporter.FirstName, c.Reports[0].Reporter.LastName = "Ada", "Lovelace"
	c.Reports[0].Description = "Pothole by the kerb"
	other := newCase("CB-000002", "svc", "highways", t0.Add(time.Minute))
	other.Reports[0].Location.Address = "3 Mill Lane"
	project(t, s, c, other)
	for q, want := range map[string]int64{
		"acac": 1, "Acacia": 1, "ACACIA avenue": 1, "aca": 1, "acaciaz": 0, "ac": 0,
		"love": 1, "lovelace": 1, "7kq2m9": 1, "7kq2": 0, // a reference whole
		"pothole": 1, "poth": 0, // a description's words only whole
		"mill": 1, "mil": 1, "acac mill": 0,
	} {
		p, err := s.List(ctx, ListQuery{Search: q})
		if err != nil && want > 0 || p.Total != want {
			t.Errorf("search %q: %d cases, %v; want %d", q, p.Total, err, want)
		}
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	words := 0
	for _, k := range keys {
		for _, w := range []string{"acac", "lovelace", "ada", "pothole", "mill"} { // the reference names the case's own key
			if strings.Contains(strings.ToLower(k), w) {
				t.Errorf("key %q names the word %q", k, w)
			}
		}
		if strings.Contains(k, ":idx:word:") {
			words++
		}
	}
	if words < 10 {
		t.Errorf("%d word sets, want one per word and start", words)
	}
	keyed := New(rdb, "test:")
	keyed.UseSearchKey([]byte("a secret of this installation"))
	if s.termKey("acacia") == keyed.termKey("acacia") {
		t.Error("another key names a word's set the same")
	}
	if p, err := keyed.List(ctx, ListQuery{Search: "acacia"}); err != nil || p.Total != 0 {
		t.Errorf("under another key before a rebuild: %d, %v; want none", p.Total, err)
	}
	if _, err := keyed.RebuildStored(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := keyed.List(ctx, ListQuery{Search: "acacia"}); err != nil || p.Total != 1 {
		t.Errorf("under another key after a rebuild: %d, %v; want 1", p.Total, err)
	}
	if n, err := rdb.Exists(ctx, s.termKey("acacia")).Result(); err != nil || n != 0 {
		t.Errorf("the sets under the old key outlive the rebuild: %d, %v", n, err)
	}
}

// A scope of several sets is answered from a union kept until a projection
// moves a case into or out of one of them: a list sees such a change at once,
// and the union is rebuilt only then.
func TestListScopeUnionFollowsProjections(t *testing.T) {
	ctx := context.Background()
	s, all := findingFixture(t, 120)
	sc := &Scope{Departments: []string{"parks"}, Assignee: "amy"}
	now := t0.Add(200 * time.Minute)
	unions := func() []string {
		t.Helper()
		keys, err := s.rdb.Keys(ctx, s.ns+"tmp:scope:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		return keys
	}
	check := func(when string) {
		t.Helper()
		for _, q := range []ListQuery{
			{Scope: sc},
			{Scope: sc, Family: "open", Sort: SortUpdated, Desc: true},
			{Scope: sc, Overdue: true, Now: now},
		} {
			q.Limit = MaxPageSize
			p, err := s.List(ctx, q)
			if err != nil {
				t.Fatalf("%s: List(%+v): %v", when, q, err)
			}
			if got, want := refsOf(p.Cases), expectList(all, q); len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%s: List(%+v) = %v\nwant %v", when, q, got, want)
			}
		}
	}
	check("first")
	first := unions()
	check("again")
	if got := unions(); len(first) != 1 || !slices.Equal(got, first) {
		t.Fatalf("unions after two rounds of lists = %v, want the one %v", got, first)
	}

	// A case of another department assigned to amy, and one of parks moved
	// to another department: both are in or out of scope at once.
	var in, out *cases.Case
	for _, c := range all {
		switch {
		case in == nil && c.Department != "parks" && c.Assignee == "" && !c.Status.Closed():
			in = c
		case out == nil && c.Department == "parks" && c.Assignee == "" && !c.Status.Closed():
			out = c
		}
	}
	in.Assignee = "Amy"
	out.Department = "highways"
	for _, c := range []*cases.Case{in, out} {
		c.Version++
		c.UpdatedAt = now
		project(t, s, c)
	}
	check("after the projections")
	if got := unions(); len(got) != 2 || !slices.Contains(got, first[0]) {
		t.Errorf("unions after a change = %v, want %v and a new one", got, first)
	}

	// A projection that changes nothing a scope is made of keeps the union.
	before := unions()
	in.Version++
	in.UpdatedAt = now.Add(time.Minute)
	in.Priority = cases.PriorityHigh
	project(t, s, in)
	check("after a change of priority")
	if got := unions(); !slices.Equal(got, before) {
		t.Errorf("unions after a change of priority = %v, want %v", got, before)
	}
}
