// Package api is casebridge's HTTP interface: the Open311 GeoReport v2 server
// FixMyStreet talks to, the staff JSON API, health checks and metrics. It
// translates domain errors into each interface's own error format in one place.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/caseflow"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/rules"
)

// Cases starts, reads and changes case workflows (caseflow.Client in production).
type Cases interface {
	Start(ctx context.Context, rep cases.Report, svc cases.Service) (caseflow.Result, error)
	Get(ctx context.Context, ref string) (*cases.Case, error)
	// Summary is what Temporal records of a case without asking its workflow
	// (caseflow.Client.Summary): for when no worker can answer a query yet.
	Summary(ctx context.Context, ref string) (*cases.Case, error)
	Transition(ctx context.Context, ref string, ch cases.Change, requestID string) (*cases.Case, error)
	Comment(ctx context.Context, ref string, cm cases.Comment, requestID string) (*cases.Case, error)
	Assign(ctx context.Context, ref string, a cases.Assignment, requestID string) (*cases.Case, error)
	Transfer(ctx context.Context, ref string, t cases.Transfer, requestID string) (*cases.Case, error)
	Recategorise(ctx context.Context, ref string, rc cases.Recategorisation, requestID string) (*cases.Case, error)
	Prioritise(ctx context.Context, ref string, p cases.Prioritisation, requestID string) (*cases.Case, error)
	Acknowledge(ctx context.Context, ref string, a cases.Acknowledgement, requestID string) (*cases.Case, error)
	Citizen(ctx context.Context, ref string, u cases.CitizenUpdate) (cases.CitizenResult, error)
}

// ReadModel answers lists and lookups fast from Redis (readmodel.Store).
type ReadModel interface {
	Get(ctx context.Context, ref string) (*cases.Case, error)
	Requests(ctx context.Context, q readmodel.RequestQuery) ([]*cases.Case, error)
	Updates(ctx context.Context, start, end time.Time, limit int) ([]cases.Update, error)
	List(ctx context.Context, q readmodel.ListQuery) (readmodel.ListPage, error)
	Standing(ctx context.Context, now time.Time) ([]readmodel.DepartmentStanding, error)
	Compliance(ctx context.Context, from, to time.Time) (readmodel.Compliance, error)
	Dashboard(ctx context.Context, now time.Time, loc *time.Location) (readmodel.Dashboard, error)
	// ScopeFigures is the overall figures and chart of a scope, given the
	// dashboard's rows of its departments.
	ScopeFigures(ctx context.Context, rows []readmodel.Figures, sc readmodel.Scope, now, today, week time.Time) (readmodel.Figures, []readmodel.Day, error)
}

// Metrics records what the API does (metrics.Metrics).
type Metrics interface {
	Intake(source, outcome string)
	ObserveHTTP(method, route string, code int, d time.Duration)
	Handler() http.Handler
}

// Check is a readiness check of one dependency.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
	// Optional marks a dependency the server can work without for a while:
	// its failure is reported but leaves the server ready.
	Optional bool
}

// Deps are the server's collaborators, built by cmd/casebridge.
type Deps struct {
	Cases     Cases
	ReadModel ReadModel
	Metrics   Metrics // required
	Outbox    Outbox
	Ready     []Check
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rules keeps the rule sets staff edit (rules.Store); nil leaves out the
	// /rulesets routes.
	Rules RuleSets
	// FactSources are what routing reads besides a case's report (calendar,
	// areas, open cases nearby), for simulating and backtesting on past cases.
	FactSources rules.FactSources
	// SessionSecret signs the console's form tokens
	// (CASEBRIDGE_SESSION_SECRET). Every api replica behind one address needs
	// the same; empty means a random one, so forms opened before a restart are
	// refused after it.
	SessionSecret []byte
	// Events is where the live streams (/api/v1/events, the console's
	// /events) read changes from; without it there are none.
	Events EventSource
	// Freshness says how far the read model is behind Temporal
	// (caseflow.Freshness), for /readyz and the console's banner; nil leaves
	// both silent about it.
	Freshness Freshness
	// Partners checks partners' signed callbacks and Handoffs passes them on;
	// without both, /api/v1/partners/{partner}/callbacks is not served.
	Partners PartnerCallbacks
	Handoffs Handoffs
	// Areas are the council's named areas (wards), for the console's area
	// filter and maps; nil leaves both out.
	Areas *areas.Set
	// Redis keeps console sessions and the sign-in throttle (package
	// accounts), under RedisPrefix ("cb:" if empty). Without it nobody can
	// sign in to the console and guessing is not slowed: only tests of
	// other parts leave it out.
	Redis       redis.UniversalClient
	RedisPrefix string
	// TrustedProxies are the addresses (or CIDR ranges) of the proxies in
	// front of the server whose X-Forwarded-For is believed, for the client
	// address that sign-in throttling and the audit trail use
	// (CASEBRIDGE_TRUSTED_PROXIES). None by default: a client could
	// otherwise name any address it liked and never be slowed.
	TrustedProxies []string
	// Duplicates serves supervisors' merge, confirm and undo; nil leaves
	// those routes out.
	Duplicates Duplicates
	// BackOffices receives back offices' webhook calls; without it there are
	// none.
	BackOffices BackOffices
	// AccountArchive is where staff accounts are kept for good
	// (accountarchive, in Temporal); nil keeps them in Redis only (tests).
	AccountArchive accounts.Archive
	// OIDCClientSecret is the client secret of staff.oidc, read from the
	// variable its client_secret_env names.
	OIDCClientSecret string
}

// Freshness measures the read model's lag behind Temporal.
type Freshness interface {
	// Check measures (or returns a measurement a few seconds old).
	Check(ctx context.Context) (caseflow.Lag, error)
	// Known returns the last measurement without waiting; ok is false when
	// there is none.
	Known() (lag caseflow.Lag, ok bool)
}

// Server is the HTTP server's handler set.
type Server struct {
	log     *slog.Logger
	cfg     *config.Config
	deps    Deps
	engine  *gin.Engine
	started time.Time // the discovery changeset
	// throttle slows guessing of tokens and passwords; nil without Deps.Redis.
	throttle *accounts.Throttle
	// accounts are the staff accounts and audit the trail of sign-ins and
	// changes; nil without Deps.Redis.
	accounts *accounts.Store
	audit    *accounts.Audit
}

// NewServer wires the routes. cfg is read, never changed.
func NewServer(log *slog.Logger, cfg *config.Config, deps Deps) *Server {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{log: log, cfg: cfg, deps: deps, engine: gin.New(), started: deps.Now().UTC().Truncate(time.Second)}
	if err := s.engine.SetTrustedProxies(deps.TrustedProxies); err != nil {
		panic(fmt.Sprintf("trusted proxies: %v", err)) // cmd/casebridge checks them first
	}
	if deps.Redis != nil {
		s.throttle = accounts.NewThrottle(deps.Redis, deps.RedisPrefix)
		s.accounts = accounts.NewStore(deps.Redis, deps.RedisPrefix, deps.AccountArchive)
		s.audit = accounts.NewAudit(deps.Redis, deps.RedisPrefix, log.With("component", "audit"))
	}
	s.engine.Use(s.recover, securityHeaders, s.observe, drain)
	s.engine.HandleMethodNotAllowed = true
	s.routes()
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) routes() {
	e := s.engine
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	// Metrics say how much work there is and where: only Prometheus, with a
	// token holding the metrics role, reads them.
	e.GET("/metrics", s.authenticate, require(config.RoleMetrics), gin.WrapH(s.deps.Metrics.Handler()))
	s.open311Routes(e.Group("/open311/v2"))
	s.partnerRoutes(e.Group("/api/v1/partners"))
	s.backOfficeRoutes(e.Group("/api/v1")) // signed by the system, not a staff login
	s.staffRoutes(e.Group("/api/v1"))
	s.eventRoutes(e)
	s.consoleRoutes(e)
	e.NoRoute(s.notFound)
	e.NoMethod(func(c *gin.Context) {
		problem(c, http.StatusMethodNotAllowed, "Method not allowed", c.Request.Method+" is not supported on "+c.Request.URL.Path, "")
	})
}

// securityHeaders go on every answer: nothing the server sends is to be
// sniffed as another type, framed by another site, or leak its address in a
// Referer. The console's pages set their own, stricter policy over this one;
// the staff API's answers hold personal data, so no cache keeps them.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(c.Request.URL.Path, "/api/") {
		h.Set("Cache-Control", "no-store")
	}
	c.Next()
}

func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	status, code := gin.H{}, http.StatusOK
	for _, ch := range s.deps.Ready {
		if err := ch.Check(ctx); err != nil {
			status[ch.Name] = err.Error()
			if !ch.Optional {
				code = http.StatusServiceUnavailable
			}
		} else {
			status[ch.Name] = "ok"
		}
	}
	// The read model's lag is reported, never a reason to stop taking
	// traffic: reports are still taken and single cases read from Temporal,
	// and every replica shares one Redis, so failing here would take intake
	// down with the lists. Operators alert on it (the metrics say the same).
	if f := s.deps.Freshness; f != nil {
		lag, err := f.Check(ctx)
		switch {
		case err != nil:
			status["read_model"] = "unknown: " + err.Error()
		default:
			status["read_model"] = lag.String()
			status["read_model_cases"] = fmt.Sprintf("%d listed, %d in Temporal", lag.Listed, lag.Cases)
		}
	}
	c.JSON(code, status)
}

// observe logs each request (path only: Open311 clients put api_key in the query
// string) and records its latency by route pattern.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	code := c.Writer.Status()
	s.deps.Metrics.ObserveHTTP(c.Request.Method, route, code, d)
	level := slog.LevelDebug
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.Log(c.Request.Context(), level, "http", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", code, "duration_ms", float64(d.Microseconds())/1000)
}

// maxDrain is how much of a request body the server reads and throws away
// after answering without reading it all (a body past its limit, say). A
// client that writes its whole body before it reads the answer, as
// FixMyStreet's does, would otherwise see the connection reset instead of the
// 400 saying why, and send the report again for ever. The server's read
// timeout bounds the time this takes.
const maxDrain = 64 << 20

func drain(c *gin.Context) {
	c.Next()
	if c.Request.Body != nil {
		_, _ = io.CopyN(io.Discard, c.Request.Body, maxDrain)
	}
}

func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.Error("panic serving request", "path", c.Request.URL.Path, "panic", v)
			if !c.Writer.Written() {
				problem(c, http.StatusInternalServerError, "Internal error", "the server failed; the error has been logged", "")
			}
			c.Abort()
		}
	}()
	c.Next()
}

func (s *Server) notFound(c *gin.Context) {
	if isOpen311(c.Request.URL.Path) {
		s.open311NotFound(c)
		return
	}
	problem(c, http.StatusNotFound, "Not found", "there is nothing at "+c.Request.URL.Path, "")
}
