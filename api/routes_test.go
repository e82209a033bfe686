package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/config"
)

// Who may use a route, in the route walks below: the roles allowed, space
// separated (admin may use every route); public needs no staff sign-in (a
// page before signing in, a document, or a call signed by a system).
const (
	public      = "public"
	anyone      = "anyone signed in"
	caseworkers = "agent supervisor"
	supervisors = "supervisor"
	rulesAdmins = "rules_admin"
	admins      = "admin"
	metricsRole = "metrics"
)

// Every staff API route checks a role: walked with no token and with a token
// of each role, each answers 401, 403, or lets the caller through, as its
// entry says. A route added without an entry here fails the test.
func TestEveryAPIRouteChecksItsRole(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "prometheus", SHA256: config.HashToken(metricsToken), Roles: []string{config.RoleMetrics}})
	allowed := map[string]string{
		"GET /api/v1/openapi.json":                             public,
		"POST /api/v1/backoffices/:name/events":                public,
		"POST /api/v1/partners/:partner/callbacks":             public,
		"GET /api/v1/me":                                       anyone,
		"GET /api/v1/cases":                                    caseworkers,
		"POST /api/v1/cases":                                   caseworkers,
		"POST /api/v1/cases/bulk":                              caseworkers,
		"GET /api/v1/cases/:ref":                               caseworkers,
		"POST /api/v1/cases/:ref/transitions":                  caseworkers,
		"POST /api/v1/cases/:ref/comments":                     caseworkers,
		"POST /api/v1/cases/:ref/assignment":                   caseworkers,
		"POST /api/v1/cases/:ref/transfer":                     caseworkers,
		"POST /api/v1/cases/:ref/category":                     caseworkers,
		"POST /api/v1/cases/:ref/priority":                     caseworkers,
		"POST /api/v1/cases/:ref/escalations/:seq/acknowledge": supervisors,
		"GET /api/v1/sla/standing":                             caseworkers,
		"GET /api/v1/sla/compliance":                           supervisors,
		"GET /api/v1/dashboard":                                caseworkers,
		"GET /api/v1/notifications":                            supervisors,
		"GET /api/v1/events":                                   caseworkers,
		"GET /api/v1/audit":                                    admins,
		"GET /metrics":                                         metricsRole,
		"GET /api/v1/rulesets":                                 rulesAdmins,
		"GET /api/v1/rulesets/:name":                           rulesAdmins,
		"GET /api/v1/rulesets/:name/versions":                  rulesAdmins,
		"GET /api/v1/rulesets/:name/versions/:n":               rulesAdmins,
		"GET /api/v1/rulesets/:name/draft":                     rulesAdmins,
		"PUT /api/v1/rulesets/:name/draft":                     rulesAdmins,
		"DELETE /api/v1/rulesets/:name/draft":                  rulesAdmins,
		"GET /api/v1/rulesets/:name/diff":                      rulesAdmins,
		"GET /api/v1/rulesets/:name/history":                   rulesAdmins,
		"POST /api/v1/rulesets/:name/validate":                 rulesAdmins,
		"POST /api/v1/rulesets/:name/publish":                  rulesAdmins,
		"POST /api/v1/rulesets/:name/rollback":                 rulesAdmins,
		"POST /api/v1/rulesets/:name/simulate":                 rulesAdmins,
		"POST /api/v1/rulesets/:name/backtest":                 rulesAdmins,
	}
	tokens := map[string]string{"agent": "agent-token", "supervisor": supervisorToken, "rules_admin": rulesToken,
		"metrics": metricsToken, "admin": testToken}
	fill := strings.NewReplacer(":ref", ref, ":name", "routing", ":n", "1", ":seq", "1", ":partner", "nobody")
	for _, r := range h.server(testSecret).engine.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") && r.Path != "/metrics" {
			continue
		}
		route := r.Method + " " + r.Path
		want, ok := allowed[route]
		if !ok {
			t.Errorf("%s has no entry: say which roles may use it", route)
			continue
		}
		if want == public || route == "GET /api/v1/events" {
			continue // the stream's roles: TestEventsStream
		}
		path := fill.Replace(r.Path)
		if r := h.do(r.Method, path, strings.NewReader("{}"), "application/json"); r.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", route, r.status)
		}
		for role, token := range tokens {
			r := h.do(r.Method, path, strings.NewReader("{}"), "application/json", "Authorization", "Bearer "+token)
			may := role == "admin" || want == anyone || strings.Contains(" "+want+" ", " "+role+" ")
			switch {
			case may && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden):
				t.Errorf("%s as %s: %d, want let through", route, role, r.status)
			case !may && r.status != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403", route, role, r.status)
			}
		}
	}
}

// Every console page and form checks who may use it: walked with no session
// and with a session of each role, each answers as its entry says. A route
// added without an entry fails the test. The harness serves sign-in with an
// identity provider, so its routes are walked too.
func TestEveryConsoleRouteChecksItsRole(t *testing.T) {
	h, _ := newOIDCHarness(t)
	ref := h.report("1", 0)
	allowed := map[string]string{
		"GET /static/*file":             public,
		"GET /login":                    public,
		"POST /login":                   public,
		"POST /logout":                  public,
		"GET /login/oidc":               public,
		"GET /login/oidc/callback":      public,
		"GET /":                         anyone,
		"GET /account":                  anyone,
		"POST /account/sessions/revoke": anyone,
		"POST /account/password":        anyone,
		"GET /cases":                    caseworkers,
		"GET /cases/:ref":               caseworkers,
		"POST /cases/bulk":              caseworkers,
		"GET /cases/map":                caseworkers,
		"POST /cases/:ref/status":       caseworkers,
		"POST /cases/:ref/note":         caseworkers,
		"POST /cases/:ref/assign":       caseworkers,
		"POST /cases/:ref/priority":     caseworkers,
		"POST /cases/:ref/transfer":     caseworkers,
		"POST /cases/:ref/category":     caseworkers,
		"POST /cases/:ref/escalations/:seq/acknowledge": supervisors,
		"POST /cases/:ref/merge":                        supervisors,
		"POST /cases/:ref/duplicate/confirm":            supervisors,
		"POST /cases/:ref/duplicate/undo":               supervisors,
		"GET /board":                                    caseworkers,
		"GET /dashboard":                                caseworkers,
		"GET /notifications":                            supervisors,
		"GET /events":                                   caseworkers,
		"GET /rules":                                    rulesAdmins,
		"GET /rules/:name":                              rulesAdmins,
		"POST /rules/:name/draft":                       rulesAdmins,
		"POST /rules/:name/rollback":                    rulesAdmins,
		"GET /admin/accounts":                           admins,
		"POST /admin/accounts":                          admins,
		"GET /admin/accounts/:login":                    admins,
		"POST /admin/accounts/:login":                   admins,
		"POST /admin/accounts/:login/password":          admins,
		"POST /admin/accounts/:login/sessions/revoke":   admins,
		"POST /admin/accounts/:login/unlock":            admins,
		"GET /admin/audit":                              admins,
	}
	visitors := map[string]*visitor{"agent": h.signIn(t, "agent-token"), "supervisor": h.signIn(t, supervisorToken),
		"rules_admin": h.signIn(t, rulesToken), "admin": h.signIn(t, testToken)}
	fill := strings.NewReplacer(":ref", ref, ":name", "routing", ":seq", "1", ":login", "nobody", "*file", "app.css")
	walked := 0
	for _, r := range h.server(testSecret).engine.Routes() {
		if strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/open311/") || slices.Contains([]string{"/metrics", "/healthz", "/readyz"}, r.Path) {
			continue
		}
		route := r.Method + " " + r.Path
		want, ok := allowed[route]
		if !ok {
			t.Errorf("%s has no entry: say which roles may use it", route)
			continue
		}
		if want == public || route == "GET /events" {
			continue // sign-in: TestOIDCSignIn, TestAccountsInTheConsole; the stream: TestConsoleEvents
		}
		walked++
		path := fill.Replace(r.Path)
		anon := h.visitor(t)
		var res response
		if r.Method == http.MethodGet {
			if res = anon.get(path); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/login") {
				t.Errorf("%s with no session: %d to %q, want sent to sign in", route, res.status, res.header.Get("Location"))
			}
		} else if res = anon.post(path, url.Values{}); res.status != http.StatusForbidden {
			t.Errorf("%s with no session: %d, want 403", route, res.status)
		}
		for role, v := range visitors {
			if r.Method == http.MethodGet {
				res = v.get(path)
			} else {
				res = v.form("/account", path, url.Values{})
			}
			may := role == "admin" || want == anyone || strings.Contains(" "+want+" ", " "+role+" ")
			switch {
			case may && (res.status == http.StatusForbidden || res.status == http.StatusSeeOther && strings.HasPrefix(res.header.Get("Location"), "/login")):
				t.Errorf("%s as %s: %d, want let through", route, role, res.status)
			case !may && res.status != http.StatusForbidden:
				t.Errorf("%s as %s: %d, want 403", route, role, res.status)
			}
		}
	}
	if walked < 25 {
		t.Errorf("walked %d console routes: the walk is missing them", walked)
	}
}

// No route shows or changes a case outside the caller's scope: every console
// page and staff API route that reads cases is walked by a supervisor of
// waste and an agent of a waste team, asking for a highways case by name and
// listing with every kind of filter; the answers that hold the highways
// case's reference are counted, and must be none. Every change to it is
// refused, and its timeline stays as it was.
func TestEveryRouteKeepsToScope(t *testing.T) {
	h, _ := newOIDCHarness(t)
	const wasteToken, teamToken = "waste-supervisor-token-0123456789", "graffiti-agent-token-0123456789ab"
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "waste-sup", SHA256: config.HashToken(wasteToken), Roles: []string{config.RoleSupervisor}, Departments: []string{"waste"}},
		config.Token{Name: "graffiti-agent", SHA256: config.HashToken(teamToken), Roles: []string{config.RoleAgent}, Teams: []string{"waste/graffiti"}})
	road := h.report("1", 0) // highways
	bins := h.report("2", 0)
	admin := h.signIn(t, testToken)
	if r := admin.form("/cases/"+bins, "/cases/"+bins+"/transfer", url.Values{"to": {"waste/graffiti"}, "note": {"bins"}}); r.status != http.StatusSeeOther {
		t.Fatalf("transfer: %d %.300s", r.status, r.body)
	}
	h.newAccount(t, admin, url.Values{"login": {"wendy"}, "name": {"Wendy"}, "roles": {"supervisor"}, "departments": {"waste"}, "password": {samPassword}})
	h.newAccount(t, admin, url.Values{"login": {"gary"}, "name": {"Gary"}, "roles": {"agent"}, "teams": {"waste/graffiti"}, "password": {samPassword}})
	wendy, _ := h.signInWith(t, "wendy", samPassword)
	gary, _ := h.signInWith(t, "gary", samPassword)
	before := len(h.timeline(t, road))

	fill := strings.NewReplacer(":ref", road, ":name", "routing", ":seq", "1", ":login", "wendy", ":n", "1", ":partner", "nobody")
	lists := []string{"", "?q=pothole", "?department=highways", "?status=open", "?sort=due", "?state=all", "?mine=1", "?overdue=1"}
	shown, asked := 0, 0
	for _, r := range h.server(testSecret).engine.Routes() {
		path := fill.Replace(r.Path)
		switch {
		case r.Path == "/events" || r.Path == "/api/v1/events" || strings.HasPrefix(r.Path, "/static/") || strings.HasPrefix(r.Path, "/login") || r.Path == "/logout":
			continue // the streams: TestEventsScope
		case strings.HasPrefix(r.Path, "/open311/") || strings.HasPrefix(r.Path, "/api/v1/partners/") || strings.HasPrefix(r.Path, "/api/v1/backoffices/"):
			continue // for systems, not staff
		}
		queries := []string{""}
		if r.Method == http.MethodGet {
			queries = lists
		}
		for _, q := range queries {
			var answers []response
			if strings.HasPrefix(r.Path, "/api/") || r.Path == "/metrics" {
				for _, tok := range []string{wasteToken, teamToken} {
					answers = append(answers, h.staff(r.Method, path+q, `{"text":"peeking","status":"fixed","assignee":"me","priority":"low","department":"waste","refs":["`+road+`"],"action":"assign","ref":"`+road+`"}`, tok))
				}
			} else {
				for _, v := range []*visitor{wendy, gary} {
					if r.Method == http.MethodGet {
						answers = append(answers, v.get(path+q))
					} else {
						answers = append(answers, v.form("/account", path, url.Values{"note": {"peeking"}, "status": {"fixed"}, "assignee": {"me"},
							"priority": {"low"}, "to": {"waste"}, "refs": {road}, "action": {"assign"}, "parent": {bins}}))
					}
				}
			}
			for _, a := range answers {
				asked++
				if a.status < 300 && strings.Contains(string(a.body), road) {
					shown++
					t.Errorf("%s %s%s shows the highways case %s to a waste person: %d %.200s", r.Method, path, q, road, a.status, a.body)
				}
			}
		}
	}
	t.Logf("%d answers to waste's supervisor and graffiti agent, %d of them showing a case outside their scope", asked, shown)
	if after := len(h.timeline(t, road)); after != before {
		t.Errorf("the highways case was changed by people outside its scope: %d timeline entries, was %d", after, before)
	}
	// The walk can see what it looks for: the in-scope case is listed.
	if q := string(gary.get("/cases").body); !strings.Contains(q, bins) {
		t.Error("the graffiti agent's queue does not list the team's case: the walk could not have seen a leak")
	}
}
