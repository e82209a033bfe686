package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/casebridge/casebridge/activities/backoffice/sim"
)

// simulator is what `casebridge sim` and `dev` run of a simulated back office.
type simulator interface {
	Handler() http.Handler
	Run(ctx context.Context, every time.Duration)
	SetFaults(sim.Faults)
	Webhook(url, secret string)
}

// Environment variables holding the demo back offices' credentials (the demo
// configuration names them).
const (
	envHighwaysToken = "HIGHWAYS_API_TOKEN"
	envWasteUser     = "WASTE_API_USER"
	envWastePassword = "WASTE_API_PASSWORD"
)

// newSimulator builds the named simulator with the credentials getenv holds.
func newSimulator(name string, getenv func(string) string, step time.Duration, seed uint64) (simulator, error) {
	switch name {
	case "highways":
		return sim.NewHighways(getenv(envHighwaysToken), step, seed), nil
	case "waste":
		return sim.NewWaste(getenv(envWasteUser), getenv(envWastePassword), step, seed), nil
	}
	return nil, usageError{fmt.Sprintf("no simulator %q (simulators: highways, waste)", name)}
}

// runSim runs a simulated back office on its own, for trying connectors and
// for fault drills: `casebridge sim highways --fail-rate 0.2`.
func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: casebridge sim highways|waste [flags]   ('casebridge sim highways --help' lists them)")
		if len(args) == 0 {
			return usageError{"name a simulator: highways or waste"}
		}
		return nil
	}
	name := args[0]
	fs := flag.NewFlagSet("casebridge sim "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", map[string]string{"waste": "127.0.0.1:8092"}[name], "listen `address` (highways 127.0.0.1:8091, waste 127.0.0.1:8092)")
	if *addr == "" {
		*addr = "127.0.0.1:8091"
	}
	step := fs.Duration("step", 2*time.Minute, "how long a job takes to move to its next status")
	seed := fs.Uint64("seed", 1, "seed of the random faults, to repeat a run")
	webhook := fs.String("webhook", "", "casebridge's webhook `URL` to post changes to (e.g. http://127.0.0.1:8080/api/v1/backoffices/highways/events)")
	secretEnv := fs.String("webhook-secret-env", strings.ToUpper(name)+"_WEBHOOK_SECRET", "environment `variable` holding the webhook's signing secret")
	var f sim.Faults
	fs.DurationVar(&f.Latency, "latency", 50*time.Millisecond, "added to every reply")
	fs.Float64Var(&f.FailRate, "fail-rate", 0, "share of calls answered 500")
	fs.Float64Var(&f.ThrottleRate, "throttle-rate", 0, "share of calls answered 429 with Retry-After")
	fs.Float64Var(&f.SlowCreateRate, "slow-create-rate", 0, "share of creates recorded only after --slow-create (the caller has given up)")
	fs.DurationVar(&f.SlowCreate, "slow-create", 15*time.Second, "how slow a slow create is")
	fs.Float64Var(&f.SlowNoteRate, "slow-note-rate", 0, "share of notes stored only after --slow-note (the caller has given up)")
	fs.DurationVar(&f.SlowNote, "slow-note", 15*time.Second, "how slow a slow note is")
	fs.BoolVar(&f.Down, "down", false, "answer every call 503 (switch back with PUT /admin/faults)")
	fs.BoolVar(&f.IgnoreIdempotencyKey, "ignore-idempotency-key", false, "make every create a new job, as many real systems do")
	fs.BoolVar(&f.RefuseStatus, "refuse-status", false, "take no status changes (REST 405, SOAP fault NOT_SUPPORTED), as many real systems do")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	s, err := newSimulator(name, getenv, *step, *seed)
	if err != nil {
		return err
	}
	s.SetFaults(f)
	if *webhook != "" {
		s.Webhook(*webhook, getenv(*secretEnv))
	}
	log, err := newLogger(stderr, "info", "text")
	if err != nil {
		return err
	}
	stop, err := serveHTTP(ctx, log, *addr, s.Handler())
	if err != nil {
		return err
	}
	go s.Run(ctx, time.Second)
	fmt.Fprintf(stdout, "simulated %s back office on http://%s (jobs: GET /admin/jobs, faults: PUT /admin/faults)\n", name, *addr)
	<-ctx.Done()
	return stop()
}
