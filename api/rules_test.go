package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/rules"
)

const rulesToken = "rules-token" // rita, role rules_admin only

// rulesHarness is the API harness with a rule store, on a Redis of its own,
// holding the demo rules as version 1 of "routing", and the demo council's
// calendar, areas and read model as fact sources.
type rulesHarness struct {
	*harness
	rules   *rules.Store
	sources rules.FactSources
}

func newRulesHarness(t *testing.T) *rulesHarness {
	t.Helper()
	h := newHarness(t)
	cal, err := calendar.New(h.cfg.Calendar)
	if err != nil {
		t.Fatal(err)
	}
	wards := areas.Demo()
	rh := &rulesHarness{harness: h, sources: rules.FactSources{Calendar: cal, Areas: wards, Nearby: h.store}}
	rh.rules = rules.NewStore(redistest.Start(t).Client(), "cb:", catalogue(h.cfg, wards), func() time.Time { return h.now })
	if _, _, err := rh.rules.Seed(context.Background(), rules.Routing, rules.DemoYAML(), "casebridge dev", "the demo council's rules"); err != nil {
		t.Fatal(err)
	}
	s := NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{
		Cases: h.engine, ReadModel: h.store, Metrics: metrics.New(),
		Now:   func() time.Time { return h.now },
		Rules: rh.rules, FactSources: rh.sources,
	})
	h.srv.Close()
	h.srv = httptest.NewServer(s)
	t.Cleanup(h.srv.Close)
	return rh
}

// yamlBody sends a rule set as YAML.
func (h *rulesHarness) yamlBody(method, path, text string) response {
	h.t.Helper()
	return h.do(method, path, strings.NewReader(text), "application/yaml", "Authorization", "Bearer "+rulesToken)
}

func decodeAs[T any](t *testing.T, r response, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// wantProblem checks that r is a problem document with status, naming field.
func wantProblem(t *testing.T, what string, r response, status int, field string) {
	t.Helper()
	var p Problem
	if json.Unmarshal(r.body, &p); r.status != status || p.Field != field {
		t.Errorf("%s: %d %s, want %d naming %q", what, r.status, r.body, status, field)
	}
}

// oneRule is a rule set whose only rule, r, has its condition on line 6 from
// column 11 and its route on line 7 from column 11.
func oneRule(when, then string) string {
	return fmt.Sprintf("name: routing\ndefault:\n  department: triage\nrules:\n  - id: r\n    when: %s\n    then: %s\n", when, then)
}

// graffitiToHighways is the demo rules with graffiti moved from the waste
// department to highways' signs-and-lines team.
func graffitiToHighways(t *testing.T) string {
	t.Helper()
	const from = "then: {department: waste, team: graffiti, priority: low, sla_policy: graffiti}"
	demo := string(rules.DemoYAML())
	if strings.Count(demo, from) != 1 {
		t.Fatalf("the demo rules no longer route graffiti with %q", from)
	}
	return strings.Replace(demo, from, "then: {department: highways, team: signs-and-lines, priority: low, sla_policy: graffiti}", 1)
}

func TestRulesValidate(t *testing.T) {
	h := newRulesHarness(t)
	const hw = "{department: highways}"
	for _, tc := range []struct {
		name, yaml string
		rule       string
		line, col  int // 0: not checked
		want       string
	}{
		{"unknown fact", oneRule(`descripton == "x"`, hw), "r", 6, 11, "there is no fact called 'descripton' — did you mean 'description'?"},
		{"wrong type", oneRule(`hour == "18"`, hw), "r", 6, 16, "'==' cannot be used between a whole number and text"},
		{"when not true or false", oneRule(`hour`, hw), "r", 6, 11, "the condition must be true or false, but this gives a whole number"},
		{"unknown department", oneRule("true", "{department: highway}"), "r", 7, 24, "there is no department called 'highway' — did you mean 'highways'?"},
		{"unknown SLA policy", oneRule("true", "{department: highways, sla_policy: pothol}"), "r", 7, 46, "there is no SLA policy called 'pothol' — did you mean 'pothole'?"},
		{"unknown team", oneRule("true", "{department: highways, team: noise}"), "r", 7, 40, "the highways department has no team called 'noise'"},
		{"hostile: a billion-long string", oneRule(`repeat("a", 1000000000) == ""`, hw), "r", 6, 11, "'repeat' is not available in routing rules"},
		{"hostile: a billion-value range", oneRule(`1..1000000000 | any(# == 5)`, hw), "r", 6, 0, "at most 1,000 are allowed"},
		{"hostile: the clock", oneRule(`now().Year() > 2000`, hw), "r", 6, 11, "cannot read the clock"},
		{"hostile: too long to run", oneRule(`all(1..1000, all(1..1000, containsAny(description, ["a", "b"])))`, hw), "r", 6, 11, "could take too long"},
		{"saved under another name", strings.Replace(oneRule("true", hw), "name: routing", "name: intake", 1), "", 1, 7, "this text is the rule set 'intake', but it is being saved as 'routing'"},
		{"not YAML", "name: routing\nrules: [\n", "", 0, 0, "this is not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			p := decodeAs[ruleSetProblem](t, h.yamlBody("POST", "/api/v1/rulesets/routing/validate", tc.yaml), 422)
			if p.Status != 422 || p.Field != "yaml" || !strings.Contains(p.Detail, tc.want) {
				t.Errorf("problem %+v, want 422 on yaml with detail mentioning %q", p.Problem, tc.want)
			}
			for _, e := range p.Errors {
				if strings.Contains(e.Message, tc.want) {
					if e.Rule != tc.rule || (tc.line != 0 && e.Line != tc.line) || (tc.col != 0 && e.Column != tc.col) {
						t.Errorf("error %+v, want rule %q at line %d column %d", e, tc.rule, tc.line, tc.col)
					}
					return
				}
			}
			t.Errorf("errors %+v, want one saying %q", p.Errors, tc.want)
		})
	}
	h.t = t

	// Every mistake at once, in the order of the file; and as JSON too.
	both := oneRule(`descripton == "x"`, "{department: highway}")
	body, _ := json.Marshal(map[string]string{"yaml": both})
	p := decodeAs[ruleSetProblem](t, h.staff("POST", "/api/v1/rulesets/routing/validate", string(body), rulesToken), 422)
	if len(p.Errors) != 2 || p.Errors[0].Line != 6 || p.Errors[1].Line != 7 || !strings.Contains(p.Detail, "2 mistakes") {
		t.Errorf("two mistakes: %+v", p)
	}
	if ct := h.staff("POST", "/api/v1/rulesets/routing/validate", string(body), rulesToken).header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want a problem document", ct)
	}

	// A good rule set, as YAML and as JSON.
	if v := decodeAs[map[string]bool](t, h.yamlBody("POST", "/api/v1/rulesets/routing/validate", string(rules.DemoYAML())), 200); !v["valid"] {
		t.Errorf("demo rules: %v", v)
	}
	body, _ = json.Marshal(map[string]string{"yaml": oneRule("true", hw)})
	if v := decodeAs[map[string]bool](t, h.staff("POST", "/api/v1/rulesets/routing/validate", string(body), rulesToken), 200); !v["valid"] {
		t.Errorf("one rule as JSON: %v", v)
	}
	// Nothing was saved.
	if r := h.staff("GET", "/api/v1/rulesets/routing/draft", "", rulesToken); r.status != 404 {
		t.Errorf("validate saved a draft: %d %s", r.status, r.body)
	}

	for _, tc := range []struct {
		name, body, ct string
		status         int
		field          string
	}{
		{"plain text", oneRule("true", hw), "text/plain", 415, ""},
		{"JSON without yaml", `{"text": "name: routing"}`, "application/json", 400, "yaml"},
		{"JSON with yaml missing", `{}`, "application/json", 422, "yaml"},
	} {
		wantProblem(t, tc.name, h.do("POST", "/api/v1/rulesets/routing/validate", strings.NewReader(tc.body), tc.ct, "Authorization", "Bearer "+rulesToken), tc.status, tc.field)
	}
}

func TestRulesDraftPublishRollback(t *testing.T) {
	h := newRulesHarness(t)
	const base = "/api/v1/rulesets/routing"
	type list struct {
		RuleSets []ruleSetSummary `json:"rule_sets"`
	}
	l := decodeAs[list](t, h.staff("GET", "/api/v1/rulesets", "", rulesToken), 200)
	if len(l.RuleSets) != 1 || l.RuleSets[0].Name != "routing" || l.RuleSets[0].Active == nil || l.RuleSets[0].Active.Number != 1 || l.RuleSets[0].HasDraft {
		t.Fatalf("rule sets: %+v", l)
	}
	v := decodeAs[rules.Version](t, h.staff("GET", base, "", rulesToken), 200)
	if v.Number != 1 || v.Author != "casebridge dev" || v.YAML != string(rules.DemoYAML()) {
		t.Errorf("active version: %d by %q", v.Number, v.Author)
	}
	if r := h.staff("GET", "/api/v1/rulesets/nope", "", rulesToken); r.status != 404 {
		t.Errorf("unknown rule set: %d %s", r.status, r.body)
	}

	// A draft with a mistake is refused; a good one is kept.
	if r := h.yamlBody("PUT", base+"/draft", oneRule("hour", "{department: highways}")); r.status != 422 || !strings.Contains(string(r.body), "must be true or false") {
		t.Errorf("bad draft: %d %s", r.status, r.body)
	}
	if r := h.staff("GET", base+"/draft", "", rulesToken); r.status != 404 {
		t.Errorf("a refused draft was kept: %d %s", r.status, r.body)
	}
	draft := graffitiToHighways(t)
	h.now = h.now.Add(time.Hour)
	d := decodeAs[rules.Draft](t, h.yamlBody("PUT", base+"/draft", draft), 200)
	if d.Author != "rita" || d.Base != 1 || d.YAML != draft {
		t.Errorf("saved draft: by %q on %d", d.Author, d.Base)
	}
	if got := decodeAs[rules.Draft](t, h.staff("GET", base+"/draft", "", rulesToken), 200); got.YAML != draft {
		t.Errorf("GET draft differs from what was saved")
	}

	diff := decodeAs[rules.Diff](t, h.staff("GET", base+"/diff", "", rulesToken), 200)
	if diff.From != 1 || diff.To != rules.DraftVersion || !slices.Equal(diff.Changed, []string{"graffiti"}) ||
		!strings.Contains(diff.Text, "+    then: {department: highways, team: signs-and-lines") {
		t.Errorf("diff active → draft: %+v", diff)
	}

	// Publishing needs a reason; then the draft is version 2 and active.
	wantProblem(t, "publish without a comment", h.staff("POST", base+"/publish", `{}`, rulesToken), 422, "comment")
	r := h.staff("POST", base+"/publish", `{"comment": "graffiti is highways' from Monday"}`, rulesToken)
	pub := decodeAs[activated](t, r, 201)
	if pub.Number != 2 || pub.Author != "rita" || r.header.Get("Location") != base+"/versions/2" {
		t.Errorf("published: %+v, Location %q", pub, r.header.Get("Location"))
	}
	v = decodeAs[rules.Version](t, h.staff("GET", base, "", rulesToken), 200)
	if v.Number != 2 || v.YAML != draft || v.Comment != "graffiti is highways' from Monday" {
		t.Errorf("active after publish: %d %q", v.Number, v.Comment)
	}
	if r := h.staff("POST", base+"/publish", `{"comment": "again"}`, rulesToken); r.status != 409 || !strings.Contains(string(r.body), "no draft") {
		t.Errorf("publish with no draft: %d %s", r.status, r.body)
	}
	// A draft that is the active text has nothing to publish.
	h.yamlBody("PUT", base+"/draft", draft)
	if r := h.staff("POST", base+"/publish", `{"comment": "again"}`, rulesToken); r.status != 409 || !strings.Contains(string(r.body), "active already") {
		t.Errorf("publish the active text: %d %s", r.status, r.body)
	}
	if r := h.staff("DELETE", base+"/draft", "", rulesToken); r.status != 204 {
		t.Errorf("discard draft: %d %s", r.status, r.body)
	}
	if r := h.staff("GET", base+"/draft", "", rulesToken); r.status != 404 {
		t.Errorf("discarded draft still there: %d", r.status)
	}
	if diff := decodeAs[rules.Diff](t, h.staff("GET", base+"/diff?from=1&to=2", "", rulesToken), 200); !slices.Equal(diff.Changed, []string{"graffiti"}) {
		t.Errorf("diff 1 → 2: %+v", diff)
	}
	if r := h.staff("GET", base+"/diff?from=1&to=9", "", rulesToken); r.status != 404 {
		t.Errorf("diff to a missing version: %d", r.status)
	}
	if r := h.staff("GET", base+"/diff?from=latest", "", rulesToken); r.status != 422 || !strings.Contains(string(r.body), `"field":"from"`) {
		t.Errorf("diff from=latest: %d %s", r.status, r.body)
	}

	// Roll back to version 1.
	h.now = h.now.Add(time.Hour)
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"comment": "x"}`, 422, "version"},
		{`{"version": 1}`, 422, "comment"},
		{`{"version": 9, "comment": "x"}`, 422, "version"},
		{`{"version": 2, "comment": "x"}`, 409, "version"},
	} {
		wantProblem(t, "rollback "+tc.body, h.staff("POST", base+"/rollback", tc.body, rulesToken), tc.status, tc.field)
	}
	rb := decodeAs[activated](t, h.staff("POST", base+"/rollback", `{"version": 1, "comment": "graffiti back to waste"}`, rulesToken), 200)
	if rb.Number != 1 {
		t.Errorf("rolled back to %d", rb.Number)
	}
	if v := decodeAs[rules.Version](t, h.staff("GET", base, "", rulesToken), 200); v.Number != 1 {
		t.Errorf("active after rollback: %d", v.Number)
	}

	type versions struct {
		Active   int              `json:"active"`
		Versions []versionSummary `json:"versions"`
	}
	vs := decodeAs[versions](t, h.staff("GET", base+"/versions", "", rulesToken), 200)
	if vs.Active != 1 || len(vs.Versions) != 2 || vs.Versions[1].Number != 2 || vs.Versions[1].Author != "rita" {
		t.Errorf("versions: %+v", vs)
	}
	if v := decodeAs[rules.Version](t, h.staff("GET", base+"/versions/2", "", rulesToken), 200); v.YAML != draft {
		t.Errorf("version 2 is not the published draft")
	}
	for _, path := range []string{base + "/versions/3", base + "/versions/x", "/api/v1/rulesets/nope/versions", "/api/v1/rulesets/nope/history"} {
		if r := h.staff("GET", path, "", rulesToken); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.status)
		}
	}
	type history struct {
		Activations []rules.Activation `json:"activations"`
	}
	hist := decodeAs[history](t, h.staff("GET", base+"/history", "", rulesToken), 200)
	var got []string
	for _, a := range hist.Activations {
		got = append(got, fmt.Sprintf("%s %d by %s: %s", a.Action, a.Version, a.Author, a.Comment))
	}
	want := []string{
		"seed 1 by casebridge dev: the demo council's rules",
		"publish 2 by rita: graffiti is highways' from Monday",
		"rollback 1 by rita: graffiti back to waste",
	}
	if !slices.Equal(got, want) {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// camden is a dangerous pothole in Camden Town, received at h.now.
func (h *rulesHarness) pothole(key string) (cases.Report, cases.Service) {
	lat, long := 51.5390, -0.1426
	return cases.Report{IntakeKey: key, Source: cases.SourceFixMyStreet, ServiceCode: "POT", Description: "Deep hole",
		Location: cases.Location{Lat: &lat, Long: &long}, Attributes: cases.Attributes{"dangerous": {"yes"}}, ReceivedAt: h.now}, h.service("POT")
}

func (h *rulesHarness) service(code string) cases.Service {
	h.t.Helper()
	svc, ok := h.cfg.Service(code)
	if !ok {
		h.t.Fatalf("the demo council has no service %s", code)
	}
	return cases.Service{Code: svc.Code, Name: svc.Name, Group: svc.Group}
}

// start opens a case routed as the active rules route it, as the workflow does.
func (h *rulesHarness) start(rep cases.Report, svc cases.Service) string {
	h.t.Helper()
	ctx := context.Background()
	active, err := h.rules.Compiled(ctx, rules.Routing, 1)
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := rules.BuildFacts(ctx, rep, svc, h.sources)
	if err != nil {
		h.t.Fatal(err)
	}
	h.engine.Route = active.Route(f)
	res, err := h.engine.Start(ctx, rep, svc)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Ref
}

func TestRulesSimulate(t *testing.T) {
	h := newRulesHarness(t)
	const base = "/api/v1/rulesets/routing/simulate"

	// Facts written out; the areas come from the point.
	sim := decodeAs[simulation](t, h.staff("POST", base, `{"facts": {"service_code": "POT", "attributes": {"dangerous": "yes"}, "lat": 51.539, "long": -0.1426}}`, rulesToken), 200)
	if sim.Version != 1 || sim.Decision.RuleID != "pothole-dangerous-north" || sim.Decision.Team != "roads-north" || !slices.Contains(sim.Facts.Areas, "Camden Town") {
		t.Errorf("simulate by facts: version %d, rule %s, team %s, areas %v", sim.Version, sim.Decision.RuleID, sim.Decision.Team, sim.Facts.Areas)
	}
	if len(sim.Decision.Explanation) == 0 || sim.Recorded != nil || sim.Changed != nil {
		t.Errorf("explanation %q, recorded %v", sim.Decision.Explanation, sim.Recorded)
	}
	outcomes := map[string]rules.Outcome{}
	for _, r := range sim.Rules {
		outcomes[r.ID] = r.Outcome
	}
	if outcomes["pothole-dangerous-north"] != rules.OutcomeMatched || outcomes["pothole-dangerous"] != rules.OutcomeAlsoMatches || outcomes["noise"] != rules.OutcomeNoMatch {
		t.Errorf("rule outcomes: %v", outcomes)
	}

	// A case's facts, by its reference (as people type it). The harness's
	// engine routed it to highways, high, by rule r1.
	rep, svc := h.pothole("test:1")
	res, err := h.engine.Start(context.Background(), rep, svc)
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Ref
	sim = decodeAs[simulation](t, h.staff("POST", base, `{"ref": "`+strings.ToLower(ref)+`"}`, rulesToken), 200)
	if sim.Ref != ref || sim.Decision.RuleID != "pothole-dangerous-north" || sim.Facts.Attributes["dangerous"] != "yes" || sim.Facts.Weekday != "Monday" {
		t.Errorf("simulate by ref: ref %s, rule %s, facts %+v", sim.Ref, sim.Decision.RuleID, sim.Facts)
	}
	if sim.Recorded == nil || sim.Recorded.RuleID != "r1" || sim.Changed == nil || !*sim.Changed {
		t.Errorf("simulate by ref: recorded %+v, changed %v; want the harness's route, changed", sim.Recorded, sim.Changed)
	}

	// Against the draft.
	if r := h.staff("POST", base+"?version=draft", `{"facts": {"service_code": "GRF"}}`, rulesToken); r.status != 404 {
		t.Errorf("simulate a missing draft: %d %s", r.status, r.body)
	}
	h.yamlBody("PUT", "/api/v1/rulesets/routing/draft", graffitiToHighways(t))
	sim = decodeAs[simulation](t, h.staff("POST", base+"?version=draft", `{"facts": {"service_code": "GRF", "description": "tag on a wall"}}`, rulesToken), 200)
	if sim.Version != 0 || sim.Decision.Department != "highways" || sim.Decision.RuleID != "graffiti" {
		t.Errorf("draft: version %d sends graffiti to %s by %s", sim.Version, sim.Decision.Department, sim.Decision.RuleID)
	}
	sim = decodeAs[simulation](t, h.staff("POST", base+"?version=1", `{"facts": {"service_code": "GRF"}}`, rulesToken), 200)
	if sim.Decision.Department != "waste" {
		t.Errorf("version 1 sends graffiti to %s", sim.Decision.Department)
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"neither facts nor ref", base, `{}`, 422, "facts"},
		{"both", base, `{"facts": {}, "ref": "` + ref + `"}`, 422, "facts"},
		{"unknown case", base, `{"ref": "CB-000000"}`, 422, "ref"},
		{"not a reference", base, `{"ref": "pothole"}`, 422, "ref"},
		{"misspelt fact", base, `{"facts": {"descripton": "x"}}`, 400, "descripton"},
		{"fact of the wrong type", base, `{"facts": {"hour": "ten"}}`, 400, "facts.hour"},
		{"unknown version", base + "?version=7", `{"facts": {}}`, 404, ""},
		{"bad version", base + "?version=newest", `{"facts": {}}`, 422, "version"},
	} {
		wantProblem(t, tc.name, h.staff("POST", tc.path, tc.body, rulesToken), tc.status, tc.field)
	}
}

func TestRulesBacktest(t *testing.T) {
	h := newRulesHarness(t)
	const base = "/api/v1/rulesets/routing/backtest"
	// One case a day, from Monday 2 November 2026.
	var refs []string
	for i, c := range []struct{ code, description string }{
		{"GRF", "Tag on the bus shelter"},
		{"POT", "Hole"},
		{"GRF", "Racist graffiti on the wall"}, // offensive: a rule of its own, unchanged
		{"FLY", "Mattress"},
		{"GRF", "Spray paint on the bridge"},
	} {
		rep := cases.Report{IntakeKey: fmt.Sprintf("test:%d", i), Source: cases.SourceWeb, ServiceCode: c.code, Description: c.description, ReceivedAt: h.now}
		refs = append(refs, h.start(rep, h.service(c.code)))
		h.now = h.now.Add(24 * time.Hour)
	}
	moved := []string{refs[0], refs[4]}
	h.yamlBody("PUT", "/api/v1/rulesets/routing/draft", graffitiToHighways(t))

	rep := decodeAs[backtestResult](t, h.staff("POST", base, "", rulesToken), 200)
	if rep.Version != 0 || rep.Cases != 5 || rep.Changed != 2 || rep.Errors != 0 || len(rep.Moves) != 1 {
		t.Fatalf("backtest of the draft: %+v", rep)
	}
	mv := rep.Moves[0]
	slices.Sort(mv.Refs)
	slices.Sort(moved)
	if mv.From != "waste/graffiti, low, SLA graffiti" || mv.To != "highways/signs-and-lines, low, SLA graffiti" || mv.Count != 2 ||
		!slices.Equal(mv.Refs, moved) || !slices.Equal(mv.Rules, []string{"graffiti"}) {
		t.Errorf("move = %+v, want the graffiti cases %v from waste to highways", mv, moved)
	}
	if !rep.Oldest.Equal(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)) || !rep.Newest.Equal(time.Date(2026, 11, 6, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("cases from %v to %v", rep.Oldest, rep.Newest)
	}

	// The last two cases: the FLY, and the last graffiti.
	rep = decodeAs[backtestResult](t, h.staff("POST", base, `{"last": 2}`, rulesToken), 200)
	if rep.Cases != 2 || rep.Changed != 1 || rep.Moves[0].Refs[0] != refs[4] {
		t.Errorf("last 2: %+v", rep)
	}
	// A date range: Tuesday to Wednesday (the whole of Wednesday, London time).
	rep = decodeAs[backtestResult](t, h.staff("POST", base, `{"from": "2026-11-03", "to": "2026-11-04"}`, rulesToken), 200)
	if rep.Cases != 2 || rep.Changed != 0 {
		t.Errorf("3 to 4 November: %+v", rep)
	}
	rep = decodeAs[backtestResult](t, h.staff("POST", base, `{"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z"}`, rulesToken), 200)
	if rep.Cases != 1 || rep.Changed != 1 || rep.Moves[0].Refs[0] != refs[0] {
		t.Errorf("1 to 3 November: %+v", rep)
	}
	// The active version routes them as they were routed.
	rep = decodeAs[backtestResult](t, h.staff("POST", base+"?version=active", "", rulesToken), 200)
	if rep.Version != 1 || rep.Cases != 5 || rep.Changed != 0 || rep.Moves == nil {
		t.Errorf("backtest of the active version: %+v", rep)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"last": 5001}`, "last"},
		{`{"last": -1}`, "last"},
		{`{"last": 2, "from": "2026-11-01"}`, "last"},
		{`{"from": "yesterday"}`, "from"},
		{`{"from": "2026-11-04", "to": "2026-11-01"}`, "to"},
	} {
		wantProblem(t, tc.body, h.staff("POST", base, tc.body, rulesToken), 422, tc.field)
	}
	h.staff("DELETE", "/api/v1/rulesets/routing/draft", "", rulesToken)
	if r := h.staff("POST", base, "", rulesToken); r.status != 404 || !strings.Contains(string(r.body), "no draft") {
		t.Errorf("backtest without a draft: %d %s", r.status, r.body)
	}
}

func TestRulesRoles(t *testing.T) {
	h := newRulesHarness(t)
	for _, tc := range []struct {
		method, path, body string
	}{
		{"GET", "/api/v1/rulesets", ""},
		{"GET", "/api/v1/rulesets/routing", ""},
		{"GET", "/api/v1/rulesets/routing/history", ""},
		{"POST", "/api/v1/rulesets/routing/validate", `{"yaml": ""}`},
		{"PUT", "/api/v1/rulesets/routing/draft", `{"yaml": ""}`},
		{"DELETE", "/api/v1/rulesets/routing/draft", ""},
		{"POST", "/api/v1/rulesets/routing/publish", `{"comment": "x"}`},
		{"POST", "/api/v1/rulesets/routing/rollback", `{"version": 1, "comment": "x"}`},
		{"POST", "/api/v1/rulesets/routing/simulate", `{"facts": {}}`},
		{"POST", "/api/v1/rulesets/routing/backtest", ``},
	} {
		if r := h.staff(tc.method, tc.path, tc.body, "agent-token"); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "rules_admin") {
			t.Errorf("agent %s %s: %d %s, want 403", tc.method, tc.path, r.status, r.body)
		}
		if r := h.do(tc.method, tc.path, strings.NewReader(tc.body), "application/json"); r.status != http.StatusUnauthorized {
			t.Errorf("no token %s %s: %d, want 401", tc.method, tc.path, r.status)
		}
	}
	for _, token := range []string{rulesToken, testToken} {
		if r := h.staff("GET", "/api/v1/rulesets/routing", "", token); r.status != 200 {
			t.Errorf("GET with %s: %d %s", token, r.status, r.body)
		}
	}
	// A server without a rule store has no rule-set routes.
	if r := newHarness(t).staff("GET", "/api/v1/rulesets", "", testToken); r.status != 404 {
		t.Errorf("no rule store: %d %s", r.status, r.body)
	}
}

// Every rule-set route is in openapi.json.
func TestOpenAPIDescribesRuleSets(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	s := NewServer(slog.New(slog.DiscardHandler), config.Demo(), Deps{Metrics: metrics.New(), Rules: &rules.Store{}})
	n := 0
	for _, r := range s.engine.Routes() {
		path, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok || !strings.HasPrefix(path, "/rulesets") {
			continue
		}
		n++
		parts := strings.Split(path, "/")
		for i, p := range parts {
			if name, ok := strings.CutPrefix(p, ":"); ok {
				parts[i] = "{" + name + "}"
			}
		}
		path = strings.Join(parts, "/")
		if doc.Paths[path][strings.ToLower(r.Method)] == nil {
			t.Errorf("openapi.json does not describe %s %s", r.Method, path)
		}
	}
	if n != 14 {
		t.Errorf("%d rule-set routes, want 14", n)
	}
}

// catalogue is what rules may name in the test council.
func catalogue(cfg *config.Config, wards *areas.Set) rules.Catalogue {
	cat := cfg.Catalogue()
	cat.Areas = wards.Names()
	return cat
}
