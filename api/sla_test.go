package api

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
)

const supervisorToken = "supervisor-token"

// slaHarness is the harness with a supervisor's token, and with the
// workflow's part played in the projection: the in-memory engine keeps no SLA
// clocks, so each case projected into the (real) read model first gets the
// promise the workflow would have written, from the target its test gave the
// report's fixmystreet_id.
type slaHarness struct {
	*harness
	targets map[string]time.Duration // fixmystreet_id → time from receipt to due
}

func newSLAHarness(t *testing.T) *slaHarness {
	h := &slaHarness{harness: newHarness(t), targets: map[string]time.Duration{}}
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens, config.Token{Name: "sam", SHA256: config.HashToken(supervisorToken), Roles: []string{config.RoleSupervisor}})
	h.engine.Project = func(ctx context.Context, c *cases.Case) error {
		h.promise(c)
		_, err := h.store.Project(ctx, c)
		return err
	}
	return h
}

// promise writes the SLA summary as the workflow would: amber at 75% of the
// target, due times unknown while paused, met or missed once resolved.
func (h *slaHarness) promise(c *cases.Case) {
	target, ok := h.targets[c.Report().ExternalID]
	if !ok {
		return
	}
	due := c.ReceivedAt.Add(target)
	c.DueAt = due
	c.Promise = &cases.Promise{Policy: "test", Version: 1, Target: target.String(), DueSoonAt: c.ReceivedAt.Add(target * 3 / 4), DepartmentDueAt: due}
	switch {
	case c.Status.Paused():
		c.DueAt, c.Promise.DueSoonAt, c.Promise.DepartmentDueAt, c.Promise.Paused = time.Time{}, time.Time{}, time.Time{}, true
	case c.ClosedAt != nil && c.ClosedAt.After(due):
		c.Promise.Outcome = cases.OutcomeMissed
	case c.ClosedAt != nil:
		c.Promise.Outcome = cases.OutcomeMet
	}
}

// report posts a pothole report through Open311 whose promise is due target
// after receipt (no promise when target is 0), and returns its reference.
func (h *slaHarness) report(fmsID string, target time.Duration) string {
	h.t.Helper()
	if target > 0 {
		h.targets[fmsID] = target
	}
	return h.postReport(pothole(fmsID))
}

// change posts a staff change to a case as an admin, failing the test if it
// is refused.
func (h *slaHarness) change(ref, what, body string) {
	h.t.Helper()
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/"+what, body, testToken); r.status != http.StatusOK {
		h.t.Fatalf("POST %s %s: %d %s", what, body, r.status, r.body)
	}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	return v
}

func TestSLAStanding(t *testing.T) {
	h := newSLAHarness(t)
	start := h.now
	h.report("1", 8*time.Hour)                   // on track: amber at 16:00
	h.report("2", 4*time.Hour)                   // on track: amber at 13:00
	breached := h.report("3", time.Hour)         // due 11:00
	h.report("4", 2*time.Hour)                   // amber 11:30, due 12:00
	paused := h.report("5", time.Hour)           // would be breached, but waits on the citizen
	h.report("6", 0)                             // no promise: in no count
	resolved := h.report("7", time.Hour)         // would be breached, but is fixed
	transferred := h.report("8", 30*time.Minute) // breached, in waste
	h.change(paused, "transitions", `{"status":"waiting_on_citizen"}`)
	h.change(resolved, "transitions", `{"status":"fixed"}`)
	h.change(transferred, "transfer", `{"department":"waste"}`)
	h.now = start.Add(100 * time.Minute) // 11:40

	got := decode[standingDoc](t, h.staff("GET", "/api/v1/sla/standing", "", "agent-token"))
	if !got.At.Equal(h.now) {
		t.Errorf("at = %s, want %s", got.At, h.now)
	}
	byDept := map[string]departmentStanding{}
	var order []string
	for _, d := range got.Departments {
		byDept[d.Department] = d
		order = append(order, d.Department)
	}
	want := map[string]departmentStanding{
		"highways": {Department: "highways", Name: "Highways and transport", standingCounts: standingCounts{OnTrack: 2, DueSoon: 1, Breached: 1, Paused: 1}},
		"waste":    {Department: "waste", Name: "Waste and street cleansing", standingCounts: standingCounts{Breached: 1}},
		"triage":   {Department: "triage", Name: "Customer services triage"},
	}
	for d, w := range want {
		if byDept[d] != w {
			t.Errorf("%s = %+v, want %+v", d, byDept[d], w)
		}
	}
	if wantTotal := (standingCounts{OnTrack: 2, DueSoon: 1, Breached: 2, Paused: 1}); got.Total != wantTotal {
		t.Errorf("total = %+v, want %+v", got.Total, wantTotal)
	}
	// Every configured department, in the configuration's order.
	var configured []string
	for _, d := range h.cfg.Departments {
		configured = append(configured, d.Code)
	}
	if !reflect.DeepEqual(order, configured) {
		t.Errorf("departments listed %v, want the configured %v", order, configured)
	}

	// The list of a department's breached cases agrees with its count.
	page := decode[casePage](t, h.staff("GET", "/api/v1/cases?overdue=true&department=highways&sort=due", "", "agent-token"))
	if page.Total != 1 || page.Cases[0].Ref != breached {
		t.Errorf("overdue highways cases = %+v, want just %s", page, breached)
	}

	// At 15:00 the cases due at 12:00 and 14:00 are breached too.
	h.now = start.Add(5 * time.Hour)
	got = decode[standingDoc](t, h.staff("GET", "/api/v1/sla/standing", "", supervisorToken))
	if hw := got.Departments[1]; hw.Department != "highways" || hw.standingCounts != (standingCounts{OnTrack: 1, Breached: 3, Paused: 1}) {
		t.Errorf("at 15:00 highways = %+v, want 1 on track, 3 breached, 1 paused", hw)
	}
}

// A department the read model knows but the configuration no longer has is
// still shown, after the configured ones.
func TestSLAStandingUnconfiguredDepartment(t *testing.T) {
	h := newSLAHarness(t)
	ref := h.report("1", time.Hour)
	c, err := h.store.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	c.Department = "old-roads"
	c.Version += 10
	if _, err := h.store.Project(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	h.now = h.now.Add(2 * time.Hour)
	got := decode[standingDoc](t, h.staff("GET", "/api/v1/sla/standing", "", supervisorToken))
	last := got.Departments[len(got.Departments)-1]
	if want := (departmentStanding{Department: "old-roads", standingCounts: standingCounts{Breached: 1}}); last != want {
		t.Errorf("last department = %+v, want %+v", last, want)
	}
}

func TestSLACompliance(t *testing.T) {
	h := newSLAHarness(t)
	fix := func(ref string) { h.change(ref, "transitions", `{"status":"fixed"}`) }
	h.now = time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)
	old := h.report("0", 24*time.Hour) // resolved in September: outside the last 30 days
	fix(old)

	h.now = time.Date(2026, 10, 20, 10, 0, 0, 0, time.UTC)
	met := h.report("1", 24*time.Hour)
	missed := h.report("2", time.Hour)
	graffiti := h.report("3", 24*time.Hour)
	wasteMet := h.report("4", 24*time.Hour)
	noPromise := h.report("5", 0)
	reopened := h.report("6", 24*time.Hour)
	h.report("7", 24*time.Hour) // still open
	h.change(graffiti, "category", `{"service_code":"GRF"}`)
	h.change(wasteMet, "transfer", `{"department":"waste"}`)
	h.now = h.now.Add(2 * time.Hour)
	for _, ref := range []string{met, missed, graffiti, wasteMet, noPromise, reopened} {
		fix(ref)
	}
	h.change(reopened, "transitions", `{"status":"in_progress","note":"Not fixed after all"}`)
	h.now = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

	pct := func(p float64) *float64 { return &p }
	got := decode[complianceDoc](t, h.staff("GET", "/api/v1/sla/compliance", "", supervisorToken))
	// 30 calendar days back in London, across the October clock change.
	if from := time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC); !got.From.Equal(from) || !got.To.Equal(h.now) {
		t.Errorf("default range = %s to %s, want %s to %s", got.From, got.To, from, h.now)
	}
	got.From, got.To = time.Time{}, time.Time{}
	want := complianceDoc{
		Total: tallyDoc{Resolved: 5, Met: 3, Missed: 1, PercentMet: pct(75)},
		Departments: []departmentCompliance{
			{Department: "highways", Name: "Highways and transport", tallyDoc: tallyDoc{Resolved: 4, Met: 2, Missed: 1, PercentMet: pct(66.7)}},
			{Department: "waste", Name: "Waste and street cleansing", tallyDoc: tallyDoc{Resolved: 1, Met: 1, PercentMet: pct(100)}},
		},
		Categories: []categoryCompliance{
			{ServiceCode: "POT", Name: "Pothole", tallyDoc: tallyDoc{Resolved: 4, Met: 2, Missed: 1, PercentMet: pct(66.7)}},
			{ServiceCode: "GRF", Name: "Graffiti", tallyDoc: tallyDoc{Resolved: 1, Met: 1, PercentMet: pct(100)}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("compliance, last 30 days =\n%s\nwant\n%s", jsonOf(got), jsonOf(want))
	}

	// September by dates: the one old case; the rest of the JSON as documented.
	r := h.staff("GET", "/api/v1/sla/compliance?from=2026-09-01&to=2026-09-30", "", testToken)
	got = decode[complianceDoc](t, r)
	if got.Total.Resolved != 1 || got.Total.Met != 1 || len(got.Departments) != 1 || len(got.Categories) != 1 {
		t.Errorf("September = %s", r.body)
	}
	if !strings.Contains(string(r.body), `"from":"2026-09-01T00:00:00+01:00","to":"2026-09-30T23:59:59.999999+01:00"`) {
		t.Errorf("September's range is not the whole of both days in London: %s", r.body)
	}
	// A window with no resolution in it: empty lists, and no percentage.
	r = h.staff("GET", "/api/v1/sla/compliance?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z", "", supervisorToken)
	if !strings.Contains(string(r.body), `"total":{"resolved":0,"met":0,"missed":0,"percent_met":null},"departments":[],"categories":[]`) {
		t.Errorf("empty window = %d %s", r.status, r.body)
	}
}

func jsonOf(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestSLAComplianceRanges(t *testing.T) {
	h := newSLAHarness(t)
	for _, tc := range []struct {
		query string
		field string // "" when the range is accepted
	}{
		{"from=yesterday", "from"},
		{"to=2026-13-01", "to"},
		{"from=2026-10-31T17:00:00", "from"}, // no zone
		{"from=2026-11-02&to=2026-11-01", "to"},
		{"from=2026-11-02T10:00:00Z&to=2026-11-02T09:59:59Z", "to"},
		{"from=2025-01-01&to=2026-06-01", "from"}, // too long
		{"from=2025-11-02&to=2026-11-03", "from"}, // 367 days
		{"from=2025-11-02&to=2026-11-02", ""},     // 366 days
		{"from=2025-10-26&to=2026-10-26", ""},     // 366 days, from summer time to winter time
		{"from=2026-11-02&to=2026-11-02", ""},     // one day
		{"from=2026-01-01", ""},                   // to now
		{"to=2026-10-01T00:00:00%2B01:00", ""},    // 30 days to then
	} {
		r := h.staff("GET", "/api/v1/sla/compliance?"+tc.query, "", supervisorToken)
		if tc.field == "" {
			if r.status != http.StatusOK {
				t.Errorf("?%s: %d %s, want 200", tc.query, r.status, r.body)
			}
			continue
		}
		var p Problem
		if err := json.Unmarshal(r.body, &p); err != nil || r.status != 422 || p.Field != tc.field || p.Detail == "" ||
			r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("?%s: %d %s, want a 422 problem naming %s", tc.query, r.status, r.body, tc.field)
		}
	}
}

func TestSLARoles(t *testing.T) {
	h := newSLAHarness(t)
	for _, tc := range []struct {
		path, token string
		status      int
	}{
		{"/api/v1/sla/standing", "agent-token", 200},
		{"/api/v1/sla/standing", supervisorToken, 200},
		{"/api/v1/sla/standing", "rules-token", 403},
		{"/api/v1/sla/compliance", supervisorToken, 200},
		{"/api/v1/sla/compliance", testToken, 200}, // admin
		{"/api/v1/sla/compliance", "agent-token", 403},
		{"/api/v1/sla/compliance", "rules-token", 403},
		{"/api/v1/sla/compliance", "", 401},
	} {
		r := h.staff("GET", tc.path, "", tc.token)
		if r.status != tc.status {
			t.Errorf("GET %s as %q: %d %s, want %d", tc.path, tc.token, r.status, r.body, tc.status)
		}
	}
}

// GET /cases?overdue=true&department=…&sort=due lists the department's
// overdue cases, soonest due first, served by the department's due index.
func TestListOverdueByDepartmentByDue(t *testing.T) {
	h := newSLAHarness(t)
	start := h.now
	late3 := h.report("1", 3*time.Hour) // 10:00, due 13:00
	h.now = h.now.Add(time.Minute)
	late1 := h.report("2", time.Hour) // 10:01, due 11:01
	h.now = h.now.Add(time.Minute)
	late2 := h.report("3", 2*time.Hour)                                                  // 10:02, due 12:02
	h.report("4", 5*time.Hour)                                                           // due 15:02: not yet
	h.change(h.report("5", time.Hour), "transitions", `{"status":"fixed"}`)              // closed
	h.change(h.report("6", time.Hour), "transfer", `{"department":"waste"}`)             // another department's
	h.change(h.report("7", time.Hour), "transitions", `{"status":"waiting_on_partner"}`) // paused: no due time
	h.report("8", 0)                                                                     // no due time
	h.now = start.Add(4 * time.Hour)                                                     // 14:00

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"overdue=true&department=highways&sort=due", []string{late1, late2, late3}},
		{"overdue=true&department=highways&sort=due&order=desc", []string{late3, late2, late1}},
		{"overdue=true&department=highways&sort=due&limit=2", []string{late1, late2}},
	} {
		page := decode[casePage](t, h.staff("GET", "/api/v1/cases?"+tc.query, "", "agent-token"))
		var got []string
		for _, c := range page.Cases {
			got = append(got, c.Ref)
			if !c.Overdue || c.Department != "highways" {
				t.Errorf("?%s: %+v is listed but not an overdue highways case", tc.query, c)
			}
		}
		if !reflect.DeepEqual(got, tc.want) || page.Total != 3 {
			t.Errorf("?%s = %v (total %d), want %v (total 3)", tc.query, got, page.Total, tc.want)
		}
	}
}

// The OpenAPI document describes the SLA routes, and every reference in it
// leads somewhere.
func TestOpenAPIDescribesSLA(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	paths := doc["paths"].(map[string]any)
	for _, p := range []string{"/sla/standing", "/sla/compliance"} {
		if paths[p] == nil {
			t.Errorf("openapi.json has no %s", p)
		}
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var at any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := at.(map[string]any)
					at = m[part]
				}
				if at == nil {
					t.Errorf("openapi.json: %s leads nowhere", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}
