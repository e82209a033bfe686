package api

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/web"
)

// console serves the staff console: pages rendered on the server from the
// same engine, read model and rule store as the staff API, for a person
// signed in with a session cookie. Every page checks a role; every form
// carries a token bound to the session (CSRF). A form with a mistake is
// shown again with a message and everything that was typed.
type console struct {
	*Server
	pages    map[string]*template.Template
	sessions *sessions
	loc      *time.Location
	static   string      // web.StaticVersion, in asset links
	live     *liveStream // nil without Deps.Events
	oidc     *oidcFlow   // nil without staff.oidc
}

// maxRulesForm bounds the rules editor's form: a rule set's text may be
// rules.MaxYAML, and form encoding can triple it.
const maxRulesForm = 4 * rules.MaxYAML

// maxCaseForm bounds the other forms: a case page's note at its limit, every
// character percent-encoded as four UTF-8 bytes, is 120 KiB.
const maxCaseForm = 256 << 10

// formTooLarge marks a case page form that was past maxCaseForm: caseChange
// shows the page again with a message, and changes nothing.
const formTooLarge = "casebridge.form_too_large"

const sessionKey = "casebridge.session"

func newConsole(s *Server) *console {
	loc := s.councilZone()
	pages, err := web.Pages(web.Funcs(loc))
	if err != nil {
		panic(err) // the templates are embedded, and web's tests parse them
	}
	secret := s.deps.SessionSecret
	switch {
	case len(secret) == 0:
		secret = []byte(rand.Text() + rand.Text())
		s.log.Warn("console sessions are signed with a key made for this process: they end when it restarts, " +
			"and other api replicas do not accept them; set CASEBRIDGE_SESSION_SECRET to keep them")
	case len(secret) < minSecret:
		s.log.Warn("CASEBRIDGE_SESSION_SECRET is short; use at least 32 random characters (openssl rand -base64 32)")
	}
	con := &console{
		Server: s, pages: pages, loc: loc, static: web.StaticVersion(),
		sessions: &sessions{secret: secret, cfg: s.cfg, secure: strings.HasPrefix(s.cfg.Council.PublicURL, "https://")},
	}
	if s.deps.Redis != nil {
		con.sessions.store = accounts.NewSessions(s.deps.Redis, s.deps.RedisPrefix)
		con.sessions.accounts = s.accounts
	}
	if s.deps.Events.Redis != nil {
		con.live = newLiveStream(s)
	}
	con.oidc = newOIDCFlow(s.cfg.Staff.OIDC, s.deps.OIDCClientSecret, s.deps.Now)
	return con
}

// consoleRoutes serves the console at the root: /login, /cases, /board,
// /rules, /notifications, /events and the static assets.
func (s *Server) consoleRoutes(e *gin.Engine) {
	con := newConsole(s)
	e.GET("/static/*file", con.asset)
	pages := e.Group("", con.headers)
	pages.GET("/login", con.loginPage)
	pages.POST("/login", con.login)
	pages.POST("/logout", con.logout)
	if con.oidc != nil {
		pages.GET(oidcPath, con.oidcStart)
		pages.GET(config.OIDCCallbackPath, con.oidcCallback)
	}

	in := pages.Group("", con.signedIn, con.inScope)
	in.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/cases") })
	caseworkers := con.require(config.RoleAgent, config.RoleSupervisor)
	in.GET("/cases", caseworkers, con.queue)
	in.GET("/cases/:ref", caseworkers, con.casePage)
	in.POST("/cases/bulk", caseworkers, con.bulk)
	in.GET("/cases/map", caseworkers, con.casesMap)
	in.POST("/cases/:ref/status", caseworkers, con.changeStatus)
	in.POST("/cases/:ref/note", caseworkers, con.addNote)
	in.POST("/cases/:ref/assign", caseworkers, con.assign)
	in.POST("/cases/:ref/priority", caseworkers, con.prioritise)
	in.POST("/cases/:ref/transfer", caseworkers, con.transfer)
	in.POST("/cases/:ref/category", caseworkers, con.recategorise)
	in.POST("/cases/:ref/escalations/:seq/acknowledge", con.require(config.RoleSupervisor), con.acknowledge)
	if s.deps.Duplicates != nil {
		supervisors := con.require(config.RoleSupervisor)
		in.POST("/cases/:ref/merge", supervisors, con.merge)
		in.POST("/cases/:ref/duplicate/confirm", supervisors, con.confirmDuplicate)
		in.POST("/cases/:ref/duplicate/undo", supervisors, con.unlinkDuplicate)
	}
	in.GET("/board", caseworkers, con.board)
	in.GET("/dashboard", caseworkers, con.dashboardPage)
	if s.deps.Outbox != nil {
		in.GET("/notifications", con.require(config.RoleSupervisor), con.notifications)
	}
	if s.deps.Rules != nil {
		admins := con.require(config.RoleRulesAdmin)
		in.GET("/rules", admins, func(c *gin.Context) { c.Redirect(http.StatusFound, "/rules/"+rulesDefault) })
		in.GET("/rules/:name", admins, con.rulesPage)
		in.POST("/rules/:name/draft", admins, con.editRules)
		in.POST("/rules/:name/rollback", admins, con.rollbackRules)
	}
	if con.live != nil {
		in.GET("/events", caseworkers, con.live.serve)
	}
	con.accountRoutes(in)
}

// asset serves a static file. Links carry the assets' version, so a request
// naming the current one may be cached for a year.
func (con *console) asset(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	if name == "" || strings.HasSuffix(name, "/") {
		problem(c, http.StatusNotFound, "Not found", "there is nothing at "+c.Request.URL.Path, "")
		return
	}
	if c.Query("v") == con.static {
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		c.Header("Cache-Control", "no-cache")
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.FileFromFS(name, http.FS(web.Static()))
}

// headers are the console pages' security headers. Pages hold personal data,
// so no cache keeps them.
func (con *console) headers(c *gin.Context) {
	h := c.Writer.Header()
	formAction := "'self'"
	if con.oidc != nil {
		formAction = strings.TrimSpace(formAction + " " + con.oidc.formAction())
	}
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// session reads the request's session cookie: accounts.ErrNoSession if it
// holds no live session, errSessionStore if that cannot be told.
func (con *console) session(c *gin.Context) (accounts.Session, principal, error) {
	cookie, err := c.Cookie(sessionCookie)
	if err != nil || cookie == "" {
		return accounts.Session{}, principal{}, accounts.ErrNoSession
	}
	if con.sessions.store == nil {
		return accounts.Session{}, principal{}, errSessionStore
	}
	return con.sessions.check(c.Request.Context(), cookie, con.deps.Now())
}

// storeDown answers when sessions cannot be read (Redis is down).
func (con *console) storeDown(c *gin.Context, err error) {
	con.log.Error("console sessions", "error", err)
	c.Header("Retry-After", "30")
	con.errorPage(c, http.StatusServiceUnavailable, "The console cannot check who you are just now",
		"Nothing was changed. Try again in a minute; if it goes on, tell your administrator that sessions cannot be read.")
}

// sameOrigin refuses a form sent from another site. SameSite cookies and the
// form token already stop that; this is a third wall, for a browser that
// leaks either. A browser names the page a POST came from in Origin (or,
// failing that, says in Sec-Fetch-Site whether it was this site); a client
// that sends neither is no browser, and is judged by its form token alone.
func (con *console) sameOrigin(c *gin.Context) bool {
	o := c.GetHeader("Origin")
	if o == "" {
		site := c.GetHeader("Sec-Fetch-Site")
		return site == "" || site == "same-origin" || site == "none"
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false // "null": a sandboxed frame, a data: URL, a redirect from elsewhere
	}
	if u.Host == c.Request.Host {
		return true
	}
	pub, err := url.Parse(con.cfg.Council.PublicURL)
	return err == nil && pub.Host != "" && u.Scheme == pub.Scheme && u.Host == pub.Host
}

// crossSite answers a form from another site.
func (con *console) crossSite(c *gin.Context) {
	con.log.Warn("console: a form from another site was refused", "path", c.FullPath(), "addr", c.ClientIP())
	con.errorPage(c, http.StatusForbidden, "This form cannot be accepted",
		"It was sent from another website, so nothing was changed. Use the console's own pages.")
}

// signedIn lets through a request with a valid session, and a POST only if it
// also carries the session's form token. Without a session, a page request
// goes to the sign-in page and comes back after; a form is refused.
func (con *console) signedIn(c *gin.Context) {
	if c.Request.Method == http.MethodPost && !con.sameOrigin(c) {
		con.crossSite(c)
		return
	}
	s, p, err := con.session(c)
	if errors.Is(err, errSessionStore) {
		con.storeDown(c, err)
		return
	}
	if err != nil {
		if _, err := c.Cookie(sessionCookie); err == nil {
			con.sessions.setCookie(c, sessionCookie, "", -1)
		}
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			c.Abort()
			return
		}
		con.errorPage(c, http.StatusForbidden, "Your session has ended",
			"Nothing was changed. Sign in again, then make the change again.")
		return
	}
	c.Set(principalKey, p)
	c.Set(sessionKey, s)
	if c.Request.Method == http.MethodPost {
		limit := int64(maxCaseForm)
		if strings.HasPrefix(c.FullPath(), "/rules/") {
			limit = maxRulesForm
		}
		// The body is limited without replacing it, so that what is left can
		// be drained (drain) and the browser sees the answer.
		body := c.Request.Body
		c.Request.Body = http.MaxBytesReader(nil, body, limit)
		err := c.Request.ParseForm()
		c.Request.Body = body
		if _, big := errors.AsType[*http.MaxBytesError](err); big && strings.HasPrefix(c.FullPath(), "/cases/:ref/") {
			// Nothing will be changed, so there is nothing for the form
			// token to guard; the roles are checked as ever.
			c.Set(formTooLarge, true)
			c.Next()
			return
		}
		if err != nil {
			con.errorPage(c, http.StatusRequestEntityTooLarge, "The form could not be read",
				"It was too large or malformed, and nothing was changed.")
			return
		}
		if !validToken(c.Request.PostForm.Get("_csrf"), con.sessions.formToken(s)) {
			con.errorPage(c, http.StatusForbidden, "This form cannot be accepted",
				"It did not come from a page of this console opened in this session, so nothing was changed. Go back, reload the page and try again.")
			return
		}
	}
	c.Next()
}

// require lets through a person holding one of the roles (admin holds them
// all), and shows anyone else a page saying what is needed.
func (con *console) require(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := who(c)
		if p.has(roles...) {
			c.Next()
			return
		}
		con.errorPage(c, http.StatusForbidden, "You cannot use this page",
			fmt.Sprintf("It needs the role %s. You are signed in as %s, with the %s %s. Ask your administrator if you need it.",
				strings.Join(roles, " or "), p.Name, web.Plural(len(p.Roles), "role", "roles"), strings.Join(p.Roles, " and ")))
	}
}

// home is where a person starts: the work queue, or the rules for someone
// who only edits them.
func (con *console) home(p principal) string {
	if !p.has(config.RoleAgent, config.RoleSupervisor) && p.has(config.RoleRulesAdmin) && con.deps.Rules != nil {
		return "/rules"
	}
	return "/cases"
}

// localPath returns next if it is a path on this site, else "": sign-in
// must not send anyone elsewhere.
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		u.Scheme != "" || u.Host != "" {
		return ""
	}
	return next
}

type loginData struct {
	Next    string
	Message string
	// Recheck is where the page sends the browser again at once, from this
	// site: see loginPage.
	Recheck string
	// SSO names the council's identity provider, when people may sign in
	// with it.
	SSO string
}

func (con *console) loginPage(c *gin.Context) {
	next := localPath(c.Query("next"))
	if _, p, err := con.session(c); err == nil {
		c.Redirect(http.StatusSeeOther, cmp.Or(next, con.home(p)))
		return
	}
	// A browser following a link from another site (a notice in an email)
	// keeps the SameSite=Strict session cookie back; asked again from this
	// site's own page, it sends it, and a signed-in person goes straight on.
	if c.GetHeader("Sec-Fetch-Site") == "cross-site" && c.Query("again") == "" {
		q := c.Request.URL.Query()
		q.Set("again", "1")
		con.render(c, http.StatusOK, "login", view{Data: loginData{Recheck: "/login?" + q.Encode()}})
		return
	}
	flash := ""
	switch {
	case c.Query("signed_out") == signedOutHere && con.oidc != nil:
		flash = "You have signed out. You may still be signed in to " + con.cfg.Staff.OIDC.Name +
			": sign out there too before you leave a shared computer."
	case c.Query("signed_out") != "":
		flash = "You have signed out."
	}
	con.showLogin(c, http.StatusOK, next, "", flash)
}

// showLogin shows the sign-in page with a fresh form nonce.
func (con *console) showLogin(c *gin.Context, status int, next, msg string, flash ...string) {
	nonce := randomID()
	con.sessions.setCookie(c, loginCookie, nonce, loginLife)
	v := view{CSRF: con.sessions.loginToken(nonce), Data: con.loginData(next, msg)}
	if len(flash) > 0 {
		v.Flash = flash[0]
	}
	con.render(c, status, "login", v)
}

func (con *console) loginData(next, msg string) loginData {
	d := loginData{Next: next, Message: msg}
	if con.oidc != nil {
		d.SSO = con.cfg.Staff.OIDC.Name
	}
	return d
}

// login checks a pasted token against the configuration and opens a session.
// Wrong tokens are counted per client address: past the limit, the address
// waits out a back-off (429, Retry-After) whatever it sends, the right token
// included.
func (con *console) login(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if !con.sameOrigin(c) {
		con.crossSite(c)
		return
	}
	nonce, err := c.Cookie(loginCookie)
	if err != nil || !validToken(c.PostForm("_csrf"), con.sessions.loginToken(nonce)) {
		con.errorPage(c, http.StatusForbidden, "The sign-in form had expired",
			"Open the sign-in page again and paste your token there.", "/login", "Sign in")
		return
	}
	if con.sessions.store == nil {
		con.storeDown(c, errors.New("no Redis for sessions"))
		return
	}
	ctx, addr := c.Request.Context(), c.ClientIP()
	next := localPath(c.PostForm("next"))
	again := func(status int, msg string) {
		con.render(c, status, "login", view{CSRF: con.sessions.loginToken(nonce), Data: con.loginData(next, msg)})
	}
	if c.PostForm("login") != "" || c.PostForm("password") != "" {
		if con.accounts == nil {
			con.storeDown(c, errors.New("no Redis for accounts"))
			return
		}
		acc, ok := con.passwordSignIn(c, again)
		if !ok {
			return
		}
		cookie, s, err := con.sessions.openAccount(ctx, acc, false, addr, c.Request.UserAgent(), con.deps.Now())
		if err != nil {
			con.storeDown(c, err)
			return
		}
		con.signedInAs(c, cookie, s, accountPrincipal(acc), next, "with a password")
		return
	}
	if wait := con.lockedOut(ctx, accounts.AddressKey(addr)); wait > 0 {
		con.tooMany(c, wait, again)
		return
	}
	token := strings.TrimSpace(c.PostForm("token"))
	name, roles, ok := con.cfg.TokenRoles(token)
	if !ok {
		con.log.Warn("console sign-in failed: a wrong token", "addr", addr)
		con.record(ctx, accounts.Event{Kind: accounts.EventSignInFailed, Addr: addr, Detail: "a wrong staff token"})
		if wait := con.failed(ctx, accounts.AddressKey(addr), accounts.PerAddress); wait > 0 {
			con.record(ctx, accounts.Event{Kind: accounts.EventLockedOut, Addr: addr, Detail: fmt.Sprintf("address locked out for %d s", retryAfter(wait))})
			con.tooMany(c, wait, again)
			return
		}
		// The token is not shown again: it is a secret, and a wrong one is no use.
		again(http.StatusUnauthorized, "That token is not recognised. Paste the whole token, as casebridge printed it or your administrator gave it.")
		return
	}
	cookie, s, err := con.sessions.openToken(ctx, name, token, addr, c.Request.UserAgent(), con.deps.Now())
	if err != nil {
		con.storeDown(c, err)
		return
	}
	con.signedInAs(c, cookie, s, principal{Name: name, Roles: roles, Subject: tokenSubject(name)}, next, "with a token")
}

// signedInAs sets the session cookie of a new session and goes on.
func (con *console) signedInAs(c *gin.Context, cookie string, s accounts.Session, p principal, next, how string) {
	con.sessions.setCookie(c, sessionCookie, cookie, sessionLife)
	con.sessions.setCookie(c, loginCookie, "", -1)
	con.log.Info("console sign-in", "staff", p.Subject, "addr", s.Addr, "how", how)
	con.record(c.Request.Context(), accounts.Event{Kind: accounts.EventSignIn, Actor: p.Subject, Addr: s.Addr, Detail: how + "; session " + s.ID})
	c.Redirect(http.StatusSeeOther, cmp.Or(next, con.home(p)))
}

// tooMany answers a sign-in from a locked-out address or account.
func (con *console) tooMany(c *gin.Context, wait time.Duration, again func(int, string)) {
	c.Header("Retry-After", strconv.Itoa(retryAfter(wait)))
	again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Wait %s, then try again.", humanWait(wait)))
}

// humanWait is a back-off as a person reads it.
func humanWait(d time.Duration) string {
	if s := retryAfter(d); s < 120 {
		return fmt.Sprintf("%d %s", s, web.Plural(s, "second", "seconds"))
	}
	m := int((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d %s", m, web.Plural(m, "minute", "minutes"))
}

// signedOutHere is the signed-out page's word for a sign-out that ended
// casebridge's session but could not be sent on to the identity provider.
const signedOutHere = "here"

// logout ends the session on the server, so its cookie opens nothing after,
// wherever it was copied to. With a session, the form must carry its token,
// so no other site can sign a person out. A session opened through the
// identity provider is then sent on to the provider to end its session too.
func (con *console) logout(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if !con.sameOrigin(c) {
		con.crossSite(c)
		return
	}
	s, p, err := con.session(c)
	if err == nil && !validToken(c.PostForm("_csrf"), con.sessions.formToken(s)) {
		con.errorPage(c, http.StatusForbidden, "This form cannot be accepted",
			"It did not come from a page of this console opened in this session, so you are still signed in.")
		return
	}
	next := "/login?signed_out=1"
	if err == nil {
		ctx := c.Request.Context()
		cookie, _ := c.Cookie(sessionCookie)
		if err := con.sessions.store.End(ctx, cookie); err != nil {
			con.storeDown(c, err)
			return
		}
		detail := "session " + s.ID
		if s.SSO && con.oidc != nil {
			var how string
			next, how = con.providerSignOut(ctx)
			detail += "; " + how
		}
		con.log.Info("console sign-out", "staff", p.Subject, "sso", s.SSO)
		con.record(ctx, accounts.Event{Kind: accounts.EventSignOut, Actor: p.Subject, Addr: c.ClientIP(), Detail: detail})
	}
	con.sessions.setCookie(c, sessionCookie, "", -1)
	c.Redirect(http.StatusSeeOther, next)
}

// view is what every page template gets; Data is the page's own.
type view struct {
	Council   string
	User      *principal
	CSRF      string
	Nav       string // the navigation item to mark current
	Static    string
	Live      *liveView
	Flash     string
	HasRules  bool
	HasOutbox bool
	// Stale says, when the read model is behind Temporal, what that means
	// for the lists on this page; empty when they are current.
	Stale string
	Data  any
}

// Can says whether the person signed in holds one of the roles.
func (v view) Can(roles ...string) bool { return v.User != nil && v.User.has(roles...) }

// liveView tells the page's script what to listen for on /events.
type liveView struct {
	Mode       string // "queue", "case" or "dashboard"
	Ref        string
	Version    int64
	Department string
	URL        string // where "Refresh" goes
}

// render draws a page into memory first, so a template error never sends
// half a page.
func (con *console) render(c *gin.Context, status int, page string, v view) {
	v.Council, v.Static = con.cfg.Council.Name, con.static
	v.HasRules, v.HasOutbox = con.deps.Rules != nil, con.deps.Outbox != nil
	if p, ok := c.Get(principalKey); ok {
		pp := p.(principal)
		v.User = &pp
	}
	if s, ok := c.Get(sessionKey); ok && v.CSRF == "" {
		v.CSRF = con.sessions.formToken(s.(accounts.Session))
	}
	if con.live == nil {
		v.Live = nil
	}
	if v.User != nil {
		v.Stale = con.staleness()
	}
	var buf bytes.Buffer
	if err := con.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		con.log.Error("console: render", "page", page, "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// staleness says in a sentence for staff how far the lists are behind, from
// the last measurement (a page never waits for one).
func (con *console) staleness() string {
	if con.deps.Freshness == nil {
		return ""
	}
	lag, ok := con.deps.Freshness.Known()
	switch {
	case !ok || !lag.Behind():
		return ""
	case lag.Empty():
		return fmt.Sprintf("The lists are empty, but Temporal holds %d cases: the read model has been lost. "+
			"An administrator should run casebridge reindex. A case opened by its reference is shown as it is now.", lag.Cases)
	default:
		return fmt.Sprintf("The lists are behind: %s not in them yet, the oldest for %s. "+
			"They catch up by themselves; a case opened by its reference is shown as it is now.",
			lag.MissingText(), lag.Oldest.Round(time.Second))
	}
}

type errorData struct {
	Heading    string
	Paragraphs []string
	Links      []link
}

type link struct{ URL, Text string }

// errorPage answers with a page saying what went wrong and where to go; an
// optional url and text pair adds a link before the usual ones.
func (con *console) errorPage(c *gin.Context, status int, heading, text string, urlText ...string) {
	d := errorData{Heading: heading, Paragraphs: []string{text}}
	for i := 0; i+1 < len(urlText); i += 2 {
		d.Links = append(d.Links, link{urlText[i], urlText[i+1]})
	}
	if p, ok := c.Get(principalKey); ok {
		d.Links = append(d.Links, con.pagesFor(p.(principal))...)
	}
	con.render(c, status, "error", view{Data: d})
	c.Abort()
}

// pagesFor lists the pages a person may open.
func (con *console) pagesFor(p principal) []link {
	var out []link
	if p.has(config.RoleAgent, config.RoleSupervisor) {
		out = append(out, link{"/cases", "Work queue"}, link{"/dashboard", "Dashboard"}, link{"/board", "SLA board"})
	}
	if p.has(config.RoleSupervisor) && con.deps.Outbox != nil {
		out = append(out, link{"/notifications", "Notifications"})
	}
	if p.has(config.RoleRulesAdmin) && con.deps.Rules != nil {
		out = append(out, link{"/rules", "Routing rules"})
	}
	return out
}
