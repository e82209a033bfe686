package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/oidctest"
)

const oidcClientSecret = "a-client-secret-for-tests"

// oidcPerson is who the test provider signs in unless told otherwise: a
// supervisor of highways by their group.
var oidcPerson = oidctest.Person{Subject: "0b7c-sam", Login: "Sam.Supervisor@council.example", Name: "Sam Supervisor",
	Email: "sam@council.example", Groups: []string{"g-highways-supervisors", "g-unmapped"}}

// newOIDCHarness is the console harness signing people in with a test
// provider, whose groups map so: g-highways-supervisors → supervisor of
// highways; g-agents → agent on highways/north-team; g-admins → admin.
func newOIDCHarness(t *testing.T) (*consoleHarness, *oidctest.Provider) {
	t.Helper()
	h := newConsoleHarness(t)
	p := oidctest.Start(t, "casebridge-console", oidcClientSecret, func() time.Time { return h.now }, oidcPerson)
	h.srv.Close()
	var handler http.Handler
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(h.srv.Close)
	h.cfg.Staff.OIDC = &config.OIDC{Name: "Council account", Issuer: p.URL, ClientID: p.ClientID, ClientSecretEnv: "OIDC_SECRET",
		RedirectURL: h.srv.URL + config.OIDCCallbackPath, GroupsClaim: "groups", LoginClaim: "preferred_username",
		Scopes: []string{"profile", "email"}, Groups: []config.GroupGrant{
			{Group: "g-highways-supervisors", Roles: []string{config.RoleSupervisor}, Departments: []string{"highways"}},
			{Group: "g-agents", Roles: []string{config.RoleAgent}, Teams: []string{teamOf(t, h.cfg, "highways")}},
			{Group: "g-admins", Roles: []string{config.RoleAdmin}},
		}}
	h.oidcSecret = oidcClientSecret
	handler = h.server(testSecret)
	return h, p
}

// teamOf is a team of the department, as department/team.
func teamOf(t *testing.T, cfg *config.Config, dept string) string {
	d, ok := cfg.Department(dept)
	if !ok || len(d.Teams) == 0 {
		t.Fatalf("the demo council has no team in %s", dept)
	}
	return dept + "/" + d.Teams[0]
}

// oidcSignIn follows the sign-in through the provider, as a browser does,
// and returns the callback's answer.
func (v *visitor) oidcSignIn(next string) response {
	v.t.Helper()
	r := v.get("/login/oidc?next=" + url.QueryEscape(next))
	if r.status != http.StatusSeeOther {
		v.t.Fatalf("GET /login/oidc: %d %.300s", r.status, r.body)
	}
	for range 2 { // the provider's authorize, then the callback
		req, err := http.NewRequest(http.MethodGet, r.header.Get("Location"), nil)
		if err != nil {
			v.t.Fatal(err)
		}
		r = v.do(req)
	}
	return r
}

func (h *consoleHarness) account(t *testing.T, login string) *accounts.Account {
	t.Helper()
	a, err := accounts.NewStore(h.redis.Client(), "cb:", nil).Get(context.Background(), login)
	if err != nil {
		t.Fatalf("account %s: %v", login, err)
	}
	return a
}

func (h *consoleHarness) auditOf(t *testing.T, kind string) []accounts.Event {
	t.Helper()
	var doc struct{ Events []accounts.Event }
	r := h.staff("GET", "/api/v1/audit?limit=500&kind="+kind, "", testToken)
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/audit: %d %v", r.status, err)
	}
	return doc.Events
}

func TestOIDCSignIn(t *testing.T) {
	h, p := newOIDCHarness(t)

	wantPage(t, "the sign-in page", h.visitor(t).get("/login"), http.StatusOK, "Sign in with Council account", `href="/login/oidc"`)

	// Sam signs in through the provider and lands where they were going,
	// with an account of their own: no password, the roles of their group.
	sam := h.visitor(t)
	r := sam.oidcSignIn("/board")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/board" || sam.sessionCookie() == nil {
		t.Fatalf("sign in through the provider: %d to %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	wantPage(t, "sam's own page", sam.get("/account"), http.StatusOK, "sam.supervisor@council.example", "this one")
	a := h.account(t, "sam.supervisor@council.example")
	if a.SSO != p.URL+"#0b7c-sam" || a.Password != "" || !slices.Equal(a.Roles, []string{"supervisor"}) ||
		!slices.Equal(a.Departments, []string{"highways"}) || a.Name != "Sam Supervisor" {
		t.Errorf("sam's account: %+v", a)
	}
	if r := sam.get("/notifications"); r.status != http.StatusOK {
		t.Errorf("sam, a supervisor, opens notifications: %d", r.status)
	}
	// The session is a server-side one like any other: signing out ends it.
	cookie := *sam.sessionCookie()
	if r := sam.form("/cases", "/logout", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.status)
	}
	replay := h.visitor(t)
	u, _ := url.Parse(h.srv.URL)
	replay.client.Jar.SetCookies(u, []*http.Cookie{&cookie})
	if r := replay.get("/cases"); r.status != http.StatusSeeOther {
		t.Errorf("the signed-out cookie replayed: %d, want sent to sign in", r.status)
	}

	// Groups are read at every sign-in: moved to agents, sam is an agent.
	p.SignIn(oidctest.Person{Subject: "0b7c-sam", Login: "sam.supervisor@council.example", Name: "Sam Supervisor", Groups: []string{"g-agents"}})
	if r := sam.oidcSignIn(""); r.status != http.StatusSeeOther {
		t.Fatalf("sign in again: %d %.300s", r.status, r.body)
	}
	if a := h.account(t, "sam.supervisor@council.example"); !slices.Equal(a.Roles, []string{"agent"}) || len(a.Departments) != 0 || len(a.Teams) != 1 {
		t.Errorf("sam's account after the groups changed: %+v", a)
	}
	if r := sam.get("/notifications"); r.status != http.StatusForbidden {
		t.Errorf("sam, now an agent, opens notifications: %d", r.status)
	}
	// An account made by the provider has no password to guess.
	if _, r := h.signInWith(t, "sam.supervisor@council.example", ""); r.status != http.StatusUnauthorized {
		t.Errorf("a password sign-in to an SSO account: %d", r.status)
	}

	// The admin sees the account is the provider's: no password to set
	// here, and an edit keeps it the provider's.
	admin := h.signIn(t, testToken)
	page := admin.get("/admin/accounts/sam.supervisor@council.example")
	wantPage(t, "sam's account for the admin", page, http.StatusOK, "Signs in through the council's identity provider")
	if strings.Contains(string(page.body), `id="reset-password"`) {
		t.Error("the admin is offered to set a password on an SSO account")
	}
	wantPage(t, "a password set on an SSO account", admin.form("/admin/accounts/sam.supervisor@council.example",
		"/admin/accounts/sam.supervisor@council.example/password", url.Values{"password": {samPassword}}), http.StatusUnprocessableEntity, "has no password here")
	edit := url.Values{"name": {"Sam S"}, "roles": {"agent"}, "teams": {teamOf(t, h.cfg, "highways")}, "version": {strconv.FormatInt(h.account(t, "sam.supervisor@council.example").Version, 10)}}
	if r := admin.form("/admin/accounts/sam.supervisor@council.example", "/admin/accounts/sam.supervisor@council.example", edit); r.status != http.StatusSeeOther {
		t.Fatalf("the admin edits sam: %d %.300s", r.status, r.body)
	}
	if a := h.account(t, "sam.supervisor@council.example"); a.SSO == "" || a.Password != "" || a.Name != "Sam S" {
		t.Errorf("sam's account after the admin's edit: %+v", a)
	}
	if r := sam.oidcSignIn(""); r.status != http.StatusSeeOther {
		t.Errorf("sam signs in through the provider after the admin's edit: %d %.300s", r.status, r.body)
	}

	// What must be refused is, each with a line in the audit trail.
	h.newAccount(t, admin, url.Values{"login": {"pat"}, "name": {"Pat"}, "roles": {"admin"}, "password": {samPassword}})
	good := oidctest.Person{Subject: "s-1", Login: "lee", Name: "Lee", Groups: []string{"g-agents"}}
	for _, tc := range []struct {
		name   string
		person oidctest.Person
		fault  func(*oidctest.Provider)
		detail string
	}{
		{"a wrong nonce", good, func(p *oidctest.Provider) { p.WrongNonce = true }, "nonce"},
		{"a wrong state", good, func(p *oidctest.Provider) { p.WrongState = true }, "state"},
		{"an expired ID token", good, func(p *oidctest.Provider) { p.Life = -time.Minute }, "expired"},
		{"another issuer", good, func(p *oidctest.Provider) { p.WrongIssuer = true }, "different provider"},
		{"a token signed by another key", good, func(p *oidctest.Provider) { p.OtherKey = true }, "signature"},
		{"no mapped group", oidctest.Person{Subject: "s-2", Login: "kim", Groups: []string{"g-unmapped"}}, nil, "none of the groups"},
		{"a password account's name", oidctest.Person{Subject: "s-3", Login: "pat", Groups: []string{"g-admins"}}, nil, "does not sign in through the provider"},
		{"another person with sam's name", oidctest.Person{Subject: "s-4", Login: "sam.supervisor@council.example", Groups: []string{"g-admins"}}, nil, "does not sign in through the provider"},
		{"the provider refusing", oidctest.Person{LoginErr: "access_denied"}, nil, "access_denied"},
	} {
		p.SignIn(tc.person)
		p.Set(func(p *oidctest.Provider) {
			p.WrongNonce, p.WrongState, p.Life, p.WrongIssuer, p.OtherKey = false, false, 0, false, false
		})
		if tc.fault != nil {
			p.Set(tc.fault)
		}
		before := len(h.auditOf(t, accounts.EventSignInFailed))
		v := h.visitor(t)
		wantPage(t, tc.name, v.oidcSignIn(""), http.StatusUnauthorized, "did not work")
		if v.sessionCookie() != nil {
			t.Errorf("%s: a session cookie was set", tc.name)
		}
		failed := h.auditOf(t, accounts.EventSignInFailed)
		if len(failed) != before+1 || !strings.Contains(failed[0].Detail, tc.detail) {
			t.Errorf("%s: audit has %d failures (want %d), the newest %+v, want it to say %q", tc.name, len(failed), before+1, failed[0], tc.detail)
		}
	}
	p.Set(func(p *oidctest.Provider) {
		p.WrongNonce, p.WrongState, p.Life, p.WrongIssuer, p.OtherKey = false, false, 0, false, false
	})
	if a := h.account(t, "pat"); a.SSO != "" || !slices.Equal(a.Roles, []string{"admin"}) {
		t.Errorf("pat's password account was changed: %+v", a)
	}

	// A callback not started in this browser, or replayed, opens nothing.
	p.SignIn(good)
	v := h.visitor(t)
	r = v.get("/login/oidc")
	back := v.do(mustRequest(t, r.header.Get("Location"))).header.Get("Location")
	wantPage(t, "a callback in another browser", h.visitor(t).do(mustRequest(t, back)), http.StatusUnauthorized, "did not work")
	if r := v.do(mustRequest(t, back)); r.status != http.StatusSeeOther {
		t.Fatalf("the callback in its own browser: %d %.300s", r.status, r.body)
	}
	wantPage(t, "the callback replayed", v.do(mustRequest(t, back)), http.StatusUnauthorized, "did not work")

	// Successes are in the audit trail too: the sign-ins, and the accounts
	// the provider's groups made and changed.
	signIns := 0
	for _, e := range h.auditOf(t, accounts.EventSignIn) {
		if strings.Contains(e.Detail, "through Council account") {
			signIns++
		}
	}
	if signIns != 4 {
		t.Errorf("%d sign-ins through the provider in the audit trail, want 4", signIns)
	}
	if ev := h.auditOf(t, accounts.EventAccountChanged); len(ev) == 0 || ev[0].Actor != ssoActor {
		t.Errorf("the account change by the provider's groups is not in the audit trail: %+v", ev)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// The identity provider away: the console says so, and nobody is signed in.
func TestOIDCProviderDown(t *testing.T) {
	h, p := newOIDCHarness(t)
	p.Close()
	r := h.visitor(t).get("/login/oidc")
	wantPage(t, "sign-in with the provider away", r, http.StatusServiceUnavailable, "not working just now")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// Signing out of a session opened through the provider ends casebridge's
// session, then sends the browser to the provider's end-session endpoint, so
// the next person at a shared PC is not signed straight back in as this one.
func TestOIDCSignOut(t *testing.T) {
	h, p := newOIDCHarness(t)
	sam := h.visitor(t)
	if r := sam.oidcSignIn(""); r.status != http.StatusSeeOther || sam.sessionCookie() == nil {
		t.Fatalf("sign in through the provider: %d %.300s", r.status, r.body)
	}
	// Every console page lets its forms go on to the provider: the
	// sign-out form's answer goes there.
	cases := sam.get("/cases")
	if csp := cases.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' "+p.URL+";") {
		t.Errorf("the console's Content-Security-Policy %q does not let a form go on to the provider", csp)
	}
	cookie := *sam.sessionCookie()
	r := sam.form("/cases", "/logout", url.Values{})
	loc, err := url.Parse(r.header.Get("Location"))
	if r.status != http.StatusSeeOther || err != nil || loc.Scheme+"://"+loc.Host+loc.Path != p.URL+"/logout" {
		t.Fatalf("sign out: %d to %q, want 303 to the provider's end-session endpoint", r.status, r.header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("client_id") != p.ClientID || q.Get("post_logout_redirect_uri") != h.srv.URL+"/login" || q.Has("id_token_hint") {
		t.Errorf("the end-session request's parameters: %v", q)
	}
	if sam.sessionCookie() != nil {
		t.Error("the session cookie is still set after signing out")
	}
	// casebridge's session ended before the browser left for the provider.
	replay := h.visitor(t)
	u, _ := url.Parse(h.srv.URL)
	replay.client.Jar.SetCookies(u, []*http.Cookie{&cookie})
	if r := replay.get("/cases"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("the signed-out cookie replayed: %d to %q, want sent to sign in", r.status, r.header.Get("Location"))
	}

	// The provider ends its session and sends the browser back to sign in.
	back := sam.do(mustRequest(t, loc.String()))
	if back.status != http.StatusFound || back.header.Get("Location") != h.srv.URL+"/login" {
		t.Fatalf("the provider's end-session endpoint: %d to %q", back.status, back.header.Get("Location"))
	}
	var ended []url.Values
	p.Set(func(p *oidctest.Provider) { ended = slices.Clone(p.EndSessions) })
	if len(ended) != 1 || ended[0].Get("client_id") != p.ClientID || ended[0].Get("post_logout_redirect_uri") != h.srv.URL+"/login" {
		t.Errorf("the provider's end-session requests: %v", ended)
	}
	wantPage(t, "the sign-in page after signing out", sam.do(mustRequest(t, back.header.Get("Location"))), http.StatusOK, "Sign in with Council account")

	// The next person pressing "Sign in with Council account" is asked to
	// sign in at the provider, not let in as sam.
	next := h.visitor(t)
	r = next.do(mustRequest(t, next.get(oidcPath).header.Get("Location")))
	wantPage(t, "the provider's authorize after the sign-out", r, http.StatusOK, "Sign in to the test provider")
	if next.sessionCookie() != nil {
		t.Error("the next person was signed in")
	}

	// The audit trail says the sign-out went on to the provider, and holds
	// no secret.
	outs := h.auditOf(t, accounts.EventSignOut)
	if len(outs) != 1 || outs[0].Actor != "account:sam.supervisor@council.example" || !strings.Contains(outs[0].Detail, "sent on to Council account") {
		t.Errorf("the audit trail's sign-outs: %+v", outs)
	}
	if len(outs) > 0 && (strings.Contains(outs[0].Detail, cookie.Value) || strings.Contains(outs[0].Detail, "eyJ")) {
		t.Errorf("the sign-out's audit line holds a secret: %q", outs[0].Detail)
	}

	// Sessions opened with a password or a token sign out as before.
	h.newAccount(t, h.signIn(t, testToken), url.Values{"login": {"pat"}, "name": {"Pat"}, "roles": {"agent"}, "password": {samPassword}})
	pat, _ := h.signInWith(t, "pat", samPassword)
	admin := h.signIn(t, testToken)
	for who, v := range map[string]*visitor{"a password": pat, "a token": admin} {
		if r := v.form("/cases", "/logout", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?signed_out=1" {
			t.Errorf("sign out of a session opened with %s: %d to %q", who, r.status, r.header.Get("Location"))
		}
	}
	p.Set(func(p *oidctest.Provider) { ended = slices.Clone(p.EndSessions) })
	if len(ended) != 1 {
		t.Errorf("%d end-session requests, want only sam's", len(ended))
	}
}

// A provider without an end-session endpoint, or one not answering: the
// sign-out ends casebridge's session all the same, and the page says the
// provider's may still be open.
func TestOIDCSignOutProviderCannot(t *testing.T) {
	h, p := newOIDCHarness(t)
	p.Set(func(p *oidctest.Provider) { p.NoEndSession = true })
	signOut := func(what, why string) {
		t.Helper()
		sam := h.visitor(t)
		if r := sam.oidcSignIn(""); r.status != http.StatusSeeOther || sam.sessionCookie() == nil {
			t.Fatalf("%s: sign in through the provider: %d %.300s", what, r.status, r.body)
		}
		cookie := *sam.sessionCookie()
		if what == "a provider that does not answer" {
			// casebridge restarts, so it has not read the provider's
			// discovery document, and the provider goes away.
			h.srv = httptest.NewServer(h.server(testSecret))
			t.Cleanup(h.srv.Close)
			p.Close()
		}
		r := sam.form("/cases", "/logout", url.Values{})
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?signed_out="+signedOutHere {
			t.Fatalf("%s: sign out: %d to %q", what, r.status, r.header.Get("Location"))
		}
		wantPage(t, what+": the signed-out page", sam.get(r.header.Get("Location")), http.StatusOK,
			"You have signed out. You may still be signed in to Council account")
		replay := h.visitor(t)
		u, _ := url.Parse(h.srv.URL)
		replay.client.Jar.SetCookies(u, []*http.Cookie{&cookie})
		if r := replay.get("/cases"); r.status != http.StatusSeeOther {
			t.Errorf("%s: the signed-out cookie replayed: %d, want sent to sign in", what, r.status)
		}
		if outs := h.auditOf(t, accounts.EventSignOut); len(outs) == 0 || !strings.Contains(outs[0].Detail, why) {
			t.Errorf("%s: the newest sign-out in the audit trail: %+v, want it to say %q", what, outs, why)
		}
	}
	signOut("a provider without an end-session endpoint", "not sent on to Council account: it has no end_session_endpoint")
	signOut("a provider that does not answer", "not sent on to Council account: it did not answer")
	p.Set(func(p *oidctest.Provider) {
		if len(p.EndSessions) != 0 {
			t.Errorf("the provider was sent %d sign-outs", len(p.EndSessions))
		}
	})
}
