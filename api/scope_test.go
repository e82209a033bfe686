package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/config"
)

// A supervisor's token scoped to waste sees and changes waste's cases only,
// on every surface of the API; a case elsewhere is "no such case".
func TestStaffAPIScope(t *testing.T) {
	h := newHarness(t)
	const wasteToken, hwyToken = "waste-supervisor-token-0123456789", "highways-agent-token-0123456789ab"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "waste-sup", SHA256: config.HashToken(wasteToken), Roles: []string{config.RoleSupervisor}, Departments: []string{"waste"}},
		config.Token{Name: "roads-agent", SHA256: config.HashToken(hwyToken), Roles: []string{config.RoleAgent}, Teams: []string{"highways/roads-north"}})
	road := h.postReport(pothole("1")) // routed to highways
	bins := h.postReport(pothole("2"))
	if r := h.staff("POST", "/api/v1/cases/"+bins+"/transfer", `{"department":"waste"}`, testToken); r.status != 200 {
		t.Fatalf("transfer to waste: %d %s", r.status, r.body)
	}
	if r := h.staff("POST", "/api/v1/cases/"+road+"/transfer", `{"department":"highways","team":"roads-north"}`, testToken); r.status != 200 {
		t.Fatalf("transfer to roads-north: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		who, token, sees, not string
	}{
		{"waste's supervisor", wasteToken, bins, road},
		{"a roads-north agent", hwyToken, road, bins},
	} {
		if r := h.staff("GET", "/api/v1/cases/"+tc.sees, "", tc.token); r.status != 200 {
			t.Errorf("%s reads %s: %d", tc.who, tc.sees, r.status)
		}
		if r := h.staff("GET", "/api/v1/cases/"+tc.not, "", tc.token); r.status != 404 {
			t.Errorf("%s reads %s, out of scope: %d, want 404", tc.who, tc.not, r.status)
		}
		before := len(h.timelineOf(tc.not))
		for _, change := range []struct{ path, body string }{
			{"comments", `{"text":"peeking"}`}, {"transitions", `{"status":"in_progress"}`},
			{"assignment", `{"assignee":"me"}`}, {"priority", `{"priority":"low"}`}, {"transfer", `{"department":"waste"}`},
		} {
			if r := h.staff("POST", "/api/v1/cases/"+tc.not+"/"+change.path, change.body, tc.token); r.status != 404 {
				t.Errorf("%s POST %s on a case out of scope: %d, want 404", tc.who, change.path, r.status)
			}
		}
		if after := len(h.timelineOf(tc.not)); after != before {
			t.Errorf("%s changed a case out of scope: %d timeline entries, was %d", tc.who, after, before)
		}
		if r := h.staff("POST", "/api/v1/cases/bulk", `{"action":"assign","assignee":"me","refs":["`+tc.not+`"]}`, tc.token); r.status != 422 {
			t.Errorf("%s bulk-assigns a case out of scope: %d %s", tc.who, r.status, r.body)
		}
	}
	// Lists (search included) and counts.
	list := string(h.staff("GET", "/api/v1/cases", "", wasteToken).body)
	if !strings.Contains(list, bins) || strings.Contains(list, road) {
		t.Errorf("waste's supervisor lists %s", list)
	}
	if found := string(h.staff("GET", "/api/v1/cases?q=pothole", "", wasteToken).body); strings.Contains(found, road) {
		t.Errorf("waste's supervisor finds a highways case: %s", found)
	}
	if all := string(h.staff("GET", "/api/v1/cases", "", testToken).body); !strings.Contains(all, road) || !strings.Contains(all, bins) {
		t.Errorf("the admin does not list every case: %s", all)
	}
	if st := string(h.staff("GET", "/api/v1/sla/standing", "", wasteToken).body); strings.Contains(st, "highways") {
		t.Errorf("waste's supervisor sees highways' standing: %s", st)
	}
	// An agent of a team, with no department of their own, lists the team's
	// cases (the read model's team index).
	if l := string(h.staff("GET", "/api/v1/cases", "", hwyToken).body); !strings.Contains(l, road) || strings.Contains(l, bins) {
		t.Errorf("the roads-north agent lists %s", l)
	}
	// The dashboard and compliance count only the caller's departments; an
	// agent's, their own work: here the team's one case.
	type dashboard struct {
		Overall struct {
			Open        int64                 `json:"open"`
			ClosedToday int64                 `json:"closed_today"`
			Oldest      *struct{ Ref string } `json:"oldest_open"`
		} `json:"overall"`
		Departments []struct{ Department string }
		Days        []struct{ Opened, Closed int64 }
	}
	agentDash := func() (d dashboard) {
		if err := json.Unmarshal(h.staff("GET", "/api/v1/dashboard", "", hwyToken).body, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := agentDash(); d.Overall.Open != 1 || d.Overall.Oldest == nil || d.Overall.Oldest.Ref != road || len(d.Departments) != 0 || d.Days[len(d.Days)-1].Opened != 1 {
		t.Errorf("the roads-north agent's dashboard: %+v", d)
	}
	if r := h.staff("POST", "/api/v1/cases/"+road+"/transitions", `{"status":"fixed"}`, testToken); r.status != 200 {
		t.Fatalf("fix the road: %d %s", r.status, r.body)
	}
	if d := agentDash(); d.Overall.Open != 0 || d.Overall.ClosedToday != 1 || d.Days[len(d.Days)-1].Closed != 1 {
		t.Errorf("the roads-north agent's dashboard once the road is fixed: %+v", d)
	}
	var dash dashboard
	if err := json.Unmarshal(h.staff("GET", "/api/v1/dashboard", "", wasteToken).body, &dash); err != nil {
		t.Fatal(err)
	}
	opened := int64(0)
	for _, d := range dash.Days {
		opened += d.Opened
	}
	if dash.Overall.Open != 1 || dash.Overall.ClosedToday != 0 || len(dash.Departments) != 1 || dash.Departments[0].Department != "waste" || opened != 1 {
		t.Errorf("waste's supervisor's dashboard: %+v", dash)
	}
	if all := string(h.staff("GET", "/api/v1/dashboard", "", testToken).body); !strings.Contains(all, `"department":"highways"`) {
		t.Errorf("the admin's dashboard has no highways: %.300s", all)
	}
	if c := string(h.staff("GET", "/api/v1/sla/compliance", "", wasteToken).body); strings.Contains(c, "highways") || !strings.Contains(c, `"resolved":0`) {
		t.Errorf("waste's supervisor's compliance: %s", c)
	}
	if c := string(h.staff("GET", "/api/v1/sla/compliance", "", testToken).body); !strings.Contains(c, "highways") {
		t.Errorf("the admin's compliance has no highways: %s", c)
	}
}

// timelineOf is how a case's timeline stands in the engine.
func (h *harness) timelineOf(ref string) []string {
	k, err := h.engine.Get(h.t.Context(), ref)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]string, len(k.Timeline))
	for i, e := range k.Timeline {
		out[i] = string(e.Kind)
	}
	return out
}

// In the console, a supervisor's account sees its department's cases, and a
// case elsewhere is not found, read or changed; the board counts only its own.
func TestConsoleScope(t *testing.T) {
	h := newConsoleHarness(t)
	road := h.report("1", 0)
	bins := h.report("2", 0)
	admin := h.signIn(t, testToken)
	if r := admin.form("/cases/"+bins, "/cases/"+bins+"/transfer", url.Values{"to": {"waste"}, "note": {"bins"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer: %d %.300s", r.status, r.body)
	}
	h.newAccount(t, admin, url.Values{"login": {"wendy"}, "name": {"Wendy"}, "roles": {"supervisor"}, "departments": {"waste"}, "password": {samPassword}})
	wendy, _ := h.signInWith(t, "wendy", samPassword)
	wantPage(t, "wendy's case", wendy.get("/cases/"+bins), http.StatusOK, bins)
	wantPage(t, "a highways case", wendy.get("/cases/"+road), http.StatusNotFound, "No such case")
	before := len(h.timeline(t, road))
	if r := wendy.form("/cases/"+bins, "/cases/"+road+"/note", url.Values{"note": {"peeking"}}); r.status != http.StatusNotFound {
		t.Errorf("a note on a case out of scope: %d", r.status)
	}
	if len(h.timeline(t, road)) != before {
		t.Error("wendy wrote to a case out of scope")
	}
	queue := string(wendy.get("/cases").body)
	if !strings.Contains(queue, bins) || strings.Contains(queue, road) {
		t.Errorf("wendy's queue: has %s %v, has %s %v", bins, strings.Contains(queue, bins), road, strings.Contains(queue, road))
	}
	if board := string(wendy.get("/board").body); strings.Contains(board, "Highways and transport") {
		t.Error("wendy's SLA board shows highways")
	}
	if dash := wendy.get("/dashboard"); dash.status != http.StatusOK || strings.Contains(string(dash.body), "Highways and transport") {
		t.Errorf("wendy's dashboard: %d, shows highways: %v", dash.status, strings.Contains(string(dash.body), "Highways and transport"))
	}
}

// The live stream tells a scoped token only of its departments' cases.
func TestEventsScope(t *testing.T) {
	h := newConsoleHarness(t)
	const wasteToken = "waste-supervisor-token-0123456789"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "waste-sup", SHA256: config.HashToken(wasteToken), Roles: []string{config.RoleSupervisor}, Departments: []string{"waste"}})
	s := openStream(t, h.srv.URL+"/api/v1/events", wasteToken)
	if f := s.next(); f != "retry: 5000\n: connected" {
		t.Fatalf("first frame %q", f)
	}
	road := h.report("1", 0) // highways: not to be heard of
	admin := h.signIn(t, testToken)
	bins := h.report("2", 0)
	if r := admin.form("/cases/"+bins, "/cases/"+bins+"/transfer", url.Values{"to": {"waste"}, "note": {"bins"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer: %d", r.status)
	}
	f := s.nextEvent()
	if strings.Contains(f, road) || !strings.Contains(f, bins) || !strings.Contains(f, `"department":"waste"`) {
		t.Errorf("waste's supervisor heard %q first, want only the waste case", f)
	}
	// An agent of a team hears of the team's cases in a department not theirs.
	const teamToken = "graffiti-agent-token-0123456789ab"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "graffiti-agent", SHA256: config.HashToken(teamToken), Roles: []string{config.RoleAgent}, Teams: []string{"waste/graffiti"}})
	g := openStream(t, h.srv.URL+"/api/v1/events", teamToken)
	if f := g.next(); f != "retry: 5000\n: connected" {
		t.Fatalf("first frame %q", f)
	}
	if r := admin.form("/cases/"+road, "/cases/"+road+"/note", url.Values{"note": {"not graffiti's"}}); r.status != http.StatusSeeOther {
		t.Fatalf("note: %d", r.status)
	}
	if r := admin.form("/cases/"+bins, "/cases/"+bins+"/transfer", url.Values{"to": {"waste/graffiti"}, "note": {"graffiti"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer: %d", r.status)
	}
	if f := g.nextEvent(); strings.Contains(f, road) || !strings.Contains(f, bins) || !strings.Contains(f, `"team":"graffiti"`) {
		t.Errorf("the graffiti agent heard %q first, want only the team's case", f)
	}
}

// An agent's dashboard judges the promises of their own work: the team's
// case that is late is breached, the one assigned to them is due soon, and
// nothing of the rest of the department is counted.
func TestAgentDashboard(t *testing.T) {
	h := newConsoleHarness(t)
	const teamToken = "roads-north-agent-token-0123456789"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "nia", SHA256: config.HashToken(teamToken), Roles: []string{config.RoleAgent}, Teams: []string{"highways/roads-north"}})
	late := h.report("1", time.Hour)      // due at 11:00
	soon := h.report("2", 3*time.Hour)    // due at 13:00, due soon from 12:15
	elsewhere := h.report("3", time.Hour) // late too, but the department's, not nia's
	h.report("4", 48*time.Hour)           // on track, the department's
	h.change(late, "transfer", `{"department":"highways","team":"roads-north"}`)
	h.change(soon, "assignment", `{"assignee":"nia"}`)
	h.now = h.now.Add(150 * time.Minute) // 12:30
	type figures struct {
		Open     int64 `json:"open"`
		DueSoon  int64 `json:"due_soon"`
		Breached int64 `json:"breached"`
	}
	overall := func(token string) figures {
		var d struct{ Overall figures }
		r := h.staff("GET", "/api/v1/dashboard", "", token)
		if err := json.Unmarshal(r.body, &d); err != nil || r.status != http.StatusOK {
			t.Fatalf("dashboard: %d %v", r.status, err)
		}
		return d.Overall
	}
	if f := overall(teamToken); f != (figures{Open: 2, Breached: 1, DueSoon: 1}) {
		t.Errorf("nia's dashboard: %+v, want 2 open (%s, %s), 1 breached, 1 due soon, and nothing of %s", f, late, soon, elsewhere)
	}
	// An agent of waste, and of roads-north: waste's late case (assigned to
	// them too, counted once) and the team's.
	const nedToken = "waste-and-roads-agent-token-01234"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens, config.Token{Name: "ned", SHA256: config.HashToken(nedToken),
		Roles: []string{config.RoleAgent}, Departments: []string{"waste"}, Teams: []string{"highways/roads-north"}})
	h.change(elsewhere, "transfer", `{"department":"waste"}`)
	h.change(elsewhere, "assignment", `{"assignee":"ned"}`)
	if f := overall(nedToken); f != (figures{Open: 2, Breached: 2}) {
		t.Errorf("ned's dashboard: %+v, want 2 open (%s, %s), both breached", f, late, elsewhere)
	}
}
