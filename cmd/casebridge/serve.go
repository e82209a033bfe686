package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/casebridge/casebridge/config"
)

// prepare reads the settings, logger and configuration shared by api, worker
// and reindex. Production has no demo: the configuration file must exist.
func prepare(name string, args []string, getenv func(string) string, stderr io.Writer) (settings, *slog.Logger, *config.Config, error) {
	s, err := parseSettings(name, args, getenv, stderr, false)
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
	return s, log, cfg, nil
}

// open prepares a production command and connects to Temporal and Redis.
// Asked for help, it shows it and returns errHelp.
func open(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer) (settings, *engine, error) {
	s, log, cfg, err := prepare(name, args, getenv, stderr)
	if err != nil {
		return s, nil, err
	}
	e, err := connect(ctx, log, cfg, getenv, s.temporal, s.namespace, s.redisURL)
	return s, e, err
}

func runAPI(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, e, err := open(ctx, "api", args, getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	log := e.log
	stop, err := serveHTTP(ctx, log, s.addr, e.api())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "casebridge api listening on http://%s\n", s.addr)
	<-ctx.Done()
	log.Info("shutting down")
	return stop()
}

func runWorker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	s, e, err := open(ctx, "worker", args, getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	defer e.close()
	log := e.log
	if err := ensureSearchAttributes(ctx, e.temporal, s.namespace); err != nil {
		return err
	}
	w := e.worker(ctx)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// The metrics of a worker-only process are served on --addr too.
	stop, err := serveHTTP(ctx, log, s.addr, e.metrics.Handler())
	if err != nil {
		w.Stop()
		return err
	}
	fmt.Fprintf(stdout, "casebridge worker polling task queue; metrics on http://%s/metrics\n", s.addr)
	<-ctx.Done()
	log.Info("draining worker")
	w.Stop()
	return stop()
}

func helpIsFine(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
