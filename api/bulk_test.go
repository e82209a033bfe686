package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

func countKind(tl []cases.Entry, k cases.Kind) int {
	n := 0
	for _, e := range tl {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// Bulk changes over the JSON API: each case changed or refused with why, and
// a retry with the same key changes nothing twice.
func TestBulkAPI(t *testing.T) {
	h := newConsoleHarness(t)
	var refs []string
	for _, id := range []string{"1", "2", "3", "4"} {
		refs = append(refs, h.report(id, 48*time.Hour))
	}
	h.change(refs[3], "transitions", `{"status":"fixed"}`) // a closed case cannot be transferred
	post := func(key, body string) (int, bulkSummary, string) {
		t.Helper()
		r := h.do("POST", "/api/v1/cases/bulk", strings.NewReader(body), "application/json", "Authorization", "Bearer agent-token", "Idempotency-Key", key)
		var s bulkSummary
		if r.status == http.StatusOK {
			if err := json.Unmarshal(r.body, &s); err != nil {
				t.Fatal(err)
			}
		}
		return r.status, s, string(r.body)
	}
	body := `{"action":"transfer","department":"highways","team":"drainage","refs":["` + strings.Join(refs, `","`) + `"]}`
	status, sum, raw := post("bulk-1", body)
	if status != http.StatusOK || sum.Changed != 3 || sum.Refused != 1 || len(sum.Results) != 4 {
		t.Fatalf("bulk transfer: %d %s", status, raw)
	}
	if r := sum.Results[3]; r.Ref != refs[3] || r.Outcome != "refused" || !strings.Contains(r.Reason, "closed") {
		t.Errorf("the closed case: %+v", r)
	}
	status, again, raw := post("bulk-1", body)
	if status != http.StatusOK || again.Changed != 3 {
		t.Fatalf("the retry: %d %s", status, raw)
	}
	for _, ref := range refs[:3] {
		k, _ := h.engine.Get(t.Context(), ref)
		if k.Team != "drainage" || countKind(k.Timeline, cases.KindTransferred) != 1 {
			t.Errorf("%s: team %q, %d transfers after a bulk transfer and its retry", ref, k.Team, countKind(k.Timeline, cases.KindTransferred))
		}
	}

	// A filter: every open case in highways, assigned at once.
	status, sum, raw = post("bulk-2", `{"action":"assign","assignee":"amy","filter":"family=open&department=highways"}`)
	if status != http.StatusOK || sum.Changed != 3 || len(sum.Results) != 3 {
		t.Fatalf("bulk assign by filter: %d %s", status, raw)
	}
	if got, _ := h.listRefs(t, "agent-token", "assigned_to_me=true"); len(got) != 3 {
		t.Errorf("amy has %v", got)
	}

	for body, field := range map[string]string{
		`{"action":"paint","refs":["` + refs[0] + `"]}`:                             "action",
		`{"action":"status","status":"purple","refs":["` + refs[0] + `"]}`:          "status",
		`{"action":"transfer","department":"libraries","refs":["` + refs[0] + `"]}`: "department",
		`{"action":"assign","assignee":"x"}`:                                        "refs",
		`{"action":"assign","assignee":"x","refs":["nope"]}`:                        "refs",
		`{"action":"assign","assignee":"x","filter":"q=the"}`:                       "filter",
	} {
		if status, _, raw := post("", body); status != http.StatusUnprocessableEntity || !strings.Contains(raw, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s, want 422 naming %s", body, status, raw, field)
		}
	}
}

// Bulk changes in the console: tick cases, choose the change, read what
// became of each; sending the same form again changes nothing twice.
func TestBulkConsole(t *testing.T) {
	h := newConsoleHarness(t)
	a, b, c := h.report("1", 48*time.Hour), h.report("2", 48*time.Hour), h.report("3", 48*time.Hour)
	h.change(c, "transitions", `{"status":"fixed"}`)
	v := h.signIn(t, "agent-token")
	page := v.get("/cases?family=all")
	wantPage(t, "the queue", page, http.StatusOK, `id="bulk-form"`, `form="bulk-form"`, "All 3 cases matching these filters")
	reqID := regexp.MustCompile(`id="bulk-form"[\s\S]*?name="request_id" value="([^"]+)"`).FindSubmatch(page.body)
	if reqID == nil {
		t.Fatal("no request id in the bulk form")
	}
	form := url.Values{"request_id": {string(reqID[1])}, "filter": {"family=all"}, "scope": {"selected"}, "ref": {a, b, c},
		"action": {"status"}, "status": {"waiting_on_citizen"}, "note": {"Asked for photos"}}
	for range 2 { // the second time is a retry: nothing more is done
		r := v.form("/cases?family=all", "/cases/bulk", form)
		wantPage(t, "the summary", r, http.StatusOK, "Change status: 2 of 3 cases changed", "1 refused", c, "reopened")
	}
	for _, ref := range []string{a, b} {
		tl := h.timeline(t, ref)
		if n := countKind(tl, cases.KindStatus); n != 1 || tl[len(tl)-1].Public {
			t.Errorf("%s: %d status changes, last public %t", ref, n, tl[len(tl)-1].Public)
		}
	}

	// A transfer must say what happens to the assignees.
	form = url.Values{"request_id": {"x2"}, "filter": {"family=open"}, "scope": {"filter"}, "action": {"transfer"}, "to": {"highways/drainage"}}
	r := v.form("/cases", "/cases/bulk", form)
	wantPage(t, "a transfer without saying", r, http.StatusUnprocessableEntity, "There is a problem", `href="#bulk-keep-keep"`, "Nothing was changed",
		`id="queue"`, `value="highways/drainage" selected`, `value="filter" checked`)
	form.Set("keep", "keep")
	r = v.form("/cases", "/cases/bulk", form)
	wantPage(t, "a bulk transfer of the filter", r, http.StatusOK, "Transfer: 2 of 2 cases changed")
	if k, _ := h.engine.Get(t.Context(), a); k.Team != "drainage" {
		t.Errorf("%s is with %q", a, k.Team)
	}
	r = v.form("/cases", "/cases/bulk", url.Values{"request_id": {"x3"}, "filter": {"family=open"}, "scope": {"selected"}, "action": {"assign"}, "assignee": {"amy"}})
	wantPage(t, "nothing ticked", r, http.StatusUnprocessableEntity, "Tick the cases to change")
}
