// Package cluster runs casebridge the way production does, on this machine:
// Temporal's own server, built from the go.temporal.io/server version in
// go.mod, on PostgreSQL (persistence and SQL visibility) with several history
// shards; Redis with an append-only file; and casebridge's api and worker as
// separate processes. Every part is a real OS process that the caller can
// stop, kill and start again. The fault drill beside it (drill_test.go) and
// cmd/cbload use it.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options say what to run.
type Options struct {
	// Dir holds the configuration, the logs and Redis's data (required).
	Dir      string
	Postgres Postgres
	// Shards is the number of Temporal history shards (default 4). It can
	// never change for a cluster's databases.
	Shards int
	// APIs and Workers are how many casebridge api and worker processes to
	// start.
	APIs, Workers int
	// Retention is the namespace's retention as `casebridge setup` takes it
	// (default: setup's own).
	Retention string
	// WorkerArgs are added to every worker's command line (tuning flags).
	WorkerArgs []string
	// Sims are simulated back offices to run beside the cluster.
	Sims Sims
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Cluster is a running cluster.
type Cluster struct {
	Bin      Binaries
	Dir      string
	Temporal *Process
	Redis    *Process
	APIs     []*Process
	Workers  []*Process
	// Sims are the simulated back offices, by name (Options.Sims).
	Sims map[string]*Process
	// Frontend is Temporal's frontend (host:port) and Namespace casebridge's
	// namespace on it.
	Frontend, Namespace string
	RedisURL            string
	// Key is an Open311 api_key and Token a staff token with every role.
	Key, Token string

	opts Options
	dbs  *databases
	env  []string // every casebridge command's environment
}

// Namespace is the Temporal namespace the cluster's casebridge uses.
const Namespace = "casebridge"

// Start sets the cluster up and starts it: databases and schema, the Temporal
// server, the namespace (`casebridge setup`), Redis, the demo routing rules
// (`casebridge rules import --publish`), then the workers and the apis. On
// failure it stops what it started.
func Start(ctx context.Context, b Binaries, o Options) (c *Cluster, err error) {
	if o.Shards == 0 {
		o.Shards = 4
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	c = &Cluster{Bin: b, Dir: o.Dir, Namespace: Namespace, opts: o}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()

	if c.dbs, err = createDatabases(ctx, b, o.Postgres, o.Logf); err != nil {
		return c, err
	}
	if c.Temporal, c.Frontend, err = newTemporal(o.Dir, b, c.dbs, o.Shards); err != nil {
		return c, err
	}
	if err = c.Temporal.Start(ctx); err != nil {
		return c, err
	}
	o.Logf("temporal %s: frontend %s, %d history shards", b.Version, c.Frontend, o.Shards)

	if c.Redis, c.RedisURL, err = newRedis(o.Dir); err != nil {
		return c, err
	}
	if err = c.Redis.Start(ctx); err != nil {
		return c, err
	}
	if err = c.configure(ctx); err != nil {
		return c, err
	}
	setup := []string{"setup"}
	if o.Retention != "" {
		setup = append(setup, "--retention", o.Retention)
	}
	out, err := c.Casebridge(ctx, setup...)
	if err != nil {
		return c, err
	}
	o.Logf("%s", strings.TrimSpace(out))
	if _, err = c.Casebridge(ctx, "rules", "import", filepath.Join(b.Root, "rules", "demo.yaml"), "--publish", "--comment", "cluster harness"); err != nil {
		return c, err
	}
	for range o.Workers {
		if _, err = c.AddWorker(ctx); err != nil {
			return c, err
		}
	}
	for range o.APIs {
		if _, err = c.AddAPI(ctx); err != nil {
			return c, err
		}
	}
	if len(o.Sims.Names) > 0 {
		if len(c.APIs) == 0 {
			return c, errors.New("simulated back offices push to an api's webhook: ask for one")
		}
		if err = c.startSims(ctx, c.APIs[0].URL); err != nil {
			return c, err
		}
	}
	return c, nil
}

// configure writes casebridge's configuration: the demo council's, made with
// fresh secrets by `casebridge demo-config` as an operator starts, with its
// wards.
func (c *Cluster) configure(ctx context.Context) error {
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(ctx, c.Bin.Casebridge, "demo-config")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("casebridge demo-config: %w\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "staff token (role admin):"); ok {
			c.Token = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Open311 api_key:"); ok {
			c.Key = strings.TrimSpace(v)
		}
	}
	if c.Key == "" || c.Token == "" {
		return fmt.Errorf("casebridge demo-config printed no token or key: %q", stderr.String())
	}
	areas := filepath.Join(c.Bin.Root, "areas", "demo.geojson")
	yaml := regexp.MustCompile(`(?m)^areas: .*$`).ReplaceAllString(stdout.String(), "areas: "+strconv.Quote(areas))
	path := filepath.Join(c.Dir, "casebridge.yaml")
	c.env = []string{
		"CASEBRIDGE_CONFIG=" + path,
		"TEMPORAL_ADDRESS=" + c.Frontend,
		"TEMPORAL_NAMESPACE=" + c.Namespace,
		"REDIS_URL=" + c.RedisURL,
		"CASEBRIDGE_SESSION_SECRET=" + rand.Text(),
		"CASEBRIDGE_LOG_FORMAT=text",
		"CASEBRIDGE_LOG_LEVEL=warn",
	}
	config, err := c.planSims([]byte(yaml))
	if err != nil {
		return err
	}
	return os.WriteFile(path, config, 0o600)
}

// Casebridge runs a casebridge command to its end with the cluster's
// settings and returns what it printed.
func (c *Cluster) Casebridge(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Bin.Casebridge, args...)
	cmd.Env = append(os.Environ(), c.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("casebridge %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// AddAPI starts one more `casebridge api` and waits for its /readyz.
func (c *Cluster) AddAPI(ctx context.Context) (*Process, error) {
	p, err := c.casebridge(fmt.Sprintf("api-%d", len(c.APIs)+1), "api")
	if err != nil {
		return nil, err
	}
	c.APIs = append(c.APIs, p)
	return p, p.Start(ctx)
}

// AddWorker starts one more `casebridge worker` and waits for its /readyz.
func (c *Cluster) AddWorker(ctx context.Context) (*Process, error) {
	p, err := c.casebridge(fmt.Sprintf("worker-%d", len(c.Workers)+1), "worker", c.opts.WorkerArgs...)
	if err != nil {
		return nil, err
	}
	c.Workers = append(c.Workers, p)
	return p, p.Start(ctx)
}

func (c *Cluster) casebridge(name, command string, args ...string) (*Process, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	base := "http://" + addr
	return &Process{
		Name:    name,
		URL:     base,
		path:    c.Bin.Casebridge,
		args:    append([]string{command, "--addr", addr}, args...),
		env:     c.env,
		logPath: filepath.Join(c.Dir, name+".log"),
		ready:   func(ctx context.Context) error { return answers200(ctx, base+"/readyz") },
	}, nil
}

func answers200(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// newRedis is a redis-server keeping an append-only file, synced every
// second, as production runs it.
func newRedis(dir string) (*Process, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", fmt.Errorf("redis-server is not installed: %w", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "redis")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	return &Process{
		Name: "redis",
		path: bin,
		args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(ports[0]), "--dir", data,
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"},
		logPath: filepath.Join(dir, "redis.log"),
		ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			return rdb.Ping(ctx).Err()
		},
	}, "redis://" + addr + "/0", nil
}

// Close stops every process (casebridge first, then Redis and Temporal) and
// drops the databases.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range append(append([]*Process{}, c.APIs...), c.Workers...) {
		if err := p.Stop(30 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	for _, p := range c.Sims {
		_ = p.Stop(30 * time.Second)
	}
	for _, p := range []*Process{c.Redis, c.Temporal} {
		if p != nil {
			_ = p.Stop(30 * time.Second)
		}
	}
	if c.dbs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.dbs.drop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
