package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one program of the cluster running as its own OS process, which
// the caller can stop, kill and start again with the same arguments.
type Process struct {
	// Name says which part of the cluster it is ("api-1", "temporal", ...).
	Name string
	// URL is the base URL of its HTTP server, for api and worker; else "".
	URL string

	path    string
	args    []string
	env     []string
	logPath string
	ready   func(ctx context.Context) error // nil: started is ready

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
	err    error         // how it exited
}

// Start runs the process and waits until it is ready, or ctx ends.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.cmd != nil && !p.hasExited() {
		p.mu.Unlock()
		return fmt.Errorf("%s is already running", p.Name)
	}
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	fmt.Fprintf(log, "\n==== %s: %s starting\n", time.Now().Format(time.RFC3339Nano), p.Name)
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a signal meant for the test reaches it only
	// through us; Pdeathsig stops it if the test process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		log.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	p.mu.Unlock()
	return p.waitReady(ctx, exited)
}

func (p *Process) waitReady(ctx context.Context, exited chan struct{}) error {
	if p.ready == nil {
		return nil
	}
	for {
		err := p.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready (%v); its log:\n%s", p.Name, p.exitErr(), Tail(p.logPath, 3000))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v); its log:\n%s", p.Name, ctx.Err(), err, Tail(p.logPath, 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hasExited is called with mu held.
func (p *Process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Running reports whether the process is running.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.hasExited()
}

// Pid is the running process's id, or 0.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.hasExited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop asks the process to stop (SIGTERM) and waits up to grace for it,
// then kills it. It returns how the process exited: nil for a clean stop.
func (p *Process) Stop(grace time.Duration) error {
	return p.signal(syscall.SIGTERM, grace)
}

// Kill ends the process at once (SIGKILL), as a crash or an OOM kill does.
func (p *Process) Kill() {
	_ = p.signal(syscall.SIGKILL, time.Minute)
}

func (p *Process) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	gone := cmd == nil || p.hasExited()
	p.mu.Unlock()
	if gone {
		return nil // never started, or already stopped
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %s after %s; killed", p.Name, grace, sig)
	}
	err := p.exitErr()
	var exit *exec.ExitError
	if sig == syscall.SIGKILL && errors.As(err, &exit) {
		return nil // killed, as asked
	}
	return err
}

// Log is the path of the file the process writes its output to.
func (p *Process) Log() string { return p.logPath }

// Tail returns the last n bytes of a file, for a failure message.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, 0)
	}
	b := make([]byte, n)
	k, _ := f.Read(b)
	return string(b[:k])
}
