package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gin-gonic/gin"
	"golang.org/x/oauth2"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/config"
)

// Sign-in with the council's identity provider is OpenID Connect's
// authorization code flow with PKCE: /login/oidc sends the browser to the
// provider with a state, a nonce and a code challenge, kept in a cookie
// signed with the session secret; the provider sends it back to
// /login/oidc/callback, which checks the state, trades the code (with its
// verifier) for an ID token, checks the token's signature, issuer, audience,
// expiry and nonce, maps the person's groups to roles and scope, keeps their
// account, and opens the same server-side session a password opens, marked
// as the provider's. Signing out of such a session ends casebridge's own
// first, then sends the browser to the provider's end_session_endpoint
// (RP-Initiated Logout 1.0), so the provider's session ends too and the
// next person at a shared PC is not signed straight back in as this one.
const (
	oidcCookie = "casebridge_oidc"
	oidcLife   = 10 * time.Minute
	oidcPath   = "/login/oidc"
	// oidcTimeout bounds each call to the provider.
	oidcTimeout = 10 * time.Second
)

// ssoActor is who the audit trail says made or changed an account when the
// identity provider's groups did.
const ssoActor = "sso"

// oidcFlow talks to the identity provider. The provider is discovered on
// first use, not at start, so the console starts while the provider is away.
type oidcFlow struct {
	cfg    *config.OIDC
	secret string
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	// endSession is the provider's end_session_endpoint once discovered, ""
	// if it has none. It is not under mu, which discovery holds while it
	// waits for the provider: every console page reads it (formAction).
	endSession atomic.Pointer[string]
	// origin is formAction's answer, worked out when it can change (at the
	// start, and when discovery names the end-session endpoint), not on
	// every page.
	origin atomic.Pointer[string]
}

func newOIDCFlow(cfg *config.OIDC, secret string, now func() time.Time) *oidcFlow {
	if !cfg.Enabled() {
		return nil
	}
	o := &oidcFlow{cfg: cfg, secret: secret, now: now, client: &http.Client{Timeout: oidcTimeout}}
	issuer := originOf(cfg.Issuer)
	o.origin.Store(&issuer)
	return o
}

// ctx carries the flow's HTTP client to go-oidc and oauth2.
func (o *oidcFlow) ctx(ctx context.Context) context.Context {
	return context.WithValue(oidc.ClientContext(ctx, o.client), oauth2.HTTPClient, o.client)
}

// discover reads the provider's discovery document once it answers.
func (o *oidcFlow) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.oauth != nil {
		return o.oauth, o.verifier, nil
	}
	ctx, cancel := context.WithTimeout(o.ctx(ctx), oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discover the identity provider %s: %w", o.cfg.Issuer, err)
	}
	o.oauth = &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.secret, Endpoint: p.Endpoint(),
		RedirectURL: o.cfg.RedirectURL, Scopes: append([]string{oidc.ScopeOpenID}, o.cfg.Scopes...)}
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID, Now: o.now})
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	end := ""
	if err := p.Claims(&meta); err == nil {
		if u, err := url.Parse(meta.EndSession); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
			end = meta.EndSession
		}
	}
	o.endSession.Store(&end)
	if end != "" {
		origin := originOf(end)
		o.origin.Store(&origin)
	}
	return o.oauth, o.verifier, nil
}

// signOutURL is where a browser signing out goes so the provider ends its
// session too, or "" when the provider has no end_session_endpoint.
//
// It carries client_id and post_logout_redirect_uri but no id_token_hint.
// The hint is the raw ID token, which the session in Redis would then have to
// keep for up to 8 hours: a signed statement of who the person is, with their
// name, email and groups, where a session now keeps only a hash of its
// cookie's secret so that a copy of Redis opens nothing and says little.
// Without the hint the spec has the provider ask the person to confirm the
// sign-out: one click more, and on a shared PC no harm.
func (o *oidcFlow) signOutURL(ctx context.Context) (string, error) {
	if _, _, err := o.discover(ctx); err != nil {
		return "", err
	}
	end := *o.endSession.Load()
	if end == "" {
		return "", nil
	}
	u, _ := url.Parse(end) // checked in discover
	q := u.Query()
	q.Set("client_id", o.cfg.ClientID)
	q.Set("post_logout_redirect_uri", o.cfg.PostLogoutURL())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// providerSignOut is where the browser goes after casebridge's session
// through the identity provider has ended, and what the audit trail says of
// it: the provider's end-session endpoint, or, if it has none or does not
// answer, the signed-out page saying the provider's session may be open.
func (con *console) providerSignOut(ctx context.Context) (next, how string) {
	name := con.cfg.Staff.OIDC.Name
	u, err := con.oidc.signOutURL(ctx)
	switch {
	case err != nil:
		con.log.Warn("sign-out not sent on to the identity provider", "error", err)
		return "/login?signed_out=" + signedOutHere, "not sent on to " + name + ": it did not answer"
	case u == "":
		return "/login?signed_out=" + signedOutHere, "not sent on to " + name + ": it has no end_session_endpoint"
	}
	return u, "sent on to " + name + " to end its session there"
}

// formAction is the origin the console's forms may be sent on to besides its
// own: the sign-out form's answer goes to the provider's end-session
// endpoint, and a browser holds a redirect after a form to form-action. Until
// discovery names the endpoint, the issuer's origin, where providers keep it.
func (o *oidcFlow) formAction() string { return *o.origin.Load() }

// originOf is a URL's scheme and host, or "" if it has no host.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// oidcState is what the browser carries between /login/oidc and the
// callback, signed so it cannot be made elsewhere.
type oidcState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x,omitempty"`
	Expires  int64  `json:"e"`
}

// oidcStart sends the browser to the identity provider.
func (con *console) oidcStart(c *gin.Context) {
	conf, _, err := con.oidc.discover(c.Request.Context())
	if err != nil {
		con.providerDown(c, err)
		return
	}
	st := oidcState{State: randomID(), Nonce: randomID(), Verifier: oauth2.GenerateVerifier(),
		Next: localPath(c.Query("next")), Expires: con.deps.Now().Add(oidcLife).Unix()}
	b, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(b)
	con.oidcCookie(c, payload+"."+con.sessions.sign("oidc", payload), oidcLife)
	c.Redirect(http.StatusSeeOther, conf.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)))
}

// oidcCookie writes the flow's cookie. Unlike the console's other cookies it
// is SameSite=Lax: the provider's redirect back is a navigation from another
// site, which a Strict cookie would not come with. It holds no session, only
// what binds the callback to the browser that started it.
func (con *console) oidcCookie(c *gin.Context, value string, life time.Duration) {
	age := int(life / time.Second)
	if life < 0 {
		age = -1
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: oidcCookie, Value: value, Path: oidcPath, MaxAge: age,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: con.sessions.secure || c.Request.TLS != nil})
}

// readOIDCState reads and checks the flow's cookie.
func (con *console) readOIDCState(c *gin.Context) (oidcState, bool) {
	v, err := c.Cookie(oidcCookie)
	if err != nil {
		return oidcState{}, false
	}
	payload, sig, _ := strings.Cut(v, ".")
	if !validToken(sig, con.sessions.sign("oidc", payload)) {
		return oidcState{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var st oidcState
	if err != nil || json.Unmarshal(b, &st) != nil || con.deps.Now().Unix() >= st.Expires {
		return oidcState{}, false
	}
	return st, true
}

// providerDown answers when the identity provider cannot be reached.
func (con *console) providerDown(c *gin.Context, err error) {
	con.log.Error("identity provider", "error", err)
	c.Header("Retry-After", "30")
	con.errorPage(c, http.StatusServiceUnavailable, "Signing in with "+con.cfg.Staff.OIDC.Name+" is not working just now",
		"The identity provider did not answer. Try again in a minute, or sign in with your password if you have one.", "/login", "Sign in")
}

// oidcCallback is where the provider sends the browser back.
func (con *console) oidcCallback(c *gin.Context) {
	ctx, addr := c.Request.Context(), c.ClientIP()
	st, ok := con.readOIDCState(c)
	con.oidcCookie(c, "", -1)
	fail := func(detail string) {
		con.log.Warn("console sign-in failed: identity provider", "addr", addr, "reason", detail)
		con.record(ctx, accounts.Event{Kind: accounts.EventSignInFailed, Addr: addr, Detail: "identity provider: " + detail})
		con.showLogin(c, http.StatusUnauthorized, st.Next,
			"Signing in with "+con.cfg.Staff.OIDC.Name+" did not work. Try again; if it goes on, ask your administrator whether your account may use casebridge.")
	}
	switch {
	case !ok:
		fail("the sign-in was not started in this browser, or took longer than 10 minutes")
		return
	case !validToken(c.Query("state"), st.State):
		fail("the state sent back is not the one sent")
		return
	case c.Query("error") != "":
		fail("the provider answered " + printable(c.Query("error"), 64))
		return
	}
	if con.sessions.store == nil || con.accounts == nil {
		con.storeDown(c, errors.New("no Redis for sessions"))
		return
	}
	conf, verifier, err := con.oidc.discover(ctx)
	if err != nil {
		con.providerDown(c, err)
		return
	}
	xctx, cancel := context.WithTimeout(con.oidc.ctx(ctx), oidcTimeout)
	defer cancel()
	tok, err := conf.Exchange(xctx, c.Query("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		fail("the code was not exchanged: " + printable(err.Error(), 200))
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := verifier.Verify(xctx, raw)
	if err != nil {
		fail("the ID token was refused: " + printable(err.Error(), 200))
		return
	}
	if !validToken(idt.Nonce, st.Nonce) {
		fail("the ID token's nonce is not the one sent")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		fail("the ID token's claims cannot be read")
		return
	}
	acc, why, err := con.ssoAccount(c, idt.Issuer+"#"+idt.Subject, claims)
	if err != nil {
		con.storeDown(c, err)
		return
	}
	if acc == nil {
		fail(why)
		return
	}
	cookie, s, err := con.sessions.openAccount(ctx, acc, true, addr, c.Request.UserAgent(), con.deps.Now())
	if err != nil {
		con.storeDown(c, err)
		return
	}
	con.signedInAs(c, cookie, s, accountPrincipal(acc), st.Next, "through "+con.cfg.Staff.OIDC.Name)
}

// ssoAccount makes or updates the account of the person the provider
// vouches for, with the roles and scope their groups carry now. An account
// of the same name that signs in with a password, or belongs to another of
// the provider's people, is not taken over. A refusal is a nil account and
// the reason, for the audit trail.
func (con *console) ssoAccount(c *gin.Context, sso string, claims map[string]any) (*accounts.Account, string, error) {
	ctx, o := c.Request.Context(), con.cfg.Staff.OIDC
	str := func(k string) string { s, _ := claims[k].(string); return strings.TrimSpace(s) }
	login := accounts.NormalLogin(str(o.LoginClaim))
	if login == "" {
		login = accounts.NormalLogin(str("email"))
	}
	roles, depts, teams := o.Grant(stringList(claims[o.GroupsClaim]))
	if len(roles) == 0 {
		return nil, fmt.Sprintf("%s is in none of the groups staff.oidc.groups maps", printable(login, 64)), nil
	}
	cur, err := con.accounts.Get(ctx, login)
	var a accounts.Account
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		a = accounts.Account{Login: login, SSO: sso}
	case err != nil:
		return nil, "", err
	case cur.SSO != sso:
		return nil, "the sign-in name " + login + " belongs to an account that does not sign in through the provider as this person", nil
	case cur.Disabled:
		return nil, "the account " + login + " is disabled", nil
	default:
		a = *cur
	}
	a.Name, a.Email, a.Roles, a.Departments, a.Teams = str("name"), str("email"), roles, depts, teams
	if a.Name == "" || utf8.RuneCountInString(a.Name) > 100 {
		a.Name = login
	}
	if !accounts.ValidEmail(a.Email) {
		a.Email = "" // an address the account form would refuse is left out, not a reason to refuse the person
	}
	if cur != nil && a.Name == cur.Name && a.Email == cur.Email && slices.Equal(a.Roles, cur.Roles) &&
		slices.Equal(a.Departments, cur.Departments) && slices.Equal(a.Teams, cur.Teams) {
		return cur, "", nil
	}
	if err := a.Check(con.cfg); err != nil {
		return nil, "the provider's account cannot be kept: " + err.Error(), nil
	}
	saved, err := con.accounts.Put(ctx, a, ssoActor, con.deps.Now())
	if errors.Is(err, accounts.ErrExists) || errors.Is(err, accounts.ErrConflict) {
		return nil, "the account " + login + " changed meanwhile", nil
	}
	if err != nil {
		return nil, "", err
	}
	e := accounts.Event{Kind: accounts.EventAccountCreated, Actor: ssoActor, Target: saved.Subject(), Addr: c.ClientIP(),
		Detail: describe(saved) + " (from the identity provider's groups)"}
	if cur != nil {
		e.Kind, e.Detail = accounts.EventAccountChanged, "was "+describe(*cur)+"; now "+describe(saved)+" (from the identity provider's groups)"
	}
	con.record(ctx, e)
	return &saved, "", nil
}

// stringList reads a claim that is a list of strings (or one string).
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// printable is s cut to n bytes with anything but printable ASCII replaced,
// for the log and audit trail: what the provider sends is not to be trusted
// to be text.
func printable(s string, n int) string {
	b := []byte(s[:min(len(s), n)])
	for i, ch := range b {
		if ch < 0x20 || ch > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
