package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const samPassword = "a long pass phrase for sam"

// signInWith signs in with a sign-in name and password.
func (h *consoleHarness) signInWith(t *testing.T, login, password string) (*visitor, response) {
	t.Helper()
	v := h.visitor(t)
	return v, v.post("/login", url.Values{"_csrf": {v.csrf("/login")}, "login": {login}, "password": {password}})
}

// newAccount has the admin create an account in the console.
func (h *consoleHarness) newAccount(t *testing.T, admin *visitor, fields url.Values) response {
	t.Helper()
	return admin.form("/admin/accounts", "/admin/accounts", fields)
}

func TestAccountsInTheConsole(t *testing.T) {
	h := newConsoleHarness(t)
	admin := h.signIn(t, testToken)
	sam := url.Values{"login": {"Sam.Supervisor"}, "name": {"Sam Supervisor"}, "email": {"sam@example.gov.uk"},
		"roles": {"supervisor"}, "departments": {"highways"}, "password": {samPassword}}

	// Mistakes are shown on the form, naming what is wrong.
	for _, tc := range []struct {
		change url.Values
		says   string
	}{
		{url.Values{"password": {"short"}}, "at least 12 characters"},
		{url.Values{"roles": {"wizard"}}, "&#34;wizard&#34; is not a role"},
		{url.Values{"departments": {"libraries"}}, "&#34;libraries&#34; is not a department"},
		{url.Values{"teams": {"highways/nope"}}, "&#34;highways/nope&#34; is not a team"},
		{url.Values{"login": {"a b"}}, "a sign-in name is"},
	} {
		f := url.Values{}
		for k, v := range sam {
			f[k] = v
		}
		for k, v := range tc.change {
			f[k] = v
		}
		wantPage(t, "an account with "+tc.change.Encode(), h.newAccount(t, admin, f), http.StatusUnprocessableEntity, tc.says, `value="Sam Supervisor"`)
	}
	if r := h.newAccount(t, admin, sam); r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/accounts/sam.supervisor?done=created" {
		t.Fatalf("create: %d to %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	wantPage(t, "the same sign-in name again", h.newAccount(t, admin, sam), http.StatusConflict, "already an account")
	wantPage(t, "the account list", admin.get("/admin/accounts"), http.StatusOK, "sam.supervisor", "Sam Supervisor", "supervisor")

	// Only an admin manages accounts.
	amy := h.signIn(t, "agent-token")
	for _, p := range []string{"/admin/accounts", "/admin/accounts/sam.supervisor", "/admin/audit"} {
		if r := amy.get(p); r.status != http.StatusForbidden {
			t.Errorf("an agent GET %s: %d, want 403", p, r.status)
		}
	}
	if r := amy.form("/cases", "/admin/accounts/sam.supervisor/password", url.Values{"password": {"an agent's choice of password"}}); r.status != http.StatusForbidden {
		t.Errorf("an agent resetting a password: %d, want 403", r.status)
	}

	// Sam signs in with the password; the name is not case-sensitive.
	s, r := h.signInWith(t, "SAM.supervisor", samPassword)
	if r.status != http.StatusSeeOther || s.sessionCookie() == nil {
		t.Fatalf("sign in with the password: %d %.300s", r.status, r.body)
	}
	wantPage(t, "sam's own sessions", s.get("/account"), http.StatusOK, "this one")
	if r := s.get("/cases"); r.status != http.StatusOK {
		t.Errorf("sam's work queue: %d", r.status)
	}

	// Wrong passwords lock the account out, whatever address they come from:
	// after five, even the right one waits.
	for i := 1; i <= 5; i++ {
		_, r := h.signInWith(t, "sam.supervisor", "guess-"+strconv.Itoa(i)+"-of-a-password")
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("wrong password %d: %d, want %d", i, r.status, want)
		}
		if i < 5 && !strings.Contains(string(r.body), "do not match an account") {
			t.Errorf("wrong password %d: the page does not say so", i)
		}
	}
	_, r = h.signInWith(t, "sam.supervisor", samPassword)
	wantTooMany(t, "the right password while locked out", r, 1)
	// A name with no account is refused just the same, saying nothing more.
	_, r = h.signInWith(t, "nobody.here", "any password at all")
	wantPage(t, "a name with no account", r, http.StatusUnauthorized, "do not match an account")

	// The admin sees the lock and lifts it.
	wantPage(t, "the locked account", admin.get("/admin/accounts/sam.supervisor"), http.StatusOK, "Locked out after failed sign-ins")
	if r := admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor/unlock", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("unlock: %d", r.status)
	}
	s2, r := h.signInWith(t, "sam.supervisor", samPassword)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign in after unlocking: %d", r.status)
	}

	// The admin sees sam's two sessions and ends one; it opens nothing after.
	page := string(admin.get("/admin/accounts/sam.supervisor").body)
	ids := regexpAll(`name="session" value="([0-9a-f]{16})"`, page)
	if len(ids) != 2 {
		t.Fatalf("sam's sessions on the admin's page: %v", ids)
	}
	for _, id := range ids {
		admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor/sessions/revoke", url.Values{"session": {id}})
		break
	}
	alive := 0
	for _, v := range []*visitor{s, s2} {
		if v.get("/cases").status == http.StatusOK {
			alive++
		}
	}
	if alive != 1 {
		t.Errorf("%d of sam's sessions still open after one was ended, want 1", alive)
	}

	// A password reset ends every session; the new password works, the old not.
	if r := admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor/password", url.Values{"password": {"a brand new pass phrase"}}); r.status != http.StatusSeeOther {
		t.Fatalf("reset: %d %.300s", r.status, r.body)
	}
	for _, v := range []*visitor{s, s2} {
		if r := v.get("/cases"); r.status != http.StatusSeeOther {
			t.Errorf("a session after the password reset: %d, want sent to sign in", r.status)
		}
	}
	if _, r := h.signInWith(t, "sam.supervisor", samPassword); r.status != http.StatusUnauthorized {
		t.Errorf("the old password after a reset: %d", r.status)
	}
	s3, r := h.signInWith(t, "sam.supervisor", "a brand new pass phrase")
	if r.status != http.StatusSeeOther {
		t.Fatalf("the new password: %d", r.status)
	}

	// Roles change at once; disabling ends the sessions and sign-in.
	edit := url.Values{"name": {"Sam Supervisor"}, "roles": {"agent"}, "departments": {"highways"}, "version": {"2"}}
	if r := admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor", edit); r.status != http.StatusSeeOther {
		t.Fatalf("change roles: %d %.500s", r.status, r.body)
	}
	if r := s3.get("/notifications"); r.status != http.StatusForbidden {
		t.Errorf("sam, now an agent, opens notifications: %d", r.status)
	}
	wantPage(t, "a change from an old version", admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor",
		url.Values{"name": {"Old"}, "roles": {"admin"}, "version": {"2"}}), http.StatusConflict, "changed this account while you were editing")
	edit.Set("disabled", "yes")
	edit.Set("version", "3")
	if r := admin.form("/admin/accounts/sam.supervisor", "/admin/accounts/sam.supervisor", edit); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %.500s", r.status, r.body)
	}
	if r := s3.get("/cases"); r.status != http.StatusSeeOther {
		t.Errorf("a disabled account's session: %d, want sent to sign in", r.status)
	}
	if _, r := h.signInWith(t, "sam.supervisor", "a brand new pass phrase"); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled account signs in: %d", r.status)
	}

	// The audit trail has it all, by name, and no password, token or email.
	wantPage(t, "the audit trail", admin.get("/admin/audit"), http.StatusOK, "account_created", "sign_in_failed", "locked_out",
		"password_reset", "session_revoked", "account_changed", "unlocked", "account:sam.supervisor", "token:demo-admin")
	var doc struct{ Events []map[string]any }
	resp := h.staff("GET", "/api/v1/audit?kind=sign_in_failed&limit=500", "", testToken)
	if err := json.Unmarshal(resp.body, &doc); err != nil || resp.status != 200 || len(doc.Events) < 6 {
		t.Fatalf("GET /api/v1/audit: %d %v %.300s", resp.status, err, resp.body)
	}
	all := string(h.staff("GET", "/api/v1/audit?limit=500", "", testToken).body)
	for _, secret := range []string{samPassword, "brand new", "-of-a-password", testToken, "agent-token", "sam@example", "any password", "nobody.here"} {
		if strings.Contains(all, secret) {
			t.Errorf("the audit trail holds %q", secret)
		}
	}
	if r := h.staff("GET", "/api/v1/audit", "", "agent-token"); r.status != http.StatusForbidden {
		t.Errorf("an agent reads the audit trail: %d", r.status)
	}
}

// Sign-out ends a session started with a password too, and a person can end
// their own other sessions.
func TestOwnSessions(t *testing.T) {
	h := newConsoleHarness(t)
	admin := h.signIn(t, testToken)
	h.newAccount(t, admin, url.Values{"login": {"amy"}, "name": {"Amy"}, "roles": {"agent"}, "password": {samPassword}})
	a1, _ := h.signInWith(t, "amy", samPassword)
	a2, _ := h.signInWith(t, "amy", samPassword)
	if r := a1.form("/account", "/account/sessions/revoke", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("end other sessions: %d", r.status)
	}
	if a1.get("/cases").status != http.StatusOK || a2.get("/cases").status != http.StatusSeeOther {
		t.Error("ending every other session ended the wrong one")
	}
}

func regexpAll(expr, s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(expr).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// A person changes their own password: the current one is needed (a wrong
// one counts towards the lockout), the form needs its token, and every other
// session of theirs ends.
func TestOwnPasswordChange(t *testing.T) {
	h := newConsoleHarness(t)
	admin := h.signIn(t, testToken)
	h.newAccount(t, admin, url.Values{"login": {"amy"}, "name": {"Amy"}, "roles": {"agent"}, "password": {samPassword}})
	a1, _ := h.signInWith(t, "amy", samPassword)
	a2, _ := h.signInWith(t, "amy", samPassword)
	const fresh = "a fresher pass phrase for amy"
	wantPage(t, "amy's own page", a1.get("/account"), http.StatusOK, "Change your password", `id="change-password"`)

	if r := a1.post("/account/password", url.Values{"current": {samPassword}, "password": {fresh}, "confirm": {fresh}}); r.status != http.StatusForbidden {
		t.Errorf("a change without the form's token: %d, want 403", r.status)
	}
	for _, tc := range []struct {
		fields url.Values
		status int
		says   string
	}{
		{url.Values{"current": {"not my password at all"}, "password": {fresh}, "confirm": {fresh}}, http.StatusUnprocessableEntity, "not your current password"},
		{url.Values{"current": {samPassword}, "password": {fresh}, "confirm": {fresh + "!"}}, http.StatusUnprocessableEntity, "differ"},
		{url.Values{"current": {samPassword}, "password": {"short"}, "confirm": {"short"}}, http.StatusUnprocessableEntity, "at least 12 characters"},
		{url.Values{"current": {samPassword}, "password": {samPassword}, "confirm": {samPassword}}, http.StatusUnprocessableEntity, "same as the current one"},
	} {
		wantPage(t, "a change with "+tc.says, a1.form("/account", "/account/password", tc.fields), tc.status, tc.says)
	}
	if _, r := h.signInWith(t, "amy", fresh); r.status != http.StatusUnauthorized {
		t.Fatalf("a refused change took effect: %d", r.status)
	}
	if r := a1.form("/account", "/account/password", url.Values{"current": {samPassword}, "password": {fresh}, "confirm": {fresh}}); r.status != http.StatusSeeOther || r.header.Get("Location") != "/account?done=password" {
		t.Fatalf("the change: %d to %q %.300s", r.status, r.header.Get("Location"), r.body)
	}
	wantPage(t, "amy's own session after the change", a1.get("/account?done=password"), http.StatusOK, "Your password was changed")
	if r := a2.get("/cases"); r.status != http.StatusSeeOther {
		t.Errorf("amy's other session after the change: %d, want sent to sign in", r.status)
	}
	if _, r := h.signInWith(t, "amy", samPassword); r.status != http.StatusUnauthorized {
		t.Errorf("the old password after the change: %d", r.status)
	}
	if _, r := h.signInWith(t, "amy", fresh); r.status != http.StatusSeeOther {
		t.Errorf("the new password: %d", r.status)
	}
	ev := h.auditOf(t, "password_changed")
	if len(ev) != 1 || ev[0].Actor != "account:amy" {
		t.Errorf("the audit trail's password changes: %+v", ev)
	}
	if len(h.auditOf(t, "sign_in_failed")) < 2 { // the wrong current password, and the old one after the change
		t.Error("the wrong current password is not in the audit trail")
	}
	all := string(h.staff("GET", "/api/v1/audit?limit=500", "", testToken).body)
	if strings.Contains(all, fresh) || strings.Contains(all, samPassword) {
		t.Error("the audit trail holds a password")
	}

	// Guessing the current password here locks the account as at sign-in.
	for i := 0; i < 5; i++ {
		a1.form("/account", "/account/password", url.Values{"current": {"guess " + strconv.Itoa(i) + " at it"}, "password": {fresh + "2"}, "confirm": {fresh + "2"}})
	}
	r := a1.form("/account", "/account/password", url.Values{"current": {fresh}, "password": {fresh + "2"}, "confirm": {fresh + "2"}})
	wantPage(t, "the right password after five wrong ones", r, http.StatusTooManyRequests, "Too many wrong passwords")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}

	// A token's holder has no password here.
	if r := admin.form("/account", "/account/password", url.Values{"current": {"x"}, "password": {fresh}, "confirm": {fresh}}); r.status != http.StatusConflict {
		t.Errorf("a token's holder changing a password: %d, want 409", r.status)
	}
	if strings.Contains(string(admin.get("/account").body), "change-password") {
		t.Error("a token's holder is offered a password form")
	}
}
