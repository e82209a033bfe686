package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/config"
)

// Console sessions live on the server (accounts.Sessions, in Redis): the
// cookie holds only a random secret, so signing out, or an admin revoking a
// session, ends it everywhere at once, and a copied cookie is no use after.
const (
	sessionCookie = "casebridge_session"
	// loginCookie holds the nonce the sign-in form's CSRF token is bound to,
	// as there is no session yet.
	loginCookie = "casebridge_login"
	sessionLife = 8 * time.Hour
	loginLife   = time.Hour
	// tokenTag is how many hex digits of a token's SHA-256 a session keeps:
	// enough to find the token in the configuration.
	tokenTag = 16
	// minSecret is the shortest CASEBRIDGE_SESSION_SECRET taken without a warning.
	minSecret = 32
)

// sessions opens and checks console sessions and signs form tokens.
type sessions struct {
	store    *accounts.Sessions
	accounts *accounts.Store // the holders of "account:" sessions
	// secret signs form tokens (CSRF) and the sign-in form's nonce.
	secret []byte
	cfg    *config.Config
	// secure marks cookies Secure even on plain HTTP requests: the public
	// URL is https, so TLS ends in front of us.
	secure bool
}

// sign is an HMAC-SHA256 of msg under the secret, for the given purpose, so
// a value signed for one purpose is never accepted for another.
func (m *sessions) sign(purpose, msg string) string {
	mac := hmac.New(sha256.New, m.secret)
	mac.Write([]byte(purpose))
	mac.Write([]byte{0})
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// randomID is 128 random bits as text.
func randomID() string { return rand.Text() }

// tokenSubject is the session subject of a bearer token's holder.
func tokenSubject(name string) string { return "token:" + name }

// openAccount starts a session for an account's holder, signed in through
// the identity provider (sso) or with a password.
func (m *sessions) openAccount(ctx context.Context, a *accounts.Account, sso bool, addr, agent string, now time.Time) (string, accounts.Session, error) {
	return m.store.Open(ctx, accounts.Session{Subject: a.Subject(), SSO: sso, Addr: addr, Agent: agent}, now, sessionLife)
}

// openToken starts a session for the holder of a bearer token.
func (m *sessions) openToken(ctx context.Context, name, token, addr, agent string, now time.Time) (cookie string, s accounts.Session, err error) {
	return m.store.Open(ctx, accounts.Session{Subject: tokenSubject(name), Token: config.HashToken(token)[:tokenTag],
		Addr: addr, Agent: agent}, now, sessionLife)
}

// errSessionStore means sessions could not be read: Redis did not answer.
var errSessionStore = errors.New("sessions cannot be read")

// check reads a session cookie: a live session on the server, held by an
// account that is not disabled or a token the configuration still has. The
// principal is as the account or configuration has it now, so a change of
// roles takes effect at once.
func (m *sessions) check(ctx context.Context, cookie string, now time.Time) (accounts.Session, principal, error) {
	s, err := m.store.Check(ctx, cookie, now)
	if errors.Is(err, accounts.ErrNoSession) {
		return s, principal{}, err
	}
	if err != nil {
		return s, principal{}, errors.Join(errSessionStore, err)
	}
	if login, ok := strings.CutPrefix(s.Subject, "account:"); ok && m.accounts != nil {
		a, err := m.accounts.Get(ctx, login)
		if errors.Is(err, accounts.ErrNotFound) || (err == nil && a.Disabled) {
			return accounts.Session{}, principal{}, accounts.ErrNoSession
		}
		if err != nil {
			return s, principal{}, errors.Join(errSessionStore, err)
		}
		return s, accountPrincipal(a), nil
	}
	if name, ok := strings.CutPrefix(s.Subject, "token:"); ok {
		for _, t := range m.cfg.Staff.Tokens {
			if t.Name == name && subtle.ConstantTimeCompare([]byte(strings.ToLower(t.SHA256[:min(len(t.SHA256), tokenTag)])), []byte(s.Token)) == 1 {
				return s, principal{Name: t.Name, Roles: t.Roles, Departments: t.Departments, Teams: t.Teams, Subject: s.Subject}, nil
			}
		}
	}
	return accounts.Session{}, principal{}, accounts.ErrNoSession
}

// formToken is the CSRF token of a session's forms.
func (m *sessions) formToken(s accounts.Session) string { return m.sign("form", s.ID) }

// loginToken is the CSRF token of the sign-in form, bound to the nonce in
// the login cookie.
func (m *sessions) loginToken(nonce string) string { return m.sign("login", nonce) }

// validToken compares a submitted form token with the expected one in
// constant time; an empty expected token matches nothing.
func validToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// setCookie writes a console cookie: HttpOnly, SameSite=Strict, Secure over
// TLS. maxAge < 0 deletes it.
func (m *sessions) setCookie(c *gin.Context, name, value string, maxAge time.Duration) {
	age := int(maxAge / time.Second)
	if maxAge < 0 {
		age = -1
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: age,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: m.secure || c.Request.TLS != nil,
	})
}
