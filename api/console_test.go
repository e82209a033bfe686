package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/caseflow/caseflowtest"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/notify"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/web"
)

const testSecret = "a-session-secret-for-tests-only-0123456789"

// consoleHarness is the SLA harness (cases with promises, a supervisor)
// served with everything the console uses: the read model and its events on
// one real Redis, the demo rules as version 1, an outbox, a fixed session
// secret, and escalations the in-memory engine lacks (ladders).
type consoleHarness struct {
	*slaHarness
	redis   *redistest.Server
	rules   *rules.Store
	outbox  *notify.Store
	ladders *ladderEngine
	fresh   Freshness // nil: the server says nothing of the read model's lag
	// oidcSecret is the client secret of the configuration's staff.oidc.
	oidcSecret string
}

func newConsoleHarness(t *testing.T) *consoleHarness {
	t.Helper()
	h := &consoleHarness{slaHarness: newSLAHarness(t), redis: redistest.Start(t)}
	h.store = readmodel.New(h.redis.Client(), "cb:")
	h.store.UseAreas(areas.Demo())
	h.ladders = &ladderEngine{Engine: h.engine, ladders: map[string][]cases.Escalation{}, now: func() time.Time { return h.now }}
	h.rules = rules.NewStore(h.redis.Client(), "cb:", catalogue(h.cfg, areas.Demo()), func() time.Time { return h.now })
	if _, _, err := h.rules.Seed(context.Background(), rules.Routing, rules.DemoYAML(), "casebridge dev", "the demo council's rules"); err != nil {
		t.Fatal(err)
	}
	h.outbox = notify.NewStore(h.redis.Client(), "cb:")
	h.srv.Close()
	h.srv = httptest.NewServer(h.server(testSecret))
	t.Cleanup(h.srv.Close)
	return h
}

// server is a console server over the harness's engine and stores.
func (h *consoleHarness) server(secret string) *Server {
	return NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{
		Cases: h.ladders, ReadModel: h.store, Metrics: metrics.New(), Outbox: h.outbox,
		Now:   func() time.Time { return h.now },
		Rules: h.rules, SessionSecret: []byte(secret), Areas: areas.Demo(), Redis: h.redis.Client(),
		Events:    EventSource{Redis: h.redis.Client(), Channel: h.store.EventsChannel(), Heartbeat: 200 * time.Millisecond},
		Freshness: h.fresh, OIDCClientSecret: h.oidcSecret,
	})
}

// ladderEngine is the in-memory engine with escalations on the cases named
// in ladders, which it keeps itself: caseflowtest runs no SLA clocks.
type ladderEngine struct {
	*caseflowtest.Engine
	now     func() time.Time
	mu      sync.Mutex
	ladders map[string][]cases.Escalation
}

func (e *ladderEngine) escalate(ref string, levels ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range levels {
		n := len(e.ladders[ref]) + 1
		e.ladders[ref] = append(e.ladders[ref], cases.Escalation{Seq: n, Level: l, Clock: "citizen", Due: e.now(), At: e.now(), Done: []string{"notified team lead"}})
	}
}

func (e *ladderEngine) dress(k *cases.Case) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.ladders[k.Ref]; ok {
		if k.Promise == nil {
			k.Promise = &cases.Promise{Policy: "test", Version: 1, Target: "1 working_days"}
		}
		k.Promise.Escalations = slices.Clone(l)
	}
}

func (e *ladderEngine) Get(ctx context.Context, ref string) (*cases.Case, error) {
	k, err := e.Engine.Get(ctx, ref)
	if err == nil {
		e.dress(k)
	}
	return k, err
}

func (e *ladderEngine) Acknowledge(ctx context.Context, ref string, a cases.Acknowledgement, _ string) (*cases.Case, error) {
	k, err := e.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := k.CheckAcknowledge(a); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.ladders[ref][a.Seq-1].Acknowledged = &cases.Ack{By: a.Actor, At: e.now(), Note: a.Note}
	e.mu.Unlock()
	return e.Get(ctx, ref)
}

// visitor is a person using the console over plain HTTP: a cookie jar, and
// redirects are not followed, so tests see them.
type visitor struct {
	t      *testing.T
	h      *consoleHarness
	client *http.Client
}

func (h *consoleHarness) visitor(t *testing.T) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, h: h, client: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn opens the sign-in page and signs in with token.
func (h *consoleHarness) signIn(t *testing.T, token string) *visitor {
	t.Helper()
	v := h.visitor(t)
	r := v.post("/login", url.Values{"_csrf": {v.csrf("/login")}, "token": {token}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign in with %q: %d %s", token, r.status, r.body)
	}
	return v
}

func (v *visitor) do(req *http.Request) response {
	v.t.Helper()
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (v *visitor) get(path string) response {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodGet, v.h.srv.URL+path, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return v.do(req)
}

func (v *visitor) post(path string, form url.Values) response {
	v.t.Helper()
	req, err := http.NewRequest(http.MethodPost, v.h.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		v.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return v.do(req)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrf opens a page and returns the form token its forms carry.
func (v *visitor) csrf(path string) string {
	v.t.Helper()
	r := v.get(path)
	m := csrfField.FindSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		v.t.Fatalf("GET %s: %d, no form token in %.300s", path, r.status, r.body)
	}
	return string(m[1])
}

// form posts a form with the token of the page it is on.
func (v *visitor) form(page, action string, fields url.Values) response {
	v.t.Helper()
	fields.Set("_csrf", v.csrf(page))
	return v.post(action, fields)
}

func (v *visitor) sessionCookie() *http.Cookie {
	u, _ := url.Parse(v.h.srv.URL)
	for _, c := range v.client.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

func wantPage(t *testing.T, what string, r response, status int, texts ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d\n%.600s", what, r.status, status, r.body)
		return
	}
	for _, s := range texts {
		if !strings.Contains(string(r.body), s) {
			t.Errorf("%s: the page does not say %q", what, s)
		}
	}
}

// timeline is how many entries the engine has for a case.
func (h *consoleHarness) timeline(t *testing.T, ref string) []cases.Entry {
	t.Helper()
	k, err := h.engine.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return k.Timeline
}

func TestConsoleRoles(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 24*time.Hour)
	h.ladders.escalate(ref, "warn")
	people := map[string]*visitor{
		"nobody": h.visitor(t), "amy (agent)": h.signIn(t, "agent-token"), "sam (supervisor)": h.signIn(t, supervisorToken),
		"rita (rules_admin)": h.signIn(t, rulesToken), "admin": h.signIn(t, testToken),
	}
	const ok, no, out = 200, 403, 303
	for _, tc := range []struct {
		path string
		want map[string]int // by person; nobody is always sent to sign in
	}{
		{"/cases", map[string]int{"amy (agent)": ok, "sam (supervisor)": ok, "rita (rules_admin)": no, "admin": ok}},
		{"/cases/" + ref, map[string]int{"amy (agent)": ok, "sam (supervisor)": ok, "rita (rules_admin)": no, "admin": ok}},
		{"/board", map[string]int{"amy (agent)": ok, "sam (supervisor)": ok, "rita (rules_admin)": no, "admin": ok}},
		{"/notifications", map[string]int{"amy (agent)": no, "sam (supervisor)": ok, "rita (rules_admin)": no, "admin": ok}},
		{"/rules/routing", map[string]int{"amy (agent)": no, "sam (supervisor)": no, "rita (rules_admin)": ok, "admin": ok}},
		{"/events", map[string]int{"amy (agent)": ok, "sam (supervisor)": ok, "rita (rules_admin)": no, "admin": ok}},
	} {
		for who, v := range people {
			want, r := out, response{}
			if who != "nobody" {
				want = tc.want[who]
			}
			if tc.path == "/events" {
				r = v.stream(tc.path)
			} else {
				r = v.get(tc.path)
			}
			switch {
			case r.status != want:
				t.Errorf("GET %s as %s: %d, want %d", tc.path, who, r.status, want)
			case want == out && r.header.Get("Location") != "/login?next="+url.QueryEscape(tc.path):
				t.Errorf("GET %s as %s: sent to %q, want the sign-in page and back", tc.path, who, r.header.Get("Location"))
			case want == no && !strings.Contains(string(r.body), "You cannot use this page"):
				t.Errorf("GET %s as %s: 403 without the page saying why: %.300s", tc.path, who, r.body)
			}
		}
	}

	// Forms check roles too, after the form token: these carry a good one.
	for _, tc := range []struct {
		who, page, action string
		fields            url.Values
	}{
		{"amy (agent)", "/cases/" + ref, "/cases/" + ref + "/escalations/1/acknowledge", url.Values{}},
		{"rita (rules_admin)", "/rules/routing", "/cases/" + ref + "/note", url.Values{"note": {"hello"}}},
		{"amy (agent)", "/cases/" + ref, "/rules/routing/draft", url.Values{"action": {"save"}, "yaml": {string(rules.DemoYAML())}}},
		{"sam (supervisor)", "/cases/" + ref, "/rules/routing/rollback", url.Values{"version": {"1"}, "comment": {"x"}}},
	} {
		if r := people[tc.who].form(tc.page, tc.action, tc.fields); r.status != no {
			t.Errorf("POST %s as %s: %d, want 403", tc.action, tc.who, r.status)
		}
	}
	if got := h.ladders.ladders[ref][0].Acknowledged; got != nil {
		t.Errorf("an agent acknowledged an escalation: %+v", got)
	}

	// Only what a person may use is on their pages.
	page := string(people["amy (agent)"].get("/cases/" + ref).body)
	for _, s := range []string{`href="/notifications"`, `href="/rules"`, ">Acknowledge<"} {
		if strings.Contains(page, s) {
			t.Errorf("an agent's case page shows %s", s)
		}
	}
	page = string(people["sam (supervisor)"].get("/cases/" + ref).body)
	for _, s := range []string{`href="/notifications"`, ">Acknowledge<"} {
		if !strings.Contains(page, s) {
			t.Errorf("a supervisor's case page lacks %s", s)
		}
	}
	if r := people["sam (supervisor)"].get("/"); r.status != http.StatusFound || r.header.Get("Location") != "/cases" {
		t.Errorf("GET / = %d to %q, want the work queue", r.status, r.header.Get("Location"))
	}
}

// stream opens a live stream and reads only its status and headers.
func (v *visitor) stream(path string) response {
	v.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.h.srv.URL+path, nil)
	if err != nil {
		v.t.Fatal(err)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		r.body, _ = io.ReadAll(resp.Body)
	} else if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		v.t.Errorf("GET %s: content type %q", path, ct)
	}
	return r
}

// A form is accepted only with the token of the session it is sent in.
func TestConsoleFormTokens(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	amy, other := h.signIn(t, "agent-token"), h.signIn(t, "agent-token")
	before := len(h.timeline(t, ref))
	note := url.Values{"note": {"Spoke to the contractor"}}
	for name, token := range map[string]string{
		"no token":          "",
		"a made-up token":   "bm90LWEtdG9rZW4",
		"another session's": other.csrf("/cases/" + ref),
		"a sign-in form's":  h.visitor(t).csrf("/login"),
	} {
		f := url.Values{"note": note["note"]}
		if token != "" {
			f.Set("_csrf", token)
		}
		wantPage(t, "note with "+name, amy.post("/cases/"+ref+"/note", f), http.StatusForbidden, "This form cannot be accepted", "nothing was changed")
	}
	if got := len(h.timeline(t, ref)); got != before {
		t.Fatalf("refused forms added %d timeline entries", got-before)
	}
	if r := amy.form("/cases/"+ref, "/cases/"+ref+"/note", note); r.status != http.StatusSeeOther || r.header.Get("Location") != "/cases/"+ref+"?done=note" {
		t.Fatalf("note with the session's token: %d to %q", r.status, r.header.Get("Location"))
	}
	if got := h.timeline(t, ref); len(got) != before+1 || got[len(got)-1].Note != "Spoke to the contractor" || got[len(got)-1].Actor != "staff:amy" {
		t.Errorf("timeline after the note: %+v", got[before:])
	}

	// Signing out needs the token too, so no other site can sign anyone out.
	wantPage(t, "sign out without the token", amy.post("/logout", url.Values{}), http.StatusForbidden)
	if r := amy.get("/cases"); r.status != http.StatusOK {
		t.Errorf("after a refused sign-out: GET /cases %d", r.status)
	}
	// Signing in needs the sign-in page's token, bound to its cookie.
	nobody := h.visitor(t)
	wantPage(t, "sign in without the form", nobody.post("/login", url.Values{"token": {"agent-token"}}), http.StatusForbidden, "The sign-in form had expired")
	if nobody.sessionCookie() != nil {
		t.Error("a sign-in without the form's token opened a session")
	}
	// And with a wrong token it says so, without a session.
	wantPage(t, "a wrong staff token", nobody.post("/login", url.Values{"_csrf": {nobody.csrf("/login")}, "token": {"guess"}}),
		http.StatusUnauthorized, "That token is not recognised")
	if nobody.sessionCookie() != nil {
		t.Error("a wrong token opened a session")
	}
}

func TestConsoleSessions(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)

	// The cookie: HttpOnly, SameSite=Strict, for 8 hours; not Secure on plain HTTP.
	v := h.visitor(t)
	r := v.post("/login", url.Values{"_csrf": {v.csrf("/login")}, "token": {"agent-token"}, "next": {"/cases/" + ref}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/cases/"+ref {
		t.Fatalf("sign in: %d to %q, want back to the case", r.status, r.header.Get("Location"))
	}
	var set *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			set = c
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || set.MaxAge != int(sessionLife/time.Second) || set.Secure || set.Path != "/" {
		t.Fatalf("session cookie %+v", set)
	}
	if strings.Contains(set.Value, "agent-token") || strings.Contains(set.Value, config.HashToken("agent-token")) {
		t.Error("the cookie holds the token or its full hash")
	}

	// Sign-in goes back only to this site.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example"} {
		w := h.visitor(t)
		r := w.post("/login", url.Values{"_csrf": {w.csrf("/login")}, "token": {"agent-token"}, "next": {next}})
		if r.header.Get("Location") != "/cases" {
			t.Errorf("sign in with next=%s sends to %q", next, r.header.Get("Location"))
		}
	}
	rita := h.visitor(t)
	if r := rita.post("/login", url.Values{"_csrf": {rita.csrf("/login")}, "token": {rulesToken}}); r.header.Get("Location") != "/rules" {
		t.Errorf("a rules admin starts at %q, want /rules", r.header.Get("Location"))
	}

	signedOut := func(what string, w *visitor) {
		t.Helper()
		if r := w.get("/cases"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
			t.Errorf("%s: GET /cases %d to %q, want the sign-in page", what, r.status, r.header.Get("Location"))
		}
	}
	// A cookie changed by hand is not a session.
	tampered := h.signIn(t, "agent-token")
	value := []byte(tampered.sessionCookie().Value)
	value[0] ^= 1
	u, _ := url.Parse(h.srv.URL)
	tampered.client.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: string(value), Path: "/"}})
	signedOut("a tampered cookie", tampered)

	// Another server on the same Redis (another replica) accepts a session.
	amy := h.signIn(t, "agent-token")
	for secret, want := range map[string]int{testSecret: http.StatusOK} {
		srv := httptest.NewServer(h.server(secret))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/cases", nil)
		req.AddCookie(amy.sessionCookie())
		// Another client: amy's jar would take the refusal's cookie deletion
		// for her own (cookies do not tell ports apart).
		if r := (&visitor{t: t, h: h, client: &http.Client{CheckRedirect: amy.client.CheckRedirect}}).do(req); r.status != want {
			t.Errorf("a replica with secret %q answers %d, want %d", secret, r.status, want)
		}
		srv.Close()
	}

	// Roles are read from the configuration on every request.
	h.cfg.Staff.Tokens[slices.IndexFunc(h.cfg.Staff.Tokens, func(t config.Token) bool { return t.Name == "amy" })].Roles = []string{config.RoleRulesAdmin}
	if r := amy.get("/cases"); r.status != http.StatusForbidden {
		t.Errorf("amy, now only a rules admin: GET /cases %d, want 403", r.status)
	}
	// Removing the token from the configuration ends its sessions.
	h.cfg.Staff.Tokens = slices.DeleteFunc(h.cfg.Staff.Tokens, func(t config.Token) bool { return t.Name == "amy" })
	signedOut("a removed token", amy)

	// Sessions last 8 hours.
	sam := h.signIn(t, supervisorToken)
	h.now = h.now.Add(sessionLife - time.Second)
	if r := sam.get("/cases"); r.status != http.StatusOK {
		t.Errorf("a session near its end: %d", r.status)
	}
	h.now = h.now.Add(time.Second)
	signedOut("an expired session", sam)

	// Signing out clears the cookie.
	admin := h.signIn(t, testToken)
	if r := admin.form("/cases", "/logout", url.Values{}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?signed_out=1" {
		t.Errorf("sign out: %d to %q", r.status, r.header.Get("Location"))
	}
	if admin.sessionCookie() != nil {
		t.Error("the session cookie is still there after signing out")
	}
	signedOut("after signing out", admin)
}

// With an https public URL (TLS ends in front of casebridge), the cookies
// are Secure.
func TestConsoleSecureCookies(t *testing.T) {
	h := newConsoleHarness(t)
	h.cfg.Council.PublicURL = "https://cases.example.gov.uk"
	srv := httptest.NewServer(h.server(testSecret))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cs := resp.Cookies()
	if len(cs) != 1 || cs[0].Name != loginCookie || !cs[0].Secure {
		t.Errorf("cookies %+v, want a Secure login cookie", cs)
	}
}

func TestConsoleCaseForms(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	amy := h.signIn(t, "agent-token")
	page := "/cases/" + ref
	for _, tc := range []struct {
		name, action string
		fields       url.Values
		status       int
		says         []string
	}{
		{"no status chosen", "/status", url.Values{"note": {"keep me"}}, 422, []string{"Choose the status", ">\nkeep me</textarea>"}},
		{"an unknown status", "/status", url.Values{"status": {"resolved"}}, 422, []string{"&#34;resolved&#34; is not a status"}},
		{"the status it has", "/status", url.Values{"status": {"open"}, "note": {"again"}}, 409, []string{"That change is not allowed: the case is already Open."}},
		{"an empty note", "/note", url.Values{"note": {"  "}}, 422, []string{"Write the note first."}},
		{"a note too long", "/note", url.Values{"note": {strings.Repeat("é", cases.MaxNote+1)}}, 422, []string{"The note is longer than"}},
		{"nowhere to transfer to", "/transfer", url.Values{"to": {""}, "note": {"why"}}, 422, []string{"Choose where to send the case.", `value="why"`}},
		{"an unknown department", "/transfer", url.Values{"to": {"libraries"}}, 422, []string{"&#34;libraries&#34; is not a department"}},
		{"a team of another department", "/transfer", url.Values{"to": {"highways/noise"}}, 422, []string{"&#34;noise&#34; is not a team of Highways and transport"}},
		{"an unknown category", "/category", url.Values{"service": {"NOPE"}}, 422, []string{"&#34;NOPE&#34; is not a category"}},
		{"the category it has", "/category", url.Values{"service": {"POT"}}, 422, []string{"The case is already filed under POT."}},
		{"unassigned already", "/assign", url.Values{"assignee": {""}}, 422, []string{"The case is not assigned to anyone."}},
		{"an assignee of 3,000 characters", "/assign", url.Values{"assignee": {strings.Repeat("a", 3000)}}, 422,
			[]string{"The assignee is longer than 100 characters."}},
		{"an assignee on two lines", "/assign", url.Values{"assignee": {"amy\r\nbob"}}, 422, []string{"The assignee contains a line break"}},
		{"a note of 3 MiB", "/note", url.Values{"note": {strings.Repeat("é", 3<<20)}}, 413,
			[]string{"The form was larger than the 256 KiB any change needs, so nothing was changed."}},
		{"an acknowledgement of 3 MiB", "/escalations/1/acknowledge", url.Values{"note": {strings.Repeat("é", 3<<20)}}, 403, nil}, // agents may not, however large
		{"no priority chosen", "/priority", url.Values{"priority": {""}, "note": {"keep"}}, 422, []string{"Choose a priority.", `value="keep"`}},
		{"the priority it has", "/priority", url.Values{"priority": {"high"}}, 422, []string{"The case is already high."}},
		{"an escalation it does not have", "/escalations/3/acknowledge", url.Values{"note": {"seen"}}, 403, nil}, // agents may not
	} {
		before := len(h.timeline(t, ref))
		r := amy.form(page, page+tc.action, tc.fields)
		wantPage(t, tc.name, r, tc.status, tc.says...)
		if tc.status != 403 && !strings.Contains(string(r.body), "data-form-error") {
			t.Errorf("%s: no form message on the page", tc.name)
		}
		if got := len(h.timeline(t, ref)); got != before {
			t.Errorf("%s: the case changed", tc.name)
		}
	}

	// And the changes that make sense are made.
	for _, tc := range []struct {
		action string
		fields url.Values
		check  func(k *cases.Case) bool
	}{
		{"/assign", url.Values{"assignee": {"roads.team"}, "note": {"yours"}}, func(k *cases.Case) bool { return k.Assignee == "roads.team" }},
		{"/priority", url.Values{"priority": {"urgent"}, "note": {"near a school"}}, func(k *cases.Case) bool {
			return k.Priority == cases.PriorityUrgent && k.Timeline[len(k.Timeline)-1].Kind == cases.KindPrioritised
		}},
		{"/transfer", url.Values{"to": {"highways/drainage"}, "note": {"it is a drain"}}, func(k *cases.Case) bool { return k.Department == "highways" && k.Team == "drainage" }},
		{"/transfer", url.Values{"to": {toTriage}}, func(k *cases.Case) bool {
			return k.Timeline[len(k.Timeline)-2].Kind == cases.KindTransferred && k.Routing != nil
		}},
		{"/category", url.Values{"service": {"DRN"}}, func(k *cases.Case) bool { return k.Service.Code == "DRN" && k.Service.Name == "Blocked drain or gully" }},
		{"/status", url.Values{"status": {"fixed"}, "note": {"Cleared"}}, func(k *cases.Case) bool {
			e := k.Timeline[len(k.Timeline)-1]
			return k.Status == cases.StatusFixed && !e.Public && e.Note == "Cleared"
		}},
	} {
		r := amy.form(page, page+tc.action, tc.fields)
		if r.status != http.StatusSeeOther {
			t.Errorf("POST %s %v: %d\n%.400s", tc.action, tc.fields, r.status, r.body)
			continue
		}
		k, _ := h.engine.Get(context.Background(), ref)
		if !tc.check(k) {
			t.Errorf("POST %s %v: the case is now %+v", tc.action, tc.fields, k)
		}
	}
	wantPage(t, "the case page after the changes", amy.get("/cases/"+ref+"?done=status"), 200, "The status was changed.", "Fixed", "Cleared")

	// The same form sent twice (a double click) changes the case once.
	form := url.Values{"note": {"once"}, "request_id": {"ABCDEF234567"}, "_csrf": {amy.csrf(page)}}
	before := len(h.timeline(t, ref))
	amy.post(page+"/note", form)
	amy.post(page+"/note", form)
	if got := len(h.timeline(t, ref)); got != before+1 {
		t.Errorf("a note sent twice with one request id added %d entries", got-before)
	}
	// The id is scoped to the session and the form: someone else's form with
	// the same id, or another of amy's forms, makes a change of its own.
	admin := h.signIn(t, testToken)
	admin.post(page+"/note", url.Values{"note": {"twice"}, "request_id": {"ABCDEF234567"}, "_csrf": {admin.csrf(page)}})
	amy.post(page+"/status", url.Values{"status": {"in_progress"}, "request_id": {"ABCDEF234567"}, "_csrf": {amy.csrf(page)}})
	if got := h.timeline(t, ref); len(got) != before+3 || got[len(got)-2].Note != "twice" || got[len(got)-1].Kind != cases.KindReopened {
		t.Errorf("another person's note and amy's reopening with the same request id: timeline ends %+v", got[before:])
	}

	wantPage(t, "not a reference", amy.get("/cases/nonsense"), 404, "is not a case reference")
	wantPage(t, "no such case", amy.get("/cases/CB-000000"), 404, "There is no case CB-000000.")

	// Once Temporal's retention drops the finished case, its page still shows
	// it, read-only, from the read model; a form sent from an old page is
	// refused with why.
	csrf := amy.csrf(page)
	h.engine.Forget(ref)
	r := amy.get(page)
	wantPage(t, "a retired case", r, 200, `id="case-retired"`, "no longer keeps its workflow", "Cleared")
	if strings.Contains(string(r.body), `id="note-form"`) {
		t.Errorf("a retired case's page offers changes")
	}
	r = amy.post(page+"/note", url.Values{"note": {"too late"}, "_csrf": {csrf}})
	wantPage(t, "a note on a retired case", r, 409, "no longer keeps its workflow", "open a new case")
}

func TestConsoleQueue(t *testing.T) {
	h := newConsoleHarness(t)
	var refs []string
	for i := range 30 {
		h.now = h.now.Add(time.Minute)
		refs = append(refs, h.report(strconv.Itoa(i), time.Duration(i+1)*time.Hour))
	}
	amy := h.signIn(t, "agent-token")
	rows := func(r response) []string {
		t.Helper()
		var out []string
		for _, m := range regexp.MustCompile(`<tr data-ref="([^"]+)"`).FindAllSubmatch(r.body, -1) {
			out = append(out, string(m[1]))
		}
		return out
	}
	first := amy.get("/cases")
	wantPage(t, "first page", first, 200, "Showing 1–25 of 30 cases", `rel="next"`)
	if got := rows(first); len(got) != 25 || got[0] != refs[0] {
		t.Errorf("first page, soonest due first: %v", got)
	}
	second := amy.get("/cases?family=open&sort=due&order=asc&page=2")
	wantPage(t, "second page", second, 200, "Showing 26–30 of 30 cases", `rel="prev"`)
	if got := rows(second); len(got) != 5 || got[4] != refs[29] {
		t.Errorf("second page: %v", got)
	}
	wantPage(t, "past the end", amy.get("/cases?page=9"), 200, "This page is past the last case.")
	if got := rows(amy.get("/cases?sort=received&order=desc")); got[0] != refs[29] {
		t.Errorf("newest first starts with %s", got[0])
	}

	h.change(refs[3], "transitions", `{"status":"fixed"}`)
	if got := rows(amy.get("/cases?family=closed")); len(got) != 1 || got[0] != refs[3] {
		t.Errorf("closed cases: %v", got)
	}
	if got := rows(amy.get("/cases?family=all&status=fixed")); len(got) != 1 || got[0] != refs[3] {
		t.Errorf("fixed cases: %v", got)
	}
	h.now = h.now.Add(3 * time.Hour) // the first three, due 1h01, 2h02 and 3h03 after the first report, are late
	overdue := amy.get("/cases?overdue=1&department=highways")
	if got := rows(overdue); len(got) != 3 || got[0] != refs[0] {
		t.Errorf("overdue cases: %v", got)
	}
	wantPage(t, "overdue", overdue, 200, "Breached")
	wantPage(t, "a status that is not one", amy.get("/cases?status=resolved"), 422, "&#34;resolved&#34; is not a status", "data-form-error")
	wantPage(t, "a sort that is not one", amy.get("/cases?sort=colour"), 422, "Sort by due, received or last updated.")
}

func TestConsoleBoardAndNotifications(t *testing.T) {
	h := newConsoleHarness(t)
	late := h.report("1", time.Hour)
	h.report("2", 10*time.Hour)
	h.change(h.report("3", time.Hour), "transitions", `{"status":"fixed"}`)
	h.now = h.now.Add(2 * time.Hour)

	amy, sam := h.signIn(t, "agent-token"), h.signIn(t, supervisorToken)
	board := amy.get("/board")
	wantPage(t, "an agent's board", board, 200, "Compliance figures are for supervisors.")
	row := regexp.MustCompile(`(?s)<tr data-department="highways">.*?</tr>`).Find(board.body)
	cells := regexp.MustCompile(`<td class="num"[^>]*>(?:<[^>]+>)?(\d+)`).FindAllSubmatch(row, -1)
	var got []string
	for _, c := range cells {
		got = append(got, string(c[1]))
	}
	if strings.Join(got, " ") != "1 0 1 0" { // on track, due soon, breached, paused
		t.Errorf("highways standing: %v", got)
	}
	wantPage(t, "a supervisor's board", sam.get("/board"), 200, `id="compliance-departments"`, "Highways and transport", "100.0%")

	// A notice that could not be sent (no SMTP here) is listed for supervisors.
	d := notify.NewDispatcher(h.cfg, h.outbox, func(string) string { return "" }, nil)
	if _, err := d.Deliver(context.Background(), notify.Notice{Key: late + ":1:team_lead", Ref: late, Recipient: "team_lead",
		Department: "highways", Team: "roads-north", Level: "breach", Category: "Pothole", At: h.now}); err != nil {
		t.Fatal(err)
	}
	wantPage(t, "notifications", sam.get("/notifications"), 200, `href="/cases/`+late+`"`, "breach", "roads.north.lead@casebridge.example.gov.uk", "undeliverable")
}

func TestConsoleRulesForms(t *testing.T) {
	h := newConsoleHarness(t)
	rita := h.signIn(t, rulesToken)
	const page = "/rules/routing"
	good := graffitiToHighways(t)

	// Publishing needs a reason; the text is kept meanwhile.
	r := rita.form(page, page+"/draft", url.Values{"action": {"publish"}, "yaml": {strings.ReplaceAll(good, "\n", "\r\n")}})
	wantPage(t, "publish without a reason", r, 422, "Say why you are publishing it", "signs-and-lines, priority: low, sla_policy: graffiti")
	if _, err := h.rules.Draft(context.Background(), rules.Routing); err == nil {
		t.Error("a refused publish saved a draft")
	}
	// Saving keeps the text as an editor wrote it, without the browser's CRLFs.
	if r := rita.form(page, page+"/draft", url.Values{"action": {"save"}, "yaml": {strings.ReplaceAll(good, "\n", "\r\n")}}); r.status != 303 {
		t.Fatalf("save: %d %.300s", r.status, r.body)
	}
	if d, err := h.rules.Draft(context.Background(), rules.Routing); err != nil || d.YAML != good || d.Author != "rita" {
		t.Fatalf("draft after saving: %v", err)
	}
	wantPage(t, "the page with a draft", rita.get(page+"?done=saved"), 200, "The draft was saved.", "Draft saved by rita")
	wantPage(t, "a text with nothing to publish", rita.form(page, page+"/draft", url.Values{"action": {"publish"}, "comment": {"again"}, "yaml": {string(rules.DemoYAML())}}),
		409, "This text is version 1, which is active already")
	wantPage(t, "a good text checked", rita.form(page, page+"/draft", url.Values{"action": {"validate"}, "yaml": {good}}), 200, "No mistakes found.")
	if r := rita.form(page, page+"/draft", url.Values{"action": {"publish"}, "comment": {"Graffiti to highways"}, "yaml": {good}}); r.status != 303 {
		t.Fatalf("publish: %d", r.status)
	}

	// Rolling back needs a reason too, and names the version.
	wantPage(t, "roll back without a reason", rita.form(page, page+"/rollback", url.Values{"version": {"1"}, "comment": {""}}), 422,
		"Say why you are making version 1 active again")
	wantPage(t, "roll back to the active version", rita.form(page, page+"/rollback", url.Values{"version": {"2"}, "comment": {"x"}}), 409)
	if r := rita.form(page, page+"/rollback", url.Values{"version": {"1"}, "comment": {"Not until the contract starts"}}); r.status != 303 || r.header.Get("Location") != page+"?done=rolledback&version=1" {
		t.Fatalf("roll back: %d to %q", r.status, r.header.Get("Location"))
	}
	if v, _ := h.rules.Active(context.Background(), rules.Routing); v.Number != 1 {
		t.Errorf("active version after rolling back: %d", v.Number)
	}
	wantPage(t, "history", rita.get(page), 200, "version 1 made active again by rita", "Not until the contract starts", "version 2 published by rita")
	wantPage(t, "an unknown rule set", rita.get("/rules/nope"), 404, "There is no rule set called")
}

func TestConsoleAssetsAndHeaders(t *testing.T) {
	h := newConsoleHarness(t)
	v := h.visitor(t)
	version := web.StaticVersion()
	for path, want := range map[string]string{
		"/static/console.css?v=" + version: "public, max-age=31536000, immutable",
		"/static/console.js?v=" + version:  "public, max-age=31536000, immutable",
		"/static/console.css?v=old":        "no-cache",
	} {
		r := v.get(path)
		if r.status != 200 || r.header.Get("Cache-Control") != want || len(r.body) == 0 {
			t.Errorf("GET %s: %d, Cache-Control %q, want %q", path, r.status, r.header.Get("Cache-Control"), want)
		}
	}
	for _, path := range []string{"/static/", "/static/nope.css", "/static/../console.go"} {
		if r := v.get(path); r.status != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.status)
		}
	}
	// Pages say where their assets are, are never cached (they hold personal
	// data) and may not be framed or run scripts from elsewhere.
	r := h.signIn(t, "agent-token").get("/cases")
	if !strings.Contains(string(r.body), `/static/console.css?v=`+version) {
		t.Error("the page does not link the current stylesheet")
	}
	for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

// The case page shows the case's job in its back office and what the case
// waits on while a system is down.
func TestConsoleCaseBackOffice(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	since := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	if err := h.engine.Edit(context.Background(), ref, func(c *cases.Case) {
		c.Job = &cases.Job{System: "highways", ID: "HW-00042", Code: "INSP", Closed: cases.JobLeftOpen}
		c.PastJobs = []cases.Job{{System: "highways", ID: "HW-00007", Closed: cases.JobClosedThere}, {System: "waste", ID: "WST-00001"}}
		c.Failed(cases.WaitBackOffice("waste"), "waste: create job: HTTP 503: Service Unavailable", since)
	}); err != nil {
		t.Fatal(err)
	}
	r := h.signIn(t, "agent-token").get("/cases/" + ref)
	for _, want := range []string{`id="job">HW-00042 in highways`, "(its status there: INSP)", "left open there: the system takes no status changes",
		"<dt>Closed earlier</dt><dd>HW-00007 in highways", "<dt>Withdrawn</dt><dd>WST-00001 in waste",
		"back_office:waste since", "1 failed attempt: waste: create job: HTTP 503"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("case page lacks %q", want)
		}
	}
}
