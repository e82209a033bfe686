package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/casebridge/casebridge/config"
)

// Console sessions live in a signed cookie, so any api replica holding the
// same secret can serve them and nothing is stored server-side. The cookie is
// signed, not encrypted: it holds nothing its owner may not read.
const (
	sessionCookie = "casebridge_session"
	// loginCookie holds the nonce the sign-in form's CSRF token is bound to,
	// as there is no session yet.
	loginCookie = "casebridge_login"
	sessionLife = 8 * time.Hour
	loginLife   = time.Hour
	// tokenTag is how many hex digits of a token's SHA-256 a session keeps:
	// enough to find the token in the configuration, too few to be of use to
	// anyone who reads the cookie.
	tokenTag = 16
	// minSecret is the shortest CASEBRIDGE_SESSION_SECRET taken without a warning.
	minSecret = 32
)

// session is what the cookie holds.
type session struct {
	Name    string   `json:"n"`
	Roles   []string `json:"r"`
	Expires int64    `json:"e"` // Unix seconds
	// Token is the start of the SHA-256 of the token the session was opened
	// with; the session lasts only while the configuration has that token.
	Token string `json:"t"`
	// ID is random; the form token (CSRF) is bound to it.
	ID string `json:"i"`
}

// sessions signs and checks session cookies and form tokens with one secret.
type sessions struct {
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

// open starts a session for the holder of token, who is name with roles.
func (m *sessions) open(name string, roles []string, token string, now time.Time) (cookie string, s session) {
	s = session{Name: name, Roles: roles, Expires: now.Add(sessionLife).Unix(),
		Token: config.HashToken(token)[:tokenTag], ID: randomID()}
	b, _ := json.Marshal(s) // strings and an int: cannot fail
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + m.sign("session", payload), s
}

// check reads a session cookie: signed by us, not expired, and opened with a
// token the configuration still has. The principal is the token's name and
// roles as the configuration has them now, so a change of roles takes effect
// at once.
func (m *sessions) check(cookie string, now time.Time) (session, principal, bool) {
	payload, sig, ok := strings.Cut(cookie, ".")
	if !ok || subtle.ConstantTimeCompare([]byte(sig), []byte(m.sign("session", payload))) != 1 {
		return session{}, principal{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, principal{}, false
	}
	var s session
	if json.Unmarshal(b, &s) != nil || s.ID == "" || len(s.Token) != tokenTag || now.Unix() >= s.Expires {
		return session{}, principal{}, false
	}
	for _, t := range m.cfg.Staff.Tokens {
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(t.SHA256[:min(len(t.SHA256), tokenTag)])), []byte(s.Token)) == 1 {
			return s, principal{Name: t.Name, Roles: t.Roles}, true
		}
	}
	return session{}, principal{}, false
}

// formToken is the CSRF token of a session's forms.
func (m *sessions) formToken(s session) string { return m.sign("form", s.ID) }

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
