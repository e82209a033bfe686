package api

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A case page draws where the case is on the council's own areas, and the
// queue's cases can be seen on a map: SVG from the GeoJSON, no tiles.
func TestMaps(t *testing.T) {
	h := newConsoleHarness(t)
	camden := h.reportAt("1", "Blocked drain", "Camden High Street", "Ada", "Lovelace", "51.5390", "-0.1426")
	kentish := h.reportAt("2", "Lamp out", "Kentish Town Road", "Alan", "Turing", "51.55", "-0.13")
	away := h.reportAt("3", "Far away", "Elsewhere", "Grace", "Hopper", "52.2", "0.12") // Cambridge: off the map
	v := h.signIn(t, "agent-token")

	r := v.get("/cases/" + camden)
	wantPage(t, "the case page", r, http.StatusOK, `<svg id="case-map"`, `role="img"`, "In Camden Town.",
		`class="area area-hit" d="M`, `data-area="Camden Town"`, `data-ref="`+camden+`"`)
	if n := strings.Count(string(r.body), `class="area area-hit"`); n != 1 {
		t.Errorf("%d areas marked as the case's, want Camden Town alone", n)
	}
	if strings.Contains(string(r.body), "openstreetmap.org") || strings.Contains(string(r.body), "tile") {
		t.Error("the case page still reaches for a tile server")
	}
	// The point is drawn inside the drawing.
	m := regexp.MustCompile(`<svg id="case-map" viewBox="0 0 ([\d.]+) ([\d.]+)"[\s\S]*?<circle class="point here" cx="([\d.]+)" cy="([\d.]+)"`).FindStringSubmatch(string(r.body))
	if m == nil {
		t.Fatal("no point on the case's map")
	}
	wantPage(t, "a case outside the areas", v.get("/cases/"+away), http.StatusOK, "beyond the edge of the")

	r = v.get("/cases?family=open")
	wantPage(t, "the queue", r, http.StatusOK, `href="/cases/map?family=open`)
	r = v.get("/cases/map?family=open")
	wantPage(t, "the map of the queue", r, http.StatusOK, `<svg id="cases-map"`, "2 of the 3 cases matching the filters", "1 outside the council",
		`href="/cases/`+camden+`"`, `href="/cases/`+kentish+`"`)
	if strings.Contains(string(r.body), `href="/cases/`+away+`"`) {
		t.Error("a case off the map is drawn")
	}
	r = v.get("/cases/map?family=open&q=drain")
	wantPage(t, "the map of a search", r, http.StatusOK, "1 of the 1 case matching the filters")
	wantPage(t, "a map with a bad filter", v.get("/cases/map?q=the"), http.StatusUnprocessableEntity, "has no word to search for")
	h.now = h.now.Add(time.Minute)
}
