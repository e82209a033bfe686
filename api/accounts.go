package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/config"
)

// record adds an event to the audit trail, if there is one.
func (s *Server) record(ctx context.Context, e accounts.Event) {
	if s.audit == nil {
		return
	}
	if e.At.IsZero() {
		e.At = s.deps.Now()
	}
	s.audit.Record(ctx, e)
}

// tokenUse remembers when each token's use was last recorded, so the audit
// trail says which tokens are in use, and from where, without a line per
// request.
var tokenUse = struct {
	sync.Mutex
	last map[string]time.Time
}{last: map[string]time.Time{}}

// tokenUseEvery is how often a token's use is recorded, per token and
// address, by each api process.
const tokenUseEvery = time.Hour

func (s *Server) tokenUsed(c *gin.Context, name string) {
	key, now := name+"\x00"+c.ClientIP(), s.deps.Now()
	tokenUse.Lock()
	last, seen := tokenUse.last[key]
	if seen && now.Sub(last) < tokenUseEvery && now.After(last) {
		tokenUse.Unlock()
		return
	}
	tokenUse.last[key] = now
	tokenUse.Unlock()
	s.record(c.Request.Context(), accounts.Event{Kind: accounts.EventTokenUsed, Actor: tokenSubject(name), Addr: c.ClientIP(),
		Detail: c.Request.Method + " " + c.FullPath()})
}

// accountPrincipal is who an account's holder is.
func accountPrincipal(a *accounts.Account) principal {
	return principal{Name: a.Login, Roles: a.Roles, Departments: a.Departments, Teams: a.Teams, Subject: a.Subject(), HasPassword: a.Password != ""}
}

// passwordSignIn checks a sign-in name and password. A locked-out name or
// address is refused whatever it sends; each failure counts against both,
// and is in the audit trail and the log (by address, and by name only when
// there is such an account: a name typed into the wrong field may be a
// password).
func (con *console) passwordSignIn(c *gin.Context, again func(int, string)) (*accounts.Account, bool) {
	ctx, addr, now := c.Request.Context(), c.ClientIP(), con.deps.Now()
	login := accounts.NormalLogin(c.PostForm("login"))
	if len(login) > 64 {
		login = ""
	}
	keys := []string{accounts.AddressKey(addr), accounts.LoginKey(login)}
	if wait := con.lockedOut(ctx, keys...); wait > 0 {
		con.tooMany(c, wait, again)
		return nil, false
	}
	acc, err := con.accounts.Get(ctx, login)
	if err != nil && !errors.Is(err, accounts.ErrNotFound) {
		con.storeDown(c, err)
		return nil, false
	}
	if err != nil || acc.Disabled || acc.SSO != "" {
		acc = nil // an account the identity provider made signs in only there
	}
	if accounts.CheckPassword(acc, c.PostForm("password")) {
		if err := con.throttle.Clear(ctx, accounts.LoginKey(login)); err != nil {
			con.log.Error("sign-in throttle", "error", err)
		}
		return acc, true
	}
	target, detail := "", "no such sign-in name, or the account is disabled"
	if acc != nil {
		target, detail = acc.Subject(), "wrong password"
	}
	con.log.Warn("console sign-in failed", "account", target, "addr", addr, "reason", detail)
	con.record(ctx, accounts.Event{At: now, Kind: accounts.EventSignInFailed, Target: target, Addr: addr, Detail: detail})
	wait := con.failed(ctx, accounts.AddressKey(addr), accounts.PerAddress)
	if login != "" {
		wait = max(wait, con.failed(ctx, accounts.LoginKey(login), accounts.PerLogin))
	}
	if wait > 0 {
		con.record(ctx, accounts.Event{At: now, Kind: accounts.EventLockedOut, Target: target, Addr: addr,
			Detail: fmt.Sprintf("locked out for %d s", retryAfter(wait))})
		con.tooMany(c, wait, again)
		return nil, false
	}
	again(http.StatusUnauthorized, "That sign-in name and password do not match an account. Check both and try again.")
	return nil, false
}

// accountRoutes are the admin's pages for accounts and the audit trail, and
// everyone's own sessions page.
func (con *console) accountRoutes(in *gin.RouterGroup) {
	if con.accounts == nil {
		return
	}
	in.GET("/account", con.ownAccount)
	in.POST("/account/sessions/revoke", con.revokeOwn)
	in.POST("/account/password", con.changeOwnPassword)
	admins := con.require(config.RoleAdmin)
	in.GET("/admin/accounts", admins, con.accountList)
	in.POST("/admin/accounts", admins, con.createAccount)
	in.GET("/admin/accounts/:login", admins, con.accountPage)
	in.POST("/admin/accounts/:login", admins, con.changeAccount)
	in.POST("/admin/accounts/:login/password", admins, con.resetPassword)
	in.POST("/admin/accounts/:login/sessions/revoke", admins, con.revokeSessions)
	in.POST("/admin/accounts/:login/unlock", admins, con.unlock)
	in.GET("/admin/audit", admins, con.auditPage)
}

type accountsData struct {
	Accounts    []accounts.Account
	Roles       []string
	Departments []config.Department
	Form        accountForm
	Error       string
	Field       string
}

// accountForm is what the account forms send, shown again after a mistake.
type accountForm struct {
	Login, Name, Email, Teams string
	Roles, Departments        []string
	Disabled                  bool
	Version                   int64
}

func (f accountForm) Has(role string) bool    { return slices.Contains(f.Roles, role) }
func (f accountForm) InDept(code string) bool { return slices.Contains(f.Departments, code) }
func formOf(a accounts.Account) accountForm {
	return accountForm{Login: a.Login, Name: a.Name, Email: a.Email, Teams: strings.Join(a.Teams, ", "),
		Roles: a.Roles, Departments: a.Departments, Disabled: a.Disabled, Version: a.Version}
}

func readAccountForm(c *gin.Context) accountForm {
	f := accountForm{Login: accounts.NormalLogin(c.PostForm("login")), Name: strings.TrimSpace(c.PostForm("name")),
		Email: strings.TrimSpace(c.PostForm("email")), Teams: c.PostForm("teams"),
		Roles: c.PostFormArray("roles"), Departments: c.PostFormArray("departments"), Disabled: c.PostForm("disabled") == "yes"}
	f.Version, _ = strconv.ParseInt(c.PostForm("version"), 10, 64)
	return f
}

func (f accountForm) account() accounts.Account {
	a := accounts.Account{Login: f.Login, Name: f.Name, Email: f.Email, Roles: f.Roles, Departments: f.Departments,
		Disabled: f.Disabled, Version: f.Version}
	for _, t := range strings.Split(f.Teams, ",") {
		if t = strings.TrimSpace(t); t != "" {
			a.Teams = append(a.Teams, t)
		}
	}
	return a
}

func (con *console) accountList(c *gin.Context) {
	con.showAccounts(c, http.StatusOK, accountForm{Roles: []string{config.RoleAgent}}, nil)
}

func (con *console) showAccounts(c *gin.Context, status int, f accountForm, problem error) {
	list, err := con.accounts.List(c.Request.Context())
	if err != nil {
		con.storeDown(c, err)
		return
	}
	d := accountsData{Accounts: list, Roles: config.AllRoles, Departments: con.cfg.Departments, Form: f}
	d.Field, d.Error = fieldOf(problem)
	con.render(c, status, "accounts", view{Nav: "accounts", Data: d})
}

// fieldOf names the field a problem is with, and says what it is.
func fieldOf(err error) (field, msg string) {
	var fe *accounts.FieldError
	switch {
	case err == nil:
		return "", ""
	case errors.As(err, &fe):
		return fe.Field, fe.Reason
	case errors.Is(err, accounts.ErrExists):
		return "login", "There is already an account with that sign-in name."
	case errors.Is(err, accounts.ErrConflict):
		return "", "Someone changed this account while you were editing it. Here it is as it is now; make your change again."
	}
	return "", err.Error()
}

func (con *console) createAccount(c *gin.Context) {
	f := readAccountForm(c)
	a := f.account()
	a.Version = 0
	err := a.Check(con.cfg)
	if err == nil {
		a.Password, err = accounts.HashPassword(c.PostForm("password"))
	}
	if err == nil {
		a, err = con.accounts.Put(c.Request.Context(), a, who(c).Subject, con.deps.Now())
	}
	if err != nil {
		con.accountError(c, err, func(status int) { con.showAccounts(c, status, f, err) })
		return
	}
	con.record(c.Request.Context(), accounts.Event{Kind: accounts.EventAccountCreated, Actor: who(c).Subject, Target: a.Subject(),
		Addr: c.ClientIP(), Detail: describe(a)})
	c.Redirect(http.StatusSeeOther, "/admin/accounts/"+url.PathEscape(a.Login)+"?done=created")
}

// accountError shows a form again with its problem, or the store's failure.
func (con *console) accountError(c *gin.Context, err error, show func(status int)) {
	var fe *accounts.FieldError
	switch {
	case errors.As(err, &fe):
		show(http.StatusUnprocessableEntity)
	case errors.Is(err, accounts.ErrExists), errors.Is(err, accounts.ErrConflict):
		show(http.StatusConflict)
	default:
		con.storeDown(c, err)
	}
}

// describe says what an account may do, for the audit trail: never its
// password, and nothing of any reporter.
func describe(a accounts.Account) string {
	s := "roles " + strings.Join(a.Roles, ",")
	if len(a.Departments) > 0 {
		s += "; departments " + strings.Join(a.Departments, ",")
	}
	if len(a.Teams) > 0 {
		s += "; teams " + strings.Join(a.Teams, ",")
	}
	if a.Disabled {
		s += "; disabled"
	}
	return s
}

type accountData struct {
	Account     accounts.Account
	Form        accountForm
	Roles       []string
	Departments []config.Department
	Sessions    []accounts.Session
	Locked      time.Duration
	Error       string
	Field       string
	Own         bool // the person's own page (/account)
	Current     string
	// HasPassword says the person's own account signs in with a password,
	// which they may change.
	HasPassword bool
}

func (con *console) accountPage(c *gin.Context) {
	con.showAccount(c, http.StatusOK, nil, nil)
}

func (con *console) showAccount(c *gin.Context, status int, f *accountForm, problem error) {
	ctx := c.Request.Context()
	a, err := con.accounts.Get(ctx, c.Param("login"))
	if errors.Is(err, accounts.ErrNotFound) {
		con.errorPage(c, http.StatusNotFound, "No such account", "There is no account "+c.Param("login")+".", "/admin/accounts", "Accounts")
		return
	}
	if err != nil {
		con.storeDown(c, err)
		return
	}
	d := accountData{Account: *a, Form: formOf(*a), Roles: config.AllRoles, Departments: con.cfg.Departments}
	if f != nil {
		d.Form = *f
		d.Form.Version = a.Version
	}
	d.Field, d.Error = fieldOf(problem)
	if d.Sessions, err = con.sessions.store.List(ctx, a.Subject(), con.deps.Now()); err != nil {
		con.storeDown(c, err)
		return
	}
	d.Locked = con.lockedOut(ctx, accounts.LoginKey(a.Login))
	v := view{Nav: "accounts", Data: d}
	switch c.Query("done") {
	case "created":
		v.Flash = "The account was created. Give the person their sign-in name and password in person or by phone, not by email."
	case "saved":
		v.Flash = "The changes were saved."
	case "password":
		v.Flash = "The password was changed, and every session of the account was ended."
	case "revoked":
		v.Flash = "The sessions were ended."
	case "unlocked":
		v.Flash = "The account can be signed in to again."
	}
	con.render(c, status, "account", v)
}

func (con *console) changeAccount(c *gin.Context) {
	ctx := c.Request.Context()
	f := readAccountForm(c)
	cur, err := con.accounts.Get(ctx, c.Param("login"))
	if err != nil {
		con.showAccount(c, http.StatusNotFound, nil, nil)
		return
	}
	a := f.account()
	a.Login, a.Password, a.SSO = cur.Login, cur.Password, cur.SSO
	if err = a.Check(con.cfg); err == nil {
		a, err = con.accounts.Put(ctx, a, who(c).Subject, con.deps.Now())
	}
	if err != nil {
		if errors.Is(err, accounts.ErrConflict) {
			con.accountError(c, err, func(status int) { con.showAccount(c, status, nil, err) })
			return
		}
		con.accountError(c, err, func(status int) { con.showAccount(c, status, &f, err) })
		return
	}
	con.record(ctx, accounts.Event{Kind: accounts.EventAccountChanged, Actor: who(c).Subject, Target: a.Subject(),
		Addr: c.ClientIP(), Detail: "was " + describe(*cur) + "; now " + describe(a)})
	if a.Disabled && !cur.Disabled {
		con.endSessions(c, a, "the account was disabled")
	}
	c.Redirect(http.StatusSeeOther, "/admin/accounts/"+url.PathEscape(a.Login)+"?done=saved")
}

// endSessions ends every session of an account, and records it.
func (con *console) endSessions(c *gin.Context, a accounts.Account, why string) {
	n, err := con.sessions.store.Revoke(c.Request.Context(), a.Subject(), "", con.deps.Now())
	if err != nil {
		con.log.Error("end sessions", "error", err)
	}
	con.record(c.Request.Context(), accounts.Event{Kind: accounts.EventSessionRevoked, Actor: who(c).Subject, Target: a.Subject(),
		Addr: c.ClientIP(), Detail: fmt.Sprintf("%d ended: %s", n, why)})
}

func (con *console) resetPassword(c *gin.Context) {
	ctx := c.Request.Context()
	cur, err := con.accounts.Get(ctx, c.Param("login"))
	if err != nil {
		con.showAccount(c, http.StatusNotFound, nil, nil)
		return
	}
	a := *cur
	if a.SSO != "" {
		err = &accounts.FieldError{Field: "password", Reason: "This account signs in through the council's identity provider, so it has no password here: its password is changed there."}
	} else if a.Password, err = accounts.HashPassword(c.PostForm("password")); err == nil {
		a, err = con.accounts.Put(ctx, a, who(c).Subject, con.deps.Now())
	}
	if err != nil {
		con.accountError(c, err, func(status int) { con.showAccount(c, status, nil, err) })
		return
	}
	con.record(ctx, accounts.Event{Kind: accounts.EventPasswordReset, Actor: who(c).Subject, Target: a.Subject(), Addr: c.ClientIP()})
	con.endSessions(c, a, "the password was reset")
	c.Redirect(http.StatusSeeOther, "/admin/accounts/"+url.PathEscape(a.Login)+"?done=password")
}

func (con *console) revokeSessions(c *gin.Context) {
	ctx := c.Request.Context()
	a, err := con.accounts.Get(ctx, c.Param("login"))
	if err != nil {
		con.showAccount(c, http.StatusNotFound, nil, nil)
		return
	}
	n, err := con.sessions.store.Revoke(ctx, a.Subject(), c.PostForm("session"), con.deps.Now())
	if err != nil {
		con.storeDown(c, err)
		return
	}
	con.record(ctx, accounts.Event{Kind: accounts.EventSessionRevoked, Actor: who(c).Subject, Target: a.Subject(), Addr: c.ClientIP(),
		Detail: fmt.Sprintf("%d ended by an admin", n)})
	c.Redirect(http.StatusSeeOther, "/admin/accounts/"+url.PathEscape(a.Login)+"?done=revoked")
}

func (con *console) unlock(c *gin.Context) {
	ctx := c.Request.Context()
	a, err := con.accounts.Get(ctx, c.Param("login"))
	if err != nil {
		con.showAccount(c, http.StatusNotFound, nil, nil)
		return
	}
	if err := con.throttle.Clear(ctx, accounts.LoginKey(a.Login)); err != nil {
		con.storeDown(c, err)
		return
	}
	con.record(ctx, accounts.Event{Kind: accounts.EventUnlocked, Actor: who(c).Subject, Target: a.Subject(), Addr: c.ClientIP()})
	c.Redirect(http.StatusSeeOther, "/admin/accounts/"+url.PathEscape(a.Login)+"?done=unlocked")
}

// ownAccount lists the signed-in person's own sessions, to end those they
// left open elsewhere, and lets them change their password.
func (con *console) ownAccount(c *gin.Context) {
	con.showOwn(c, http.StatusOK, nil)
}

func (con *console) showOwn(c *gin.Context, status int, problem error) {
	p, ctx := who(c), c.Request.Context()
	list, err := con.sessions.store.List(ctx, p.Subject, con.deps.Now())
	if err != nil {
		con.storeDown(c, err)
		return
	}
	d := accountData{Own: true, Sessions: list, Current: c.MustGet(sessionKey).(accounts.Session).ID, HasPassword: p.HasPassword,
		Account: accounts.Account{Login: p.Name, Roles: p.Roles, Departments: p.Departments, Teams: p.Teams}}
	d.Field, d.Error = fieldOf(problem)
	v := view{Nav: "account", Data: d}
	switch c.Query("done") {
	case "revoked":
		v.Flash = "The sessions were ended."
	case "password":
		v.Flash = "Your password was changed, and every other session of yours was ended."
	}
	con.render(c, status, "account", v)
}

// changeOwnPassword is a person changing their own password: the current
// one first (a wrong one counts towards the account's lockout, as at
// sign-in), then the new one twice. Every other session of theirs ends, so a
// session someone else opened with the old password ends with it.
func (con *console) changeOwnPassword(c *gin.Context) {
	p, ctx, now, addr := who(c), c.Request.Context(), con.deps.Now(), c.ClientIP()
	login, ok := strings.CutPrefix(p.Subject, "account:")
	if !ok {
		con.errorPage(c, http.StatusConflict, "There is no password to change",
			"You signed in with a staff token; tokens are changed in the configuration.", "/account", "Your sessions")
		return
	}
	if wait := con.lockedOut(ctx, accounts.LoginKey(login)); wait > 0 {
		c.Header("Retry-After", strconv.Itoa(retryAfter(wait)))
		con.showOwn(c, http.StatusTooManyRequests, &accounts.FieldError{Field: "current",
			Reason: fmt.Sprintf("Too many wrong passwords. Wait %s, then try again.", humanWait(wait))})
		return
	}
	acc, err := con.accounts.Get(ctx, login)
	if err != nil {
		con.storeDown(c, err)
		return
	}
	if acc.Password == "" {
		con.showOwn(c, http.StatusConflict, &accounts.FieldError{Field: "current",
			Reason: "Your account signs in through the council's identity provider: change your password there."})
		return
	}
	if !accounts.CheckPassword(acc, c.PostForm("current")) {
		con.record(ctx, accounts.Event{At: now, Kind: accounts.EventSignInFailed, Actor: p.Subject, Target: p.Subject, Addr: addr,
			Detail: "wrong current password, changing the password"})
		if wait := con.failed(ctx, accounts.LoginKey(login), accounts.PerLogin); wait > 0 {
			con.record(ctx, accounts.Event{At: now, Kind: accounts.EventLockedOut, Target: p.Subject, Addr: addr,
				Detail: fmt.Sprintf("locked out for %d s", retryAfter(wait))})
		}
		con.showOwn(c, http.StatusUnprocessableEntity, &accounts.FieldError{Field: "current", Reason: "That is not your current password."})
		return
	}
	pw := c.PostForm("password")
	switch {
	case pw != c.PostForm("confirm"):
		err = &accounts.FieldError{Field: "confirm", Reason: "The new password and its confirmation differ. Type the same password in both."}
	case pw == c.PostForm("current"):
		err = &accounts.FieldError{Field: "password", Reason: "The new password is the same as the current one. Choose another."}
	}
	a := *acc
	if err == nil {
		a.Password, err = accounts.HashPassword(pw)
	}
	if err == nil {
		a, err = con.accounts.Put(ctx, a, p.Subject, now)
	}
	if err != nil {
		con.accountError(c, err, func(status int) { con.showOwn(c, status, err) })
		return
	}
	con.record(ctx, accounts.Event{At: now, Kind: accounts.EventPasswordChanged, Actor: p.Subject, Target: p.Subject, Addr: addr})
	n, err := con.endOtherSessions(c, p.Subject)
	if err != nil {
		con.storeDown(c, err)
		return
	}
	con.record(ctx, accounts.Event{At: now, Kind: accounts.EventSessionRevoked, Actor: p.Subject, Target: p.Subject, Addr: addr,
		Detail: fmt.Sprintf("%d ended: the password was changed", n)})
	c.Redirect(http.StatusSeeOther, "/account?done=password")
}

// endOtherSessions ends every session of subject but the request's own.
func (con *console) endOtherSessions(c *gin.Context, subject string) (int, error) {
	ctx, now := c.Request.Context(), con.deps.Now()
	current := c.MustGet(sessionKey).(accounts.Session).ID
	list, err := con.sessions.store.List(ctx, subject, now)
	n := 0
	for _, s := range list {
		if err == nil && s.ID != current {
			var k int
			k, err = con.sessions.store.Revoke(ctx, subject, s.ID, now)
			n += k
		}
	}
	return n, err
}

func (con *console) revokeOwn(c *gin.Context) {
	p := who(c)
	id := c.PostForm("session")
	current := c.MustGet(sessionKey).(accounts.Session).ID
	ctx := c.Request.Context()
	var n int
	var err error
	if id == "" { // every other session
		n, err = con.endOtherSessions(c, p.Subject)
	} else {
		n, err = con.sessions.store.Revoke(ctx, p.Subject, id, con.deps.Now())
	}
	if err != nil {
		con.storeDown(c, err)
		return
	}
	con.record(ctx, accounts.Event{Kind: accounts.EventSessionRevoked, Actor: p.Subject, Target: p.Subject, Addr: c.ClientIP(),
		Detail: fmt.Sprintf("%d ended by their holder", n)})
	if id == current {
		con.sessions.setCookie(c, sessionCookie, "", -1)
		c.Redirect(http.StatusSeeOther, "/login?signed_out=1")
		return
	}
	c.Redirect(http.StatusSeeOther, "/account?done=revoked")
}

type auditData struct {
	Events  []accounts.Event
	Query   accounts.AuditQuery
	Kinds   []string
	NextURL string
}

var auditKinds = []string{accounts.EventSignIn, accounts.EventSignInFailed, accounts.EventSignOut, accounts.EventLockedOut,
	accounts.EventAccountCreated, accounts.EventAccountChanged, accounts.EventPasswordReset, accounts.EventPasswordChanged, accounts.EventSessionRevoked,
	accounts.EventUnlocked, accounts.EventTokenUsed}

func auditQuery(c *gin.Context) accounts.AuditQuery {
	q := accounts.AuditQuery{Kind: c.Query("kind"), Actor: strings.TrimSpace(c.Query("actor")), Target: strings.TrimSpace(c.Query("target")),
		Before: c.Query("before"), Limit: 100}
	if n, err := strconv.Atoi(c.Query("limit")); err == nil && n > 0 {
		q.Limit = min(n, 500)
	}
	return q
}

func (con *console) auditPage(c *gin.Context) {
	q := auditQuery(c)
	events, err := con.audit.Query(c.Request.Context(), q)
	if err != nil {
		con.storeDown(c, err)
		return
	}
	d := auditData{Events: events, Query: q, Kinds: auditKinds}
	if len(events) == q.Limit {
		u := url.Values{"kind": {q.Kind}, "actor": {q.Actor}, "target": {q.Target}, "before": {events[len(events)-1].ID}}
		d.NextURL = "/admin/audit?" + u.Encode()
	}
	con.render(c, http.StatusOK, "audit", view{Nav: "audit", Data: d})
}

// auditAPI is GET /api/v1/audit, for an admin's tools.
func (s *Server) auditAPI(c *gin.Context) {
	if s.audit == nil {
		problem(c, http.StatusServiceUnavailable, "No audit trail", "the server has no Redis for the audit trail", "")
		return
	}
	events, err := s.audit.Query(c.Request.Context(), auditQuery(c))
	if err != nil {
		s.log.Error("audit trail", "error", err)
		problem(c, http.StatusServiceUnavailable, "Service unavailable", "the audit trail cannot be read just now", "")
		return
	}
	if events == nil {
		events = []accounts.Event{}
	}
	c.JSON(http.StatusOK, gin.H{"events": events})
}
