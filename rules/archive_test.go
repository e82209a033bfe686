package rules

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/casebridge/casebridge/internal/redistest"
)

// memoryArchive keeps versions and activations in memory, as rulearchive
// keeps them in Temporal; down makes every call fail.
type memoryArchive struct {
	mu       sync.Mutex
	versions map[int]Version
	log      []Activation
	down     bool
}

func (m *memoryArchive) Record(_ context.Context, name string, v *Version, a *Activation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("temporal unreachable")
	}
	if v != nil {
		if old, ok := m.versions[v.Number]; ok && old.YAML != v.YAML {
			return ErrConflict
		}
		m.versions[v.Number] = *v
	}
	if a != nil && !slices.ContainsFunc(m.log, func(b Activation) bool { return SameActivation(*a, b) }) {
		m.log = append(m.log, *a)
	}
	return nil
}

func (m *memoryArchive) Latest(context.Context, string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, errors.New("temporal unreachable")
	}
	n := 0
	for k := range m.versions {
		n = max(n, k)
	}
	return n, nil
}

func (m *memoryArchive) kept() []Version {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Version
	for _, v := range m.versions {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Version) int { return a.Number - b.Number })
	return out
}

func TestStoreRecordsInItsArchive(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	arch := &memoryArchive{versions: map[int]Version{}}
	s := NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now)
	s.UseArchive(arch)

	if _, _, err := s.Seed(ctx, Routing, DemoYAML(), "dev", "demo rules"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveDraft(ctx, Routing, graffitiToEnforcement(t), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, Routing, "alice", "graffiti to enforcement"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rollback(ctx, Routing, 1, "bob", "too soon"); err != nil {
		t.Fatal(err)
	}
	if kept := arch.kept(); len(kept) != 2 || kept[0].YAML != string(DemoYAML()) || kept[1].YAML != string(graffitiToEnforcement(t)) {
		t.Errorf("the archive keeps %d versions, want both texts", len(kept))
	}
	history, _ := s.History(ctx, Routing)
	if len(arch.log) != 3 || !slices.EqualFunc(arch.log, history, SameActivation) {
		t.Errorf("the archive's log %+v, want Redis's %+v", arch.log, history)
	}

	// With Temporal away the change is still made, and the error says it is
	// not yet kept.
	arch.down = true
	v, err := s.Rollback(ctx, Routing, 2, "bob", "after all")
	if v.Number != 2 || err == nil || !strings.Contains(err.Error(), "not yet kept in Temporal") {
		t.Errorf("Rollback with the archive down = v%d, %v; want v2 and a warning", v.Number, err)
	}
	if n, _ := s.ActiveNumber(ctx, Routing); n != 2 {
		t.Errorf("active = %d, want 2", n)
	}
	arch.down = false

	// Redis lost: a rule set is numbered on from the archive, never again from 1,
	// and never seeded over what the archive keeps.
	if err := srv.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Seed(ctx, Routing, DemoYAML(), "dev", "demo rules"); err == nil || !strings.Contains(err.Error(), "restore them") {
		t.Errorf("Seed over an archived rule set = %v, want refused", err)
	}
	if _, err := s.SaveDraft(ctx, Routing, DemoYAML(), "carol"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Publish(ctx, Routing, "carol", "after the flush"); err != nil || v.Number != 3 {
		t.Errorf("Publish after the flush = v%d, %v; want v3", v.Number, err)
	}

	// A comment too long for the record is refused before anything changes.
	if _, err := s.Rollback(ctx, Routing, 3, "bob", strings.Repeat("x", MaxComment+1)); err == nil {
		t.Errorf("a comment of %d characters was taken", MaxComment+1)
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	clk := newClock()
	s := NewStore(srv.Client(), "test:", demoCatalogue(), clk.now)
	other := graffitiToEnforcement(t)

	// What the archive keeps: two versions, published, published, rolled back.
	v1 := Version{Name: Routing, Number: 1, Author: "dev", At: clk.now(), YAML: string(DemoYAML())}
	v2 := Version{Name: Routing, Number: 2, Author: "alice", At: clk.now(), YAML: string(other)}
	log := []Activation{
		{Version: 1, Action: ActionSeed, Author: "dev", At: v1.At},
		{Version: 2, Action: ActionPublish, Author: "alice", At: v2.At},
		{Version: 1, Action: ActionRollback, Author: "bob", At: clk.now(), Comment: "too soon"},
	}
	r, err := s.Restore(ctx, Routing, []Version{v1, v2}, log)
	if err != nil || r.Versions != 2 || r.Activations != 3 || r.Active != 1 || !r.Changed {
		t.Fatalf("Restore into an empty Redis = %+v, %v", r, err)
	}
	if v, err := s.Active(ctx, Routing); err != nil || v.Number != 1 || v.YAML != string(DemoYAML()) {
		t.Errorf("Active after Restore = v%d, %v", v.Number, err)
	}
	if names, _ := s.Names(ctx); !slices.Equal(names, []string{Routing}) {
		t.Errorf("Names after Restore = %v", names)
	}
	if r, err := s.Restore(ctx, Routing, []Version{v1, v2}, log); err != nil || r.Changed {
		t.Errorf("Restore again = %+v, %v; want no change", r, err)
	}

	// Redis has moved on since (a newer publish); the archive lacks it: its
	// older record merges in and changes nothing active.
	if _, err := s.SaveDraft(ctx, Routing, []byte(strings.Replace(string(other), "# ", "#  ", 1)), "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Publish(ctx, Routing, "carol", "v3"); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Restore(ctx, Routing, nil, log[:2]); err != nil || r.Changed || r.Active != 3 {
		t.Errorf("Restore of an older log = %+v, %v; want v3 left active", r, err)
	}
	// The archive has a text Redis keeps differently under the same number:
	// reported, and neither overwritten.
	clash := v2
	clash.YAML = string(DemoYAML())
	if _, err := s.Restore(ctx, Routing, []Version{clash}, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("Restore of a clashing text = %v, want ErrConflict", err)
	}
	if v, _ := s.Version(ctx, Routing, 2); v.YAML != string(other) {
		t.Errorf("a clashing restore overwrote version 2")
	}
}
