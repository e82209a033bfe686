package api

import (
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

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/rules"
)

// RuleSets keeps the versioned rule sets staff edit (rules.Store).
type RuleSets interface {
	Catalogue() rules.Catalogue
	Names(ctx context.Context) ([]string, error)
	Active(ctx context.Context, name string) (rules.Version, error)
	Versions(ctx context.Context, name string) ([]rules.Version, error)
	Version(ctx context.Context, name string, number int) (rules.Version, error)
	History(ctx context.Context, name string) ([]rules.Activation, error)
	Draft(ctx context.Context, name string) (rules.Draft, error)
	SaveDraft(ctx context.Context, name string, text []byte, author string) (rules.Draft, error)
	DiscardDraft(ctx context.Context, name string) error
	Publish(ctx context.Context, name, author, comment string) (rules.Version, error)
	Rollback(ctx context.Context, name string, number int, author, comment string) (rules.Version, error)
	Diff(ctx context.Context, name string, from, to int) (rules.Diff, error)
	Compiled(ctx context.Context, name string, number int) (*rules.Compiled, error)
}

// Limits of the rule-set routes.
const (
	// maxRuleSetBody bounds a rule set's body: the rules package refuses a
	// text over rules.MaxYAML with a message; JSON escaping can double its size.
	maxRuleSetBody = 4 * rules.MaxYAML
	maxComment     = rules.MaxComment
	// Backtests look at the last defaultBacktest cases unless told, at most
	// maxBacktest, and read at most maxBacktestScan cases to find those in a
	// date range (newest first, so a range far back costs most).
	defaultBacktest = 200
	maxBacktest     = 5_000
	maxBacktestScan = 50_000
)

// rulesRoutes serves the rule sets under /rulesets: reading versions and
// history, drafting, validating, publishing and rolling back, and trying a
// text out with simulate and backtest before publishing it. A server without
// a rule store has none of these routes.
func (s *Server) rulesRoutes(g *gin.RouterGroup, admins gin.HandlerFunc) {
	if s.deps.Rules == nil {
		return
	}
	r := g.Group("/rulesets", admins)
	r.GET("", s.listRuleSets)
	r.GET("/:name", s.activeRuleSet)
	r.GET("/:name/versions", s.ruleSetVersions)
	r.GET("/:name/versions/:n", s.ruleSetVersion)
	r.GET("/:name/history", s.ruleSetHistory)
	r.POST("/:name/validate", s.validateRuleSet)
	r.GET("/:name/draft", s.getDraft)
	r.PUT("/:name/draft", s.saveDraft)
	r.DELETE("/:name/draft", s.discardDraft)
	r.POST("/:name/publish", s.publishRuleSet)
	r.POST("/:name/rollback", s.rollbackRuleSet)
	r.GET("/:name/diff", s.diffRuleSet)
	r.POST("/:name/simulate", s.simulate)
	r.POST("/:name/backtest", s.backtest)
}

// ruleSetProblem is the problem document for a rule set with mistakes: all of
// them, each with its rule, line, column and message, in errors.
type ruleSetProblem struct {
	Problem
	Errors []rules.Problem `json:"errors"`
}

// mistakes answers 422 listing every mistake in a rule set; field is the
// request field that held it ("yaml"), if any.
func mistakes(c *gin.Context, ps rules.Problems, field string) {
	detail := "the rule set has a mistake: " + ps[0].String()
	if len(ps) > 1 {
		detail = fmt.Sprintf("the rule set has %d mistakes, listed in errors; the first: %s", len(ps), ps[0])
	}
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(http.StatusUnprocessableEntity, ruleSetProblem{
		Problem: Problem{Type: "about:blank", Title: "The rule set has mistakes", Status: http.StatusUnprocessableEntity, Detail: detail, Field: field},
		Errors:  ps,
	})
}

// rulesProblem answers an error of the rule store: mistakes in a text 422,
// what does not exist 404, a rollback to the active version 409.
func (s *Server) rulesProblem(c *gin.Context, err error) {
	var ps rules.Problems
	switch {
	case errors.As(err, &ps) && len(ps) > 0:
		mistakes(c, ps, "")
	case errors.Is(err, rules.ErrNotFound):
		problem(c, http.StatusNotFound, "Not found", notFound(err), "")
	case errors.Is(err, rules.ErrAlreadyActive):
		problem(c, http.StatusConflict, "Already active", err.Error(), "version")
	default:
		s.log.Error("rules api", "path", c.FullPath(), "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the rule store did not answer; try again shortly", "")
	}
}

// notFound says what does not exist without Go's ": not found" tail.
func notFound(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+rules.ErrNotFound.Error())
}

// versionSummary is a version without its text, as lists show it.
type versionSummary struct {
	Number  int       `json:"number"`
	Author  string    `json:"author"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment,omitempty"`
}

func summarise(v rules.Version) versionSummary {
	return versionSummary{Number: v.Number, Author: v.Author, At: v.At, Comment: v.Comment}
}

type ruleSetSummary struct {
	Name string `json:"name"`
	// Active is nil for a rule set that has only a draft.
	Active   *versionSummary `json:"active"`
	HasDraft bool            `json:"has_draft"`
}

// listRuleSets serves GET /rulesets: every rule set, its active version and
// whether someone is drafting a change.
func (s *Server) listRuleSets(c *gin.Context) {
	ctx := c.Request.Context()
	names, err := s.deps.Rules.Names(ctx)
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	out := make([]ruleSetSummary, 0, len(names))
	for _, name := range names {
		sum := ruleSetSummary{Name: name}
		v, err := s.deps.Rules.Active(ctx, name)
		if err == nil {
			vs := summarise(v)
			sum.Active = &vs
		} else if !errors.Is(err, rules.ErrNotFound) {
			s.rulesProblem(c, err)
			return
		}
		_, err = s.deps.Rules.Draft(ctx, name)
		if err != nil && !errors.Is(err, rules.ErrNotFound) {
			s.rulesProblem(c, err)
			return
		}
		sum.HasDraft = err == nil
		out = append(out, sum)
	}
	c.JSON(http.StatusOK, gin.H{"rule_sets": out})
}

// activeRuleSet serves GET /rulesets/{name}: the active version with its text.
func (s *Server) activeRuleSet(c *gin.Context) {
	v, err := s.deps.Rules.Active(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// knownRuleSet answers 404 unless the rule set exists (has a version or a draft).
func (s *Server) knownRuleSet(c *gin.Context, name string) bool {
	names, err := s.deps.Rules.Names(c.Request.Context())
	if err != nil {
		s.rulesProblem(c, err)
		return false
	}
	if !slices.Contains(names, name) {
		problem(c, http.StatusNotFound, "Not found", fmt.Sprintf("there is no rule set called %q", name), "")
		return false
	}
	return true
}

// ruleSetVersions serves GET /rulesets/{name}/versions, oldest first, without
// their texts.
func (s *Server) ruleSetVersions(c *gin.Context) {
	ctx, name := c.Request.Context(), c.Param("name")
	if !s.knownRuleSet(c, name) {
		return
	}
	vs, err := s.deps.Rules.Versions(ctx, name)
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	active := 0
	if v, err := s.deps.Rules.Active(ctx, name); err == nil {
		active = v.Number
	} else if !errors.Is(err, rules.ErrNotFound) {
		s.rulesProblem(c, err)
		return
	}
	out := make([]versionSummary, len(vs))
	for i, v := range vs {
		out[i] = summarise(v)
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "active": active, "versions": out})
}

// ruleSetVersion serves GET /rulesets/{name}/versions/{n}, with its text.
func (s *Server) ruleSetVersion(c *gin.Context) {
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 1 {
		problem(c, http.StatusNotFound, "Not found", "versions are numbered from 1", "n")
		return
	}
	v, err := s.deps.Rules.Version(c.Request.Context(), c.Param("name"), n)
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// ruleSetHistory serves GET /rulesets/{name}/history: every activation,
// oldest first: which version, by whom, when and why.
func (s *Server) ruleSetHistory(c *gin.Context) {
	name := c.Param("name")
	if !s.knownRuleSet(c, name) {
		return
	}
	h, err := s.deps.Rules.History(c.Request.Context(), name)
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"name": name, "activations": h})
}

// ruleSetText reads a rule set's YAML from the body: sent as it is
// (text/yaml or application/yaml) or as JSON {"yaml": "..."}.
func ruleSetText(c *gin.Context) ([]byte, bool) {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxRuleSetBody)
	tooLarge := func(err error) bool {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem(c, http.StatusRequestEntityTooLarge, "Too large", fmt.Sprintf("the body is over %d MiB; a rule set's text can be at most %d MiB", maxRuleSetBody>>20, rules.MaxYAML>>20), "yaml")
			return true
		}
		return false
	}
	switch c.ContentType() {
	case "text/yaml", "application/yaml", "application/x-yaml", "text/x-yaml":
		b, err := io.ReadAll(body)
		if err != nil {
			if !tooLarge(err) {
				problem(c, http.StatusBadRequest, "Unreadable body", err.Error(), "")
			}
			return nil, false
		}
		return b, true
	case "application/json":
		var v struct {
			YAML *string `json:"yaml"`
		}
		dec := json.NewDecoder(body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			if !tooLarge(err) {
				problem(c, http.StatusBadRequest, "Malformed JSON", err.Error(), "yaml")
			}
			return nil, false
		}
		if v.YAML == nil {
			problem(c, http.StatusUnprocessableEntity, "Invalid request", `send the rule set's text as {"yaml": "..."}`, "yaml")
			return nil, false
		}
		return []byte(*v.YAML), true
	}
	problem(c, http.StatusUnsupportedMediaType, "Unsupported media type", `send the rule set as text/yaml or application/yaml, or as JSON {"yaml": "..."}`, "")
	return nil, false
}

// checkRuleSet lists every mistake in a text meant to be saved as the named
// rule set: those rules.Validate finds, and a name that is not the one it is
// saved under (the store refuses that too).
func (s *Server) checkRuleSet(name string, text []byte) rules.Problems {
	ps := rules.Problems(rules.Validate(text, s.deps.Rules.Catalogue()))
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return ps
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" && v.Value != name {
			p := rules.Problem{Field: "name", Line: v.Line, Column: v.Column,
				Message: fmt.Sprintf("this text is the rule set '%s', but it is being saved as '%s': write name: %s", v.Value, name, name)}
			ps = append(rules.Problems{p}, ps...)
			slices.SortStableFunc(ps, func(a, b rules.Problem) int { return cmp.Or(a.Line-b.Line, a.Column-b.Column) })
			break
		}
	}
	return ps
}

// validateRuleSet serves POST /rulesets/{name}/validate: 200 {"valid": true},
// or 422 with every mistake. Nothing is saved.
func (s *Server) validateRuleSet(c *gin.Context) {
	text, ok := ruleSetText(c)
	if !ok {
		return
	}
	if ps := s.checkRuleSet(c.Param("name"), text); len(ps) > 0 {
		mistakes(c, ps, "yaml")
		return
	}
	c.JSON(http.StatusOK, gin.H{"valid": true})
}

func (s *Server) getDraft(c *gin.Context) {
	d, err := s.deps.Rules.Draft(c.Request.Context(), c.Param("name"))
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// saveDraft serves PUT /rulesets/{name}/draft: a text that compiles replaces
// the draft; one with mistakes is refused with all of them.
func (s *Server) saveDraft(c *gin.Context) {
	name := c.Param("name")
	text, ok := ruleSetText(c)
	if !ok {
		return
	}
	d, err := s.deps.Rules.SaveDraft(c.Request.Context(), name, text, who(c).Name)
	var ps rules.Problems
	if errors.As(err, &ps) {
		// Validate's list is the fuller one: it also reads past a broken YAML shape.
		if all := s.checkRuleSet(name, text); len(all) > 0 {
			ps = all
		}
		mistakes(c, ps, "yaml")
		return
	}
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

func (s *Server) discardDraft(c *gin.Context) {
	if err := s.deps.Rules.DiscardDraft(c.Request.Context(), c.Param("name")); err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// commentOf checks the comment a publish or rollback is recorded with.
func commentOf(c *gin.Context, comment, example string) (string, bool) {
	comment = strings.TrimSpace(comment)
	switch {
	case comment == "":
		problem(c, http.StatusUnprocessableEntity, "Invalid request", fmt.Sprintf("say why, for the rule set's history, e.g. {\"comment\": %q}", example), "comment")
		return "", false
	case len(comment) > maxComment:
		problem(c, http.StatusUnprocessableEntity, "Invalid request", fmt.Sprintf("the comment is longer than %d characters", maxComment), "comment")
		return "", false
	}
	return comment, true
}

// activated is a version just made active. Warning says if other processes
// were not told at once (they notice at their next periodic check), or if
// Temporal does not keep the change yet (a worker's rules sync records it).
type activated struct {
	rules.Version
	Warning string `json:"warning,omitempty"`
}

// activatedOrProblem answers with the version made active, or the error.
func (s *Server) activatedOrProblem(c *gin.Context, status int, v rules.Version, err error) {
	if err != nil && v.Number == 0 {
		s.rulesProblem(c, err)
		return
	}
	out := activated{Version: v}
	if err != nil {
		s.log.Warn("rule set activated, but not everything followed", "rule_set", v.Name, "version", v.Number, "error", err)
		out.Warning = err.Error()
	}
	c.JSON(status, out)
}

// publishRuleSet serves POST /rulesets/{name}/publish {comment}: the draft
// becomes the next version and is active at once. 409 when there is no draft,
// or the draft is the active version's text already.
func (s *Server) publishRuleSet(c *gin.Context) {
	ctx, name := c.Request.Context(), c.Param("name")
	var body struct {
		Comment string `json:"comment"`
	}
	if !bindJSON(c, &body) {
		return
	}
	comment, ok := commentOf(c, body.Comment, "graffiti goes to enforcement from Monday")
	if !ok {
		return
	}
	d, err := s.deps.Rules.Draft(ctx, name)
	if errors.Is(err, rules.ErrNotFound) {
		problem(c, http.StatusConflict, "No draft", fmt.Sprintf("rule set %q has no draft to publish: save one first with PUT /api/v1/rulesets/%s/draft", name, name), "")
		return
	}
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	active, err := s.deps.Rules.Active(ctx, name)
	switch {
	case err == nil && active.YAML == d.YAML:
		problem(c, http.StatusConflict, "Already active", fmt.Sprintf("the draft is the text of version %d, which is active already; nothing to publish", active.Number), "")
		return
	case err != nil && !errors.Is(err, rules.ErrNotFound):
		s.rulesProblem(c, err)
		return
	}
	v, err := s.deps.Rules.Publish(ctx, name, who(c).Name, comment)
	if errors.Is(err, rules.ErrNotFound) { // published or discarded meanwhile
		problem(c, http.StatusConflict, "No draft", notFound(err), "")
		return
	}
	if v.Number > 0 {
		c.Header("Location", fmt.Sprintf("/api/v1/rulesets/%s/versions/%d", name, v.Number))
	}
	s.activatedOrProblem(c, http.StatusCreated, v, err)
}

// rollbackRuleSet serves POST /rulesets/{name}/rollback {version, comment}:
// makes an earlier (or any) version active again.
func (s *Server) rollbackRuleSet(c *gin.Context) {
	var body struct {
		Version int    `json:"version"`
		Comment string `json:"comment"`
	}
	if !bindJSON(c, &body) {
		return
	}
	if body.Version < 1 {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", `say which version to make active, e.g. {"version": 3, "comment": "..."}`, "version")
		return
	}
	comment, ok := commentOf(c, body.Comment, "back to version "+strconv.Itoa(body.Version)+": the new rules sent noise to parks")
	if !ok {
		return
	}
	v, err := s.deps.Rules.Rollback(c.Request.Context(), c.Param("name"), body.Version, who(c).Name, comment)
	if errors.Is(err, rules.ErrNotFound) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", notFound(err), "version")
		return
	}
	s.activatedOrProblem(c, http.StatusOK, v, err)
}

// pickVersion reads which text of a rule set a query parameter names: the
// active version (also when left out: def "active"), the draft
// (rules.DraftVersion) or a version number.
func (s *Server) pickVersion(c *gin.Context, name, param, def string) (int, bool) {
	v := c.DefaultQuery(param, def)
	switch v {
	case "draft":
		return rules.DraftVersion, true
	case "active":
		a, err := s.deps.Rules.Active(c.Request.Context(), name)
		if err != nil {
			s.rulesProblem(c, err)
			return 0, false
		}
		return a.Number, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		problem(c, http.StatusUnprocessableEntity, "Invalid query", fmt.Sprintf("%s is a version number, active or draft, not %q", param, v), param)
		return 0, false
	}
	return n, true
}

// diffRuleSet serves GET /rulesets/{name}/diff?from=N|active|draft&to=...:
// from the active version to the draft unless told.
func (s *Server) diffRuleSet(c *gin.Context) {
	name := c.Param("name")
	from, ok := s.pickVersion(c, name, "from", "active")
	if !ok {
		return
	}
	to, ok := s.pickVersion(c, name, "to", "draft")
	if !ok {
		return
	}
	d, err := s.deps.Rules.Diff(c.Request.Context(), name, from, to)
	if err != nil {
		s.rulesProblem(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// compiledFor compiles the text of the rule set that ?version= names, the
// active version unless def says otherwise.
func (s *Server) compiledFor(c *gin.Context, name, def string) (*rules.Compiled, bool) {
	n, ok := s.pickVersion(c, name, "version", def)
	if !ok {
		return nil, false
	}
	ctx := c.Request.Context()
	var set *rules.Compiled
	var err error
	if n == rules.DraftVersion {
		var d rules.Draft
		if d, err = s.deps.Rules.Draft(ctx, name); err == nil {
			// Compiled again: the catalogue may have changed since it was saved.
			set, err = rules.CompileYAML([]byte(d.YAML), s.deps.Rules.Catalogue())
		}
	} else {
		set, err = s.deps.Rules.Compiled(ctx, name, n)
	}
	if err != nil {
		s.rulesProblem(c, err)
		return nil, false
	}
	return set, true
}

// caseFacts rebuilds the facts a case was routed on: from its first report
// and its service now (routing runs again when it changes), on the council's
// calendar and areas. open_nearby is the count recorded when the case was
// routed, if its decision kept it; otherwise, if set reads it, today's count
// of the other open cases nearby, which note says.
func (s *Server) caseFacts(ctx context.Context, k *cases.Case, set *rules.Compiled) (f rules.Facts, note string) {
	src := s.deps.FactSources
	src.Except = k.Ref
	var recorded any
	if k.Routing != nil {
		recorded = k.Routing.Facts["open_nearby"]
	}
	if recorded != nil || !set.Uses("open_nearby") {
		src.Nearby = nil
	}
	f, err := rules.BuildFacts(ctx, k.Report(), k.Service, src) // fails only counting nearby cases
	switch n := recorded.(type) {
	case int:
		f.OpenNearby = n
	case float64: // read back from JSON
		f.OpenNearby = int(n)
	}
	switch {
	case err != nil:
		return f, fmt.Sprintf("%s: open_nearby was taken as 0, as the open cases nearby could not be counted: %v", k.Ref, err)
	case src.Nearby != nil && f.HasPoint:
		return f, fmt.Sprintf("%s: open_nearby is today's count; the count when it was routed was not recorded", k.Ref)
	}
	return f, ""
}

// simulateRequest is the body of POST /rulesets/{name}/simulate: a case's
// facts written out, or the reference of a case to take them from.
type simulateRequest struct {
	Facts *rules.Facts `json:"facts"`
	Ref   string       `json:"ref"`
}

type simulation struct {
	RuleSet string      `json:"rule_set"`
	Version int         `json:"version"` // 0 for the draft
	Ref     string      `json:"ref,omitempty"`
	Facts   rules.Facts `json:"facts"`
	rules.Simulation
	// Recorded is how the case was routed, and Changed whether this
	// decision sends it elsewhere (rules.RouteLabel); with ref only.
	Recorded *cases.Decision `json:"recorded,omitempty"`
	Changed  *bool           `json:"changed,omitempty"`
	Notes    []string        `json:"notes,omitempty"`
}

// simulate serves POST /rulesets/{name}/simulate?version=active|draft|N:
// what the rule set would decide for some facts, and what every rule made of
// them.
func (s *Server) simulate(c *gin.Context) {
	var body simulateRequest
	if !bindJSON(c, &body) {
		return
	}
	if (body.Facts == nil) == (body.Ref == "") {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", `send either the facts, e.g. {"facts": {"service_code": "POT", "attributes": {"dangerous": "yes"}}}, or a case reference, e.g. {"ref": "CB-7KQ2M9"}`, "facts")
		return
	}
	set, ok := s.compiledFor(c, c.Param("name"), "active")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	out := simulation{RuleSet: set.Name(), Version: set.Version()}
	var f rules.Facts
	if body.Ref != "" {
		k, ok := s.caseFor(c, body.Ref)
		if !ok {
			return
		}
		var note string
		f, note = s.caseFacts(ctx, k, set)
		if note != "" {
			out.Notes = append(out.Notes, note)
		}
		out.Ref, out.Recorded = k.Ref, k.Routing
	} else {
		f = *body.Facts
		if !f.HasPoint && (f.Lat != 0 || f.Long != 0) {
			f.HasPoint = true
		}
		if f.HasPoint && len(f.Areas) == 0 && s.deps.FactSources.Areas != nil {
			if f.Areas = s.deps.FactSources.Areas.Lookup(f.Lat, f.Long); len(f.Areas) > 0 {
				out.Notes = append(out.Notes, "areas were looked up from lat and long")
			}
		}
	}
	out.Simulation = rules.Simulate(set, f)
	out.Simulation.Decision.DecidedAt = s.deps.Now().UTC()
	out.Facts = f.Normalize()
	if out.Recorded != nil {
		changed := rules.RouteLabel(*out.Recorded) != rules.RouteLabel(out.Decision)
		out.Changed = &changed
	}
	c.JSON(http.StatusOK, out)
}

// caseFor finds the case a request body names: from the engine, or from the
// read model if the engine does not answer.
func (s *Server) caseFor(c *gin.Context, raw string) (*cases.Case, bool) {
	prefix := s.cfg.Council.RefPrefix
	ref := cases.NormalizeRef(prefix, raw)
	if !cases.ValidRef(prefix, ref) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", fmt.Sprintf("%q is not a case reference (they look like %s7KQ2M9)", raw, prefix), "ref")
		return nil, false
	}
	ctx := c.Request.Context()
	k, err := s.deps.Cases.Get(ctx, ref)
	if err != nil && !errors.Is(err, cases.ErrNotFound) {
		k, err = s.deps.ReadModel.Get(ctx, ref)
	}
	switch {
	case errors.Is(err, cases.ErrNotFound):
		problem(c, http.StatusUnprocessableEntity, "Invalid request", "there is no case "+ref, "ref")
		return nil, false
	case err != nil:
		s.log.Error("rules api: read case", "ref", ref, "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the case engine did not answer; try again shortly", "")
		return nil, false
	}
	return k, true
}

// backtestRequest is the body of POST /rulesets/{name}/backtest: the last
// cases received, or those received in a date range.
type backtestRequest struct {
	Last int `json:"last"`
	// From and To are dates (YYYY-MM-DD, on the council's clock: from the
	// start of From's day to the end of To's) or RFC 3339 times.
	From string `json:"from"`
	To   string `json:"to"`
}

// window is which past cases a backtest reads: the last n received, or those
// received from from to to, both included; a zero bound is open.
type window struct {
	last     int
	from, to time.Time
}

type backtestResult struct {
	rules.BacktestReport
	// Oldest and Newest are when the cases compared were received.
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
	// Unrouted counts cases left out because they have no routing decision.
	Unrouted int `json:"unrouted,omitempty"`
	// Truncated: more cases than the backtest may read were in the range.
	Truncated bool     `json:"truncated,omitempty"`
	Notes     []string `json:"notes,omitempty"`
}

// backtest serves POST /rulesets/{name}/backtest?version=draft|active|N: how
// a text of the rule set (the draft unless told) would have routed past cases,
// compared with how they were routed: how many would go elsewhere, grouped by
// old → new route, with their references.
func (s *Server) backtest(c *gin.Context) {
	var body backtestRequest
	if c.Request.ContentLength != 0 && !bindJSON(c, &body) {
		return
	}
	w, ok := s.backtestWindow(c, body)
	if !ok {
		return
	}
	set, ok := s.compiledFor(c, c.Param("name"), "draft")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	past, truncated, err := s.pastCases(ctx, w)
	if err != nil {
		s.log.Error("rules api: backtest", "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the read model did not answer; try again shortly", "")
		return
	}
	out := backtestResult{Truncated: truncated}
	routed := make([]rules.PastCase, 0, len(past))
	nearbyNotes := 0
	for _, k := range past {
		if k.Routing == nil {
			out.Unrouted++
			continue
		}
		f, note := s.caseFacts(ctx, k, set)
		if note != "" {
			nearbyNotes++
			if nearbyNotes <= 3 {
				out.Notes = append(out.Notes, note)
			}
		}
		routed = append(routed, rules.PastCase{Ref: k.Ref, Facts: f, Decision: *k.Routing})
		if out.Oldest.IsZero() || k.ReceivedAt.Before(out.Oldest) {
			out.Oldest = k.ReceivedAt
		}
		if k.ReceivedAt.After(out.Newest) {
			out.Newest = k.ReceivedAt
		}
	}
	if nearbyNotes > 3 {
		out.Notes = append(out.Notes, fmt.Sprintf("and %d more cases with the same note", nearbyNotes-3))
	}
	out.BacktestReport = rules.Backtest(set, routed)
	if out.Moves == nil {
		out.Moves = []rules.Move{}
	}
	c.JSON(http.StatusOK, out)
}

// backtestWindow checks a backtest's choice of cases.
func (s *Server) backtestWindow(c *gin.Context, b backtestRequest) (window, bool) {
	bad := func(field, why string) (window, bool) {
		problem(c, http.StatusUnprocessableEntity, "Invalid request", why, field)
		return window{}, false
	}
	if b.Last != 0 && (b.From != "" || b.To != "") {
		return bad("last", "ask for the last cases or for a date range, not both")
	}
	if b.From == "" && b.To == "" {
		switch {
		case b.Last == 0:
			return window{last: defaultBacktest}, true
		case b.Last < 0 || b.Last > maxBacktest:
			return bad("last", fmt.Sprintf("last is a number of cases from 1 to %d", maxBacktest))
		}
		return window{last: b.Last}, true
	}
	loc := s.councilZone()
	var w window
	if b.From != "" {
		t, _, err := parseInstant(b.From, loc)
		if err != nil {
			return bad("from", "from: "+err.Error())
		}
		w.from = t
	}
	if b.To != "" {
		t, isDate, err := parseInstant(b.To, loc)
		if err != nil {
			return bad("to", "to: "+err.Error())
		}
		if isDate { // the whole day, to the read model's microsecond
			t = t.AddDate(0, 0, 1).Add(-time.Microsecond)
		}
		w.to = t
	}
	if !w.to.IsZero() && w.to.Before(w.from) {
		return bad("to", "to is before from")
	}
	return w, true
}

// pastCases reads the cases a backtest compares, newest first, from the read
// model. truncated says the window held more than maxBacktest, or that
// maxBacktestScan cases were read before reaching its start.
func (s *Server) pastCases(ctx context.Context, w window) (out []*cases.Case, truncated bool, err error) {
	want := w.last
	if want == 0 {
		want = maxBacktest
	}
	q := readmodel.ListQuery{Sort: readmodel.SortReceived, Desc: true, Limit: min(want, readmodel.MaxPageSize), Now: s.deps.Now()}
	for scanned := 0; scanned < maxBacktestScan; {
		page, err := s.deps.ReadModel.List(ctx, q)
		if err != nil {
			return nil, false, err
		}
		for _, k := range page.Cases {
			scanned++
			if !w.to.IsZero() && k.ReceivedAt.After(w.to) {
				continue
			}
			if k.ReceivedAt.Before(w.from) {
				return out, false, nil
			}
			if len(out) == want {
				return out, true, nil // a window with more cases than a backtest reads
			}
			out = append(out, k)
			if w.last > 0 && len(out) == w.last {
				return out, false, nil
			}
		}
		if page.Next == "" {
			return out, false, nil
		}
		q.Cursor, q.Limit = page.Next, readmodel.MaxPageSize
	}
	return out, true, nil
}
