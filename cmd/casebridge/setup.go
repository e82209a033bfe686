package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/workflows"
)

// defaultRetention is how long Temporal keeps a case's history after its
// workflow completes, which is itself the reopen window (28 days by default)
// after the case was resolved. Within it, `reindex` and staff reading a case
// find the full history; after it, the read model is the case's record.
const defaultRetention = 90 * 24 * time.Hour

// runSetup prepares a Temporal namespace for casebridge, as an operator does
// once per deployment and again after an upgrade: it registers the namespace
// with the retention asked for (or sets an existing namespace's retention to
// it) and registers casebridge's search attributes; given the configuration
// (--config), it also makes the back offices' poll schedules match it,
// removing those of back offices no longer configured. Running it again
// changes nothing that is already right.
func runSetup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	retention := days(defaultRetention)
	s, err := parseSettings("setup", args, getenv, stderr, false, func(fs *flag.FlagSet) {
		fs.Var(&retention, "retention", "how long Temporal keeps a completed case's history, e.g. 90d or 2160h (default 90d)")
	})
	if err != nil {
		return helpIsFine(err)
	}
	log, err := newLogger(stderr, s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	opts := client.Options{HostPort: s.temporal, Namespace: s.namespace, Logger: tlog.NewStructuredLogger(log.With("component", "temporal-sdk"))}
	c, err := dialTemporal(ctx, log, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	namespaces, err := client.NewNamespaceClient(opts)
	if err != nil {
		return fmt.Errorf("namespace client: %w", err)
	}
	defer namespaces.Close()

	said, err := ensureNamespace(ctx, namespaces, s.namespace, time.Duration(retention))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "namespace %s: %s\n", s.namespace, said)
	// A new namespace reaches every frontend's cache within seconds; until it
	// does, the frontend answers that it does not exist.
	if err := retry(ctx, log, "namespace not ready yet; retrying", time.Minute, func() error { return ensureSearchAttributes(ctx, c, s.namespace) }); err != nil {
		return err
	}
	// The frontend learns the new attributes from its namespace cache some
	// seconds later; until then every report is refused ("no mapping defined
	// for search attribute"), so an api started the moment setup returned
	// would answer 503 to its first reports.
	if err := retry(ctx, log, "search attributes not usable yet; waiting", 2*time.Minute, func() error { return searchAttributesUsable(ctx, c, s.namespace) }); err != nil {
		return fmt.Errorf("namespace %s: casebridge's search attributes are registered but not usable: %w", s.namespace, err)
	}
	fmt.Fprintf(stdout, "namespace %s: casebridge's search attributes are registered and usable\n", s.namespace)
	if s.configPath == "" {
		fmt.Fprintf(stdout, "no configuration given (--config, CASEBRIDGE_CONFIG): back offices' poll schedules left as they are\n")
		return nil
	}
	cfg, err := config.Load(s.configPath)
	if err != nil {
		return err
	}
	done, err := syncPollSchedules(ctx, c.ScheduleClient(), cfg.BackOffices, true)
	for _, line := range done {
		fmt.Fprintf(stdout, "schedule %s\n", line)
	}
	return err
}

// searchAttributesUsable asks the frontend a visibility query naming every
// one of casebridge's search attributes: it fails while the frontend's
// namespace cache does not map them yet, as starting a case does.
func searchAttributesUsable(ctx context.Context, c client.Client, namespace string) error {
	var terms []string
	for _, name := range slices.Sorted(maps.Keys(workflows.SearchAttributes)) {
		switch workflows.SearchAttributes[name] {
		case enumspb.INDEXED_VALUE_TYPE_DATETIME:
			terms = append(terms, name+" > '2000-01-01T00:00:00Z'")
		case enumspb.INDEXED_VALUE_TYPE_BOOL:
			terms = append(terms, name+" = false")
		case enumspb.INDEXED_VALUE_TYPE_INT:
			terms = append(terms, name+" = 0")
		default:
			terms = append(terms, name+" = ''")
		}
	}
	_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1, Query: strings.Join(terms, " OR ")})
	return err
}

// ensureNamespace registers the namespace with the retention, or sets an
// existing one's retention, and says which it did.
func ensureNamespace(ctx context.Context, nc client.NamespaceClient, name string, retention time.Duration) (string, error) {
	d, err := nc.Describe(ctx, name)
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        name,
			Description:                      "casebridge cases",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return "", fmt.Errorf("register namespace %s: %w", name, err)
		}
		return "registered, retention " + days(retention).String(), nil
	case err != nil:
		return "", fmt.Errorf("describe namespace %s: %w", name, err)
	}
	if d.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() == retention {
		return "exists, retention " + days(retention).String(), nil
	}
	err = nc.Update(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: name,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(retention)},
	})
	if err != nil {
		return "", fmt.Errorf("set retention of namespace %s: %w", name, err)
	}
	return "retention changed to " + days(retention).String(), nil
}

// days is a duration given in days ("90d") or as a Go duration ("2160h").
type days time.Duration

func (d days) String() string {
	if t := time.Duration(d); t%(24*time.Hour) == 0 {
		return strconv.Itoa(int(t/(24*time.Hour))) + "d"
	}
	return time.Duration(d).String()
}

func (d *days) Set(s string) error {
	var t time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("%q: give whole days, e.g. 90d", s)
		}
		t = time.Duration(v) * 24 * time.Hour
	} else {
		var err error
		if t, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: give days (90d) or hours (2160h)", s)
		}
	}
	if t < 24*time.Hour {
		return fmt.Errorf("%q: Temporal keeps histories for at least a day", s)
	}
	*d = days(t)
	return nil
}
