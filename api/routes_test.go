package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/config"
)

// Every staff API route checks a role: walked with no token and with a token
// of each role, each answers 401, 403, or lets the caller through, as its
// entry says. A route added without an entry here fails the test.
func TestEveryAPIRouteChecksItsRole(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	h.cfg.Staff.Tokens = append(h.cfg.Staff.Tokens,
		config.Token{Name: "prometheus", SHA256: config.HashToken(metricsToken), Roles: []string{config.RoleMetrics}})
	const (
		public      = "public" // signed by a system, or a document: no staff token
		anyone      = "any staff"
		caseworkers = "agent supervisor"
		supervisors = "supervisor"
		rulesAdmins = "rules_admin"
		admins      = "admin"
		metricsRole = "metrics"
	)
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
