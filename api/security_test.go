package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/metrics"
)

// Signing out ends the session on the server: the old cookie, replayed,
// neither reads a case nor writes a note.
func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	amy := h.signIn(t, "agent-token")
	csrf := amy.csrf("/cases/" + ref)
	old := amy.sessionCookie()
	if r := amy.post("/logout", url.Values{"_csrf": {csrf}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", r.status)
	}
	replay := h.visitor(t)
	u, _ := url.Parse(h.srv.URL)
	replay.client.Jar.SetCookies(u, []*http.Cookie{old})
	if r := replay.get("/cases"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("GET /cases with the cookie of a signed-out session: %d to %q, want the sign-in page", r.status, r.header.Get("Location"))
	}
	replay.client.Jar.SetCookies(u, []*http.Cookie{old})
	before := len(h.timeline(t, ref))
	if r := replay.post("/cases/"+ref+"/note", url.Values{"_csrf": {csrf}, "note": {"replayed"}}); r.status != http.StatusForbidden {
		t.Errorf("a note with the cookie of a signed-out session: %d, want 403", r.status)
	}
	if after := len(h.timeline(t, ref)); after != before {
		t.Errorf("a signed-out session wrote to the case: %d entries, was %d", after, before)
	}
}

// expireLock ends the back-off of a throttle key now, as if it had been
// waited out.
func (h *consoleHarness) expireLock(t *testing.T, key string) {
	t.Helper()
	if err := h.redis.Client().Del(context.Background(), "cb:acct:lock:"+key).Err(); err != nil {
		t.Fatal(err)
	}
}

// Wrong tokens at the sign-in form lock the address out with back-off: the
// right token is refused too until the back-off ends, and the next failure
// doubles it.
func TestConsoleSignInBacksOff(t *testing.T) {
	h := newConsoleHarness(t)
	v := h.visitor(t)
	csrf := v.csrf("/login")
	try := func(token string) response {
		return v.post("/login", url.Values{"_csrf": {csrf}, "token": {token}})
	}
	for i := 1; i < 20; i++ {
		if r := try("guess-" + strconv.Itoa(i)); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, r.status)
		}
	}
	r := try("guess-20")
	wantTooMany(t, "the 20th wrong token", r, 30)
	wantTooMany(t, "the right token while locked out", try(testToken), 1)
	if v.sessionCookie() != nil {
		t.Fatal("a locked-out address signed in")
	}
	h.expireLock(t, "addr:127.0.0.1")
	wantTooMany(t, "one more wrong token after the back-off", try("guess-21"), 31)
	h.expireLock(t, "addr:127.0.0.1")
	if r := try(testToken); r.status != http.StatusSeeOther || v.sessionCookie() == nil {
		t.Errorf("the right token after the back-off: %d, want signed in", r.status)
	}
}

func wantTooMany(t *testing.T, what string, r response, atLeast int) {
	t.Helper()
	after, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || err != nil || after < atLeast {
		t.Errorf("%s: %d with Retry-After %q, want 429 with at least %d s", what, r.status, r.header.Get("Retry-After"), atLeast)
	}
}

// Wrong bearer tokens on the API are answered 429 with Retry-After past the
// limit, and the right one is refused as well until the back-off ends.
func TestStaffAPIBacksOff(t *testing.T) {
	h := newHarness(t)
	for i := 1; i < 20; i++ {
		if r := h.staff("GET", "/api/v1/me", "", "guess-"+strconv.Itoa(i)); r.status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i, r.status)
		}
	}
	r := h.staff("GET", "/api/v1/me", "", "guess-20")
	wantTooMany(t, "the 20th wrong token", r, 30)
	if r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("429 as %q, want a problem document", r.header.Get("Content-Type"))
	}
	wantTooMany(t, "the right token while locked out", h.staff("GET", "/api/v1/me", "", testToken), 1)
	if err := h.redis.Client().Del(context.Background(), "cb:acct:lock:addr:127.0.0.1").Err(); err != nil {
		t.Fatal(err)
	}
	if r := h.staff("GET", "/api/v1/me", "", testToken); r.status != http.StatusOK {
		t.Errorf("the right token after the back-off: %d", r.status)
	}
}

// A failed sign-in is logged with the client's address and never the token.
func TestFailedSignInIsLogged(t *testing.T) {
	h := newConsoleHarness(t)
	var logs bytes.Buffer
	srv := httptest.NewServer(NewServer(slog.New(slog.NewJSONHandler(&logs, nil)), h.cfg, Deps{
		Cases: h.ladders, ReadModel: h.store, Metrics: metrics.New(), Now: func() time.Time { return h.now },
		SessionSecret: []byte(testSecret), Redis: h.redis.Client(),
	}))
	defer srv.Close()
	h.srv = srv
	v := h.visitor(t)
	v.post("/login", url.Values{"_csrf": {v.csrf("/login")}, "token": {"a-wrong-secret-token"}})
	h.staff("GET", "/api/v1/me", "", "another-wrong-token")
	out := logs.String()
	for _, want := range []string{`"msg":"console sign-in failed: a wrong token","addr":"127.0.0.1"`, `"msg":"staff api: a wrong bearer token","addr":"127.0.0.1"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "wrong-secret") || strings.Contains(out, "another-wrong") {
		t.Errorf("the log holds a token:\n%s", out)
	}
}

// Every answer, the JSON API's and Open311's included, carries the security
// headers; the staff API's are not cached.
func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		what string
		r    response
	}{
		{"the staff API", h.staff("GET", "/api/v1/me", "", testToken)},
		{"a staff API error", h.staff("GET", "/api/v1/cases/nope", "", testToken)},
		{"Open311 JSON", h.get("/open311/v2/services.json")},
		{"Open311 XML", h.get("/open311/v2/services.xml")},
		{"a 404", h.get("/nowhere")},
		{"healthz", h.get("/healthz")},
	} {
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		} {
			if got := tc.r.header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", tc.what, k, got, want)
			}
		}
		if csp := tc.r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q lacks frame-ancestors 'none'", tc.what, csp)
		}
		if strings.HasPrefix(tc.what, "the staff API") && tc.r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", tc.what, tc.r.header.Get("Cache-Control"))
		}
	}
}

// A console form sent from another site is refused even with a valid form
// token and session: by Origin, or by Sec-Fetch-Site when there is none.
func TestConsoleRefusesCrossSiteForms(t *testing.T) {
	h := newConsoleHarness(t)
	ref := h.report("1", 0)
	amy := h.signIn(t, "agent-token")
	csrf := amy.csrf("/cases/" + ref)
	before := len(h.timeline(t, ref))
	post := func(header ...string) response {
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cases/"+ref+"/note", strings.NewReader(url.Values{"_csrf": {csrf}, "note": {"from afar"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return amy.do(req)
	}
	for _, hdr := range [][]string{
		{"Origin", "https://evil.example"},
		{"Origin", "null"},
		{"Origin", "http://evil.example" + strings.TrimPrefix(h.srv.URL, "http://127.0.0.1")},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site"},
	} {
		wantPage(t, "a note with "+strings.Join(hdr, ": "), post(hdr...), http.StatusForbidden, "sent from another website")
	}
	if after := len(h.timeline(t, ref)); after != before {
		t.Fatalf("a cross-site form changed the case: %d entries, was %d", after, before)
	}
	// Sign-in and sign-out forms too.
	v := h.visitor(t)
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/login", strings.NewReader(url.Values{"_csrf": {v.csrf("/login")}, "token": {testToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := v.do(req); r.status != http.StatusForbidden || v.sessionCookie() != nil {
		t.Errorf("a cross-site sign-in: %d, want 403 and no session", r.status)
	}
	// The same form from this site is taken.
	if r := post("Origin", h.srv.URL, "Sec-Fetch-Site", "same-origin"); r.status != http.StatusSeeOther {
		t.Errorf("a same-origin note: %d, want 303", r.status)
	}
}

// /metrics needs a token with the metrics role (or admin).
func TestMetricsNeedAToken(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {"agent-token", 403}, {metricsToken, 200}, {testToken, 200}} {
		r := h.get("/metrics")
		if tc.token != "" {
			r = h.staff("GET", "/metrics", "", tc.token)
		}
		if r.status != tc.status {
			t.Errorf("GET /metrics with %q: %d, want %d", tc.token, r.status, tc.status)
		}
		if r.status == 200 && !strings.Contains(string(r.body), "casebridge_http_request_duration_seconds") {
			t.Errorf("GET /metrics with %q: no metrics", tc.token)
		}
	}
}
