// Package oidctest is a small OpenID Connect provider for tests: discovery,
// a JWKS, an authorize endpoint that signs in whoever the test says at once,
// a token endpoint that checks the client, the code and its PKCE verifier
// and answers with an ID token signed by a key made for the test, and an
// end-session endpoint (RP-Initiated Logout) that signs that person out.
// Faults a test asks for (a wrong nonce, an expired token, a changed state)
// go into the next answers.
package oidctest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Person is who the provider signs in.
type Person struct {
	Subject  string
	Login    string // preferred_username
	Name     string
	Email    string
	Groups   []string
	LoginErr string // if set, authorize answers with this OAuth error instead
}

// Provider is a running test provider.
type Provider struct {
	URL          string // the issuer
	ClientID     string
	ClientSecret string

	srv *httptest.Server
	key *rsa.PrivateKey
	now func() time.Time

	mu     sync.Mutex
	person Person
	// signedOut models the provider's one session: after a sign-out at the
	// end-session endpoint, authorize asks for a sign-in (a page, no code)
	// instead of signing the person in again, until SignIn.
	signedOut bool
	codes     map[string]grant
	// Faults for the answers that follow.
	WrongNonce  bool          // the ID token carries another nonce
	WrongState  bool          // authorize sends back another state
	Life        time.Duration // how long ID tokens last (1 h unless set; negative: already expired)
	WrongIssuer bool          // the ID token names another issuer
	OtherKey    bool          // the ID token is signed with a key the JWKS does not have
	// NoEndSession leaves end_session_endpoint out of discovery.
	NoEndSession bool
	// Authorized counts authorize requests; Tokens counts codes exchanged.
	Authorized, Tokens int
	// EndSessions holds the parameters of each end-session request.
	EndSessions []url.Values
}

type grant struct {
	person    Person
	nonce     string
	challenge string
	redirect  string
}

// Start runs a provider for the test's client, with now as its clock (nil:
// time.Now), signing in p until SignIn says otherwise.
func Start(t testing.TB, clientID, clientSecret string, now func() time.Time, p Person) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if now == nil {
		now = time.Now
	}
	pr := &Provider{ClientID: clientID, ClientSecret: clientSecret, key: key, now: now, person: p, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", pr.discovery)
	mux.HandleFunc("GET /keys", pr.jwks)
	mux.HandleFunc("GET /authorize", pr.authorize)
	mux.HandleFunc("POST /token", pr.token)
	mux.HandleFunc("GET /logout", pr.endSession)
	mux.HandleFunc("POST /logout", pr.endSession)
	pr.srv = httptest.NewServer(mux)
	pr.URL = pr.srv.URL
	t.Cleanup(pr.srv.Close)
	return pr
}

// SignIn sets who the provider signs in next, as signed in there.
func (pr *Provider) SignIn(p Person) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.person, pr.signedOut = p, false
}

// Set changes the provider's faults under its lock.
func (pr *Provider) Set(f func(pr *Provider)) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	f(pr)
}

func (pr *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	doc := map[string]any{
		"issuer": pr.URL, "authorization_endpoint": pr.URL + "/authorize", "token_endpoint": pr.URL + "/token",
		"jwks_uri": pr.URL + "/keys", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
		"end_session_endpoint": pr.URL + "/logout",
	}
	pr.mu.Lock()
	if pr.NoEndSession {
		delete(doc, "end_session_endpoint")
	}
	pr.mu.Unlock()
	writeJSON(w, http.StatusOK, doc)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (pr *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	pub := pr.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "test-key", "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize signs the person in at once and sends the browser back with a
// code, as a provider does for someone already signed in there.
func (pr *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.Authorized++
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != pr.ClientID || q.Get("response_type") != "code" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	if pr.signedOut {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<h1>Sign in to the test provider</h1>"))
		return
	}
	state := q.Get("state")
	if pr.WrongState {
		state = "not-the-state-sent"
	}
	v := url.Values{"state": {state}}
	switch {
	case pr.person.LoginErr != "":
		v.Set("error", pr.person.LoginErr)
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		v.Set("error", "invalid_request")
	default:
		code := rand.Text()
		pr.codes[code] = grant{person: pr.person, nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		v.Set("code", code)
	}
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (pr *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	refuse := func(code string) { writeJSON(w, http.StatusBadRequest, map[string]string{"error": code}) }
	if id != pr.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(pr.ClientSecret)) != 1 {
		refuse("invalid_client")
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	g, ok := pr.codes[r.PostForm.Get("code")]
	delete(pr.codes, r.PostForm.Get("code")) // a code is used once
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != g.redirect || b64(sum[:]) != g.challenge {
		refuse("invalid_grant")
		return
	}
	pr.Tokens++
	now, life := pr.now(), pr.Life
	if life == 0 {
		life = time.Hour
	}
	nonce, iss := g.nonce, pr.URL
	if pr.WrongNonce {
		nonce = "not-the-nonce-sent"
	}
	if pr.WrongIssuer {
		iss = "https://elsewhere.example"
	}
	claims := map[string]any{"iss": iss, "sub": g.person.Subject, "aud": pr.ClientID, "iat": now.Unix(),
		"exp": now.Add(life).Unix(), "nonce": nonce, "preferred_username": g.person.Login, "name": g.person.Name,
		"email": g.person.Email, "groups": g.person.Groups}
	key := pr.key
	if pr.OtherKey {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600,
		"id_token": sign(key, claims)})
}

// endSession is RP-Initiated Logout 1.0: it records what it was sent, signs
// the person out here, and sends the browser back to post_logout_redirect_uri
// (with state), which the spec lets a client name only with its client_id or
// an id_token_hint.
func (pr *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.EndSessions = append(pr.EndSessions, r.Form)
	back := r.Form.Get("post_logout_redirect_uri")
	if id := r.Form.Get("client_id"); (id != "" && id != pr.ClientID) || (back != "" && id == "" && r.Form.Get("id_token_hint") == "") {
		http.Error(w, "bad end-session request", http.StatusBadRequest)
		return
	}
	pr.signedOut = true
	u, err := url.Parse(back)
	if back == "" || err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<h1>You have signed out of the test provider</h1>"))
		return
	}
	if st := r.Form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// sign makes a compact RS256 JWS.
func sign(key *rsa.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "test-key", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	msg := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return msg + "." + b64(sig)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Close stops the provider, as if it were away.
func (pr *Provider) Close() { pr.srv.Close() }
