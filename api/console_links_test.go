package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/metrics"
)

// linkEngine is the console harness's engine with a hand-off and a duplicate
// link on the cases it names, which the in-memory engine cannot make.
type linkEngine struct {
	*ladderEngine
	parent, child string
	now           time.Time
}

func (e *linkEngine) Get(ctx context.Context, ref string) (*cases.Case, error) {
	k, err := e.ladderEngine.Get(ctx, ref)
	if err != nil {
		return k, err
	}
	switch ref {
	case e.parent:
		kid, _ := e.ladderEngine.Get(ctx, e.child)
		k.Duplicates = []cases.Link{{Ref: e.child, At: e.now, By: "intake"}}
		lat, long := 51.53905, -0.14255 // a few metres away
		rep := kid.Report()
		rep.Location.Lat, rep.Location.Long = &lat, &long
		k.Reports = append(k.Reports, rep)
		k.Partner = "met-police"
		k.Handoff = &cases.Handoff{ID: "handoff-" + ref + "-3", Partner: "met-police", At: e.now, Delivered: e.now,
			Deadline: e.now.Add(48 * time.Hour), Answer: cases.PartnerAccepted, AnsweredAt: e.now, Note: "Crime ref 99"}
	case e.child:
		k.DuplicateOf = e.parent
		k.DuplicateLink = &cases.Link{Ref: e.parent, At: e.now, By: "intake"}
	}
	return k, nil
}

// dupRecorder stands in for the engine's merge, confirm and undo.
type dupRecorder struct {
	mu    sync.Mutex
	calls []string
	get   func(ctx context.Context, ref string) (*cases.Case, error)
}

func (d *dupRecorder) record(ctx context.Context, what, ref string) (*cases.Case, error) {
	d.mu.Lock()
	d.calls = append(d.calls, what+" "+ref)
	d.mu.Unlock()
	return d.get(ctx, ref)
}

func (d *dupRecorder) Merge(ctx context.Context, ref string, l cases.DuplicateLink, _ string) (*cases.Case, error) {
	return d.record(ctx, "merge "+l.Parent+" by "+l.Actor, ref)
}

func (d *dupRecorder) ConfirmDuplicate(ctx context.Context, ref string, l cases.DuplicateLink, _ string) (*cases.Case, error) {
	return d.record(ctx, "confirm by "+l.Actor, ref)
}

func (d *dupRecorder) Unlink(ctx context.Context, ref string, l cases.DuplicateLink, _ string) (*cases.Case, error) {
	return d.record(ctx, "undo by "+l.Actor, ref)
}

func TestConsolePartnerAndDuplicates(t *testing.T) {
	h := newConsoleHarness(t)
	parent := h.postReport(pothole("links-1"))
	child := h.postReport(pothole("links-2"))
	other := h.postReport(pothole("links-3"))
	eng := &linkEngine{ladderEngine: h.ladders, parent: parent, child: child, now: h.now}
	rec := &dupRecorder{get: eng.Get}
	srv := httptest.NewServer(NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{
		Cases: eng, ReadModel: h.store, Metrics: metrics.New(), Now: func() time.Time { return h.now },
		SessionSecret: []byte(testSecret), Areas: areas.Demo(), Redis: h.redis.Client(), Duplicates: rec,
	}))
	defer srv.Close()
	h.srv = srv

	sup := h.signIn(t, supervisorToken)
	wantPage(t, "parent", sup.get("/cases/"+parent), http.StatusOK,
		`id="partner"`, "Metropolitan Police", "Accepted: Crime ref 99", `id="partner-deadline"`,
		`id="duplicate-list"`, child, `<svg id="duplicate-map"`, "<circle")
	page := sup.get("/cases/" + child)
	wantPage(t, "child", page, http.StatusOK, `id="duplicate-of"`, parent, "not yet confirmed", `id="confirm-form"`, `id="undo-form"`, `<svg id="duplicate-map"`)
	if strings.Contains(string(page.body), `id="merge-form"`) {
		t.Error("a case already linked offers to merge it again")
	}
	wantPage(t, "unlinked case", sup.get("/cases/"+other), http.StatusOK, `id="merge-form"`)

	// The forms, with the page's token; without it nothing happens.
	if r := sup.post("/cases/"+child+"/duplicate/confirm", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("confirm without a form token: %d, want 403", r.status)
	}
	for _, f := range []struct {
		ref, action string
		fields      url.Values
	}{
		{child, "/duplicate/confirm", url.Values{}},
		{child, "/duplicate/undo", url.Values{"note": {"different pothole"}}},
		{other, "/merge", url.Values{"parent": {parent}}},
	} {
		if r := sup.form("/cases/"+f.ref, "/cases/"+f.ref+f.action, f.fields); r.status != http.StatusSeeOther {
			t.Errorf("%s %s: %d %.300s", f.ref, f.action, r.status, r.body)
		}
	}
	// A merge into a case that does not exist says so by the field.
	r := sup.form("/cases/"+other, "/cases/"+other+"/merge", url.Values{"parent": {"CB-ZZZZZZ"}})
	wantPage(t, "merge into nothing", r, http.StatusUnprocessableEntity, "no open case CB-ZZZZZZ", `aria-invalid="true"`)
	want := []string{"confirm by staff:sam " + child, "undo by staff:sam " + child, "merge " + parent + " by staff:sam " + other}
	if strings.Join(rec.calls, "|") != strings.Join(want, "|") {
		t.Errorf("engine got %q, want %q", rec.calls, want)
	}

	// An agent sees the links but not the forms, and cannot post them.
	agent := h.signIn(t, "agent-token")
	page = agent.get("/cases/" + child)
	wantPage(t, "agent's view", page, http.StatusOK, `id="duplicate-of"`)
	if strings.Contains(string(page.body), `id="confirm-form"`) || strings.Contains(string(agent.get("/cases/"+other).body), `id="merge-form"`) {
		t.Error("an agent is offered supervisors' forms")
	}
	if r := agent.form("/cases/"+child, "/cases/"+child+"/duplicate/undo", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("agent's undo: %d, want 403", r.status)
	}
}
