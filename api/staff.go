package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/readmodel"
)

// Problem is an RFC 9457 problem document: every staff API error has this shape,
// naming the field at fault when there is one.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Field  string `json:"field,omitempty"`
}

func problem(c *gin.Context, status int, title, detail, field string) {
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(status, Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Field: field})
}

// domainProblem answers a domain error in the staff API's format.
func (s *Server) domainProblem(c *gin.Context, err error) {
	var te *cases.TransitionError
	var ie *cases.InputError
	switch {
	case errors.As(err, &ie):
		problem(c, http.StatusUnprocessableEntity, "Invalid request", ie.Reason, ie.Field)
	case errors.As(err, &te):
		problem(c, http.StatusConflict, "Status change not allowed", te.Reason, "status")
	case errors.Is(err, cases.ErrNotFound) && s.retired(c.Request.Context(), c.Param("ref")):
		problem(c, http.StatusConflict, "Case finished", retiredReason(cases.NormalizeRef(s.cfg.Council.RefPrefix, c.Param("ref"))), "")
	case errors.Is(err, cases.ErrNotFound):
		problem(c, http.StatusNotFound, "No such case", "there is no case "+c.Param("ref"), "")
	case errors.Is(err, cases.ErrFinished):
		problem(c, http.StatusConflict, "Case finished",
			fmt.Sprintf("case %s was closed more than %s ago and can no longer be changed; open a new case", c.Param("ref"), humanDuration(time.Duration(s.cfg.Cases.ReopenWindow))), "")
	default:
		s.log.Error("staff api", "path", c.FullPath(), "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the case engine did not answer; try again shortly", "")
	}
}

func humanDuration(d time.Duration) string {
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
}

// principal is who made a staff request.
type principal struct {
	// Name is a person's sign-in name, or a token's name.
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
	// Departments and Teams ("department/team") bound what the principal
	// sees and changes (scope); admin sees everything.
	Departments []string `json:"departments,omitempty"`
	Teams       []string `json:"teams,omitempty"`
	// Subject is "account:<login>" or "token:<name>", as the audit trail
	// names who did something.
	Subject string `json:"subject"`
	// HasPassword says an account's holder signs in with a password (not
	// through the identity provider, not a token): read with the account
	// when the session is checked, so /account need not read it again.
	HasPassword bool `json:"-"`
}

func (p principal) has(roles ...string) bool {
	if slices.Contains(p.Roles, config.RoleAdmin) {
		return true
	}
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

const principalKey = "casebridge.principal"

// authenticate reads the bearer token and stores who it belongs to. Wrong
// tokens are counted per client address; an address that sent too many is
// answered 429 with Retry-After until its back-off ends, whatever token it
// sends, so guessing gets nowhere.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="casebridge"`)
		problem(c, http.StatusUnauthorized, "Unauthorised", "send a staff token as 'Authorization: Bearer <token>'", "")
		return
	}
	addr := c.ClientIP()
	if wait := s.lockedOut(c.Request.Context(), accounts.AddressKey(addr)); wait > 0 {
		tooManyProblem(c, wait)
		return
	}
	name, roles, ok := s.cfg.TokenRoles(token)
	if !ok {
		s.log.Warn("staff api: a wrong bearer token", "addr", addr, "path", c.FullPath())
		if wait := s.failed(c.Request.Context(), accounts.AddressKey(addr), accounts.PerAddress); wait > 0 {
			s.record(c.Request.Context(), accounts.Event{Kind: accounts.EventLockedOut, Addr: addr, Detail: fmt.Sprintf("address locked out of the API for %d s", retryAfter(wait))})
			tooManyProblem(c, wait)
			return
		}
		c.Header("WWW-Authenticate", `Bearer realm="casebridge", error="invalid_token"`)
		problem(c, http.StatusUnauthorized, "Unauthorised", "the token is not recognised", "")
		return
	}
	t, _ := s.cfg.Token(name)
	c.Set(principalKey, principal{Name: name, Roles: roles, Departments: t.Departments, Teams: t.Teams, Subject: tokenSubject(name)})
	s.tokenUsed(c, name)
	c.Next()
}

// lockedOut returns how long the longest lock of keys lasts. A throttle that
// cannot be read lets the request on (a token is still checked) and logs why.
func (s *Server) lockedOut(ctx context.Context, keys ...string) time.Duration {
	if s.throttle == nil {
		return 0
	}
	wait, err := s.throttle.Locked(ctx, keys...)
	if err != nil {
		s.log.Error("sign-in throttle", "error", err)
	}
	return wait
}

// failed counts a failure of key and returns the lock it earned.
func (s *Server) failed(ctx context.Context, key string, l accounts.Limit) time.Duration {
	if s.throttle == nil {
		return 0
	}
	wait, err := s.throttle.Fail(ctx, key, l)
	if err != nil {
		s.log.Error("sign-in throttle", "error", err)
	}
	if wait > 0 {
		s.log.Warn("sign-in locked out", "key", strings.SplitN(key, ":", 2)[0], "retry_after_s", retryAfter(wait))
	}
	return wait
}

// retryAfter is a wait in whole seconds, rounded up, for Retry-After.
func retryAfter(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

func tooManyProblem(c *gin.Context, wait time.Duration) {
	c.Header("Retry-After", strconv.Itoa(retryAfter(wait)))
	problem(c, http.StatusTooManyRequests, "Too many attempts",
		fmt.Sprintf("too many wrong tokens came from this address; try again in %d seconds", retryAfter(wait)), "")
}

// require lets a request through only if its principal holds one of the roles
// (admin holds them all).
func require(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := c.MustGet(principalKey).(principal)
		if !p.has(roles...) {
			problem(c, http.StatusForbidden, "Forbidden", "this needs one of the roles: "+strings.Join(roles, ", "), "")
			return
		}
		c.Next()
	}
}

func who(c *gin.Context) principal { return c.MustGet(principalKey).(principal) }

func (s *Server) staffRoutes(g *gin.RouterGroup) {
	g.GET("/openapi.json", s.openAPI)
	g.Use(s.authenticate, s.inScope)
	caseworkers := require(config.RoleAgent, config.RoleSupervisor)
	g.GET("/me", func(c *gin.Context) { c.JSON(http.StatusOK, who(c)) })
	g.GET("/cases", caseworkers, s.listCases)
	g.GET("/dashboard", caseworkers, s.getDashboard)
	g.POST("/cases/bulk", caseworkers, s.bulkAPI)
	g.GET("/cases/:ref", caseworkers, s.getCase)
	g.POST("/cases/:ref/transitions", caseworkers, s.transition)
	g.POST("/cases/:ref/comments", caseworkers, s.comment)
	s.changeRoutes(g, caseworkers, require(config.RoleSupervisor))
	s.duplicateRoutes(g, require(config.RoleSupervisor))
	g.GET("/notifications", require(config.RoleSupervisor), s.notifications)
	g.GET("/audit", require(config.RoleAdmin), s.auditAPI)
	s.slaRoutes(g)
	s.rulesRoutes(g, require(config.RoleRulesAdmin))
}

// ref reads the case reference from the path as a person might type it.
func (s *Server) ref(c *gin.Context) (string, bool) {
	ref := cases.NormalizeRef(s.cfg.Council.RefPrefix, c.Param("ref"))
	if !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
		problem(c, http.StatusNotFound, "No such case", fmt.Sprintf("%q is not a case reference (they look like %s7KQ2M9)", c.Param("ref"), s.cfg.Council.RefPrefix), "ref")
		return "", false
	}
	return ref, true
}

func (s *Server) getCase(c *gin.Context) {
	ref, ok := s.ref(c)
	if !ok {
		return
	}
	kase, from, err := s.staffCase(c.Request.Context(), ref)
	if err != nil {
		s.domainProblem(c, err)
		return
	}
	if from != fromWorkflow {
		c.Header("X-Casebridge-Source", "read-model")
	}
	if from == fromRetired {
		c.Header("X-Casebridge-Read-Only", "finished")
	}
	c.JSON(http.StatusOK, kase)
}

// caseSource says where a staff read of a case came from.
type caseSource int

const (
	fromWorkflow  caseSource = iota // the case's workflow: the truth
	fromReadModel                   // the engine did not answer; the read model may be a moment behind
	fromRetired                     // a finished case Temporal's retention removed: read-only
)

// staffCase reads a case for staff (the JSON API and the console): from its
// workflow, the source of truth; when the engine does not answer, from the
// read model, which may be a moment behind; and when Temporal no longer has
// the case at all (its retention removed the finished workflow), from the
// read model, which keeps every case it was shown, as Open311 reads do.
func (s *Server) staffCase(ctx context.Context, ref string) (*cases.Case, caseSource, error) {
	kase, err := s.deps.Cases.Get(ctx, ref)
	if err == nil {
		return kase, fromWorkflow, nil
	}
	rm, rerr := s.deps.ReadModel.Get(ctx, ref)
	switch {
	case rerr != nil:
		return nil, fromWorkflow, err
	case errors.Is(err, cases.ErrNotFound):
		return rm, fromRetired, nil
	}
	return rm, fromReadModel, nil
}

// retired reports whether ref, which Temporal does not know, is a finished case
// the read model still shows: Temporal's retention removed its workflow.
func (s *Server) retired(ctx context.Context, ref string) bool {
	ref = cases.NormalizeRef(s.cfg.Council.RefPrefix, ref)
	if !cases.ValidRef(s.cfg.Council.RefPrefix, ref) {
		return false
	}
	_, err := s.deps.ReadModel.Get(ctx, ref)
	return err == nil
}

// retiredReason is why a retired case cannot be changed.
func retiredReason(ref string) string {
	return fmt.Sprintf("case %s has finished and Temporal no longer keeps its workflow (its retention ended), so it is shown read-only from the read model and can no longer be changed; open a new case", ref)
}

// transitionRequest is the body of POST /cases/{ref}/transitions.
type transitionRequest struct {
	Status string `json:"status"`
	Note   string `json:"note"`
	Public *bool  `json:"public"`
}

func (s *Server) transition(c *gin.Context) {
	ref, ok := s.ref(c)
	if !ok {
		return
	}
	var body transitionRequest
	if !bindJSON(c, &body) {
		return
	}
	if body.Status == "" {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "say which status to move the case to", "status")
		return
	}
	to, err := cases.ParseStatus(body.Status)
	if err != nil {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", fmt.Sprintf("%q is not a status; statuses are %s", clip(body.Status), statusList()), "status")
		return
	}
	id, ok := staffUpdateID(c, "transition")
	if !ok {
		return
	}
	ch := cases.Change{To: to, Note: body.Note, Public: body.Public == nil || *body.Public, Actor: "staff:" + who(c).Name}
	kase, err := s.deps.Cases.Transition(c.Request.Context(), ref, ch, id)
	if err != nil {
		s.domainProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, kase)
}

type commentRequest struct {
	Note   string `json:"note"`
	Public bool   `json:"public"`
}

func (s *Server) comment(c *gin.Context) {
	ref, ok := s.ref(c)
	if !ok {
		return
	}
	var body commentRequest
	if !bindJSON(c, &body) {
		return
	}
	if strings.TrimSpace(body.Note) == "" {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "the note is empty", "note")
		return
	}
	id, ok := staffUpdateID(c, "comment")
	if !ok {
		return
	}
	kase, err := s.deps.Cases.Comment(c.Request.Context(), ref, cases.Comment{Note: body.Note, Public: body.Public, Actor: "staff:" + who(c).Name}, id)
	if err != nil {
		s.domainProblem(c, err)
		return
	}
	c.JSON(http.StatusCreated, kase)
}

func statusList() string {
	names := make([]string, len(cases.Statuses))
	for i, s := range cases.Statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// maxJSONBody bounds a staff API request's body: a staff intake with every
// field at its limit (cases/limits.go), every character written as a \u
// escape, is about 420 KiB (TestMaxJSONBodyFitsAValidRequest).
const maxJSONBody = 1 << 20

// bindJSON decodes a JSON body strictly, answering a problem if it cannot. A
// body past maxJSONBody is refused naming the field it was cut off in (422),
// or, if that cannot be told, as too large (413).
func bindJSON(c *gin.Context, v any) bool {
	if ct := c.ContentType(); ct != "application/json" {
		problem(c, http.StatusUnsupportedMediaType, "Unsupported media type", "send the body as application/json", "")
		return false
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, c.Request.Body, maxJSONBody))
	if _, big := errors.AsType[*http.MaxBytesError](err); big {
		whole := fmt.Sprintf("the request body is larger than the %d KiB any valid request needs", maxJSONBody>>10)
		if field := jsonFieldAt(b); field != "" {
			problem(c, http.StatusUnprocessableEntity, "Invalid request", field+" is far longer than it may be: "+whole, field)
		} else {
			problem(c, http.StatusRequestEntityTooLarge, "Request too large", upperFirst(whole), "")
		}
		return false
	}
	if err != nil {
		problem(c, http.StatusBadRequest, "Malformed JSON", "the body could not be read: "+err.Error(), "")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		field, detail := "", err.Error()
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			field = ute.Field
		} else if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			field = clip(strings.Trim(f, `"`))
			detail = "unknown field " + strconv.Quote(field)
		}
		problem(c, http.StatusBadRequest, "Malformed JSON", detail, field)
		return false
	}
	return true
}

// jsonFieldAt names the field a JSON document was cut off in, as a path
// ("assignee", "location.address"), or "" if the cut fell elsewhere than in
// a value of an object.
func jsonFieldAt(b []byte) string {
	type level struct {
		object bool
		key    string
		value  bool // the key is read; its value is being read
	}
	var path []level
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(path) - 1
		switch tok {
		case json.Delim('{'), json.Delim('['):
			path = append(path, level{object: tok == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			path, top = path[:top], top-1
		default:
			if k, ok := tok.(string); ok && top >= 0 && path[top].object && !path[top].value {
				path[top].key, path[top].value = k, true
				continue
			}
		}
		if top >= 0 && path[top].object {
			path[top].value = false // a value ended
		}
	}
	var keys []string
	for _, l := range path {
		if !l.object || !l.value {
			if l.object {
				return ""
			}
			continue
		}
		keys = append(keys, clip(l.key))
	}
	return strings.Join(keys, ".")
}

// clip is s cut short, for quoting in an answer: a mistaken value may be
// megabytes long.
func clip(s string) string {
	const most = 40
	if utf8.RuneCountInString(s) <= most {
		return s
	}
	return string([]rune(s)[:most]) + "…"
}

// maxPage bounds page numbers: a page far down a long list costs what it
// skips (a cursor does not).
const maxPage = 10_000

// sources are the ways a report can come, for the source filter.
var sources = []cases.Source{cases.SourceFixMyStreet, cases.SourceOpen311, cases.SourcePhone, cases.SourceWeb, cases.SourceStaff}

func sourceList() string {
	out := make([]string, len(sources))
	for i, s := range sources {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// caseSummary is a case as a list shows it.
type caseSummary struct {
	Ref        string         `json:"ref"`
	Status     cases.Status   `json:"status"`
	Service    cases.Service  `json:"service"`
	Department string         `json:"department"`
	Team       string         `json:"team,omitempty"`
	Assignee   string         `json:"assignee,omitempty"`
	Priority   cases.Priority `json:"priority"`
	ReceivedAt time.Time      `json:"received_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	DueAt      time.Time      `json:"due_at,omitzero"`
	Overdue    bool           `json:"overdue"`
}

type casePage struct {
	Cases []caseSummary `json:"cases"`
	Total int64         `json:"total"`
	// TotalAtLeast says total is a floor: a list that intersects filters
	// stops counting at readmodel.CountLimit.
	TotalAtLeast bool   `json:"total_at_least,omitempty"`
	Next         string `json:"next,omitempty"`
}

// listCases serves GET /cases from the read model: filters status (or
// family=open|closed), department, service_code, overdue=true, q (words of
// the reference, description, address or reporter's name), area, escalation
// (any or a level), source, assignee (or assigned_to_me=true); sort=received,
// updated or due; order=asc|desc; limit; cursor (from the previous page's
// next) or page (numbered from 1).
func (s *Server) listCases(c *gin.Context) {
	now := s.deps.Now()
	q := readmodel.ListQuery{
		Family: c.Query("family"), Department: c.Query("department"), ServiceCode: c.Query("service_code"),
		Sort: readmodel.SortField(c.DefaultQuery("sort", "received")), Desc: c.Query("order") == "desc",
		Cursor: c.Query("cursor"), Now: now,
		Search: c.Query("q"), Area: c.Query("area"), Escalation: c.Query("escalation"), Source: cases.Source(c.Query("source")),
		Assignee: c.Query("assignee"),
	}
	for _, f := range []struct{ name, v string }{{"q", q.Search}, {"area", q.Area}, {"escalation", q.Escalation}, {"assignee", q.Assignee}} {
		if err := cases.CheckLine(f.name, f.v, cases.MaxLabel); err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", err.Error(), f.name)
			return
		}
	}
	if q.Source != "" && !slices.Contains(sources, q.Source) {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("source is one of %s", sourceList()), "source")
		return
	}
	if v := c.Query("assigned_to_me"); v != "" {
		me, err := strconv.ParseBool(v)
		if err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", "assigned_to_me is true or false", "assigned_to_me")
			return
		}
		if me {
			q.Assignee = who(c).Name
		}
	}
	if v := c.Query("status"); v != "" {
		st, err := cases.ParseStatus(v)
		if err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("%q is not a status; statuses are %s", clip(v), statusList()), "status")
			return
		}
		q.Status = st
	}
	if q.Family != "" && q.Family != "open" && q.Family != "closed" {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", "family is open or closed", "family")
		return
	}
	switch q.Sort {
	case readmodel.SortReceived, readmodel.SortUpdated, readmodel.SortDue:
	default:
		problem(c, http.StatusUnprocessableEntity, "Invalid query", "sort by received, updated or due", "sort")
		return
	}
	if o := c.Query("order"); o != "" && o != "asc" && o != "desc" {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", "order is asc or desc", "order")
		return
	}
	if v := c.Query("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", "overdue is true or false", "overdue")
			return
		}
		q.Overdue = b
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > readmodel.MaxPageSize {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("limit is a number from 1 to %d", readmodel.MaxPageSize), "limit")
			return
		}
		q.Limit = n
	}
	if v := c.Query("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("page is a number from 1 to %d", maxPage), "page")
			return
		}
		if q.Cursor != "" {
			problem(c, http.StatusUnprocessableEntity, "Invalid query", "give page or cursor, not both", "page")
			return
		}
		q.Offset = (n - 1) * cmp.Or(q.Limit, readmodel.DefaultPageSize)
	}
	who(c).scope(&q)
	page, err := s.deps.ReadModel.List(c.Request.Context(), q)
	if err != nil {
		s.readModelProblem(c, err)
		return
	}
	out := casePage{Cases: make([]caseSummary, 0, len(page.Cases)), Total: page.Total, TotalAtLeast: page.AtLeast, Next: page.Next}
	for _, k := range page.Cases {
		out.Cases = append(out.Cases, caseSummary{
			Ref: k.Ref, Status: k.Status, Service: k.Service, Department: k.Department, Team: k.Team, Assignee: k.Assignee,
			Priority: k.Priority, ReceivedAt: k.ReceivedAt, UpdatedAt: k.UpdatedAt, DueAt: k.DueAt,
			Overdue: !k.Status.Closed() && !k.DueAt.IsZero() && k.DueAt.Before(now),
		})
	}
	c.JSON(http.StatusOK, out)
}
