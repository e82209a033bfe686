// Command casebridge runs the casebridge case engine: `casebridge dev` runs
// everything in one process on a fresh machine; `api` and `worker` run the parts
// separately against an external Temporal and Redis for production.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"
)

func main() {
	gin.SetMode(gin.ReleaseMode)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintln(os.Stderr, "casebridge:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "casebridge:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line; it exits 2, as CIs expect.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `casebridge: a workflow engine for council case handling.

Usage:
  casebridge dev      run everything in one process: an embedded Temporal
                      server (SQLite in the data directory), Redis, the worker
                      and the HTTP server. Seeds a demo council on first start.
  casebridge api      run the HTTP server (Open311, staff API) against an
                      external Temporal (TEMPORAL_ADDRESS) and Redis (REDIS_URL)
  casebridge worker   run the workflow worker against the same
  casebridge reindex  rebuild the Redis read model from Temporal
  casebridge setup    prepare a Temporal namespace for casebridge: register it
                      with a retention (--retention 90d) and add casebridge's
                      search attributes; run once per deployment, safe to rerun
  casebridge demo-config
                      print the demo configuration with fresh secrets, to
                      start a production configuration from
  casebridge probe URL
                      exit 0 if URL answers 2xx (container health checks)
  casebridge rules    validate and test routing rules kept in files (for CI),
                      export and import them ('casebridge rules help')
  casebridge sim highways|waste
                      run a simulated back office (highways: REST, waste:
                      SOAP) that fails like a real one, for trying
                      connectors ('--help' for faults)
  casebridge users add  make a staff account (the first admin) and print
                      its password once ('casebridge users help')
  casebridge help     show this help; 'casebridge <command> --help' shows a
                      command's flags

Settings (a flag wins over its environment variable):
  --addr        CASEBRIDGE_ADDR         HTTP listen address (default 127.0.0.1:8080)
  --data-dir    CASEBRIDGE_DATA_DIR     where dev keeps its data (default ./data)
  --config      CASEBRIDGE_CONFIG       the YAML configuration file (dev writes a
                                        commented demo one on first start)
                CASEBRIDGE_OPEN311_API_KEYS  comma-separated extra Open311 keys
                CASEBRIDGE_ADMIN_TOKEN       an extra staff token with every role
                                             (at least 32 characters)
                CASEBRIDGE_SESSION_SECRET    signs console form tokens; set the same
                                             on every api replica
                CASEBRIDGE_TRUSTED_PROXIES   comma-separated addresses or CIDRs of
                                             the proxies whose X-Forwarded-For is
                                             believed (default: none)
                TEMPORAL_ADDRESS        host:port of Temporal (api, worker, reindex)
                TEMPORAL_NAMESPACE      Temporal namespace (default "default")
                REDIS_URL               redis://host:port/db (dev: optional)

First steps:
  go run ./cmd/casebridge dev
  then follow the walk-through in README.md.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, getenv, stdout, stderr)
	case "api":
		return runAPI(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return runWorker(ctx, rest, getenv, stdout, stderr)
	case "reindex":
		return runReindex(ctx, rest, getenv, stdout, stderr)
	case "setup":
		return runSetup(ctx, rest, getenv, stdout, stderr)
	case "demo-config":
		return runDemoConfig(ctx, rest, getenv, stdout, stderr)
	case "probe":
		return runProbe(ctx, rest, getenv, stdout, stderr)
	case "rules":
		return runRules(ctx, rest, getenv, stdout, stderr)
	case "sim":
		return runSim(ctx, rest, getenv, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}
