package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/casebridge/casebridge/internal/browsertest"
	"github.com/casebridge/casebridge/internal/oidctest"
)

// Signing in and out in a real browser, on a laptop's screen and a phone's:
// with a password; signing out, after which the old cookie opens nothing;
// wrong passwords until the account is locked out, which the page says with
// when to try again; and through the council's identity provider (the
// test's own), signing out of which signs out there too.
func TestSignInInBrowser(t *testing.T) {
	h, provider := newOIDCHarness(t)
	browser := browsertest.Start(t)
	admin := h.signIn(t, testToken)
	for _, screen := range []struct {
		name          string
		width, height int64
		phone         bool
	}{
		{"laptop", 1366, 768, false},
		{"phone", 390, 844, true},
	} {
		login := "ana." + screen.name
		h.newAccount(t, admin, url.Values{"login": {login}, "name": {"Ana " + screen.name}, "roles": {"agent"}, "password": {samPassword}})
		h.newAccount(t, admin, url.Values{"login": {"locked." + screen.name}, "name": {"Lee"}, "roles": {"agent"}, "password": {samPassword}})
		open := func(t *testing.T) *page {
			p := &page{t: t, h: h, ctx: browsertest.Tab(t, browser, 30*time.Second)}
			opts := []chromedp.EmulateViewportOption{}
			if screen.phone {
				opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)
			}
			p.do(chromedp.EmulateViewport(screen.width, screen.height, opts...))
			return p
		}
		signIn := func(p *page, login, password string, status int64) {
			p.t.Helper()
			p.navigate("/login", http.StatusOK)
			p.do(chromedp.SendKeys(chromedp.ID("login"), login), chromedp.SendKeys(chromedp.ID("password"), password))
			p.submit("#password-form button", status)
		}

		t.Run(screen.name+": a password, then signing out ends the session", func(t *testing.T) {
			p := open(t)
			signIn(p, login, samPassword, http.StatusOK)
			p.wantText(".who", login, "agent")
			p.wantText("h1", "Work queue")
			if screen.phone {
				p.noSideways("the work queue after signing in")
			}
			got, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{})
			if err != nil {
				t.Fatal(err)
			}
			var old *network.Cookie
			for _, c := range got.Cookies {
				if c.Name == sessionCookie {
					old = c
				}
			}
			if old == nil || !old.HTTPOnly || old.SameSite != network.CookieSameSiteStrict {
				t.Fatalf("the session cookie: %+v", old)
			}
			// The cookie, copied into another browser, opens the console...
			q := open(t)
			httpOnly := true
			if _, err := chromedp.Call(q.ctx, network.SetCookie, network.SetCookieParams{Name: old.Name, Value: old.Value,
				Domain: old.Domain, Path: old.Path, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
				t.Fatal(err)
			}
			q.navigate("/cases", http.StatusOK)
			q.wantText("h1", "Work queue")
			// ...until its holder signs out: then it opens nothing.
			p.submit(`form[action="/logout"] button`, http.StatusOK)
			p.wantText("#flash", "You have signed out.")
			if _, err := chromedp.Call(q.ctx, network.SetCookie, network.SetCookieParams{Name: old.Name, Value: old.Value,
				Domain: old.Domain, Path: old.Path, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteStrict}); err != nil {
				t.Fatal(err)
			}
			q.navigate("/cases", http.StatusOK)
			loc, err := chromedp.Run(q.ctx, chromedp.Location())
			if err != nil || !strings.Contains(loc, "/login?next=") {
				t.Errorf("the old cookie replayed opens %s (%v), want the sign-in page", loc, err)
			}
			q.wantText("h1", "Sign in")
		})

		t.Run(screen.name+": wrong passwords until locked out", func(t *testing.T) {
			p := open(t)
			for i := 1; i < 5; i++ {
				signIn(p, "locked."+screen.name, "not the password at all", http.StatusUnauthorized)
				p.wantText("#login-error", "do not match an account")
			}
			signIn(p, "locked."+screen.name, "not the password at all", http.StatusTooManyRequests)
			p.wantText("#login-error", "Too many failed sign-ins. Wait 30 seconds, then try again.")
			signIn(p, "locked."+screen.name, samPassword, http.StatusTooManyRequests)
			p.wantText("#login-error", "Too many failed sign-ins. Wait")
			if screen.phone {
				p.noSideways("the lockout message")
				p.onScreen("#login-error")
			}
		})

		t.Run(screen.name+": through the council's identity provider", func(t *testing.T) {
			provider.SignIn(oidctest.Person{Subject: "sso-" + screen.name, Login: "sso." + screen.name + "@council.example",
				Name: "Sol " + screen.name, Groups: []string{"g-highways-supervisors"}})
			p := open(t)
			p.navigate("/login?next=/board", http.StatusOK)
			p.wantText("#sso-sign-in", "Sign in with Council account")
			if screen.phone {
				p.onScreen("#sso-sign-in")
			}
			p.submit("#sso-sign-in", http.StatusOK)
			p.wantText(".who", "sso."+screen.name+"@council.example", "supervisor")
			p.wantText("h1", "SLA board")
			// Signing out goes on to the provider, which ends its session and
			// sends the browser back to sign in; the button then leads to the
			// provider's own sign-in, not straight back in as Sol.
			p.submit(`form[action="/logout"] button`, http.StatusOK)
			p.wantText("h1", "Sign in")
			if loc, err := chromedp.Run(p.ctx, chromedp.Location()); err != nil || loc != h.srv.URL+"/login" {
				t.Errorf("after signing out the browser is at %s (%v), want the sign-in page", loc, err)
			}
			p.submit("#sso-sign-in", http.StatusOK)
			p.wantText("h1", "Sign in to the test provider")
		})
	}
}
