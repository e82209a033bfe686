package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// devRedis is the Redis that `dev` uses when REDIS_URL is not set: a
// redis-server child process keeping its data (AOF) in the data directory, or,
// when redis-server is not installed, an in-process Redis that keeps nothing.
type devRedis struct {
	url  string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
	done chan struct{}
}

func startDevRedis(ctx context.Context, log *slog.Logger, dataDir string) (*devRedis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		m := miniredis.NewMiniRedis()
		if err := m.Start(); err != nil {
			return nil, fmt.Errorf("start in-process Redis: %w", err)
		}
		log.Warn("!!! redis-server is not installed: using an IN-PROCESS Redis that keeps NOTHING. " +
			"Rule-set drafts and the notice outbox are LOST when casebridge stops (cases and published rule sets are safe in Temporal). " +
			"Install redis-server or set REDIS_URL to keep them.")
		return &devRedis{url: "redis://" + m.Addr() + "/0", mini: m}, nil
	}
	dir, err := filepath.Abs(filepath.Join(dataDir, "redis"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pidfile := filepath.Join(dir, "redis.pid")
	stopStale(log, pidfile)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir, "--pidfile", pidfile,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--daemonize", "no", "--protected-mode", "yes", "--logfile", filepath.Join(dir, "redis.log"))
	// If casebridge dies, even by SIGKILL, Redis is told to shut down cleanly
	// (flushing its AOF) instead of living on holding the data directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &devRedis{url: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	if err := r.waitReady(ctx); err != nil {
		r.stop()
		return nil, fmt.Errorf("redis-server did not start (see %s): %w %s", filepath.Join(dir, "redis.log"), err, stderr.String())
	}
	log.Info("started redis-server", "addr", fmt.Sprintf("127.0.0.1:%d", port), "dir", dir)
	return r, nil
}

func (r *devRedis) waitReady(ctx context.Context) error {
	opt, _ := redis.ParseURL(r.url)
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-r.done:
			return errors.New("redis-server exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// stop shuts Redis down cleanly (SIGTERM makes redis-server flush its AOF).
func (r *devRedis) stop() {
	if r.mini != nil {
		r.mini.Close()
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// stopStale stops a redis-server left running on this data directory by an
// earlier casebridge that could not stop it, so two never share one AOF.
func stopStale(log *slog.Logger, pidfile string) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(string(comm), "redis-server") {
		return
	}
	log.Warn("stopping a redis-server left from an earlier run", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
