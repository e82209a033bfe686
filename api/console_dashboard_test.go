package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// The dashboard's figures, as JSON and on the page, follow the cases.
func TestDashboard(t *testing.T) {
	h := newConsoleHarness(t)
	late := h.report("1", time.Hour)
	h.now = h.now.Add(time.Minute)
	h.report("2", 48*time.Hour)
	done := h.report("3", 48*time.Hour)
	h.now = h.now.Add(2 * time.Hour) // the first is breached
	h.change(done, "transitions", `{"status":"fixed","note":"filled"}`)

	type doc struct {
		Overall struct {
			Open, Breached, OpenedToday, ClosedToday int64
			Compliance                               *complianceFigure     `json:"compliance_30d"`
			Oldest                                   *struct{ Ref string } `json:"oldest_open"`
		}
		Departments []struct {
			Department, Name string
			Open             int64
		}
		Days []struct{ Opened, Closed int64 }
	}
	get := func(token string) doc {
		t.Helper()
		r := h.staff("GET", "/api/v1/dashboard", "", token)
		var d doc
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/dashboard: %d %s", r.status, r.body)
		}
		// The JSON names are the documented ones.
		for _, name := range []string{`"opened_today"`, `"closed_this_week"`, `"due_soon"`, `"escalated"`, `"oldest_open"`, `"days"`} {
			if !strings.Contains(string(r.body), name) {
				t.Errorf("the dashboard has no %s: %s", name, r.body)
			}
		}
		raw := strings.NewReplacer(`"opened_today"`, `"OpenedToday"`, `"closed_today"`, `"ClosedToday"`).Replace(string(r.body))
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	agent := get("agent-token")
	if o := agent.Overall; o.Open != 2 || o.Breached != 1 || o.OpenedToday != 3 || o.ClosedToday != 1 || o.Oldest == nil || o.Oldest.Ref != late {
		t.Errorf("overall figures %+v", o)
	}
	if agent.Overall.Compliance != nil {
		t.Error("an agent is shown compliance, which /sla/compliance keeps to supervisors")
	}
	if len(agent.Days) != 30 || agent.Days[29].Opened != 3 || agent.Days[29].Closed != 1 {
		t.Errorf("days: %d, today %+v", len(agent.Days), agent.Days[len(agent.Days)-1])
	}
	if len(agent.Departments) < 2 || agent.Departments[1].Department != "highways" || agent.Departments[1].Name != "Highways and transport" || agent.Departments[1].Open != 2 {
		t.Errorf("departments in the configuration's order, with names: %+v", agent.Departments)
	}
	sup := get(supervisorToken)
	if c := sup.Overall.Compliance; c == nil || c.Resolved != 1 || c.Met != 1 || c.Percent == nil || *c.Percent != 100 {
		t.Errorf("a supervisor's compliance: %+v", c)
	}
	if r := h.staff("GET", "/api/v1/dashboard", "", rulesToken); r.status != http.StatusForbidden {
		t.Errorf("a rules admin reads the dashboard: %d", r.status)
	}

	v := h.signIn(t, supervisorToken)
	r := v.get("/dashboard")
	wantPage(t, "dashboard", r, http.StatusOK, `<svg id="chart"`, `role="img"`, "Received and closed, last 30 days",
		`data-figure="breached">1<`, `href="/cases/`+late+`"`, "Promises kept, 30 days", "100.0%", `data-live="dashboard"`)
	// Two bars a day, and the highest bar reaches the top of the scale it shows.
	if n := len(regexp.MustCompile(`<rect class="bar-`).FindAll(r.body, -1)); n != 60 {
		t.Errorf("%d bars, want 60", n)
	}
	part := v.get("/dashboard?part=figures")
	wantPage(t, "the live part", part, http.StatusOK, `data-figure="open">2<`, `<svg id="chart"`)
	if strings.Contains(string(part.body), "<html") {
		t.Error("the live part is a whole page")
	}
}

// A status change is internal unless "Tell the citizen" is ticked, and a
// transfer asks what happens to the assignee rather than dropping them.
func TestCaseFormsDefaults(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 48*time.Hour)
	v := h.signIn(t, "agent-token")

	page := string(v.get("/cases/" + ref).body)
	box := regexp.MustCompile(`<input type="checkbox" id="status-public"[^>]*>`).FindString(page)
	if box == "" || strings.Contains(box, "checked") {
		t.Errorf("the status form's public box: %q", box)
	}
	if r := v.form("/cases/"+ref, "/cases/"+ref+"/status", url.Values{"status": {"investigating"}, "note": {"looking"}}); r.status != http.StatusSeeOther {
		t.Fatalf("status change: %d %s", r.status, r.body)
	}
	tl := h.timeline(t, ref)
	if e := tl[len(tl)-1]; e.Kind != cases.KindStatus || e.Public {
		t.Errorf("a change with the box left alone went out as %+v", e)
	}

	// No assignee: nothing to ask.
	if strings.Contains(page, `name="assignee" value="keep"`) {
		t.Error("the transfer form asks about an assignee the case does not have")
	}
	h.change(ref, "assignment", `{"assignee":"amy"}`)
	page = string(v.get("/cases/" + ref).body)
	if !strings.Contains(page, "amy is assigned. After the transfer:") {
		t.Fatal("the transfer form does not ask about amy")
	}
	r := v.form("/cases/"+ref, "/cases/"+ref+"/transfer", url.Values{"to": {"highways/drainage"}, "assigned": {"amy"}})
	wantPage(t, "a transfer without saying", r, http.StatusUnprocessableEntity,
		`<a href="#transfer-assignee-keep">Choose whether amy stays assigned after the transfer.</a>`)
	body := string(r.body)
	if i, j := strings.Index(body, `id="error-summary"`), strings.Index(body, `id="h-summary"`); i < 0 || i > j {
		t.Errorf("the error summary is not at the top of the page (at %d, the case summary at %d)", i, j)
	}
	if k, _ := h.engine.Get(t.Context(), ref); k.Department != "highways" || k.Team != "" || k.Assignee != "amy" {
		t.Errorf("a refused transfer moved the case: %s/%s, %s", k.Department, k.Team, k.Assignee)
	}

	if r := v.form("/cases/"+ref, "/cases/"+ref+"/transfer", url.Values{"to": {"highways/drainage"}, "assigned": {"amy"}, "assignee": {"keep"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer keeping amy: %d %s", r.status, r.body)
	}
	k, _ := h.engine.Get(t.Context(), ref)
	if k.Team != "drainage" || k.Assignee != "amy" || !strings.Contains(k.Timeline[len(k.Timeline)-1].Note, "still assigned to amy") {
		t.Errorf("after a transfer keeping amy: %s, %q, %q", k.Team, k.Assignee, k.Timeline[len(k.Timeline)-1].Note)
	}
	if r := v.form("/cases/"+ref, "/cases/"+ref+"/transfer", url.Values{"to": {"highways/roads-north"}, "assigned": {"amy"}, "assignee": {"clear"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer letting amy go: %d %s", r.status, r.body)
	}
	k, _ = h.engine.Get(t.Context(), ref)
	if k.Assignee != "" || !strings.Contains(k.Timeline[len(k.Timeline)-1].Note, "no longer assigned to amy") {
		t.Errorf("after a transfer unassigning: %q, %q", k.Assignee, k.Timeline[len(k.Timeline)-1].Note)
	}

	// A mistake in another form links to its own field.
	r = v.form("/cases/"+ref, "/cases/"+ref+"/note", url.Values{"note": {"  "}})
	wantPage(t, "an empty note", r, http.StatusUnprocessableEntity, `<a href="#note-text">Write the note first.</a>`)
}
