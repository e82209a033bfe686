package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/casebridge/casebridge/accountarchive"
	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/activities"
	"github.com/casebridge/casebridge/activities/backoffice"
	"github.com/casebridge/casebridge/api"
	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/effects"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/partners"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/worker"
	"github.com/casebridge/casebridge/workflows"
)

// engine holds the clients every part of casebridge is built from. It is the
// one place where they are wired together.
type engine struct {
	cfg      *config.Config
	log      *slog.Logger
	getenv   func(string) string // secrets named by the configuration
	temporal client.Client
	redis    *redis.Client
	store    *readmodel.Store
	metrics  *metrics.Metrics
	calendar *calendar.Calendar
	areas    *areas.Set // nil when the configuration names no areas file
	rules    *rules.Store
	archive  *rulearchive.Archive // where rules keeps every published version for good
	outbox   *notify.Store
	// callbackBase is where partners call back (Council.PublicURL when empty;
	// dev sets its own address).
	callbackBase string
	// accounts are staff accounts, kept in Temporal and read from Redis.
	accounts *accounts.Store
	// trustedProxies are the proxies the api believes X-Forwarded-For from.
	trustedProxies []string
}

// searchKey is the secret the read model names its search words' sets by,
// from the variable search_key_env names; nil when the configuration names
// none (readmodel then uses its fixed salt).
func searchKey(cfg *config.Config, getenv func(string) string) ([]byte, error) {
	name := cfg.SearchKeyEnv
	if name == "" {
		return nil, nil
	}
	if key := getenv(name); len(key) >= 16 {
		return []byte(key), nil
	}
	return nil, fmt.Errorf("search_key_env: set %s to a secret of 16 bytes or more, the same for every api, worker and reindex", name)
}

// connect dials Temporal and Redis and builds the shared pieces.
func connect(ctx context.Context, log *slog.Logger, cfg *config.Config, getenv func(string) string, temporalAddr, namespace, redisURL string) (*engine, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	e := &engine{cfg: cfg, log: log, getenv: getenv, redis: redis.NewClient(opt), metrics: metrics.New()}
	if e.calendar, err = calendar.New(cfg.Calendar); err != nil {
		return nil, fmt.Errorf("calendar: %w", err)
	}
	if cfg.Areas != "" {
		if e.areas, err = areas.Load(cfg.Areas); err != nil {
			return nil, fmt.Errorf("areas: %w", err)
		}
	}
	e.store = readmodel.New(e.redis, redisPrefix)
	key, err := searchKey(cfg, getenv)
	if err != nil {
		e.redis.Close()
		return nil, err
	}
	if key != nil {
		e.store.UseSearchKey(key)
	}
	if e.areas != nil {
		e.store.UseAreas(e.areas) // for the console's area filter
	}
	e.rules = rules.NewStore(e.redis, redisPrefix, catalogue(cfg, e.areas), time.Now)
	e.outbox = notify.NewStore(e.redis, redisPrefix)
	e.metrics.CasesByStatus(func(ctx context.Context) (map[string]int64, error) {
		byStatus, err := e.store.CountByStatus(ctx)
		out := make(map[string]int64, len(byStatus))
		for s, n := range byStatus {
			out[string(s)] = n
		}
		return out, err
	})
	var systems []string
	for _, b := range cfg.BackOffices {
		systems = append(systems, b.Name)
	}
	e.metrics.BackOfficeWaiting(func(ctx context.Context) (map[string]int64, error) {
		return e.store.WaitingOn(ctx, systems)
	})
	e.temporal, err = dialTemporal(ctx, log, client.Options{
		HostPort:       temporalAddr,
		Namespace:      namespace,
		Logger:         tlog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		MetricsHandler: e.metrics.Temporal(),
	})
	if err != nil {
		e.redis.Close()
		return nil, err
	}
	e.archive = rulearchive.New(e.temporal, workflows.TaskQueue)
	e.rules.UseArchive(e.archive)
	e.accounts = accounts.NewStore(e.redis, redisPrefix, accountarchive.New(e.temporal, workflows.TaskQueue))
	return e, nil
}

// rulesSyncEvery is how often a worker makes Redis and Temporal hold the same
// rule sets (rulearchive.Sync): a version published while Temporal was away is
// recorded, and rule sets Redis lost come back, within this time.
const rulesSyncEvery = 5 * time.Minute

// syncRules runs rulearchive.Sync now and then every interval until ctx ends,
// logging what it did.
func (e *engine) syncRules(ctx context.Context, every time.Duration) {
	log := e.log.With("component", "rules-sync")
	for {
		done, err := rulearchive.Sync(ctx, e.rules, e.archive)
		for _, s := range done {
			if s.Recorded > 0 || s.Changed {
				log.Info(s.String())
			}
		}
		if err != nil && ctx.Err() == nil {
			log.Error("rule sets not in step between Redis and Temporal", "error", err)
		}
		// Accounts Redis lost come back from Temporal in the same pass.
		if n, err := e.accounts.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Error("staff accounts not restored from Temporal", "error", err)
		} else if n > 0 {
			log.Info("staff accounts restored from Temporal", "accounts", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// dialTemporal connects to Temporal, retrying for a minute: in a fresh
// deployment Temporal is often still starting when casebridge is.
func dialTemporal(ctx context.Context, log *slog.Logger, opts client.Options) (client.Client, error) {
	var c client.Client
	err := retry(ctx, log.With("addr", opts.HostPort), "Temporal not reachable yet; retrying", time.Minute, func() (err error) {
		c, err = client.DialContext(ctx, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", opts.HostPort, err)
	}
	return c, nil
}

// retry calls f until it succeeds or the time is up, logging each failure.
func retry(ctx context.Context, log *slog.Logger, msg string, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		log.Warn(msg, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// ensureSearchAttributes registers casebridge's custom search attributes on the
// namespace if they are missing, so a new production namespace needs no manual
// step. It is idempotent.
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, t := range workflows.SearchAttributes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = t
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

func (e *engine) close() {
	e.temporal.Close()
	e.redis.Close()
}

// redisPrefix starts every key casebridge writes to Redis.
const redisPrefix = "cb:"

// catalogue is what rules may name: the configuration's names and the areas.
func catalogue(cfg *config.Config, a *areas.Set) rules.Catalogue {
	cat := cfg.Catalogue()
	if a != nil {
		cat.Areas = a.Names()
	}
	return cat
}

// factSources are what routing rules read besides the report itself.
func (e *engine) factSources() rules.FactSources {
	src := rules.FactSources{Calendar: e.calendar, Nearby: e.store}
	if e.areas != nil {
		src.Areas = e.areas
	}
	return src
}

// caseLink is where staff open a case: its page in the console.
func (e *engine) caseLink(ref string) string {
	return strings.TrimSuffix(e.cfg.Council.PublicURL, "/") + "/cases/" + ref
}

// defaultRoute is where a case goes when nothing else says.
func (e *engine) defaultRoute() cases.Decision {
	d := e.cfg.Routing.Default
	return cases.Decision{RuleSet: "default", RuleID: rules.DefaultRuleID, Department: d.Department, Team: d.Team,
		Priority: cases.Priority(d.Priority), SLAPolicy: e.cfg.SLA.DefaultPolicy}
}

// settings are the lifetime settings every new case starts with.
func (e *engine) settings() workflows.Settings {
	return workflows.Settings{
		ReopenWindow:     time.Duration(e.cfg.Cases.ReopenWindow),
		MaxHistoryEvents: e.cfg.Cases.MaxHistoryEvents,
		DefaultRoute:     e.defaultRoute(),
		Calendar:         e.cfg.Calendar,
		BackOffices:      e.cfg.BackOfficeRoutes(),
	}
}

// worker builds the workflow worker. Only a worker routes, so only it keeps
// the active routing rules compiled in memory, following publishes until ctx
// ends; the API reads rule sets from the store when staff ask.
func (e *engine) worker(ctx context.Context, opts sdkworker.Options) sdkworker.Worker {
	routing := rules.NewWatcher(e.rules, rules.Routing, e.log.With("component", "rules"))
	go routing.Run(ctx, 30*time.Second)
	go e.syncRules(ctx, rulesSyncEvery)
	acts := &activities.Activities{
		Router: activities.Fallback{
			Router:  rules.Router{Rules: routing, Sources: e.factSources()},
			Default: e.defaultRoute(),
			NoRules: func(err error) bool { return errors.Is(err, rules.ErrNoActive) },
		},
		Projector:     e.store,
		Notifier:      notify.NewDispatcher(e.cfg, e.outbox, e.getenv, e.log.With("component", "notify")),
		Partners:      &partners.Poster{Config: e.cfg, Getenv: e.getenv, CallbackBase: e.callbackBase},
		Duplicates:    e.store,
		CaseLink:      e.caseLink,
		Policies:      e.cfg.SLA.Policies,
		DefaultPolicy: e.cfg.SLA.DefaultPolicy,
		Metrics:       e.metrics,
		Log:           e.log,
		BackOffices:   e.backOffices(),
		Inbound:       e.inbound(),
	}
	go e.pollSchedules(ctx)
	return worker.New(e.temporal, acts, opts)
}

// backOffices builds a connector for each configured back office.
func (e *engine) backOffices() map[string]activities.BackOffice {
	out := map[string]activities.BackOffice{}
	limiter := backoffice.NewLimiter(e.redis, redisPrefix)
	for _, b := range e.cfg.BackOffices {
		// New fails only on a time zone the configuration check has passed.
		conn, err := backoffice.New(b, e.getenv, &http.Client{})
		if err != nil {
			e.log.Error("back office not connected", "back_office", b.Name, "error", err)
			continue
		}
		name, rate := b.Name, b.RatePerSecond
		out[b.Name] = activities.BackOffice{Connector: conn, Fields: b.Fields, StatusTo: b.StatusMap.To, Calls: e.metrics.BackOfficeCall,
			Limit: func(ctx context.Context) error { return limiter.Wait(ctx, name, rate) }}
	}
	return out
}

// inbound brings each back office's changes to its cases, signalling each
// change to the case it names.
func (e *engine) inbound() map[string]*backoffice.Inbound {
	store := backoffice.NewStore(e.redis, redisPrefix)
	signal := func(ctx context.Context, ref string, ch cases.JobChange) error {
		err := e.temporal.SignalWorkflow(ctx, cases.WorkflowID(ref), "", effects.SignalJobChange, ch)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			// The case has finished, or the system names a case we never
			// had: the change has nowhere to go.
			e.log.Warn("back-office change for no running case", "back_office", ch.System, "change", ch.ID)
			return nil
		}
		return err
	}
	out := map[string]*backoffice.Inbound{}
	for name, b := range e.backOffices() {
		cfg, _ := e.cfg.BackOffice(name)
		out[name] = &backoffice.Inbound{System: name, Connector: b.Connector, Map: cfg.StatusMap, Signal: signal, Store: store}
	}
	return out
}

// pollSchedules makes sure each back office that is polled has its Temporal
// Schedule, at its configured interval, retrying until Temporal answers (as
// `casebridge setup` does, which also removes those of back offices no
// longer configured).
func (e *engine) pollSchedules(ctx context.Context) {
	err := retry(ctx, e.log, "could not set up the back offices' poll schedules; retrying", 5*time.Minute, func() error {
		_, err := syncPollSchedules(ctx, e.temporal.ScheduleClient(), e.cfg.BackOffices, false)
		return err
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("no poll schedules: back offices' changes come only by webhook", "error", err)
	}
}

// api builds the HTTP server. Its /readyz fails while draining is set, and
// when the namespace cannot be read (a frontend that answers but has no such
// namespace cannot take a report); Redis down is reported but leaves it
// ready, since reports are still taken and cases read from Temporal.
func (e *engine) api(namespace string, draining *atomic.Bool) http.Handler {
	fresh := &caseflow.Freshness{Temporal: e.temporal, Namespace: namespace, Read: e.store}
	e.metrics.ReadModel(func() (metrics.ReadModelLag, bool) {
		l, ok := fresh.Known()
		return metrics.ReadModelLag{Missing: l.Missing, OldestSeconds: l.Oldest.Seconds(), Listed: l.Listed, Cases: l.Cases}, ok
	})
	flow := caseflow.New(e.temporal, workflows.TaskQueue, e.cfg.Council.RefPrefix, e.settings())
	return api.NewServer(e.log, e.cfg, api.Deps{
		Cases:      flow,
		Handoffs:   flow,
		Duplicates: flow,
		Partners:   &partners.Verifier{Config: e.cfg, Getenv: e.getenv, Nonces: partners.NewNonces(e.redis, redisPrefix)},
		ReadModel:  e.store,
		Metrics:    e.metrics,
		Outbox:     e.outbox,
		Ready: []api.Check{
			{Name: "accepting", Check: func(context.Context) error {
				if draining.Load() {
					return errors.New("shutting down")
				}
				return nil
			}},
			{Name: "temporal", Check: func(ctx context.Context) error {
				_, err := e.temporal.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
				return err
			}},
			{Name: "redis", Check: e.store.Ping, Optional: true},
		},
		Rules: e.rules,
		// Areas may be a nil *areas.Set, which finds no area.
		FactSources:   e.factSources(),
		Areas:         e.areas,
		SessionSecret: []byte(e.getenv("CASEBRIDGE_SESSION_SECRET")),
		Events:        api.EventSource{Redis: e.redis, Channel: e.store.EventsChannel()},
		Freshness:     fresh,
		Redis:         e.redis, RedisPrefix: redisPrefix,
		TrustedProxies: e.trustedProxies,
		BackOffices: api.BackOffices{Inbound: e.inbound(), Store: backoffice.NewStore(e.redis, redisPrefix), Secret: func(name string) string {
			if b, ok := e.cfg.BackOffice(name); ok && b.WebhookSecretEnv != "" {
				return e.getenv(b.WebhookSecretEnv)
			}
			return ""
		}},
		AccountArchive:   accountarchive.New(e.temporal, workflows.TaskQueue),
		OIDCClientSecret: e.oidcSecret(),
	})
}

// oidcSecret is the client secret of staff.oidc, from the variable it names.
func (e *engine) oidcSecret() string {
	if o := e.cfg.Staff.OIDC; o.Enabled() {
		return e.getenv(o.ClientSecretEnv)
	}
	return ""
}

// checkOIDC refuses to serve sign-in with an identity provider without the
// client secret it needs.
func checkOIDC(cfg *config.Config, getenv func(string) string) error {
	if o := cfg.Staff.OIDC; o.Enabled() && getenv(o.ClientSecretEnv) == "" {
		return fmt.Errorf("staff.oidc.client_secret_env names %s, which is not set: give it the client secret registered with %s", o.ClientSecretEnv, o.Issuer)
	}
	return nil
}

// serveHTTP listens on addr and serves h until ctx ends, then shuts down,
// letting requests in flight finish.
func serveHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler) (stop func() error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	return func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}, nil
}
