package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Tabs of one browser each keep their own cookies, so a test can sign in as
// two people at once.
func TestTabsKeepTheirOwnCookies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("set"); v != "" {
			http.SetCookie(w, &http.Cookie{Name: "who", Value: v})
		}
		who := "nobody"
		if c, err := r.Cookie("who"); err == nil {
			who = c.Value
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<title>" + who + "</title>"))
	}))
	defer srv.Close()

	browser := Start(t)
	a, b := Tab(t, browser, 20*time.Second), Tab(t, browser, 20*time.Second)
	if err := chromedp.Do(a, chromedp.Navigate(srv.URL+"/?set=amy"), chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	if got, err := chromedp.Run(a, chromedp.Title()); err != nil || got != "amy" {
		t.Errorf("tab a sees cookie %q (%v), want amy", got, err)
	}
	if got, err := chromedp.Run(b, chromedp.Title()); err != nil || got != "nobody" {
		t.Errorf("tab b sees cookie %q (%v), want none", got, err)
	}
}
