package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/casebridge/casebridge/api"
	"github.com/casebridge/casebridge/config"
)

// prepare reads the settings, logger and configuration shared by api, worker
// and reindex. Production has no demo: the configuration file must exist.
func prepare(name string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flag.FlagSet)) (settings, *slog.Logger, *config.Config, error) {
	s, err := parseSettings(name, args, getenv, stderr, false, extra...)
	if err != nil {
		return s, nil, nil, err
	}
	log, err := newLogger(stderr, s.logLevel, s.logFormat)
	if err != nil {
		return s, nil, nil, err
	}
	if s.configPath == "" {
		return s, nil, nil, usageError{"set --config or CASEBRIDGE_CONFIG to the configuration file (casebridge dev writes an example)"}
	}
	if s.redisURL == "" {
		return s, nil, nil, usageError{"set REDIS_URL (or --redis-url), e.g. redis://redis:6379/0"}
	}
	cfg, err := loadConfig(s)
	if err != nil {
		return s, nil, nil, err
	}
	if name == "api" {
		if err := checkOIDC(cfg, getenv); err != nil {
			return s, nil, nil, err
		}
	}
	if _, err := searchKey(cfg, getenv); err != nil {
		return s, nil, nil, err
	}
	return s, log, cfg, nil
}

// open prepares a production command and connects to Temporal and Redis.
// Asked for help, it shows it and returns errHelp.
func open(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flag.FlagSet)) (settings, *engine, error) {
	s, log, cfg, err := prepare(name, args, getenv, stderr, extra...)
	if err != nil {
		return s, nil, err
	}
	e, err := connect(ctx, log, cfg, getenv, s.temporal, s.namespace, s.redisURL)
	if e != nil {
		e.trustedProxies = s.trustedProxies
	}
	return s, e, err
}

// runAPI serves HTTP until SIGTERM. Then /readyz answers 503 while the api
// keeps serving for the drain delay (so a load balancer that polls it stops
// sending new requests), and requests in flight get up to 15 s to finish.
func runAPI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	drain := time.Duration(0)
	if d, err := time.ParseDuration(getenv("CASEBRIDGE_DRAIN_DELAY")); err == nil {
		drain = d
	}
	s, e, err := open(ctx, "api", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&drain, "drain-delay", drain, "on SIGTERM, answer /readyz with 503 but keep serving for this `long` before stopping (CASEBRIDGE_DRAIN_DELAY), e.g. 5s behind a load balancer")
	})
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	log := e.log
	var draining atomic.Bool
	stop, err := serveHTTP(ctx, log, s.addr, e.api(s.namespace, &draining))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "casebridge api listening on http://%s\n", s.addr)
	<-ctx.Done()
	draining.Store(true)
	log.Info("shutting down", "drain_delay", drain)
	time.Sleep(drain)
	return stop()
}

// runWorker runs the worker until SIGTERM, then stops polling and lets the
// activities it is running finish (--stop-timeout). Its HTTP address serves
// /metrics, /healthz and /readyz.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var tune workerTuning
	s, e, err := open(ctx, "worker", args, getenv, stderr, tune.flags(getenv))
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	if err := tune.check(); err != nil {
		return err
	}
	log := e.log
	if err := ensureSearchAttributes(ctx, e.temporal, s.namespace); err != nil {
		return err
	}
	tune.apply()
	w := e.worker(ctx, tune.options())
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	var polling atomic.Bool
	polling.Store(true)
	stop, err := serveHTTP(ctx, log, s.addr, e.workerHTTP(&polling))
	if err != nil {
		w.Stop()
		return err
	}
	fmt.Fprintf(stdout, "casebridge worker polling task queue; metrics and health on http://%s\n", s.addr)
	<-ctx.Done()
	polling.Store(false)
	log.Info("draining worker", "stop_timeout", tune.stopTimeout)
	w.Stop()
	return stop()
}

// workerHTTP serves a worker's metrics and health: /healthz answers while the
// process lives; /readyz says whether it is working: polling, with Temporal
// and Redis (which its activities write to) reachable.
func (e *engine) workerHTTP(polling *atomic.Bool) http.Handler {
	checks := []api.Check{
		{Name: "worker", Check: func(context.Context) error {
			if !polling.Load() {
				return errors.New("stopping")
			}
			return nil
		}},
		{Name: "temporal", Check: func(ctx context.Context) error {
			_, err := e.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		}},
		{Name: "redis", Check: e.store.Ping},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		status, code := map[string]string{}, http.StatusOK
		for _, c := range checks {
			status[c.Name] = "ok"
			if err := c.Check(ctx); err != nil {
				status[c.Name], code = err.Error(), http.StatusServiceUnavailable
			}
		}
		writeJSON(w, code, status)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func helpIsFine(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
