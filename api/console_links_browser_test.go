package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/internal/browsertest"
	"github.com/casebridge/casebridge/metrics"
)

// The partner panel and the duplicates in a real browser: a supervisor sees
// both, with the map, and confirms, undoes and merges; an agent sees them
// without the forms.
func TestConsoleLinksInBrowser(t *testing.T) {
	h := newConsoleHarness(t)
	parent := h.postReport(pothole("links-b1"))
	child := h.postReport(pothole("links-b2"))
	other := h.postReport(pothole("links-b3"))
	eng := &linkEngine{ladderEngine: h.ladders, parent: parent, child: child, now: h.now}
	rec := &dupRecorder{get: eng.Get}
	h.srv.Close()
	h.srv = httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{
		Cases: eng, ReadModel: h.store, Metrics: metrics.New(), Now: func() time.Time { return h.now },
		SessionSecret: []byte(testSecret), Areas: areas.Demo(), Redis: h.redis.Client(), Duplicates: rec,
	}))
	browser := browsertest.Start(t)

	p := h.open(t, browser, supervisorToken)
	p.navigate("/cases/"+parent, http.StatusOK)
	p.wantText("#partner", "Metropolitan Police", "Accepted", "Crime ref 99", "Deadline")
	p.wantText("#duplicate-list", child)
	if !p.eval(`document.querySelectorAll('#duplicate-map circle').length === 2`) {
		t.Error("the parent's map does not show the parent and its duplicate")
	}

	p.navigate("/cases/"+child, http.StatusOK)
	p.wantText("#duplicate-of", parent, "not yet confirmed")
	p.submit("#confirm-form button", http.StatusOK)
	p.wantText("#flash", "The duplicate was confirmed.")
	p.do(chromedp.SendKeys(chromedp.ID("undo-note"), "a different hole"))
	p.submit("#undo-form button", http.StatusOK)
	p.wantText("#flash", "The case is its own again.")

	p.navigate("/cases/"+other, http.StatusOK)
	p.do(chromedp.Click(chromedp.CSS("#merge summary")), chromedp.SendKeys(chromedp.ID("merge-parent"), "CB-ZZZZZZ"))
	p.submit("#merge-form button", http.StatusUnprocessableEntity)
	p.wantText("main", "no open case CB-ZZZZZZ")
	p.do(chromedp.SetValue(chromedp.ID("merge-parent"), parent))
	p.submit("#merge-form button", http.StatusOK)
	p.wantText("#flash", "The case was merged into its parent.")
	if len(rec.calls) != 3 {
		t.Errorf("the engine got %q, want confirm, undo and merge", rec.calls)
	}

	a := h.open(t, browser, "agent-token")
	a.navigate("/cases/"+child, http.StatusOK)
	a.wantText("#duplicate-of", parent)
	if a.eval(`!!document.querySelector('#confirm-form, #undo-form')`) {
		t.Error("an agent is offered a supervisor's forms")
	}
}
