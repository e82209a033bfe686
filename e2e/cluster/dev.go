package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// BuildDev adds to b the casebridge command with its embedded Temporal server
// (built without -tags nodev), as `casebridge dev` runs it.
func BuildDev(ctx context.Context, b *Binaries, dir string) error {
	b.CasebridgeDev = filepath.Join(dir, "casebridge-dev")
	if _, err := goCmd(ctx, b.Root, "build", "-o", b.CasebridgeDev, "./cmd/casebridge"); err != nil {
		return fmt.Errorf("build casebridge with dev: %w", err)
	}
	return nil
}

// StartDev runs `casebridge dev` in dir, the first command a newcomer runs:
// the embedded Temporal server on SQLite (one history shard), the worker and
// the api in one process, here with a Redis of its own kept as the cluster
// keeps it (AOF). It returns it as a cluster whose only api is the dev
// process, and no workers, so that cmd/cbload measures it side by side with
// the cluster.
func StartDev(ctx context.Context, b Binaries, dir string) (c *Cluster, err error) {
	if b.CasebridgeDev == "" {
		return nil, fmt.Errorf("StartDev needs BuildDev first")
	}
	c = &Cluster{Bin: b, Dir: dir, Namespace: "default"}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (and stopping: %v)", err, c.Close())
		}
	}()
	if c.Redis, c.RedisURL, err = newRedis(dir); err != nil {
		return c, err
	}
	if err = c.Redis.Start(ctx); err != nil {
		return c, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return c, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	data := filepath.Join(dir, "dev")
	p := &Process{
		Name: "dev",
		URL:  "http://" + addr,
		path: b.CasebridgeDev,
		args: []string{"dev", "--data-dir", data, "--addr", addr, "--temporal-port", "0", "--temporal-ui-addr=",
			"--log-level", "warn"},
		env:     []string{"REDIS_URL=" + c.RedisURL},
		logPath: filepath.Join(dir, "dev.log"),
		ready:   func(ctx context.Context) error { return answers200(ctx, "http://"+addr+"/readyz") },
	}
	c.APIs = []*Process{p}
	if err = p.Start(ctx); err != nil {
		return c, err
	}
	creds, err := os.ReadFile(filepath.Join(data, "dev-credentials.txt"))
	if err != nil {
		return c, err
	}
	for _, line := range strings.Split(string(creds), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "Open311" && f[1] == "key":
			c.Key = f[2]
		case len(f) >= 3 && f[0] == "Staff" && f[1] == "token":
			c.Token = f[2]
		}
	}
	if c.Key == "" || c.Token == "" {
		return c, fmt.Errorf("no Open311 key or staff token in %s", filepath.Join(data, "dev-credentials.txt"))
	}
	return c, nil
}
