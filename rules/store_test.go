package rules

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/internal/redistest"
)

// clock is a test clock that moves a minute each time it is read.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)} }

// graffitiToEnforcement is the demo rules with graffiti moved to enforcement.
func graffitiToEnforcement(t testing.TB) []byte {
	t.Helper()
	const old = "then: {department: waste, team: graffiti, priority: low, sla_policy: graffiti}"
	if !strings.Contains(string(DemoYAML()), old) {
		t.Fatal("the demo's graffiti rule changed; update the test")
	}
	return []byte(strings.Replace(string(DemoYAML()), old, "then: {department: waste, team: enforcement, sla_policy: graffiti}", 1))
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now)

	if _, err := s.Active(ctx, Routing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Active before anything = %v, want ErrNotFound", err)
	}
	v1, seeded, err := s.Seed(ctx, Routing, DemoYAML(), "dev", "demo rules")
	if err != nil || !seeded || v1.Number != 1 || v1.Author != "dev" {
		t.Fatalf("Seed = %+v, %v, %v", v1, seeded, err)
	}
	again, seeded, err := s.Seed(ctx, Routing, []byte("name: routing\ndefault: {department: triage}\n"), "dev", "")
	if err != nil || seeded || again.Number != 1 || again.YAML != string(DemoYAML()) {
		t.Fatalf("second Seed = v%d, %v, %v; want version 1 kept", again.Number, seeded, err)
	}

	d, err := s.SaveDraft(ctx, Routing, graffitiToEnforcement(t), "alice")
	if err != nil || d.Base != 1 || d.Author != "alice" {
		t.Fatalf("SaveDraft = %+v, %v", d, err)
	}
	if got, err := s.Draft(ctx, Routing); err != nil || got.YAML != d.YAML {
		t.Fatalf("Draft = %+v, %v", got, err)
	}
	diff, err := s.Diff(ctx, Routing, 1, DraftVersion)
	if err != nil || !slices.Equal(diff.Changed, []string{"graffiti"}) || !strings.Contains(diff.Text, "+++ draft") {
		t.Errorf("Diff(1, draft) = %+v, %v", diff, err)
	}

	v2, err := s.Publish(ctx, Routing, "alice", "graffiti to enforcement")
	if err != nil || v2.Number != 2 || v2.Comment != "graffiti to enforcement" {
		t.Fatalf("Publish = %+v, %v", v2, err)
	}
	if _, err := s.Draft(ctx, Routing); !errors.Is(err, ErrNotFound) {
		t.Errorf("Draft after publishing = %v, want ErrNotFound", err)
	}
	if _, err := s.Publish(ctx, Routing, "alice", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Publish with no draft = %v, want ErrNotFound", err)
	}
	if n, err := s.ActiveNumber(ctx, Routing); err != nil || n != 2 {
		t.Errorf("ActiveNumber = %d, %v; want 2", n, err)
	}
	c, err := s.ActiveCompiled(ctx, Routing)
	if err != nil || c.Version() != 2 || c.Route(Facts{ServiceCode: "GRF"}).Team != "enforcement" {
		t.Fatalf("ActiveCompiled = %v, %v; want version 2 routing graffiti to enforcement", c, err)
	}

	v, err := s.Rollback(ctx, Routing, 1, "bob", "enforcement cannot cope")
	if err != nil || v.Number != 1 {
		t.Fatalf("Rollback = %+v, %v", v, err)
	}
	if c, _ := s.ActiveCompiled(ctx, Routing); c.Version() != 1 || c.Route(Facts{ServiceCode: "GRF"}).Team != "graffiti" {
		t.Errorf("after the rollback, graffiti goes to %s by version %d", c.Route(Facts{ServiceCode: "GRF"}).Team, c.Version())
	}
	if _, err := s.Rollback(ctx, Routing, 1, "bob", ""); !errors.Is(err, ErrAlreadyActive) {
		t.Errorf("Rollback to the active version = %v, want ErrAlreadyActive", err)
	}
	if _, err := s.Rollback(ctx, Routing, 9, "bob", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rollback to version 9 = %v, want ErrNotFound", err)
	}

	versions, err := s.Versions(ctx, Routing)
	if err != nil || len(versions) != 2 || versions[0].Number != 1 || versions[1].Author != "alice" || !versions[1].At.After(versions[0].At) {
		t.Errorf("Versions = %+v, %v", versions, err)
	}
	history, err := s.History(ctx, Routing)
	var got []string
	for _, a := range history {
		got = append(got, a.Action+" "+a.Author+" v"+string(rune('0'+a.Version)))
	}
	if want := []string{"seed dev v1", "publish alice v2", "rollback bob v1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("History = %v, %v; want %v", got, err, want)
	}
	if history[2].Comment != "enforcement cannot cope" {
		t.Errorf("the rollback's reason is not recorded: %+v", history[2])
	}
	if names, err := s.Names(ctx); err != nil || !slices.Equal(names, []string{Routing}) {
		t.Errorf("Names = %v, %v", names, err)
	}
	diff, err = s.Diff(ctx, Routing, 2, 1)
	if err != nil || !strings.Contains(diff.Text, "--- version 2\n+++ version 1") {
		t.Errorf("Diff(2, 1) = %+v, %v", diff, err)
	}
}

func TestStoreRefusesMistakes(t *testing.T) {
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(), "test:", demoCatalogue(), newClock().now)
	bad := []byte("name: routing\ndefault: {department: triage}\nrules:\n  - id: a\n    when: descripton == \"x\"\n    then: {department: highways}\n")
	_, err := s.SaveDraft(ctx, Routing, bad, "alice")
	var ps Problems
	if !errors.As(err, &ps) || !strings.Contains(ps.Error(), "rule a, line 5, column 11: there is no fact called 'descripton'") {
		t.Errorf("SaveDraft(mistake) = %v", err)
	}
	if _, err := s.Draft(ctx, Routing); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused draft was kept: %v", err)
	}
	_, err = s.SaveDraft(ctx, "other", DemoYAML(), "alice")
	if !errors.As(err, &ps) || !strings.Contains(err.Error(), "this text is the rule set 'routing', but it is being saved as 'other'") {
		t.Errorf("SaveDraft under another name = %v", err)
	}
	if _, err := s.SaveDraft(ctx, "No Spaces", DemoYAML(), "alice"); !errors.As(err, &ps) {
		t.Errorf("SaveDraft with a bad name = %v", err)
	}
	if _, _, err := s.Seed(ctx, Routing, bad, "dev", ""); !errors.As(err, &ps) {
		t.Errorf("Seed(mistake) = %v", err)
	}
	if _, err := s.Active(ctx, Routing); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused seed was published: %v", err)
	}
}

// Two editors publishing the same draft at once make one version, not two.
func TestPublishRace(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now)
	if _, err := s.SaveDraft(ctx, Routing, DemoYAML(), "alice"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			other := NewStore(redis.NewClient(&redis.Options{Addr: srv.Addr()}), "test:", demoCatalogue(), newClock().now)
			_, err := other.Publish(ctx, Routing, "alice", "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("Publish: %v", err)
		}
	}
	versions, _ := s.Versions(ctx, Routing)
	if ok != 1 || len(versions) != 1 {
		t.Errorf("%d publishes succeeded and made %d versions, want 1 and 1", ok, len(versions))
	}
}

func TestCompiledCache(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	s := NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now)
	if _, _, err := s.Seed(ctx, Routing, DemoYAML(), "dev", ""); err != nil {
		t.Fatal(err)
	}
	a, err := s.Compiled(ctx, Routing, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Compiled(ctx, Routing, 1); a != b {
		t.Error("a version was compiled twice")
	}
	if _, err := s.Compiled(ctx, Routing, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("Compiled(7) = %v, want ErrNotFound", err)
	}
	// A process whose configuration lost a department cannot load version 1.
	narrow := demoCatalogue()
	narrow.Departments = slices.DeleteFunc(narrow.Departments, func(d string) bool { return d == "parking" })
	other := NewStore(srv.Client(), "test:", narrow, newClock().now)
	if _, err := other.Compiled(ctx, Routing, 1); err == nil || !strings.Contains(err.Error(), "no longer compiles") || !strings.Contains(err.Error(), "there is no department called 'parking'") {
		t.Errorf("Compiled against a narrower catalogue = %v", err)
	}
}

func TestWatcherOnce(t *testing.T) {
	ctx := context.Background()
	s := NewStore(redistest.Start(t).Client(), "test:", demoCatalogue(), newClock().now)
	w := NewWatcher(s, Routing, nil)
	if err := w.Once(ctx); !errors.Is(err, ErrNotFound) || w.Current() != nil {
		t.Errorf("Once before a version exists = %v, current %v", err, w.Current())
	}
	if _, _, err := s.Seed(ctx, Routing, DemoYAML(), "dev", ""); err != nil {
		t.Fatal(err)
	}
	if err := w.Once(ctx); err != nil || w.Current().Version() != 1 {
		t.Fatalf("Once = %v, current %v", err, w.Current())
	}
	held := w.Current()
	if err := w.Once(ctx); err != nil || w.Current() != held {
		t.Errorf("Once with nothing new replaced the set: %v", err)
	}
}

// A publish in one process reaches a watcher in another within a second.
func TestWatcherPicksUpPublish(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := redistest.Start(t)
	editor := NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now)
	if _, _, err := editor.Seed(ctx, Routing, DemoYAML(), "dev", ""); err != nil {
		t.Fatal(err)
	}

	// The worker: its own connection and store; no periodic check to help.
	workerClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer workerClient.Close()
	w := NewWatcher(NewStore(workerClient, "test:", demoCatalogue(), newClock().now), Routing, nil)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, time.Hour) }()
	select {
	case <-w.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not start")
	}
	if c := w.Current(); c == nil || c.Version() != 1 {
		t.Fatalf("after Ready, current = %v", c)
	}

	waitFor := func(version int) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < time.Second {
			if c := w.Current(); c != nil && c.Version() == version {
				return time.Since(start)
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("the watcher did not pick up version %d within a second (holds %d)", version, w.Current().Version())
		return 0
	}
	if _, err := editor.SaveDraft(ctx, Routing, graffitiToEnforcement(t), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := editor.Publish(ctx, Routing, "alice", ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("publish → worker uses version 2: %v", waitFor(2))
	if d := w.Current().Route(Facts{ServiceCode: "GRF"}); d.Team != "enforcement" || d.Version != 2 {
		t.Errorf("the worker routes graffiti to %s with version %d", d.Team, d.Version)
	}
	if _, err := editor.Rollback(ctx, Routing, 1, "bob", ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("rollback → worker uses version 1: %v", waitFor(1))

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// dropPublish loses every PUBLISH, as a dropped connection would.
type dropPublish struct{}

func (dropPublish) DialHook(next redis.DialHook) redis.DialHook { return next }
func (dropPublish) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "publish" {
			return nil
		}
		return next(ctx, cmd)
	}
}
func (dropPublish) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// When an announcement is lost, the periodic check still finds the new version.
func TestWatcherPeriodicCheck(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := redistest.Start(t)
	silentClient := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer silentClient.Close()
	silentClient.AddHook(dropPublish{})
	silent := NewStore(silentClient, "test:", demoCatalogue(), newClock().now)
	if _, _, err := silent.Seed(ctx, Routing, DemoYAML(), "dev", ""); err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(NewStore(srv.Client(), "test:", demoCatalogue(), newClock().now), Routing, nil)
	go func() { _ = w.Run(ctx, 50*time.Millisecond) }()
	<-w.Ready()
	if _, err := silent.SaveDraft(ctx, Routing, graffitiToEnforcement(t), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := silent.Publish(ctx, Routing, "alice", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for w.Current().Version() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if v := w.Current().Version(); v != 2 {
		t.Fatalf("without an announcement, the watcher holds version %d, want 2 from its periodic check", v)
	}
}
