package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// ui is a running Temporal Web UI.
type ui struct {
	srv  *uiserver.Server
	done chan struct{} // closed when srv.Start returns
	url  string
}

// startUI serves the Web UI on host:port (host "" = all interfaces) for the frontend,
// opening on namespace, and waits until it answers. urlHost is used in the URL when
// host is "". The port must have just been free: the UI server exits the process if
// it cannot listen.
func startUI(ctx context.Context, host string, port int, frontend, namespace, urlHost string) (*ui, error) {
	cfg := &uiconfig.Config{
		Host:                bracketIPv6(host),
		Port:                port,
		TemporalGRPCAddress: frontend,
		DefaultNamespace:    namespace,
		EnableUI:            true,
		HideLogs:            true,
		DisableNewsFetch:    true,                                // dev must work offline
		CORS:                uiconfig.CORS{CookieInsecure: true}, // plain http
	}
	srv, err := newUIServer(cfg)
	if err != nil {
		return nil, err
	}
	if host == "" {
		host = urlHost
	}
	u := &ui{
		srv:  srv,
		done: make(chan struct{}),
		url:  "http://" + hostPort(host, port),
	}
	go func() {
		defer close(u.done)
		_ = srv.Start() // nil once stopped; a listen error never returns (it exits)
	}()
	if err := waitHTTP(ctx, u.url+"/healthz"); err != nil {
		u.stop()
		return nil, fmt.Errorf("temporal UI: %w", err)
	}
	return u, nil
}

// newUIServer turns the UI server's construction panics into an error.
func newUIServer(cfg *uiconfig.Config) (srv *uiserver.Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("temporal UI config: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("create temporal UI server: %v", r)
		}
	}()
	return uiserver.NewServer(uioptions.WithConfigProvider(cfg)), nil
}

func (u *ui) stop() {
	u.srv.Stop()
	<-u.done
}

func waitHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func bracketIPv6(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// splitListener returns l's host ("" when it listens on all interfaces) and port.
func splitListener(l net.Listener) (host string, port int) {
	a := l.Addr().(*net.TCPAddr)
	if a.IP.IsUnspecified() {
		return "", a.Port
	}
	return a.IP.String(), a.Port
}
