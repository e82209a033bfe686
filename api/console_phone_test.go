package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/casebridge/casebridge/internal/browsertest"
	"github.com/casebridge/casebridge/notify"
)

// noSideways fails the test if the page, or any of its tables, scrolls
// sideways, naming the widest culprits.
func (p *page) noSideways(what string) {
	p.t.Helper()
	js := `(function () {
  var de = document.documentElement, out = [];
  if (de.scrollWidth > de.clientWidth) out.push("the page is " + de.scrollWidth + " px wide in " + de.clientWidth);
  document.querySelectorAll("main *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > de.clientWidth + 1 && getComputedStyle(el).position !== "absolute") {
      out.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " ends at " + Math.round(r.right));
    }
    if (el.scrollWidth > el.clientWidth + 1 && /auto|scroll/.test(getComputedStyle(el).overflowX)) {
      out.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " scrolls sideways");
    }
  });
  return out.slice(0, 8).join("; ");
})()`
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatal(err)
	}
	if got != "" {
		p.t.Errorf("%s at 390 px: %s", what, got)
	}
}

// onScreen says whether every element sel matches lies within the screen's
// width (the key columns: SLA, due, breached, delivery, Acknowledge).
func (p *page) onScreen(sel string) {
	p.t.Helper()
	ok := p.eval(fmt.Sprintf(`(function () {
  var els = document.querySelectorAll(%q);
  if (!els.length) return false;
  for (var i = 0; i < els.length; i++) {
    var r = els[i].getBoundingClientRect();
    if (r.left < 0 || r.right > document.documentElement.clientWidth) return false;
  }
  return true;
})()`, sel))
	if !ok {
		p.t.Errorf("%s is missing or off the side of a 390 px screen", sel)
	}
}

// The console on a phone: 390 × 844, every page without sideways
// scrolling, the key columns on screen, every case action a thumb away.
func TestConsoleOnAPhone(t *testing.T) {
	h := newConsoleHarness(t)
	browser := browsertest.Start(t)
	late := h.report("10", time.Hour)
	h.now = h.now.Add(2 * time.Hour)
	h.report("11", 48*time.Hour)
	h.change(late, "assignment", `{"assignee":"a-person-with-a-very-long-queue-name-indeed@council.example.gov.uk"}`)
	h.ladders.escalate(late, "breach")
	d := notify.NewDispatcher(h.cfg, h.outbox, func(string) string { return "" }, nil)
	if _, err := d.Deliver(context.Background(), notify.Notice{Key: late + ":1:team_lead", Ref: late, Recipient: "team_lead",
		Department: "highways", Team: "roads-north", Level: "breach", Category: "Pothole", At: h.now}); err != nil {
		t.Fatal(err)
	}

	p := h.open(t, browser, supervisorToken)
	p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch))
	for _, tc := range []struct{ path, key string }{
		{"/cases", "#queue tbody tr:first-child td[data-label=SLA], #queue tbody tr:first-child td[data-label=Due]"},
		{"/cases/" + late, "#escalations td[data-label=Acknowledged] button, #case-map"},
		{"/cases/map?family=open", "#cases-map"},
		{"/board", "#standing td[data-label=Breached], #standing td[data-label=Paused]"},
		{"/dashboard", "#chart"},
		{"/notifications", "#notices td[data-label=Delivery]"},
	} {
		p.navigate(tc.path, http.StatusOK)
		p.noSideways(tc.path)
		p.onScreen(tc.key)
	}

	// Every action of the case page is one tap away from the foot of the screen.
	p.navigate("/cases/"+late, http.StatusOK)
	if !p.eval(`(function () {
  var bar = document.getElementById("case-jump").getBoundingClientRect();
  return bar.bottom <= window.innerHeight + 1 && bar.top >= window.innerHeight - 140;
})()`) {
		t.Error("the actions bar is not at the foot of the screen")
	}
	p.do(chromedp.Click(chromedp.CSS(`#case-jump a[href="#h-status"]`)))
	p.wait("the status form on screen", `(function () { var r = document.getElementById("status-form").getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight; })()`)
	p.do(chromedp.SetValue(chromedp.ID("status-to"), "in_progress"), chromedp.SendKeys(chromedp.ID("status-note"), "On it"))
	p.submit("#status-form button", http.StatusOK)
	p.wantText("#flash", "The status was changed.")
	p.noSideways("the case page after a change")

	// Checkboxes and radios are big enough to hit with a thumb.
	if !p.eval(`(function () { var r = document.getElementById("status-public").getBoundingClientRect(); return r.width >= 32 && r.height >= 32; })()`) {
		t.Error("the Tell the citizen box is smaller than 32 px")
	}
	// A form's mistake is summarised at the top, on a phone too.
	p.do(chromedp.SetValue(chromedp.ID("note-text"), " "))
	p.submit("#note-form button", http.StatusUnprocessableEntity)
	if !p.eval(`document.getElementById("error-summary").getBoundingClientRect().top < 400`) {
		t.Error("the error summary is not near the top of the page")
	}
	p.noSideways("the case page with a mistake")
}
