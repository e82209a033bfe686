package api

import (
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/oidctest"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
)

// BenchmarkOIDCSignIn is one whole sign-in through the identity provider as a
// browser makes it, against the test's provider on this machine and a real
// Redis: GET /login/oidc, the provider's authorize, and the callback, which
// trades the code at the provider's token endpoint, checks the ID token
// (RS256, 2048-bit key), reads the account (unchanged after the first) and
// opens a session. A real provider adds its own network round trips.
func BenchmarkOIDCSignIn(b *testing.B) {
	rs := redistest.Start(b)
	p := oidctest.Start(b, "casebridge-console", oidcClientSecret, nil, oidcPerson)
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	b.Cleanup(srv.Close)
	cfg := config.Demo()
	cfg.Staff.OIDC = &config.OIDC{Name: "Council account", Issuer: p.URL, ClientID: p.ClientID, ClientSecretEnv: "OIDC_SECRET",
		RedirectURL: srv.URL + config.OIDCCallbackPath, GroupsClaim: "groups", LoginClaim: "preferred_username",
		Groups: []config.GroupGrant{{Group: "g-highways-supervisors", Roles: []string{config.RoleSupervisor}, Departments: []string{"highways"}}}}
	handler = NewServer(slog.New(slog.DiscardHandler), cfg, Deps{Metrics: metrics.New(), Redis: rs.Client(),
		SessionSecret: []byte(testSecret), OIDCClientSecret: oidcClientSecret})
	signIn := func() {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Path == "/cases" {
				return http.ErrUseLastResponse
			}
			return nil
		}}
		resp, err := c.Get(srv.URL + "/login/oidc")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cases" {
			b.Fatalf("sign-in ended with %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	signIn() // makes the account
	for b.Loop() {
		signIn()
	}
}
