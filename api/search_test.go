package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// report posts a report as FixMyStreet would, with its own words and place.
func (h *consoleHarness) reportAt(fmsID, description, address, first, last, lat, long string) string {
	h.t.Helper()
	v := pothole(fmsID)
	v.Set("description", description)
	v.Set("address_string", address)
	v.Set("first_name", first)
	v.Set("last_name", last)
	v.Set("lat", lat)
	v.Set("long", long)
	h.targets[fmsID] = 48 * time.Hour
	return h.postReport(v)
}

func (h *consoleHarness) listRefs(t *testing.T, token, query string) ([]string, int64) {
	t.Helper()
	r := h.staff("GET", "/api/v1/cases?"+query, "", token)
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/cases?%s: %d %s", query, r.status, r.body)
	}
	var p struct {
		Cases []struct{ Ref string }
		Total int64
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range p.Cases {
		out = append(out, c.Ref)
	}
	slices.Sort(out)
	return out, p.Total
}

// Staff find cases by words of the reference, description, address and
// reporter's name, by area, source and assignee, with page numbers; the
// reporter's name is never in a public answer.
func TestSearchAndFilters(t *testing.T) {
	h := newConsoleHarness(t)
	mill := h.reportAt("1", "Blocked drain outside the café", "12 Mill Lane", "Ada", "Lovelace", "51.55", "-0.13") // Kentish Town
	pot := h.reportAt("2", "Deep hole by the bus stop", "", "Jo", "Bloggs", "51.5390", "-0.1426")                  // Camden Town
	lamp := h.reportAt("3", "Flickering lamp", "4 High Street", "Grace", "Hopper", "51.55", "-0.16")               // Gospel Oak
	h.change(lamp, "assignment", `{"assignee":"amy"}`)

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"q=mill", []string{mill}},
		{"q=LOVELACE", []string{mill}},
		{"q=cafe+drain", []string{mill}},
		{"q=high+street", []string{lamp}},
		{"q=" + url.QueryEscape(strings.ToLower(pot)), []string{pot}},
		{"q=hole&family=open", []string{pot}},
		{"q=mill+hole", nil},
		{"area=" + url.QueryEscape("Camden Town"), []string{pot}},
		{"area=" + url.QueryEscape("Kentish Town") + "&q=drain", []string{mill}},
		{"source=fixmystreet&q=lamp", []string{lamp}},
		{"source=phone", nil},
		{"assignee=AMY", []string{lamp}},
		{"assigned_to_me=true", []string{lamp}},
		{"escalation=any", nil},
	} {
		got, total := h.listRefs(t, "agent-token", tc.query)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) || total != int64(len(want)) {
			t.Errorf("GET /api/v1/cases?%s = %v (total %d), want %v", tc.query, got, total, want)
		}
	}
	if got, _ := h.listRefs(t, supervisorToken, "assigned_to_me=true"); got != nil {
		t.Errorf("sam's own cases: %v", got)
	}

	// Page numbers.
	var pages []string
	for n := 1; n <= 3; n++ {
		got, total := h.listRefs(t, "agent-token", fmt.Sprintf("limit=1&page=%d", n))
		if total != 3 || len(got) != 1 {
			t.Fatalf("page %d: %v of %d", n, got, total)
		}
		pages = append(pages, got[0])
	}
	slices.Sort(pages)
	all := []string{mill, pot, lamp}
	slices.Sort(all)
	if !slices.Equal(pages, all) {
		t.Errorf("three pages of one: %v", pages)
	}

	for query, field := range map[string]string{
		"q=the+of": "q", "source=pigeon": "source", "page=0": "page", "page=2&cursor=x": "page", "assigned_to_me=maybe": "assigned_to_me",
		"q=" + strings.Repeat("x", 200): "q",
	} {
		r := h.staff("GET", "/api/v1/cases?"+query, "", "agent-token")
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"field":"`+field+`"`) {
			t.Errorf("GET /api/v1/cases?%.40s: %d %s, want 422 naming %s", query, r.status, r.body, field)
		}
	}

	// Search is for staff: the reporter's name is in no public answer.
	if r := h.staff("GET", "/api/v1/cases?q=lovelace", "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("an anonymous search: %d", r.status)
	}
	for _, path := range []string{"/open311/v2/requests.json", "/open311/v2/requests/" + mill + ".json", "/api/v1/cases?q=lovelace"} {
		r := h.get(path)
		if strings.Contains(string(r.body), "Lovelace") {
			t.Errorf("GET %s gives the reporter's name: %s", path, r.body)
		}
	}

	// The console's queue searches and filters the same way.
	v := h.signIn(t, "agent-token")
	r := v.get("/cases?q=mill")
	wantPage(t, "a search in the queue", r, http.StatusOK, mill, "Showing 1–1 of 1 case", `value="mill"`)
	if strings.Contains(string(r.body), pot) {
		t.Error("the queue's search shows a case without the word")
	}
	wantPage(t, "assigned to me", v.get("/cases?mine=1"), http.StatusOK, lamp, "Showing 1–1 of 1 case")
	wantPage(t, "an area", v.get("/cases?area="+url.QueryEscape("Camden Town")), http.StatusOK, pot, "Showing 1–1 of 1 case", `<option value="Gospel Oak">`)
	r = v.get("/cases?q=the")
	wantPage(t, "a search for nothing", r, http.StatusUnprocessableEntity, "There is a problem with the filters", "has no word to search for")
}

// The queue numbers its pages.
func TestQueuePageNumbers(t *testing.T) {
	h := newConsoleHarness(t)
	for i := range 60 {
		h.report(fmt.Sprint(100+i), 48*time.Hour)
	}
	v := h.signIn(t, "agent-token")
	r := v.get("/cases?page=2")
	wantPage(t, "page 2 of 3", r, http.StatusOK, "Showing 26–50 of 60 cases", `aria-current="page" aria-label="Page 2">2<`,
		`aria-label="Page 1">1<`, `aria-label="Page 3">3<`, `rel="prev"`, `rel="next"`)
	r = v.get("/cases?page=3")
	wantPage(t, "the last page", r, http.StatusOK, "Showing 51–60 of 60 cases")
	if strings.Contains(string(r.body), `rel="next"`) {
		t.Error("the last page links to a next one")
	}
}

// TestPageLinksPastTheCount: a total that is a floor (counting stopped at
// readmodel.CountLimit) numbers the pages past it instead of stopping at the
// last page counted, and a gap after them says more follow.
func TestPageLinksPastTheCount(t *testing.T) {
	numbers := func(links []pageLink) string {
		var b strings.Builder
		for _, l := range links {
			switch {
			case l.Gap:
				b.WriteString("… ")
			case l.Current:
				fmt.Fprintf(&b, "[%d] ", l.N)
			default:
				fmt.Fprintf(&b, "%d ", l.N)
			}
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		page    int
		total   int64
		atLeast bool
		want    string
	}{
		{page: 1, total: 60, want: "[1] 2 3"},
		{page: 1, total: 2000, want: "[1] 2 3 … 80"},
		{page: 1, total: 2000, atLeast: true, want: "[1] 2 3 … 80 …"},
		{page: 80, total: 2000, atLeast: true, want: "1 … 78 79 [80] 81 82 …"},
		{page: 81, total: 2000, atLeast: true, want: "1 … 79 80 [81] 82 83 …"},
		{page: maxPage, total: 2000, atLeast: true, want: fmt.Sprintf("1 … %d %d [%d]", maxPage-2, maxPage-1, maxPage)},
	} {
		got := numbers(pageLinks(queueFilters{Page: tc.page}, tc.total, tc.atLeast))
		if got != tc.want {
			t.Errorf("page %d of %d (at least %v) = %q, want %q", tc.page, tc.total, tc.atLeast, got, tc.want)
		}
	}
}
