package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/e2e/cluster"
)

// TestClusterDrill runs casebridge as production does, on Temporal's own
// server with PostgreSQL (4 history shards), Redis with AOF, two api and two
// worker processes, and puts it through a fault drill while reports and staff
// changes arrive throughout:
//
//  1. a worker is killed (SIGKILL) in the middle of an activity, and started again;
//  2. the Temporal server is restarted;
//  3. Redis is stopped for a minute (CASEBRIDGE_DRILL_REDIS_OUTAGE shortens it);
//  4. an api process is killed in the middle of a request, and started again.
//
// Then it counts, and prints, what must be zero: acknowledged reports that
// are not cases readable through both apis, staff changes answered with
// success that are lost, escalations that did not fire, public changes
// missing from the Open311 updates feed or in it twice, and cases where the
// read model disagrees with Temporal.
//
//	go test -v -run TestClusterDrill ./e2e/cluster
//
// It needs PostgreSQL (CASEBRIDGE_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432, a user that may create databases) and
// redis-server. Without them it skips, except under CI=true, where it fails.
// drillCluster builds Temporal and casebridge and starts the cluster opts
// describe, with a context that bounds the drill (budget) but not the build:
// the first build links Temporal's server, which takes minutes on a busy
// machine, and must not eat into the drill's own time. When the test ends
// every process is stopped with SIGTERM and must exit cleanly, and if the
// test failed the end of each process's log is printed first.
func drillCluster(t *testing.T, budget time.Duration, opts cluster.Options) (context.Context, *cluster.Cluster) {
	t.Helper()
	start := time.Now()
	bins, err := cluster.Build(context.Background(), opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built Temporal %s and casebridge in %s", bins.Version, time.Since(start).Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	t.Cleanup(cancel)
	opts.Logf = t.Logf
	c, err := cluster.Start(ctx, bins, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	t.Cleanup(func() { // runs before the one above
		if t.Failed() {
			for _, p := range append([]*cluster.Process{c.Temporal}, append(c.APIs, c.Workers...)...) {
				t.Logf("---- the end of %s's log:\n%s", p.Name, cluster.Tail(p.Log(), 4000))
			}
		}
	})
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	return ctx, c
}

// envDuration reads a drill's duration setting from the environment.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func TestClusterDrill(t *testing.T) {
	pg := needPostgres(t)
	if testing.Short() {
		t.Skip("the drill takes several minutes")
	}
	outage := envDuration(t, "CASEBRIDGE_DRILL_REDIS_OUTAGE", time.Minute)
	ctx, c := drillCluster(t, 20*time.Minute, cluster.Options{Dir: t.TempDir(), Postgres: pg, Shards: 4, APIs: 2, Workers: 2})

	var bases []string
	for _, a := range c.APIs {
		bases = append(bases, a.URL)
	}
	l := newLoad(strconv.FormatInt(time.Now().Unix()%1e6, 10), c.Key, c.Token, bases)
	began := time.Now()
	l.start(ctx, 4, 6, 2)
	at := func(d time.Duration) { time.Sleep(time.Until(began.Add(d))) }
	step := func(format string, args ...any) {
		t.Logf("%5.1fs  %s", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}

	// 1. A worker dies in the middle of an activity.
	at(20 * time.Second)
	w := c.Workers[0]
	if err := waitFor(ctx, 30*time.Second, func() bool { return activitiesRunning(w.URL) > 0 }); err != nil {
		t.Errorf("%s never had an activity running to be killed in: %v", w.Name, err)
	}
	n := activitiesRunning(w.URL)
	w.Kill()
	step("SIGKILL %s with %d activities running", w.Name, n)
	at(30 * time.Second)
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	step("%s started again", w.Name)

	// 2. Temporal restarts.
	at(45 * time.Second)
	stopped := time.Now()
	if err := c.Temporal.Stop(time.Minute); err != nil {
		t.Errorf("temporal did not stop cleanly: %v", err)
	}
	if err := c.Temporal.Start(ctx); err != nil {
		t.Fatal(err)
	}
	step("temporal restarted: frontend down for %s", time.Since(stopped).Round(100*time.Millisecond))

	// 3. Redis is away for a minute.
	at(75 * time.Second)
	if err := c.Redis.Stop(30 * time.Second); err != nil {
		t.Errorf("redis did not stop cleanly: %v", err)
	}
	step("redis stopped for %s", outage)
	time.Sleep(outage)
	if err := c.Redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	step("redis started again")

	// 4. An api process dies in the middle of a request.
	at(75*time.Second + outage + 15*time.Second)
	api := l.apis[0]
	if err := waitFor(ctx, 30*time.Second, func() bool { return api.inflight.Load() > 0 }); err != nil {
		t.Errorf("api-1 never had a request in flight to be killed in: %v", err)
	}
	n = int(api.inflight.Load())
	c.APIs[0].Kill()
	step("SIGKILL api-1 with %d requests of ours in flight", n)
	time.Sleep(5 * time.Second)
	if err := c.APIs[0].Start(ctx); err != nil {
		t.Fatal(err)
	}
	step("api-1 started again")

	at(75*time.Second + outage + 35*time.Second)
	l.stop()
	step("load stopped: %d reports acknowledged, %d staff changes sent", len(l.acknowledged()), len(l.changes))

	counts := check(ctx, t, c, l, began)
	t.Logf("drill counts after %s:\n%s", time.Since(began).Round(time.Second), counts)
	counts.mustBeZero(t)
}

// needPostgres returns the PostgreSQL to use, or skips the test (fails it
// under CI) when there is none or no redis-server.
func needPostgres(t *testing.T) cluster.Postgres {
	t.Helper()
	pg, err := cluster.PostgresFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if err = pg.Reachable(); err == nil {
		_, err = lookPath("redis-server")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true requires PostgreSQL and redis-server for the cluster test: %v", err)
		}
		t.Skipf("no PostgreSQL or redis-server here (%v); see README, \"The cluster test\"", err)
	}
	return pg
}

// activitiesRunning reads a worker's metrics for the activity slots in use.
func activitiesRunning(base string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "temporal_worker_task_slots_used{") && strings.Contains(line, `worker_type="ActivityWorker"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

func waitFor(ctx context.Context, limit time.Duration, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
