package redistest

import (
	"context"
	"runtime"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartRestartKeepsData(t *testing.T) {
	ctx := context.Background()
	s := Start(t)
	opt, err := redis.ParseURL(s.URL())
	if err != nil || opt.Addr != s.Addr() {
		t.Fatalf("URL() = %q parses to %v, %v; want address %s", s.URL(), opt, err, s.Addr())
	}
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if got, err := s.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after Restart, GET k = %q, %v; want v (AOF should keep it)", got, err)
	}
}

func TestServersAreIndependent(t *testing.T) {
	ctx := context.Background()
	a, b := Start(t), Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	a.Client().Set(ctx, "k", "a", 0)
	if n, err := b.Client().Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("key written to one server seen on the other: %d, %v", n, err)
	}
}

// recorder stands in for the test so Start's reaction to a missing server can be
// observed; Fatalf and Skipf end the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	fatal, skip bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.fatal = true; runtime.Goexit() }
func (r *recorder) Skipf(string, ...any)  { r.skip = true; runtime.Goexit() }
func (r *recorder) TempDir() string       { panic("Start went on without a server") }
func (r *recorder) Cleanup(func())        {}

func TestMissingServer(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci          string
		fatal, skip bool
	}{
		{ci: "true", fatal: true},
		{ci: "", skip: true},
		{ci: "false", skip: true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); Start(r) }()
		<-done
		if r.fatal != tc.fatal || r.skip != tc.skip {
			t.Errorf("CI=%q, no redis-server: fatal=%v skip=%v, want fatal=%v skip=%v", tc.ci, r.fatal, r.skip, tc.fatal, tc.skip)
		}
	}
}
