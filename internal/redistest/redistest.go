// Package redistest starts a throwaway real redis-server for a test: its own
// port, its data in the test's temporary directory, stopped when the test ends.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one running redis-server owned by a test.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	client *redis.Client
}

// Start runs a fresh redis-server for t and stops it in t.Cleanup. Without a
// redis-server on PATH the test is skipped, unless CI=true: CI must use the real
// Redis, so there a missing server fails the test instead of hiding it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server is not installed, and CI=true requires the real Redis: %v", err)
		}
		t.Skipf("redis-server is not installed (%v); install it to run this test", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	// Another process can take the free port between our probe and redis binding
	// it, so a failed start is retried on a new port.
	for attempt := 1; ; attempt++ {
		if s.addr, err = freeAddr(); err == nil {
			err = s.run()
		}
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("start redis-server: %v", err)
		}
	}
	s.client = redis.NewClient(&redis.Options{Addr: s.addr})
	t.Cleanup(func() {
		s.client.Close()
		s.stop()
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL is the server's address as a redis:// URL, as REDIS_URL would hold it.
func (s *Server) URL() string { return "redis://" + s.addr + "/0" }

// Client is a go-redis client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client { return s.client }

// Restart stops the server cleanly and starts it again on the same address and
// data directory, so a test can check what survives (the server runs with AOF,
// as production does). The Client reconnects by itself.
func (s *Server) Restart() {
	s.t.Helper()
	s.stop()
	if err := s.run(); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

func (s *Server) run() error {
	_, port, _ := net.SplitHostPort(s.addr)
	logFile := filepath.Join(s.dir, "redis.log")
	s.cmd = exec.Command(s.bin,
		"--bind", "127.0.0.1", "--port", port,
		"--dir", s.dir, "--logfile", logFile,
		"--save", "", "--appendonly", "yes",
		"--daemonize", "no",
	)
	if err := s.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	s.exited = exited
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(s.cmd)

	probe := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1})
	defer probe.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited: %s", s.addr, tail(logFile))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := probe.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return fmt.Errorf("redis-server on %s not ready after 10s: %v; log: %s", s.addr, err, tail(logFile))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop asks redis to shut down (it flushes the AOF on SIGTERM) and kills it if
// it does not go within a few seconds.
func (s *Server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// tail returns the end of the server's log, for a failure message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
