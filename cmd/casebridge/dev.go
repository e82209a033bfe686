//go:build !nodev

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/partners"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/workflows"
)

// runDev runs everything in one process: embedded Temporal, Redis, the worker
// and the HTTP server.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	sims, simStep := true, time.Minute
	s, err := parseSettings("dev", args, getenv, stderr, true, func(fs *flag.FlagSet) {
		fs.BoolVar(&sims, "simulators", true, "run simulated back offices in-process for the demo's back_offices (highways, waste), pointing their URLs at them")
		fs.DurationVar(&simStep, "sim-step", time.Minute, "how long a simulated back-office job takes to move to its next status")
	})
	if err != nil {
		return helpIsFine(err)
	}
	log, err := newLogger(stderr, s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// temporal.db and Redis's files hold reporters' names and addresses:
	// only the owner reads them, in a directory made before this was so too.
	if err := ownerOnly(s.dataDir); err != nil {
		return err
	}
	creds, err := seedDemo(&s)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(s)
	if err != nil {
		return err
	}
	if err := checkOIDC(cfg, getenv); err != nil {
		return err
	}
	if getenv, err = devSessionSecret(getenv, s.dataDir); err != nil {
		return err
	}

	var simulated []string
	if sims {
		var stopSims func()
		if simulated, getenv, stopSims, err = startSimulators(ctx, cfg, getenv, simStep, "http://"+s.addr); err != nil {
			return err
		}
		defer stopSims()
	}

	if s.redisURL == "" {
		r, err := startDevRedis(ctx, log, s.dataDir)
		if err != nil {
			return err
		}
		defer r.stop()
		s.redisURL = r.url
	}

	ts, err := devserver.Start(ctx, devserver.Options{
		DatabaseFile:     filepath.Join(s.dataDir, "temporal.db"),
		Namespace:        "default",
		SearchAttributes: workflows.SearchAttributes,
		Port:             s.temporalPort,
		UIAddr:           s.uiAddr,
		Logger:           log.With("component", "temporal-server"),
	})
	if err != nil {
		return fmt.Errorf("start embedded Temporal: %w", err)
	}
	defer ts.Stop()
	if err := ownerOnly(s.dataDir); err != nil { // temporal.db, new on a first start
		return err
	}

	sim, err := startPartnerSim(ctx, log, cfg, getenv)
	if err != nil {
		return err
	}
	defer sim.stop()

	e, err := connect(ctx, log, cfg, getenv, ts.FrontendAddr(), ts.Namespace(), s.redisURL)
	if err != nil {
		return err
	}
	defer e.close()
	e.callbackBase = "http://" + s.addr
	e.trustedProxies = s.trustedProxies
	// Rule sets Redis lost come back from Temporal before anything routes; the
	// demo council routes by the demo rules until staff publish their own.
	if _, err := e.accounts.Sync(ctx); err != nil {
		return fmt.Errorf("restore the staff accounts kept in Temporal: %w", err)
	}
	if _, err := rulearchive.Sync(ctx, e.rules, e.archive); err != nil {
		return fmt.Errorf("restore the rule sets kept in Temporal: %w", err)
	}
	if v, seeded, err := e.rules.Seed(ctx, rules.Routing, rules.DemoYAML(), "casebridge dev", "the demo council's rules"); err != nil {
		return fmt.Errorf("seed the demo routing rules: %w", err)
	} else if seeded {
		log.Info("seeded the demo routing rules", "version", v.Number)
	}
	w := e.worker(ctx, sdkworker.Options{})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	stop, err := serveHTTP(ctx, log, s.addr, e.api(ts.Namespace(), new(atomic.Bool)))
	if err != nil {
		return err
	}
	if s.pprofAddr != "" {
		stopProf, err := serveHTTP(ctx, log, s.pprofAddr, profiler())
		if err != nil {
			return err
		}
		defer stopProf()
	}

	fmt.Fprintf(stdout, "casebridge dev is running\n")
	fmt.Fprintf(stdout, "  HTTP           http://%s  (Open311 at /open311/v2/discovery.json)\n", s.addr)
	fmt.Fprintf(stdout, "  Temporal       %s  namespace %s\n", ts.FrontendAddr(), ts.Namespace())
	if u := ts.UIURL(); u != "" {
		fmt.Fprintf(stdout, "  Temporal UI    %s\n", u)
	}
	if sim.url != "" {
		fmt.Fprintf(stdout, "  Partner sim    %s/handoffs  (partners without a url: %s)\n", sim.url, strings.Join(sim.partners, ", "))
	}
	for _, line := range simulated {
		fmt.Fprintf(stdout, "  Back office    %s\n", line)
	}
	fmt.Fprintf(stdout, "  Config         %s\n", s.configPath)
	fmt.Fprintf(stdout, "  Data           %s\n", s.dataDir)
	if creds != "" {
		fmt.Fprintf(stdout, "%s", creds)
	}
	<-ctx.Done()
	log.Info("shutting down: HTTP server, then worker, then Temporal and Redis")
	return stop()
}

// seedDemo writes the demo council's configuration on first start, with fresh
// secrets, and returns the credentials to print. It leaves an existing
// configuration alone.
func seedDemo(s *settings) (string, error) {
	if s.configPath != "" {
		return "", nil
	}
	s.configPath = filepath.Join(s.dataDir, "casebridge.yaml")
	credsPath := filepath.Join(s.dataDir, "dev-credentials.txt")
	if _, err := os.Stat(s.configPath); err == nil {
		b, err := os.ReadFile(credsPath)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return string(b), err
	}
	demo, key, token := demoConfig()
	if err := os.WriteFile(s.configPath, demo, 0o600); err != nil {
		return "", fmt.Errorf("write demo configuration: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, "areas.geojson"), areas.DemoGeoJSON(), 0o600); err != nil {
		return "", fmt.Errorf("write demo areas: %w", err)
	}
	creds := strings.Join([]string{
		"  Staff token    " + token + "   (roles: admin; curl -H 'Authorization: Bearer " + token + "')",
		"  Open311 key    " + key + "   (api_key for POSTs; FixMyStreet's key)",
		"",
	}, "\n")
	if err := os.WriteFile(credsPath, []byte(creds), 0o600); err != nil {
		return "", fmt.Errorf("write dev credentials: %w", err)
	}
	return creds, nil
}

// ownerOnly makes dir, and every file and directory in it, readable by its
// owner alone: SQLite and Redis make their files with the process's umask.
func ownerOnly(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			return os.Chmod(path, mode&^0o077)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("make the data directory readable by its owner only: %w", err)
	}
	return nil
}

// startSimulators runs a simulator for each configured back office dev can
// simulate, on a free port, points the configuration at it, and has it post
// its changes to dev's own webhook (self is dev's base URL). Credentials
// the environment does not give are made up for the run and handed to both
// sides through the returned getenv. It returns a line to print per
// simulator.
func startSimulators(ctx context.Context, cfg *config.Config, getenv func(string) string, step time.Duration, self string) ([]string, func(string) string, func(), error) {
	made := map[string]string{}
	env := func(k string) string {
		if v, ok := made[k]; ok {
			return v
		}
		return getenv(k)
	}
	var lines []string
	var stops []func()
	stopAll := func() {
		for _, stop := range stops {
			stop()
		}
	}
	for i := range cfg.BackOffices {
		b := &cfg.BackOffices[i]
		for _, k := range []string{b.Auth.TokenEnv, b.Auth.UsernameEnv, b.Auth.PasswordEnv, b.WebhookSecretEnv} {
			if k != "" && getenv(k) == "" {
				made[k] = secret(24)
			}
		}
		sm, err := newSimulator(b.Name, env, step, uint64(time.Now().UnixNano()))
		if err != nil {
			continue // not one dev can simulate: the configured URL stands
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stopAll()
			return nil, nil, nil, fmt.Errorf("simulated back office %s: %w", b.Name, err)
		}
		srv := &http.Server{Handler: sm.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		sctx, cancel := context.WithCancel(ctx)
		go sm.Run(sctx, time.Second)
		stops = append(stops, func() { cancel(); srv.Close() })
		b.URL = "http://" + ln.Addr().String()
		if b.WebhookSecretEnv != "" {
			sm.Webhook(self+"/api/v1/backoffices/"+b.Name+"/events", env(b.WebhookSecretEnv))
		}
		lines = append(lines, fmt.Sprintf("%-14s %s  (simulated %s; jobs at %s/admin/jobs)", b.Name, b.URL, b.Kind, b.URL))
	}
	return lines, env, stopAll, nil
}

// profiler serves Go's pprof handlers on a mux of their own, so they are never
// reachable through the public HTTP address.
func profiler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// devSessionSecret keeps dev's console sessions across restarts: without
// CASEBRIDGE_SESSION_SECRET, a secret is made once and kept in the data
// directory.
func devSessionSecret(getenv func(string) string, dataDir string) (func(string) string, error) {
	const name = "CASEBRIDGE_SESSION_SECRET"
	if getenv(name) != "" {
		return getenv, nil
	}
	path := filepath.Join(dataDir, "session-secret")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = []byte(secret(32))
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("console session secret: %w", err)
	}
	return func(k string) string {
		if k == name {
			return string(b)
		}
		return getenv(k)
	}, nil
}

// partnerSim is the partner simulator dev runs for the partners its
// configuration gives no url.
type partnerSim struct {
	url      string
	partners []string
	stop     func() error
}

// startPartnerSim starts the partner simulator on a free local port and
// points every partner the configuration gives no url at it, with a fresh
// secret, so hand-offs work from the first start.
func startPartnerSim(ctx context.Context, log *slog.Logger, cfg *config.Config, getenv func(string) string) (*partnerSim, error) {
	secrets := map[string]string{}
	var names []string
	for i, p := range cfg.Partners {
		if p.URL != "" {
			continue
		}
		// A secret the configuration gives is kept (a tester signs with
		// it); otherwise a fresh one, known to dev and its simulator only.
		if p.Secret == "" && p.SecretEnv == "" {
			cfg.Partners[i].Secret = secret(32)
		}
		secrets[p.Code] = partners.Secret(cfg.Partners[i], getenv)
		names = append(names, p.Code)
	}
	if len(names) == 0 {
		return &partnerSim{stop: func() error { return nil }}, nil
	}
	sctx, cancel := context.WithCancel(ctx)
	sim := partners.NewSim(sctx, secrets)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("partner simulator: %w", err)
	}
	base := "http://" + ln.Addr().String()
	for i, p := range cfg.Partners {
		if _, ok := secrets[p.Code]; ok {
			cfg.Partners[i].URL = base + "/partners/" + p.Code + "/handoffs"
		}
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("partner simulator listening", "url", base, "partners", strings.Join(names, ","))
	return &partnerSim{url: base, partners: names, stop: func() error {
		cancel()
		err := srv.Close()
		sim.Wait()
		return err
	}}, nil
}
