package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/workflows"
)

const rulesUsage = `casebridge rules: check routing rules kept in files (in the council's own CI),
and move them between files and the rule store in Redis.

Usage:
  casebridge rules validate [--config FILE] RULES.yaml
        check a rule set against the council's configuration, offline, and
        print every mistake as RULES.yaml:LINE:COLUMN: rule ID: message
  casebridge rules test [--config FILE] RULES.yaml CASES.yaml
        route each sample case of CASES.yaml with the rules and check it takes
        the route it expects (docs/demo-routing-cases.yaml is an example)
  casebridge rules export [--name routing] [--version N]
        print the active version, or version N, of a rule set from Redis
  casebridge rules import RULES.yaml [--publish] [--comment TEXT]
        save RULES.yaml as the draft of the rule set it names; with --publish,
        make it the active version at once (every process picks it up) and
        keep it in Temporal, from which casebridge reindex restores it
  casebridge rules help
        show this help

validate and test read the departments, teams, partners, SLA policies,
services and areas that rules may name from --config (or CASEBRIDGE_CONFIG);
without one they use the demo council's, and say so. export and import need
REDIS_URL (or --redis-url); import needs --config too, and import --publish
TEMPORAL_ADDRESS (or --temporal-address, default 127.0.0.1:7233) and
TEMPORAL_NAMESPACE (default "default").

Exit status: 0 valid, every case passed, or done; 1 the rules have mistakes, a
case failed, or the store refused; 2 the command could not run as given (wrong
arguments, or a file or configuration that cannot be read).
`

// runRules runs `casebridge rules ...`.
func runRules(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return usageError{"rules: say what to do: validate, test, export or import"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "validate":
		return rulesValidate(rest, getenv, stdout, stderr)
	case "test":
		return rulesTest(rest, getenv, stdout, stderr)
	case "export":
		return rulesExport(ctx, rest, getenv, stdout, stderr)
	case "import":
		return rulesImport(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, rulesUsage)
		return nil
	}
	fmt.Fprint(stderr, rulesUsage)
	return usageError{fmt.Sprintf("rules: unknown command %q", cmd)}
}

// rulesFlags are the flags of one rules command.
type rulesFlags struct {
	fs                  *flag.FlagSet
	configPath          *string
	redisURL            *string
	temporal, namespace *string
}

func newRulesFlags(cmd string, getenv func(string) string, stderr io.Writer, withConfig, withRedis bool) rulesFlags {
	f := rulesFlags{fs: flag.NewFlagSet("casebridge rules "+cmd, flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	if withConfig {
		f.configPath = f.fs.String("config", getenv("CASEBRIDGE_CONFIG"), "configuration `file` with the catalogue rules may name (CASEBRIDGE_CONFIG)")
	}
	if withRedis {
		f.redisURL = f.fs.String("redis-url", getenv("REDIS_URL"), "Redis `URL` (REDIS_URL), e.g. redis://127.0.0.1:6379/0")
	}
	return f
}

// withTemporal adds the flags that say where Temporal is.
func (f rulesFlags) withTemporal(getenv func(string) string) rulesFlags {
	f.temporal = f.fs.String("temporal-address", envOr(getenv, "TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend `host:port` (TEMPORAL_ADDRESS)")
	f.namespace = f.fs.String("temporal-namespace", envOr(getenv, "TEMPORAL_NAMESPACE", "default"), "Temporal `namespace` (TEMPORAL_NAMESPACE)")
	return f
}

// keepInTemporal connects to Temporal and makes the store record every
// version it publishes there; close releases the connection.
func (f rulesFlags) keepInTemporal(ctx context.Context, store *rules.Store) (closeTemporal func(), err error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(dctx, client.Options{HostPort: *f.temporal, Namespace: *f.namespace, Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return nil, fmt.Errorf("reach Temporal at %s, which keeps every published version: %w", *f.temporal, err)
	}
	store.UseArchive(rulearchive.New(c, workflows.TaskQueue))
	return c.Close, nil
}

// parse reads the flags wherever they are among the arguments (`import
// FILE --publish` as well as `import --publish FILE`) and checks that want
// arguments are left, named in usage.
func (f rulesFlags) parse(args []string, want int, usage string) ([]string, error) {
	f.fs.Usage = func() {
		fmt.Fprintf(f.fs.Output(), "usage: %s\n", usage)
		f.fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageError{err.Error()}
		}
		if f.fs.NArg() == 0 {
			break
		}
		pos = append(pos, f.fs.Arg(0))
		args = f.fs.Args()[1:]
	}
	if len(pos) != want {
		return nil, usageError{"usage: " + usage}
	}
	return pos, nil
}

// readInput reads a file named on the command line; one that cannot be read
// is a mistake in the command (exit 2).
func readInput(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return b, nil
}

// ruleCatalogue is what rules may name: from the configuration file, or, with
// none, the demo council's (which stderr is told).
func ruleCatalogue(path string, stderr io.Writer) (rules.Catalogue, error) {
	if path == "" {
		fmt.Fprintln(stderr, "casebridge rules: no --config given: checking against the demo council's configuration and areas")
		return catalogue(config.Demo(), areas.Demo()), nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return rules.Catalogue{}, usageError{err.Error()}
	}
	var a *areas.Set
	if cfg.Areas != "" {
		if a, err = areas.Load(cfg.Areas); err != nil {
			return rules.Catalogue{}, usageError{fmt.Sprintf("areas of %s: %v", path, err)}
		}
	}
	return catalogue(cfg, a), nil
}

// mistakes prints each problem as FILE:LINE:COLUMN: rule ID: message, as
// compilers do, so editors and CI logs can jump to it, and returns the error
// the command fails with (exit 1).
func mistakes(w io.Writer, file string, ps rules.Problems) error {
	for _, p := range ps {
		at := file
		if p.Line > 0 {
			at += ":" + strconv.Itoa(p.Line)
			if p.Column > 0 {
				at += ":" + strconv.Itoa(p.Column)
			}
		}
		switch {
		case p.Rule != "":
			at += ": rule " + p.Rule
		case strings.HasPrefix(p.Field, "default"):
			at += ": default route"
		}
		fmt.Fprintf(w, "%s: %s\n", at, p.Message)
	}
	if len(ps) == 1 {
		return fmt.Errorf("%s: 1 mistake", file)
	}
	return fmt.Errorf("%s: %d mistakes", file, len(ps))
}

// offline reads what validate and test check, without Redis: the files named
// on the command line (want of them) and the catalogue.
func offline(cmd string, args []string, want int, usage string, getenv func(string) string, stderr io.Writer) (paths []string, texts [][]byte, cat rules.Catalogue, err error) {
	f := newRulesFlags(cmd, getenv, stderr, true, false)
	if paths, err = f.parse(args, want, usage); err != nil {
		return nil, nil, cat, err
	}
	for _, p := range paths {
		b, err := readInput(p)
		if err != nil {
			return nil, nil, cat, err
		}
		texts = append(texts, b)
	}
	cat, err = ruleCatalogue(*f.configPath, stderr)
	return paths, texts, cat, err
}

func rulesValidate(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	pos, texts, cat, err := offline("validate", args, 1, "casebridge rules validate [--config FILE] RULES.yaml", getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	if ps := rules.Validate(texts[0], cat); len(ps) > 0 {
		return mistakes(stdout, pos[0], ps)
	}
	fmt.Fprintf(stdout, "%s: valid\n", pos[0])
	return nil
}

func rulesTest(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	pos, texts, cat, err := offline("test", args, 2, "casebridge rules test [--config FILE] RULES.yaml CASES.yaml", getenv, stderr)
	if err != nil {
		return helpIsFine(err)
	}
	text, casesText := texts[0], texts[1]
	set, err := rules.CompileYAML(text, cat)
	var ps rules.Problems
	if errors.As(err, &ps) {
		return mistakes(stdout, pos[0], ps)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	rep, err := rules.RunTests(set, casesText)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[1], err)
	}
	fmt.Fprint(stdout, rep)
	if !rep.OK() {
		return fmt.Errorf("%s: %d of %d cases failed", pos[1], rep.Failed, len(rep.Results))
	}
	return nil
}

// ruleStore connects to the rule store in Redis; close releases it.
func ruleStore(ctx context.Context, redisURL string, cat rules.Catalogue) (store *rules.Store, closeStore func(), err error) {
	if redisURL == "" {
		return nil, nil, usageError{"set REDIS_URL (or --redis-url) to the Redis that keeps the rule sets, e.g. redis://127.0.0.1:6379/0"}
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, usageError{fmt.Sprintf("REDIS_URL: %v", err)}
	}
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, nil, fmt.Errorf("reach Redis at %s: %w", opt.Addr, err)
	}
	// The same key prefix as connect gives the running processes.
	return rules.NewStore(rdb, redisPrefix, cat, time.Now), func() { rdb.Close() }, nil
}

func rulesExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newRulesFlags("export", getenv, stderr, false, true)
	name := f.fs.String("name", rules.Routing, "the rule set's `name`")
	number := f.fs.Int("version", 0, "the version `N` to print; the active one when left out")
	if _, err := f.parse(args, 0, "casebridge rules export [--name routing] [--version N]"); err != nil {
		return helpIsFine(err)
	}
	store, closeStore, err := ruleStore(ctx, *f.redisURL, rules.Catalogue{}) // reading needs no catalogue
	if err != nil {
		return err
	}
	defer closeStore()
	var v rules.Version
	if *number > 0 {
		v, err = store.Version(ctx, *name, *number)
	} else {
		v, err = store.Active(ctx, *name)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, v.YAML)
	fmt.Fprintf(stderr, "rule set %s, version %d, by %s at %s: %s\n", v.Name, v.Number, v.Author, v.At.Format(time.RFC3339), v.Comment)
	return nil
}

func rulesImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newRulesFlags("import", getenv, stderr, true, true).withTemporal(getenv)
	publish := f.fs.Bool("publish", false, "make it the active version at once")
	comment := f.fs.String("comment", "", "why, for the rule set's history (default \"imported from RULES.yaml\")")
	pos, err := f.parse(args, 1, "casebridge rules import RULES.yaml [--publish] [--comment TEXT]")
	if err != nil {
		return helpIsFine(err)
	}
	file := pos[0]
	if *f.configPath == "" {
		return usageError{"set --config (or CASEBRIDGE_CONFIG) to the configuration the running casebridge uses: the rules are checked against it"}
	}
	text, err := readInput(file)
	if err != nil {
		return err
	}
	cat, err := ruleCatalogue(*f.configPath, stderr)
	if err != nil {
		return err
	}
	if ps := rules.Validate(text, cat); len(ps) > 0 {
		return mistakes(stdout, file, ps)
	}
	set, err := rules.Parse(text)
	if err != nil { // Validate found nothing, so this does not happen
		return fmt.Errorf("%s: %w", file, err)
	}
	store, closeStore, err := ruleStore(ctx, *f.redisURL, cat)
	if err != nil {
		return err
	}
	defer closeStore()
	if *publish {
		closeTemporal, err := f.keepInTemporal(ctx, store)
		if err != nil {
			return err
		}
		defer closeTemporal()
	}

	name := set.Name
	active, err := store.Active(ctx, name)
	switch {
	case err == nil && active.YAML == string(text):
		fmt.Fprintf(stdout, "%s is version %d of %s, which is active already: nothing to do\n", file, active.Number, name)
		return nil
	case err != nil && !errors.Is(err, rules.ErrNotFound):
		return err
	}
	if d, err := store.Draft(ctx, name); err == nil && d.YAML != string(text) {
		fmt.Fprintf(stderr, "replacing the draft of %s that %s saved at %s\n", name, d.Author, d.At.Format(time.RFC3339))
	}
	author := "casebridge rules import"
	if u := getenv("USER"); u != "" {
		author = u + " (casebridge rules import)"
	}
	if _, err := store.SaveDraft(ctx, name, text, author); err != nil {
		var ps rules.Problems
		if errors.As(err, &ps) {
			return mistakes(stdout, file, ps)
		}
		return err
	}
	if !*publish {
		fmt.Fprintf(stdout, "%s saved as the draft of %s; publish it with --publish, or POST /api/v1/rulesets/%s/publish\n", file, name, name)
		return nil
	}
	why := *comment
	if why == "" {
		why = "imported from " + file
	}
	v, err := store.Publish(ctx, name, author, why)
	if err != nil && v.Number == 0 {
		return err
	}
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	fmt.Fprintf(stdout, "%s published as version %d of %s, now active\n", file, v.Number, name)
	return nil
}
