package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/readmodel/readmodeltest"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newStore(t testing.TB) (*Store, *redis.Client) {
	t.Helper()
	rdb := redistest.Start(t).Client()
	return New(rdb, "test:"), rdb
}

// newCase, move and place: readmodeltest's, named as the tests have them.
var (
	newCase = readmodeltest.NewCase
	move    = readmodeltest.Move
	place   = readmodeltest.Place
)

// clone copies a case through JSON, so a test can hold an older version while
// changing the newer one.
func clone(t testing.TB, c *cases.Case) *cases.Case {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out cases.Case
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func project(t testing.TB, s *Store, cs ...*cases.Case) {
	t.Helper()
	for _, c := range cs {
		if _, err := s.Project(context.Background(), c); err != nil {
			t.Fatalf("Project(%s v%d): %v", c.Ref, c.Version, err)
		}
	}
}

func refsOf(cs []*cases.Case) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Ref
	}
	return out
}

// members lists a sorted set's members, to check an index holds no stale entry.
func members(t testing.TB, rdb *redis.Client, key string) []string {
	t.Helper()
	m, err := rdb.ZRange(context.Background(), key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProjectKeepsNewestVersion(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	sub := rdb.Subscribe(ctx, s.EventsChannel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is live before projecting
		t.Fatal(err)
	}
	events := sub.Channel()

	c := newCase("CB-000001", "pothole", "highways", t0)
	v1 := clone(t, c)
	move(c, cases.StatusInProgress, t0.Add(time.Hour))
	v2 := clone(t, c)

	for _, step := range []struct {
		c    *cases.Case
		want bool
	}{
		{v2, true},  // newest first, e.g. the retry of v1 is late
		{v1, false}, // older: must not regress the read model
		{v2, false}, // same version again: a no-op
	} {
		applied, err := s.Project(ctx, step.c)
		if err != nil || applied != step.want {
			t.Fatalf("Project(v%d) = %v, %v; want %v", step.c.Version, applied, err, step.want)
		}
	}
	got, err := s.Get(ctx, c.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v2) {
		t.Errorf("Get after v2, v1, v2 = %+v\nwant v2 %+v", got, v2)
	}
	if m := members(t, rdb, s.statusKey(cases.StatusOpen)); len(m) != 0 {
		t.Errorf("status open index = %v after the late v1, want empty", m)
	}

	move(c, cases.StatusFixed, t0.Add(2*time.Hour))
	project(t, s, c)
	// Exactly one event per applied projection, in order: v2, then v3.
	for _, want := range []Event{
		{Ref: c.Ref, Version: 2, Status: cases.StatusInProgress, Department: "highways", At: t0.Add(time.Hour)},
		{Ref: c.Ref, Version: 3, Status: cases.StatusFixed, Department: "highways", At: t0.Add(2 * time.Hour)},
	} {
		select {
		case msg := <-events:
			var e Event
			if err := json.Unmarshal([]byte(msg.Payload), &e); err != nil {
				t.Fatalf("event %q: %v", msg.Payload, err)
			}
			if e != want {
				t.Errorf("event = %+v, want %+v", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event for v%d", want.Version)
		}
	}
}

func TestProjectMovesIndexes(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	c := newCase("CB-000001", "pothole", "highways", t0)
	c.DueAt = t0.Add(48 * time.Hour)
	other := newCase("CB-000002", "pothole", "highways", t0.Add(time.Minute))
	project(t, s, c, other)

	check := func(when string, key string, want ...string) {
		t.Helper()
		if got := members(t, rdb, key); !slices.Equal(got, want) {
			t.Errorf("%s: %s = %v, want %v", when, key, got, want)
		}
	}
	check("new", s.departmentKey("highways"), c.Ref, other.Ref)
	check("new", s.dueKey(), c.Ref)
	check("new", s.geoKey("pothole"), c.Ref, other.Ref)
	check("new", s.serviceFamilyKey("open", "pothole"), c.Ref, other.Ref)
	check("new", s.departmentOpenUpdatedKey("highways"), c.Ref, other.Ref)

	// Transferred, re-categorised and worked on: every index follows.
	c.Department, c.Service.Code = "streetcare", "flytipping"
	move(c, cases.StatusInProgress, t0.Add(time.Hour))
	project(t, s, c)
	check("moved", s.departmentKey("highways"), other.Ref)
	check("moved", s.departmentKey("streetcare"), c.Ref)
	check("moved", s.statusKey(cases.StatusOpen), other.Ref)
	check("moved", s.statusKey(cases.StatusInProgress), c.Ref)
	check("moved", s.serviceKey("pothole"), other.Ref)
	check("moved", s.serviceFamilyKey("open", "flytipping"), c.Ref)
	check("moved", s.geoKey("pothole"), other.Ref)
	check("moved", s.geoKey("flytipping"), c.Ref)
	check("moved", s.dueKey(), c.Ref)
	check("moved", s.departmentOpenUpdatedKey("highways"), other.Ref)
	check("moved", s.departmentOpenUpdatedKey("streetcare"), c.Ref)

	move(c, cases.StatusFixed, t0.Add(2*time.Hour))
	project(t, s, c)
	check("closed", s.geoKey("flytipping"))
	check("closed", s.dueKey())
	check("closed", s.departmentOpenUpdatedKey("streetcare"))
	check("closed", s.familyKey("open"), other.Ref)
	check("closed", s.familyKey("closed"), c.Ref)
	check("closed", s.serviceFamilyKey("open", "flytipping"))
	check("closed", s.serviceFamilyKey("closed", "flytipping"), c.Ref)
	check("closed", s.receivedKey(), c.Ref, other.Ref)

	counts, err := s.CountByStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != len(cases.Statuses) {
		t.Errorf("CountByStatus has %d statuses, want all %d", len(counts), len(cases.Statuses))
	}
	for st, n := range counts {
		want := int64(0)
		if st == cases.StatusOpen || st == cases.StatusFixed {
			want = 1
		}
		if n != want {
			t.Errorf("CountByStatus[%s] = %d, want %d", st, n, want)
		}
	}

	// Reopened: back in the open indexes, the geo index and the due index.
	move(c, cases.StatusInvestigating, t0.Add(3*time.Hour))
	project(t, s, c)
	check("reopened", s.geoKey("flytipping"), c.Ref)
	check("reopened", s.dueKey(), c.Ref)
	check("reopened", s.familyKey("closed"))
	check("reopened", s.departmentOpenUpdatedKey("streetcare"), c.Ref)
}

func TestProjectRejectsBadCases(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	bad := newCase("CB-000001", "pothole", "highways", t0)
	bad.Status = "resolved"
	farNorth := place(newCase("CB-000002", "pothole", "highways", t0), 89.9, 0)
	for _, c := range []*cases.Case{bad, {Status: cases.StatusOpen}} {
		var in *cases.InputError
		if _, err := s.Project(ctx, c); !errors.As(err, &in) {
			t.Errorf("Project(ref %q, status %q) error = %v, want an *InputError", c.Ref, c.Status, err)
		}
	}
	if n, _ := rdb.DBSize(ctx).Result(); n != 0 {
		t.Errorf("rejected projections left %d keys", n)
	}
	// A point Redis cannot index keeps the case out of the geo index only.
	if applied, err := s.Project(ctx, farNorth); err != nil || !applied {
		t.Fatalf("Project(lat 89.9) = %v, %v", applied, err)
	}
	if m := members(t, rdb, s.geoKey("pothole")); len(m) != 0 {
		t.Errorf("geo index = %v, want empty", m)
	}
	if m := members(t, rdb, s.receivedKey()); !slices.Equal(m, []string{farNorth.Ref}) {
		t.Errorf("received index = %v, want [%s]", m, farNorth.Ref)
	}
}

func TestGetMissing(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Get(context.Background(), "CB-NOPE00")
	if !errors.Is(err, cases.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want one wrapping cases.ErrNotFound", err)
	}
}

func TestCountOpenNearby(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	// Whitehall; 0.0005° of latitude is ~56 m, 0.005° ~556 m.
	project(t, s,
		place(newCase("CB-00000A", "pothole", "highways", t0), 51.5000, -0.1260),
		place(newCase("CB-00000B", "pothole", "highways", t0), 51.5005, -0.1260),
		place(newCase("CB-00000C", "pothole", "highways", t0), 51.5050, -0.1260),
		place(newCase("CB-00000D", "graffiti", "streetcare", t0), 51.5000, -0.1260),
		move(place(newCase("CB-00000E", "pothole", "highways", t0), 51.5000, -0.1260), cases.StatusFixed, t0.Add(time.Hour)),
	)
	for _, tc := range []struct {
		code   string
		radius float64
		want   []string
	}{
		{"pothole", 10, []string{"CB-00000A"}},
		{"pothole", 100, []string{"CB-00000A", "CB-00000B"}},
		{"pothole", 1000, []string{"CB-00000A", "CB-00000B", "CB-00000C"}},
		{"graffiti", 1000, []string{"CB-00000D"}},
		{"bins", 1000, nil},
		{"pothole", 0, nil},
	} {
		got, err := s.OpenNearby(ctx, tc.code, 51.5000, -0.1260, tc.radius)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("OpenNearby(%s, %gm) = %v, %v; want %v (nearest first)", tc.code, tc.radius, got, err, tc.want)
		}
		n, err := s.CountOpenNearby(ctx, tc.code, 51.5000, -0.1260, tc.radius, "")
		if err != nil || n != len(tc.want) {
			t.Errorf("CountOpenNearby(%s, %gm) = %d, %v; want %d", tc.code, tc.radius, n, err, len(tc.want))
		}
	}
	// The case being routed is never near itself; another case's ref changes nothing.
	if n, _ := s.CountOpenNearby(ctx, "pothole", 51.5000, -0.1260, 100, "CB-00000A"); n != 1 {
		t.Errorf("CountOpenNearby except CB-00000A = %d, want 1", n)
	}
	if n, _ := s.CountOpenNearby(ctx, "pothole", 51.5000, -0.1260, 100, "CB-00000C"); n != 2 {
		t.Errorf("CountOpenNearby except a case outside the radius = %d, want 2", n)
	}
}

// Rebuild repairs the read model in place while workers project: it rewrites
// a case's index entries at the version stored, never goes back to an older
// version, and announces only a newer one.
func TestRebuildRepairsInPlaceAndNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	s, rdb := newStore(t)
	sub := rdb.Subscribe(ctx, s.EventsChannel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	c := newCase("CB-000001", "pothole", "highways", t0)
	old := clone(t, c)
	move(c, cases.StatusFixed, t0.Add(time.Hour))
	project(t, s, c)
	if _, err := sub.ReceiveMessage(ctx); err != nil {
		t.Fatal(err)
	}

	// An index lost (an index added since, a key evicted) comes back.
	if err := rdb.Del(ctx, s.statusKey(cases.StatusFixed)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Rebuild(ctx, clone(t, c)); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, ListQuery{Status: cases.StatusFixed})
	if err != nil || page.Total != 1 {
		t.Errorf("List(fixed) after Rebuild = %d cases, %v; want 1", page.Total, err)
	}
	// A reindex that read the case before a worker projected a newer version
	// leaves the newer one.
	if err := s.Rebuild(ctx, old); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, c.Ref); err != nil || got.Status != cases.StatusFixed || got.Version != c.Version {
		t.Errorf("after rebuilding an older version, Get = %+v, %v; want v%d fixed", got, err, c.Version)
	}
	if page, _ := s.List(ctx, ListQuery{Status: cases.StatusOpen}); page.Total != 0 {
		t.Errorf("an older version's index entries came back: %d open", page.Total)
	}
	// A newer version is stored and announced, as Project would.
	move(c, cases.StatusClosed, t0.Add(2*time.Hour))
	if err := s.Rebuild(ctx, c); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.ReceiveMessage(ctx)
	var ev Event
	if err != nil || json.Unmarshal([]byte(msg.Payload), &ev) != nil || ev.Version != c.Version || ev.Status != cases.StatusClosed {
		t.Errorf("event after rebuilding a newer version = %v, %v; want v%d closed (the same-version rebuilds announced nothing)", msg, err, c.Version)
	}
}

// The cases waiting on each back office are counted from what each case
// last projected records: a wait that ends leaves the count, and a wait on
// the read model itself is no back office's.
func TestWaitingOn(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	a := newCase("CB-000001", "pothole", "highways", t0)
	b := newCase("CB-000002", "pothole", "highways", t0)
	a.Failed(cases.WaitBackOffice("highways"), "HTTP 503", t0)
	a.Failed(cases.WaitReadModel, "connection refused", t0)
	b.Failed(cases.WaitBackOffice("highways"), "HTTP 503", t0)
	project(t, s, a, b)
	want := func(when string, highways, waste int64) {
		t.Helper()
		got, err := s.WaitingOn(ctx, []string{"highways", "waste"})
		if err != nil {
			t.Fatal(err)
		}
		if got["highways"] != highways || got["waste"] != waste || len(got) != 2 {
			t.Errorf("%s: WaitingOn = %v, want highways %d, waste %d", when, got, highways, waste)
		}
	}
	want("both waiting", 2, 0)
	b.Answered(cases.WaitBackOffice("highways"))
	b.Department = "waste"
	b.Failed(cases.WaitBackOffice("waste"), "soap:Server", t0)
	b.Version++
	a.Answered(cases.WaitBackOffice("highways"))
	a.Version++
	project(t, s, a, b)
	want("one answered, one moved", 0, 1)
}
