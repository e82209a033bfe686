package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/internal/browsertest"
	"github.com/casebridge/casebridge/rules"
)

// page drives one tab of the shared browser, failing the test on any error.
type page struct {
	t   *testing.T
	h   *consoleHarness
	ctx context.Context
}

// open signs in with token (none: stays signed out) in a tab with cookies of
// its own.
func (h *consoleHarness) open(t *testing.T, browser context.Context, token string) *page {
	t.Helper()
	p := &page{t: t, h: h, ctx: browsertest.Tab(t, browser, 30*time.Second)}
	if token != "" {
		p.navigate("/login", http.StatusOK)
		p.do(chromedp.Click("details.token-sign-in summary"), chromedp.SendKeys(chromedp.ID("token"), token))
		p.submit("#login-form button", http.StatusOK)
	}
	return p
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// navigate opens path and checks the status of the page it lands on.
func (p *page) navigate(path string, status int64) {
	p.t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(p.h.srv.URL+path))
	if err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != status {
		p.t.Fatalf("open %s: status %d, want %d", path, resp.Status, status)
	}
}

// submit clicks a button (or link) and waits for the page it leads to, with
// the status it must have.
func (p *page) submit(sel string, status int64) {
	p.t.Helper()
	resp, err := chromedp.RunResponse(p.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	if resp.Status != status {
		body, _ := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS("main")))
		p.t.Fatalf("click %s: status %d, want %d; the page says:\n%s", sel, resp.Status, status, body)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (p *page) value(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

func (p *page) eval(js string) bool {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return ok
}

// wait waits until a JavaScript condition holds. It asks again and again
// from here rather than polling in the page, because the page may reload
// while it waits, which ends anything running in it.
func (p *page) wait(what, js string) {
	p.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(p.ctx, chromedp.Location())
			p.t.Fatalf("waiting for %s: not so after 10 s (error: %v); the tab is at %s", what, err, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *page) wantText(sel string, texts ...string) {
	p.t.Helper()
	got := p.text(sel)
	for _, s := range texts {
		if !strings.Contains(got, s) {
			p.t.Errorf("%s says %q, want it to mention %q", sel, got, s)
		}
	}
}

func (h *consoleHarness) team(t *testing.T, ref string) string {
	t.Helper()
	k, err := h.engine.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return k.Team
}

func (h *consoleHarness) status(t *testing.T, ref string) cases.Status {
	t.Helper()
	k, err := h.engine.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return k.Status
}

// The console in a real browser: one Chromium, a tab per person.
func TestConsoleInBrowser(t *testing.T) {
	h := newConsoleHarness(t)
	browser := browsertest.Start(t)
	late := h.report("10", time.Hour) // due at 11:00, breached by noon
	h.now = h.now.Add(2 * time.Hour)
	ontime := h.report("11", 48*time.Hour)

	t.Run("an agent signs in, sees the queue and changes a case", func(t *testing.T) {
		p := h.open(t, browser, "agent-token")
		p.wantText(".who", "amy", "agent")
		p.wantText("#queue-count", "Showing 1–2 of 2 cases")
		p.wantText("#queue tbody tr:nth-child(1)", late, "Pothole", "Highways and transport", "Open", "Breached")
		p.wantText("#queue tbody tr:nth-child(2)", ontime, "On track")
		if p.eval(`!!document.querySelector('a[href="/notifications"]')`) {
			t.Error("an agent is offered the notifications page")
		}

		p.submit(`#queue a[href="/cases/`+ontime+`"]`, http.StatusOK)
		p.wantText("h1", ontime)
		p.wantText("main", "Jo Bloggs", "jo@example.org", "Is it dangerous to the public?", "Rule r1")
		p.do(chromedp.SetValue(chromedp.ID("status-to"), "in_progress"),
			chromedp.SendKeys(chromedp.ID("status-note"), "Crew booked for Tuesday"),
			chromedp.Click(chromedp.ID("status-public")))
		p.submit("#status-form button", http.StatusOK)
		p.wantText("#flash", "The status was changed.")
		p.wantText("#timeline li:first-child", "Status changed: Open → In progress", "Crew booked for Tuesday", "Public", "amy")
		p.wantText("#case-status", "In progress")
		if got := h.status(t, ontime); got != cases.StatusInProgress {
			t.Errorf("the engine has the case %s", got)
		}
	})

	t.Run("a form with a mistake says so and keeps what was typed", func(t *testing.T) {
		p := h.open(t, browser, "agent-token")
		p.navigate("/cases/"+ontime, http.StatusOK)
		long := strings.Repeat("x", cases.MaxNote+1)
		p.do(chromedp.SetValue(chromedp.ID("status-to"), "fixed"), chromedp.SetValue(chromedp.ID("status-note"), long))
		p.submit("#status-form button", http.StatusUnprocessableEntity)
		p.wantText("#status-form .form-error", fmt.Sprintf("The note is longer than %d characters.", cases.MaxNote))
		if got := p.value("#status-note"); got != long {
			t.Errorf("the note came back %d characters long, want %d", len(got), len(long))
		}
		if got := p.value("#status-to"); got != "fixed" {
			t.Errorf("the status chosen came back as %q", got)
		}
		if got := h.status(t, ontime); got != cases.StatusInProgress {
			t.Errorf("a refused change moved the case to %s", got)
		}

		// A closed case cannot wait on anyone: the move is refused with the reason.
		if _, err := h.engine.Transition(context.Background(), ontime, cases.Change{To: cases.StatusFixed, Actor: "staff:test"}, ""); err != nil {
			t.Fatal(err)
		}
		p.navigate("/cases/"+ontime, http.StatusOK)
		p.do(chromedp.SetValue(chromedp.ID("status-to"), "waiting_on_citizen"),
			chromedp.SendKeys(chromedp.ID("status-note"), "Asked for a photo"))
		p.submit("#status-form button", http.StatusConflict)
		p.wantText("#status-form .form-error", "That change is not allowed: a closed case must be reopened before it can wait on anyone.")
		if got := p.value("#status-note"); got != "Asked for a photo" {
			t.Errorf("the note came back as %q", got)
		}
		if got := p.value("#status-to"); got != "waiting_on_citizen" {
			t.Errorf("the status chosen came back as %q", got)
		}
		if got := h.status(t, ontime); got != cases.StatusFixed {
			t.Errorf("a refused change moved the case to %s", got)
		}
	})

	t.Run("only supervisors acknowledge escalations or read notifications", func(t *testing.T) {
		h.ladders.escalate(late, "breach")
		agent := h.open(t, browser, "agent-token")
		agent.navigate("/cases/"+late, http.StatusOK)
		agent.wantText("#escalations", "breach", "Not yet")
		if agent.eval(`!!document.querySelector("#escalations form")`) {
			t.Error("an agent is offered the Acknowledge button")
		}
		agent.navigate("/notifications", http.StatusForbidden)
		agent.wantText("h1", "You cannot use this page")
		agent.wantText("main", "supervisor")

		sup := h.open(t, browser, supervisorToken)
		sup.navigate("/cases/"+late, http.StatusOK)
		sup.do(chromedp.SendKeys(chromedp.ID("ack-note-1"), "Chasing the contractor"))
		sup.submit("#ack-1 button", http.StatusOK)
		sup.wantText("#flash", "The escalation was acknowledged.")
		sup.wantText("#escalations", "By sam", "Chasing the contractor")
	})

	t.Run("signing out ends the session", func(t *testing.T) {
		p := h.open(t, browser, "agent-token")
		p.submit(".who button", http.StatusOK)
		p.wantText("#flash", "You have signed out.")
		p.navigate("/cases", http.StatusOK) // the sign-in page, after a redirect
		if loc, _ := chromedp.Run(p.ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=%2Fcases") {
			t.Errorf("after signing out, /cases leads to %s", loc)
		}
		p.wantText("h1", "Sign in")
	})

	t.Run("a rules admin sees a mistake where it is, then publishes", func(t *testing.T) {
		p := h.open(t, browser, rulesToken)
		p.wantText("h1", "Routing rules")
		if got := p.value("#rules-text"); got != string(rules.DemoYAML()) {
			t.Errorf("the editor does not hold the active version")
		}
		good := graffitiToHighways(t)
		const graffiti = "then: {department: highways, team: signs-and-lines, priority: low, sla_policy: graffiti}"
		bad := strings.Replace(good, graffiti, strings.Replace(graffiti, "signs-and-lines", "signs-and-line", 1), 1)
		mistake := strings.Index(bad, "signs-and-line,")
		line := strings.Count(bad[:mistake], "\n") + 1
		p.do(chromedp.SetValue(chromedp.ID("rules-text"), bad))
		p.submit(`#rules-form button[value="validate"]`, http.StatusUnprocessableEntity)
		p.wantText("#rules-problems", fmt.Sprintf("Line %d, column", line), "rule graffiti",
			"the highways department has no team called 'signs-and-line'")
		if p.value("#rules-text") != bad {
			t.Error("the text with the mistake did not come back as typed")
		}
		// The line link selects that line in the editor.
		p.do(chromedp.Click(chromedp.CSS("#rules-problems a[data-line]")))
		if !p.eval(fmt.Sprintf(`(function (a) { return a === document.activeElement && a.selectionStart === %d })(document.getElementById("rules-text"))`, mistake)) {
			t.Errorf("the link did not select the mistake at offset %d", mistake)
		}

		p.do(chromedp.SetValue(chromedp.ID("rules-text"), good), chromedp.SendKeys(chromedp.ID("rules-comment"), "Graffiti goes to highways"))
		p.submit(`#rules-form button[value="publish"]`, http.StatusOK)
		p.wantText("#flash", "Version 2 was published")
		p.wantText("#active-version", "Version 2", "rita", "Graffiti goes to highways")
		p.wantText("#history li:first-child", "version 2 published by rita")
		v, err := h.rules.Active(context.Background(), rules.Routing)
		if err != nil || v.Number != 2 || v.YAML != good || v.Comment != "Graffiti goes to highways" {
			t.Errorf("active version %d by %s (%q): %v", v.Number, v.Author, v.Comment, err)
		}
	})

	t.Run("a link from another site reaches the case of someone signed in", func(t *testing.T) {
		// An email or another system links to a case: "localhost" is another
		// site than 127.0.0.1, so the session cookie (SameSite=Strict) is not
		// sent with the first request.
		mail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<a id="link" href="%s/cases/%s">Escalation: %s</a>`, h.srv.URL, late, late)
		}))
		defer mail.Close()
		_, port, _ := net.SplitHostPort(mail.Listener.Addr().String())
		p := h.open(t, browser, "agent-token")
		p.do(chromedp.Navigate("http://localhost:"+port+"/"), chromedp.Click(chromedp.ID("link")))
		p.wait("the case page", `location.pathname === "/cases/`+late+`" && !!document.getElementById("timeline")`)

		// Someone not signed in gets the sign-in form, and then the case.
		q := h.open(t, browser, "")
		q.do(chromedp.Navigate("http://localhost:"+port+"/"), chromedp.Click(chromedp.ID("link")))
		q.wait("the sign-in form", `!!document.getElementById("token")`)
		q.do(chromedp.Click("details.token-sign-in summary"), chromedp.SendKeys(chromedp.ID("token"), "agent-token"))
		q.submit("#login-form button", http.StatusOK)
		q.wantText("h1", late)
	})

	t.Run("pages hear of changes as they happen", func(t *testing.T) {
		queue := h.open(t, browser, "agent-token")
		queue.wait("the live stream", `document.body.dataset.liveState === "open"`)
		kase := h.open(t, browser, "agent-token")
		kase.navigate("/cases/"+late, http.StatusOK)
		kase.wait("the live stream", `document.body.dataset.liveState === "open"`)

		comment := func(ref, note string) {
			if _, err := h.engine.Comment(context.Background(), ref, cases.Comment{Note: note, Actor: "staff:someone-else"}, ""); err != nil {
				t.Fatal(err)
			}
		}
		comment(ontime, "Checked by the depot")
		queue.wait("the notice", `!document.getElementById("live-notice").hidden`)
		queue.wantText("#live-notice", "1 case changed.", "Refresh")
		comment(late, "Crew on site")
		queue.wait("the count", `document.getElementById("live-notice").textContent.includes("2 cases changed.")`)
		// The case page reloads itself with the change.
		kase.wait("the reload", `document.getElementById("timeline").textContent.includes("Crew on site")`)
		queue.submit("#live-notice a", http.StatusOK)
		if !queue.eval(`document.getElementById("live-notice").hidden`) {
			t.Error("the notice is still shown after refreshing")
		}
	})

	t.Run("the dashboard moves while reports arrive", func(t *testing.T) {
		p := h.open(t, browser, supervisorToken)
		p.navigate("/dashboard", http.StatusOK)
		p.wait("the live stream", `document.body.dataset.liveState === "open"`)
		before := p.text(`#overall [data-figure="open"]`)
		today := p.text(`#overall [data-figure="opened_today"]`)
		if !p.eval(`document.querySelectorAll("#chart rect.bar-opened").length === 30`) {
			t.Error("the chart does not have a bar for each of 30 days")
		}
		h.report("12", 48*time.Hour)
		p.wait("the open count to go up", `document.querySelector('#overall [data-figure="open"]').textContent !== `+strconv.Quote(before))
		if got := p.text(`#overall [data-figure="opened_today"]`); got == today {
			t.Errorf("opened today still says %s", got)
		}
		if loc, _ := chromedp.Run(p.ctx, chromedp.Location()); !strings.HasSuffix(loc, "/dashboard") {
			t.Errorf("the dashboard reloaded to %s rather than updating in place", loc)
		}
	})

	t.Run("an error summary at the top leads to the field", func(t *testing.T) {
		ref := h.report("13", 48*time.Hour)
		h.change(ref, "assignment", `{"assignee":"amy"}`)
		p := h.open(t, browser, "agent-token")
		p.navigate("/cases/"+ref, http.StatusOK)
		p.do(chromedp.SetValue(chromedp.ID("transfer-to"), "highways/drainage"))
		p.submit("#transfer-form button", http.StatusUnprocessableEntity)
		p.wantText("#error-summary", "There is a problem", "Choose whether amy stays assigned after the transfer.")
		if !p.eval(`document.activeElement === document.getElementById("error-summary")`) {
			t.Error("the page does not start at the error summary")
		}
		p.do(chromedp.Click(chromedp.CSS("#error-summary a")))
		p.wait("the field to have focus", `document.activeElement === document.getElementById("transfer-assignee-keep")`)
		p.do(chromedp.Click(chromedp.ID("transfer-assignee-keep")))
		p.submit("#transfer-form button", http.StatusOK)
		p.wantText("#case-assignee", "amy")
		p.wantText("#timeline li:first-child", "still assigned to amy")
	})

	t.Run("a bulk form's mistake shows on the queue, summarised at the top, without JavaScript", func(t *testing.T) {
		ref := h.report("20", 48*time.Hour)
		p := h.open(t, browser, "agent-token")
		p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		p.navigate("/cases?family=open&sort=received&order=desc", http.StatusOK)
		p.do(chromedp.Click(chromedp.CSS("#bulk summary")), chromedp.Click(chromedp.ID("select-"+ref)),
			chromedp.SetValue(chromedp.ID("bulk-action-select"), "transfer"), chromedp.SetValue(chromedp.ID("bulk-to"), "highways/drainage"))
		p.submit("#bulk-form button[type=submit]", http.StatusUnprocessableEntity)
		p.wantText("#error-summary", "There is a problem", "Nothing was changed.", "Choose whether the cases' assignees stay assigned after the transfer.")
		p.wantText("h1", "Work queue")
		if p.eval(`document.activeElement === document.getElementById("error-summary")`) {
			t.Fatal("the console's script moved the focus: this is meant to be the page without JavaScript")
		}
		if !p.eval(`document.getElementById("error-summary").getBoundingClientRect().top < document.querySelector("h1").getBoundingClientRect().top`) {
			t.Error("the error summary is not at the top of the queue")
		}
		if !p.eval(`!!document.querySelector("#queue") && document.getElementById("bulk").open`) {
			t.Error("the queue with its bulk form open is not shown again")
		}
		if !p.eval(`document.getElementById("select-` + ref + `").checked`) {
			t.Errorf("%s is no longer ticked", ref)
		}
		if got := p.value("#bulk-to"); got != "highways/drainage" {
			t.Errorf("the transfer's destination came back as %q", got)
		}
		if !p.eval(`document.getElementById("bulk-keep").classList.contains("field-invalid")`) {
			t.Error("the field at fault is not marked")
		}
		p.do(chromedp.Click(chromedp.CSS("#error-summary a")))
		if loc, _ := chromedp.Run(p.ctx, chromedp.Location()); !strings.HasSuffix(loc, "#bulk-keep-keep") {
			t.Errorf("the summary's link leads to %s, not the field", loc)
		}
		if got := h.team(t, ref); got == "drainage" {
			t.Fatal("the refused bulk change was made")
		}
		p.do(chromedp.Click(chromedp.ID("bulk-keep-keep")))
		p.submit("#bulk-form button[type=submit]", http.StatusOK)
		p.wantText("h1", "Transfer: 1 of 1 case changed")
		if got := h.team(t, ref); got != "drainage" {
			t.Errorf("%s is with team %q after the bulk transfer", ref, got)
		}
	})
}
