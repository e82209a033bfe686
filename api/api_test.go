package api

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/caseflow/caseflowtest"
	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/metrics"
	"github.com/casebridge/casebridge/partners"
	"github.com/casebridge/casebridge/readmodel"
	"github.com/casebridge/casebridge/rules"
)

const (
	testKey   = "CHANGE-ME-open311-api-key-0000" // the demo config's placeholder key
	testToken = "change-me"                      // the demo config's placeholder admin token
	// metricsToken is Prometheus's: the metrics role only.
	metricsToken = "metrics-token-for-tests-0123456789"
)

type harness struct {
	t      *testing.T
	srv    *httptest.Server
	engine *caseflowtest.Engine
	redis  *redistest.Server
	store  *readmodel.Store
	cfg    *config.Config
	now    time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	rs := redistest.Start(t)
	cfg := config.Demo()
	cfg.Services = append(cfg.Services, config.Service{Code: "BATCH", Name: "Batch service", Group: "Test", Type: "batch"})
	agentOnly := config.Token{Name: "amy", SHA256: config.HashToken("agent-token"), Roles: []string{config.RoleAgent}}
	rulesOnly := config.Token{Name: "rita", SHA256: config.HashToken("rules-token"), Roles: []string{config.RoleRulesAdmin}}
	prometheus := config.Token{Name: "prometheus", SHA256: config.HashToken(metricsToken), Roles: []string{config.RoleMetrics}}
	cfg.Staff.Tokens = append(cfg.Staff.Tokens, agentOnly, rulesOnly, prometheus)
	h := &harness{t: t, cfg: cfg, now: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), redis: rs}
	h.store = readmodel.New(rs.Client(), "cb:")
	h.engine = caseflowtest.New(cfg.Council.RefPrefix, cases.Decision{RuleSet: "routing", Version: 1, RuleID: "r1", Department: "highways", Priority: cases.PriorityHigh})
	h.engine.Now = func() time.Time { return h.now }
	h.engine.Project = func(ctx context.Context, c *cases.Case) error { _, err := h.store.Project(ctx, c); return err }
	m := metrics.New()
	m.CasesByStatus(func(ctx context.Context) (map[string]int64, error) {
		byStatus, err := h.store.CountByStatus(ctx)
		out := map[string]int64{}
		for s, n := range byStatus {
			out[string(s)] = n
		}
		return out, err
	})
	s := NewServer(slog.New(slog.DiscardHandler), cfg, Deps{
		Cases: h.engine, ReadModel: h.store, Metrics: m,
		Ready: []Check{{Name: "redis", Check: h.store.Ping}},
		Now:   func() time.Time { return h.now },
		Redis: rs.Client(),
	})
	h.srv = httptest.NewServer(s)
	t.Cleanup(h.srv.Close)
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *harness) do(method, path string, body io.Reader, contentType string, header ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) get(path string, header ...string) response {
	return h.do(http.MethodGet, path, nil, "", header...)
}

func (h *harness) postForm(path string, v url.Values) response {
	return h.do(http.MethodPost, path, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
}

func (h *harness) staff(method, path, body string, token string) response {
	var r io.Reader
	ct := ""
	if body != "" {
		r, ct = strings.NewReader(body), "application/json"
	}
	return h.do(method, path, r, ct, "Authorization", "Bearer "+token)
}

// pothole is a valid FixMyStreet report.
func pothole(fmsID string) url.Values {
	return url.Values{
		"api_key": {testKey}, "jurisdiction_id": {"casebridge.example.gov.uk"}, "service_code": {"POT"},
		"lat": {"51.5390"}, "long": {"-0.1426"}, "description": {"title: Pothole\r\n\r\ndetail: Deep hole by the bus stop"},
		"email": {"jo@example.org"}, "first_name": {"Jo"}, "last_name": {"Bloggs"},
		"attribute[dangerous]": {"yes"}, "attribute[fixmystreet_id]": {fmsID}, "attribute[title]": {"Pothole"},
		"attribute[easting]": {"529000"}, "attribute[northing]": {"183900"}, "attribute[uprn]": {""},
	}
}

type xmlErrors struct {
	Errors []struct {
		Code        int    `xml:"code"`
		Description string `xml:"description"`
	} `xml:"error"`
}

// open311Error checks an Open311 error reply: its status and the spec's errors
// document, with a description mentioning want.
func (h *harness) open311Error(r response, status int, want string) {
	h.t.Helper()
	if r.status != status {
		h.t.Errorf("status %d, want %d; body %s", r.status, status, r.body)
		return
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		var errs []struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(r.body, &errs); err != nil || len(errs) == 0 {
			h.t.Errorf("JSON error body %s: %v", r.body, err)
			return
		}
		if !strings.Contains(errs[0].Description, want) {
			h.t.Errorf("error %q does not mention %q", errs[0].Description, want)
		}
		return
	}
	var doc xmlErrors
	if err := xml.Unmarshal(r.body, &doc); err != nil || len(doc.Errors) == 0 {
		h.t.Errorf("XML error body %s: %v", r.body, err)
		return
	}
	var all []string
	for _, e := range doc.Errors {
		all = append(all, e.Description)
	}
	if !strings.Contains(strings.Join(all, "; "), want) {
		h.t.Errorf("errors %q do not mention %q", all, want)
	}
}

type xmlReceipt struct {
	Requests []struct {
		ID     string `xml:"service_request_id"`
		Token  string `xml:"token"`
		Notice string `xml:"service_notice"`
	} `xml:"request"`
}

func (h *harness) postReport(v url.Values) string {
	h.t.Helper()
	r := h.postForm("/open311/v2/requests.xml", v)
	if r.status != http.StatusOK {
		h.t.Fatalf("POST requests.xml: %d %s", r.status, r.body)
	}
	var rec xmlReceipt
	if err := xml.Unmarshal(r.body, &rec); err != nil || len(rec.Requests) != 1 || rec.Requests[0].ID == "" {
		h.t.Fatalf("receipt %s: %v", r.body, err)
	}
	return rec.Requests[0].ID
}

func TestOpen311Discovery(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/open311/v2/discovery.xml", "/open311/v2/discovery.json"} {
		r := h.get(path)
		if r.status != 200 || !strings.Contains(string(r.body), "http://wiki.open311.org/GeoReport_v2") ||
			!strings.Contains(string(r.body), h.cfg.Council.PublicURL+"/open311/v2/") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
}

func TestOpen311Services(t *testing.T) {
	h := newHarness(t)
	r := h.get("/open311/v2/services.json?jurisdiction_id=casebridge.example.gov.uk")
	var services []map[string]any
	if err := json.Unmarshal(r.body, &services); err != nil || r.status != 200 {
		t.Fatalf("services.json: %d %s %v", r.status, r.body, err)
	}
	if len(services) != len(h.cfg.Services) {
		t.Errorf("%d services listed, config has %d", len(services), len(h.cfg.Services))
	}
	if services[0]["service_code"] != "POT" || services[0]["group"] != "Roads and pavements" || services[0]["metadata"] != true {
		t.Errorf("first service = %v", services[0])
	}

	r = h.get("/open311/v2/services/POT.xml")
	if r.status != 200 || !strings.Contains(string(r.body), "<code>dangerous</code>") || !strings.Contains(string(r.body), "<datatype>singlevaluelist</datatype>") {
		t.Errorf("services/POT.xml: %d %s", r.status, r.body)
	}
	h.open311Error(h.get("/open311/v2/services/NOPE.xml"), 404, `service_code "NOPE" not found`)
	h.open311Error(h.get("/open311/v2/services.csv"), 404, "use .xml or .json")
	h.open311Error(h.get("/open311/v2/services.json?jurisdiction_id=elsewhere.gov.uk"), 404, "jurisdiction_id")
	h.open311Error(h.get("/open311/v2/nothing.xml"), 404, "nothing")
}

func TestOpen311PostErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		edit   func(url.Values)
		status int
		want   string
	}{
		{"no api_key", func(v url.Values) { v.Del("api_key") }, 403, "api_key"},
		{"wrong api_key", func(v url.Values) { v.Set("api_key", "not-a-key-at-all-nope") }, 403, "invalid api_key"},
		{"unknown service", func(v url.Values) { v.Set("service_code", "NOPE") }, 404, `service_code "NOPE" not found`},
		{"other jurisdiction", func(v url.Values) { v.Set("jurisdiction_id", "elsewhere.gov.uk") }, 404, "jurisdiction_id"},
		{"no location", func(v url.Values) { v.Del("lat"); v.Del("long") }, 400, "location"},
		{"lat without long", func(v url.Values) { v.Del("long") }, 400, "long"},
		{"lat out of range", func(v url.Values) { v.Set("lat", "95") }, 400, "lat"},
		{"no service_code", func(v url.Values) { v.Del("service_code") }, 400, "service_code"},
		{"required attribute missing", func(v url.Values) { v.Del("attribute[dangerous]") }, 400, "attribute[dangerous] is required"},
		{"attribute not a choice", func(v url.Values) { v.Set("attribute[dangerous]", "maybe") }, 400, `"maybe" is not one of its values`},
		{"number attribute not a number", func(v url.Values) { v.Set("attribute[depth]", "deep") }, 400, "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := pothole("1")
			tc.edit(v)
			h.t = t
			h.open311Error(h.postForm("/open311/v2/requests.xml", v), tc.status, tc.want)
		})
	}
	if p := h.store; p != nil {
		page, err := p.List(context.Background(), readmodel.ListQuery{})
		if err != nil || page.Total != 0 {
			t.Errorf("rejected reports left %d cases (%v)", page.Total, err)
		}
	}
}

func TestOpen311IntakeIsIdempotent(t *testing.T) {
	h := newHarness(t)
	first := h.postReport(pothole("12345"))
	again := h.postReport(pothole("12345"))
	other := h.postReport(pothole("12346"))
	if first != again {
		t.Errorf("the same fixmystreet_id got %s then %s", first, again)
	}
	if first == other {
		t.Errorf("different reports share reference %s", first)
	}
	page, err := h.store.List(context.Background(), readmodel.ListQuery{})
	if err != nil || page.Total != 2 {
		t.Errorf("%d cases for three posts of two reports (%v)", page.Total, err)
	}

	// JSON receipt, multipart body.
	r := h.get("/open311/v2/requests/" + first + ".json")
	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 1 {
		t.Fatalf("requests/%s.json: %d %s", first, r.status, r.body)
	}
	want := map[string]any{"service_request_id": first, "status": "open", "service_code": "POT", "service_name": "Pothole",
		"agency_responsible": "Highways and transport", "requested_datetime": "2026-11-02T10:00:00Z", "lat": 51.539}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("%s = %v, want %v", k, got[0][k], v)
		}
	}
	for _, private := range []string{"jo@example.org", "Bloggs"} {
		if strings.Contains(string(r.body), private) {
			t.Errorf("public request shows the reporter's %q: %s", private, r.body)
		}
	}
}

func TestOpen311RequestsQuery(t *testing.T) {
	h := newHarness(t)
	a := h.postReport(pothole("1"))
	h.now = h.now.Add(time.Hour)
	b := h.postReport(pothole("2"))
	if r := h.staff("POST", "/api/v1/cases/"+b+"/transitions", `{"status":"fixed","note":"Filled","public":true}`, testToken); r.status != 200 {
		t.Fatalf("fix: %d %s", r.status, r.body)
	}
	ids := func(r response) []string {
		t.Helper()
		var doc struct {
			Requests []struct {
				ID string `xml:"service_request_id"`
			} `xml:"request"`
		}
		if err := xml.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
			t.Fatalf("%d %s %v", r.status, r.body, err)
		}
		var out []string
		for _, x := range doc.Requests {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids(h.get("/open311/v2/requests.xml")); len(got) != 2 || got[0] != b {
		t.Errorf("all requests = %v, want [%s %s] newest first", got, b, a)
	}
	if got := ids(h.get("/open311/v2/requests.xml?status=closed")); len(got) != 1 || got[0] != b {
		t.Errorf("closed requests = %v, want [%s]", got, b)
	}
	if got := ids(h.get("/open311/v2/requests.xml?service_request_id=" + a + ",CB-NOPE00")); len(got) != 1 || got[0] != a {
		t.Errorf("by id = %v, want [%s]", got, a)
	}
	// A case acknowledged a moment ago, which the read model has not caught
	// up with, is still in a list that names it.
	project := h.engine.Project
	h.engine.Project = func(context.Context, *cases.Case) error { return nil }
	h.now = h.now.Add(time.Hour)
	late := h.postReport(pothole("3"))
	h.engine.Project = project
	if _, err := h.store.Get(context.Background(), late); !errors.Is(err, cases.ErrNotFound) {
		t.Fatalf("read model already holds %s (%v): the test needs it missing", late, err)
	}
	if got := ids(h.get("/open311/v2/requests.xml?service_request_id=" + a + "," + late + ",CB-NOPE00")); !slices.Equal(got, []string{late, a}) {
		t.Errorf("by id with one not yet projected = %v, want [%s %s]", got, late, a)
	}
	if got := ids(h.get("/open311/v2/requests.xml?start_date=2026-11-02T10:30:00Z&end_date=2026-11-02T12:00:00Z")); len(got) != 1 || got[0] != b {
		t.Errorf("window = %v, want [%s]", got, b)
	}
	h.open311Error(h.get("/open311/v2/requests.xml?start_date=yesterday"), 400, "start_date")
	h.open311Error(h.get("/open311/v2/requests.xml?start_date=2026-11-02T10:30:00"), 400, "start_date")
	h.open311Error(h.get("/open311/v2/requests.xml?start_date=2026-11-02T10:00:00Z&end_date=2026-11-01T10:00:00Z"), 400, "end_date")
	h.open311Error(h.get("/open311/v2/requests.json?status=pending"), 400, "status")
	h.open311Error(h.get("/open311/v2/requests/CB-000000.xml"), 404, "not found")
	h.open311Error(h.get("/open311/v2/requests/garbage.json"), 404, "not found")
}

func TestOpen311UpdatesFeedAndCitizenUpdates(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("77"))
	h.now = h.now.Add(time.Hour)
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"no_further_action","note":"It is on private land","public":true}`, testToken); r.status != 200 {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	type feed struct {
		Updates []struct {
			ID     string `xml:"update_id"`
			Ref    string `xml:"service_request_id"`
			Status string `xml:"status"`
			At     string `xml:"updated_datetime"`
			Desc   string `xml:"description"`
		} `xml:"request_update"`
	}
	read := func(query string) feed {
		t.Helper()
		r := h.get("/open311/v2/servicerequestupdates.xml?" + query)
		var f feed
		if err := xml.Unmarshal(r.body, &f); err != nil || r.status != 200 {
			t.Fatalf("%d %s %v", r.status, r.body, err)
		}
		return f
	}
	// Two overlapping windows both return the update, with the same id.
	w1 := read("api_key=&start_date=2026-11-02T09:00:00Z&end_date=2026-11-02T11:00:00Z")
	w2 := read("api_key=&start_date=2026-11-02T10:30:00Z&end_date=2026-11-02T12:00:00Z")
	if len(w1.Updates) != 1 || len(w2.Updates) != 1 || w1.Updates[0].ID != w2.Updates[0].ID {
		t.Fatalf("overlapping windows: %+v and %+v", w1, w2)
	}
	u := w1.Updates[0]
	if u.Ref != ref || u.Status != "no_further_action" || u.Desc != "It is on private land" || u.At != "2026-11-02T11:00:00Z" {
		t.Errorf("update = %+v", u)
	}
	if got := read("start_date=2026-11-02T11:00:01Z&end_date=2026-11-02T12:00:00Z"); len(got.Updates) != 0 {
		t.Errorf("window after the update returned %+v", got)
	}

	// The citizen reopens it through FixMyStreet; a resend gets the same id.
	post := url.Values{"api_key": {testKey}, "service_request_id": {ref}, "update_id": {"9001"}, "status": {"REOPEN"},
		"updated_datetime": {"2026-11-02T11:30:00+00:00"}, "description": {"It is not private land, it's the pavement"}, "first_name": {"Jo"}, "last_name": {"-"}}
	ids := map[string]bool{}
	for range 2 {
		r := h.postForm("/open311/v2/servicerequestupdates.xml", post)
		var doc struct {
			IDs []string `xml:"request_update>update_id"`
		}
		if err := xml.Unmarshal(r.body, &doc); err != nil || r.status != 200 || len(doc.IDs) != 1 {
			t.Fatalf("POST update: %d %s %v", r.status, r.body, err)
		}
		ids[doc.IDs[0]] = true
	}
	if len(ids) != 1 {
		t.Errorf("resent update got ids %v", ids)
	}
	kase, _ := h.engine.Get(context.Background(), ref)
	if kase.Status != cases.StatusOpen || len(kase.Timeline) != 4 {
		t.Errorf("after reopen: status %s, %d entries", kase.Status, len(kase.Timeline))
	}

	post.Set("api_key", "wrong-key-wrong-key")
	h.open311Error(h.postForm("/open311/v2/servicerequestupdates.xml", post), 403, "api_key")
	post.Set("api_key", testKey)
	post.Set("service_request_id", "CB-000000")
	h.open311Error(h.postForm("/open311/v2/servicerequestupdates.json", post), 404, "not found")
	post.Del("update_id")
	h.open311Error(h.postForm("/open311/v2/servicerequestupdates.xml", post), 400, "update_id")
}

func TestOpen311Tokens(t *testing.T) {
	h := newHarness(t)
	v := pothole("5")
	v.Set("service_code", "BATCH")
	r := h.postForm("/open311/v2/requests.xml", v)
	var rec xmlReceipt
	if err := xml.Unmarshal(r.body, &rec); err != nil || len(rec.Requests) != 1 || rec.Requests[0].Token == "" || rec.Requests[0].ID != "" {
		t.Fatalf("batch receipt %d %s", r.status, r.body)
	}
	token := rec.Requests[0].Token
	r = h.get("/open311/v2/tokens/" + token + ".json")
	var got []map[string]string
	if err := json.Unmarshal(r.body, &got); err != nil || len(got) != 1 || got[0]["token"] != token || !cases.ValidRef("CB-", got[0]["service_request_id"]) {
		t.Errorf("tokens/%s.json: %d %s", token, r.status, r.body)
	}
	h.open311Error(h.get("/open311/v2/tokens/token-CB-000000.xml"), 404, "not found")
	h.open311Error(h.get("/open311/v2/tokens/whatever.xml"), 404, "not found")
}

func TestOpen311EngineDown(t *testing.T) {
	h := newHarness(t)
	h.engine.Down = true
	h.open311Error(h.postForm("/open311/v2/requests.json", pothole("9")), 503, "not recorded")
	m := h.staff("GET", "/metrics", "", metricsToken)
	if !strings.Contains(string(m.body), `casebridge_intake_total{outcome="failed",source="fixmystreet"} 1`) {
		t.Errorf("metrics do not count the failed intake:\n%s", grep(string(m.body), "casebridge_intake_total"))
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestStaffAuth(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("1"))
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"no token", "", 401},
		{"not bearer", "Basic YTpi", 401},
		{"unknown token", "Bearer guess", 401},
		{"rules admin cannot read cases", "Bearer rules-token", 403},
		{"agent can", "Bearer agent-token", 200},
		{"admin can", "Bearer " + testToken, 200},
	} {
		var hdr []string
		if tc.header != "" {
			hdr = []string{"Authorization", tc.header}
		}
		r := h.get("/api/v1/cases/"+ref, hdr...)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, r.status, tc.status, r.body)
		}
		if tc.status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: content type %q, want a problem document", tc.name, r.header.Get("Content-Type"))
		}
	}
	var me principal
	r := h.staff("GET", "/api/v1/me", "", "agent-token")
	if err := json.Unmarshal(r.body, &me); err != nil || me.Name != "amy" || len(me.Roles) != 1 {
		t.Errorf("/me = %s", r.body)
	}
}

func TestStaffTransitions(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("1"))
	for _, tc := range []struct {
		name, body, ct string
		status         int
		field          string
	}{
		{"unknown status", `{"status":"resolved"}`, "application/json", 422, "status"},
		{"no status", `{"note":"x"}`, "application/json", 422, "status"},
		{"unknown field", `{"status":"fixed","colour":"red"}`, "application/json", 400, "colour"},
		{"wrong type", `{"status":"fixed","public":"yes"}`, "application/json", 400, "public"},
		{"not JSON", `status=fixed`, "application/x-www-form-urlencoded", 415, ""},
		{"note too long", `{"status":"fixed","note":"` + strings.Repeat("x", cases.MaxNote+1) + `"}`, "application/json", 422, "note"},
	} {
		r := h.do("POST", "/api/v1/cases/"+ref+"/transitions", strings.NewReader(tc.body), tc.ct, "Authorization", "Bearer agent-token")
		if r.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
			continue
		}
		var p Problem
		if err := json.Unmarshal(r.body, &p); err != nil || p.Field != tc.field || p.Status != tc.status || p.Detail == "" {
			t.Errorf("%s: problem %s, want field %q", tc.name, r.body, tc.field)
		}
	}
	r := h.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"in_progress","note":"Crew booked"}`, "agent-token")
	var c cases.Case
	if err := json.Unmarshal(r.body, &c); err != nil || r.status != 200 || c.Status != cases.StatusInProgress {
		t.Fatalf("open → in_progress: %d %s", r.status, r.body)
	}
	if last := c.Timeline[len(c.Timeline)-1]; last.Actor != "staff:amy" || !last.Public || last.Note != "Crew booked" {
		t.Errorf("timeline entry = %+v", last)
	}
	r = h.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"in_progress"}`, "agent-token")
	var p Problem
	if json.Unmarshal(r.body, &p); r.status != 409 || p.Field != "status" || !strings.Contains(p.Detail, "already") {
		t.Errorf("in_progress → in_progress: %d %s", r.status, r.body)
	}
	// A retried request with the same Idempotency-Key applies once.
	for range 2 {
		r = h.do("POST", "/api/v1/cases/"+ref+"/transitions", strings.NewReader(`{"status":"fixed","note":"Done"}`), "application/json",
			"Authorization", "Bearer agent-token", "Idempotency-Key", "req-1")
		if r.status != 200 {
			t.Fatalf("idempotent fix: %d %s", r.status, r.body)
		}
	}
	got, _ := h.engine.Get(context.Background(), ref)
	if n := len(got.Timeline); n != 4 {
		t.Errorf("%d timeline entries after a retried fix, want 4", n)
	}
	if r := h.staff("GET", "/api/v1/cases/CB-000000", "", "agent-token"); r.status != 404 {
		t.Errorf("unknown case: %d", r.status)
	}
	if r := h.staff("GET", "/api/v1/cases/not-a-ref", "", "agent-token"); r.status != 404 || !strings.Contains(string(r.body), "not a case reference") {
		t.Errorf("malformed ref: %d %s", r.status, r.body)
	}
	// References are read as people type them.
	if r := h.staff("GET", "/api/v1/cases/"+strings.ToLower(ref), "", "agent-token"); r.status != 200 {
		t.Errorf("lower-case ref: %d", r.status)
	}
}

func TestStaffListCases(t *testing.T) {
	h := newHarness(t)
	a := h.postReport(pothole("1"))
	h.now = h.now.Add(time.Minute)
	b := h.postReport(pothole("2"))
	h.staff("POST", "/api/v1/cases/"+a+"/transitions", `{"status":"fixed"}`, testToken)
	var page casePage
	r := h.staff("GET", "/api/v1/cases?family=open", "", "agent-token")
	if err := json.Unmarshal(r.body, &page); err != nil || page.Total != 1 || page.Cases[0].Ref != b {
		t.Errorf("open cases: %d %s", r.status, r.body)
	}
	r = h.staff("GET", "/api/v1/cases?sort=received&order=desc&limit=1", "", "agent-token")
	if err := json.Unmarshal(r.body, &page); err != nil || page.Total != 2 || len(page.Cases) != 1 || page.Cases[0].Ref != b || page.Next == "" {
		t.Fatalf("first page: %s", r.body)
	}
	r = h.staff("GET", "/api/v1/cases?sort=received&order=desc&limit=1&cursor="+page.Next, "", "agent-token")
	if err := json.Unmarshal(r.body, &page); err != nil || len(page.Cases) != 1 || page.Cases[0].Ref != a {
		t.Errorf("second page: %s", r.body)
	}
	for q, field := range map[string]string{"sort=colour": "sort", "status=resolved": "status", "limit=0": "limit", "overdue=maybe": "overdue", "cursor=zzz": "cursor", "family=ajar": "family"} {
		r := h.staff("GET", "/api/v1/cases?"+q, "", "agent-token")
		var p Problem
		if json.Unmarshal(r.body, &p); r.status != 422 || p.Field != field {
			t.Errorf("?%s: %d %s, want 422 naming %s", q, r.status, r.body, field)
		}
	}
}

func TestHealthMetricsOpenAPI(t *testing.T) {
	h := newHarness(t)
	if r := h.get("/healthz"); r.status != 200 {
		t.Errorf("healthz %d", r.status)
	}
	if r := h.get("/readyz"); r.status != 200 || !strings.Contains(string(r.body), `"redis":"ok"`) {
		t.Errorf("readyz %d %s", r.status, r.body)
	}
	h.postReport(pothole("1"))
	m := string(h.staff("GET", "/metrics", "", metricsToken).body)
	for _, want := range []string{
		`casebridge_intake_total{outcome="created",source="fixmystreet"} 1`,
		`casebridge_cases{status="open"} 1`,
		`casebridge_http_request_duration_seconds_count{code="200",method="POST",route="/open311/v2/:file"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	r := h.get("/api/v1/openapi.json")
	if err := json.Unmarshal(r.body, &doc); err != nil || doc.OpenAPI == "" || doc.Paths["/cases/{ref}/transitions"] == nil {
		t.Errorf("openapi.json: %d %v", r.status, err)
	}
}

func TestReadyzReportsAFailingDependency(t *testing.T) {
	h := newHarness(t)
	s := NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{
		Cases: h.engine, ReadModel: h.store, Metrics: metrics.New(),
		Ready: []Check{{Name: "temporal", Check: func(context.Context) error { return errors.New("connection refused") }}},
	})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("readyz = %d %s", rec.Code, rec.Body)
	}
}

func TestStaffIntake(t *testing.T) {
	h := newHarness(t)
	body := `{"service_code":"FLY","description":"Mattress on the corner","source":"phone",
	  "location":{"address":"12 Camden Road"},
	  "attributes":{"waste_type":["furniture","household"],"amount":"car_boot"},
	  "reporter":{"first_name":"Pat","phone":"020 7946 0001"}}`
	post := func(key string) response {
		return h.do("POST", "/api/v1/cases", strings.NewReader(body), "application/json", "Authorization", "Bearer agent-token", "Idempotency-Key", key)
	}
	r := post("call-1")
	var got struct {
		Ref     string `json:"ref"`
		Created bool   `json:"created"`
	}
	if err := json.Unmarshal(r.body, &got); r.status != 201 || err != nil || !got.Created || r.header.Get("Location") != "/api/v1/cases/"+got.Ref {
		t.Fatalf("POST /cases: %d %s", r.status, r.body)
	}
	// The agent's retry of the same call finds the same case.
	r = post("call-1")
	var again struct {
		Ref     string `json:"ref"`
		Created bool   `json:"created"`
	}
	if err := json.Unmarshal(r.body, &again); r.status != 200 || err != nil || again.Ref != got.Ref || again.Created {
		t.Errorf("retried POST: %d %s, want 200 and %s", r.status, r.body, got.Ref)
	}
	kase, err := h.engine.Get(context.Background(), got.Ref)
	if err != nil || kase.Report().Source != cases.SourcePhone || len(kase.Report().Attributes["waste_type"]) != 2 || kase.Report().Reporter.Phone == "" {
		t.Errorf("case = %+v, %v", kase, err)
	}

	for _, tc := range []struct {
		name, body, field string
	}{
		{"unknown service", `{"service_code":"NOPE","location":{"address":"x"}}`, "service_code"},
		{"no location", `{"service_code":"FLY","attributes":{"waste_type":"tyres","amount":"single"}}`, "location"},
		{"lat without long", `{"service_code":"FLY","location":{"lat":51.5},"attributes":{"waste_type":"tyres","amount":"single"}}`, "location"},
		{"missing answer", `{"service_code":"FLY","location":{"address":"x"},"attributes":{"waste_type":"tyres"}}`, "attributes.amount"},
		{"not a choice", `{"service_code":"FLY","location":{"address":"x"},"attributes":{"waste_type":"gold","amount":"single"}}`, "attributes.waste_type"},
		{"bad source", `{"service_code":"FLY","source":"pigeon","location":{"address":"x"}}`, "source"},
	} {
		r := h.do("POST", "/api/v1/cases", strings.NewReader(tc.body), "application/json", "Authorization", "Bearer agent-token")
		var p Problem
		if json.Unmarshal(r.body, &p); r.status != 422 || p.Field != tc.field {
			t.Errorf("%s: %d %s, want 422 naming %s", tc.name, r.status, r.body, tc.field)
		}
	}
	if r := h.do("POST", "/api/v1/cases", strings.NewReader(body), "application/json", "Authorization", "Bearer rules-token"); r.status != 403 {
		t.Errorf("a rules admin took a report: %d", r.status)
	}
}

// Just after a restart no worker may answer a query, and the read model may not
// have caught up with a case acknowledged just before: the public still sees it.
func TestOpen311AcknowledgedCaseWithoutWorkerOrReadModel(t *testing.T) {
	h := newHarness(t)
	project := h.engine.Project
	h.engine.Project = nil // the read model never hears of this case
	ref := h.postReport(pothole("31"))
	h.engine.Project = project
	h.engine.NoWorker = true
	r := h.get("/open311/v2/requests/" + ref + ".json")
	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil || len(got) != 1 ||
		got[0]["service_request_id"] != ref || got[0]["status"] != "open" || got[0]["service_name"] != "Pothole" {
		t.Errorf("GET requests/%s.json: %d %s", ref, r.status, r.body)
	}
	if r := h.get("/open311/v2/requests/CB-000000.json"); r.status != 404 {
		t.Errorf("an unknown case: %d", r.status)
	}
}

// TestOpenAPIDescribesEveryRoute keeps the OpenAPI document complete: every
// staff API route the server answers is in it, with its method.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(h.get("/api/v1/openapi.json").body, &doc); err != nil {
		t.Fatal(err)
	}
	// Every optional part switched on, so all its routes are registered.
	s := NewServer(slog.New(slog.DiscardHandler), h.cfg, Deps{Cases: h.engine, ReadModel: h.store, Metrics: metrics.New(),
		Rules: &rules.Store{}, Events: EventSource{Redis: redistest.Start(t).Client(), Channel: "cb:events"},
		Partners: &partners.Verifier{}, Handoffs: &handoffRecorder{}, Duplicates: caseflowDuplicates{}})
	param := regexp.MustCompile(`:([a-z]+)`)
	n := 0
	for _, r := range s.engine.Routes() {
		path, ok := strings.CutPrefix(r.Path, "/api/v1")
		if !ok || path == "/openapi.json" {
			continue
		}
		path = param.ReplaceAllString(path, "{$1}")
		n++
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("openapi.json does not describe %s %s", r.Method, path)
		}
	}
	if n < 25 {
		t.Errorf("only %d staff routes found; the walk over routes is broken", n)
	}
}

// The JSON API checks transfers and categories against the configuration
// with the same rules as the console, and lists the choices.
func TestStaffTransferAndRecategorise(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("1"))
	for _, tc := range []struct {
		path, body, field, says string
	}{
		{"transfer", `{"department":"libraries"}`, "department", `"libraries" is not a department; departments are triage, highways`},
		{"transfer", `{"department":"highways","team":"noise"}`, "team", `"noise" is not a team of Highways and transport; its teams are roads-north`},
		{"transfer", `{"team":"noise"}`, "department", "name the department the team belongs to"},
		{"category", `{"service_code":"NOPE"}`, "service_code", `"NOPE" is not a category; GET /open311/v2/services.json lists them`},
		{"category", `{"service_code":"POT"}`, "service_code", "already filed under POT"},
	} {
		r := h.staff("POST", "/api/v1/cases/"+ref+"/"+tc.path, tc.body, "agent-token")
		var p Problem
		if json.Unmarshal(r.body, &p); r.status != 422 || p.Field != tc.field || !strings.Contains(p.Detail, tc.says) {
			t.Errorf("%s %s: %d %s, want 422 on %s saying %q", tc.path, tc.body, r.status, r.body, tc.field, tc.says)
		}
	}
	r := h.staff("POST", "/api/v1/cases/"+ref+"/transfer", `{"department":"highways","team":"drainage","note":"it is a drain"}`, "agent-token")
	var c cases.Case
	if err := json.Unmarshal(r.body, &c); r.status != 200 || err != nil || c.Department != "highways" || c.Team != "drainage" {
		t.Errorf("transfer: %d %s", r.status, r.body)
	}
	r = h.staff("POST", "/api/v1/cases/"+ref+"/category", `{"service_code":"DRN"}`, "agent-token")
	if err := json.Unmarshal(r.body, &c); r.status != 200 || err != nil || c.Service.Name != "Blocked drain or gully" {
		t.Errorf("recategorise: %d %s", r.status, r.body)
	}
}

// After Temporal's retention drops a finished case's workflow, staff still
// read the case from the read model, as the lists and Open311 show it, and
// every change is refused with 409 and why.
func TestStaffReadsARetiredCaseFromTheReadModel(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("41"))
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/transitions", `{"status":"fixed","note":"Filled"}`, "agent-token"); r.status != 200 {
		t.Fatalf("fix: %d %s", r.status, r.body)
	}
	h.engine.Forget(ref)

	r := h.staff("GET", "/api/v1/cases/"+ref, "", "agent-token")
	var c cases.Case
	if err := json.Unmarshal(r.body, &c); r.status != 200 || err != nil || c.Ref != ref || c.Status != cases.StatusFixed {
		t.Fatalf("GET a retired case: %d %s", r.status, r.body)
	}
	if r.header.Get("X-Casebridge-Source") != "read-model" || r.header.Get("X-Casebridge-Read-Only") != "finished" {
		t.Errorf("a retired case's headers: %v", r.header)
	}
	for _, tc := range []struct{ path, body string }{
		{"/transitions", `{"status":"closed"}`},
		{"/comments", `{"note":"late note"}`},
		{"/assignment", `{"assignee":"amy"}`},
		{"/priority", `{"priority":"low"}`},
	} {
		r := h.staff("POST", "/api/v1/cases/"+ref+tc.path, tc.body, "agent-token")
		var p Problem
		if json.Unmarshal(r.body, &p); r.status != 409 || !strings.Contains(p.Detail, "no longer keeps its workflow") || !strings.Contains(p.Detail, ref) {
			t.Errorf("POST %s on a retired case: %d %s, want 409 saying why", tc.path, r.status, r.body)
		}
	}
	// A citizen's update is refused as for any case past its reopen window.
	v := url.Values{"api_key": {testKey}, "jurisdiction_id": {"casebridge.example.gov.uk"}, "service_request_id": {ref},
		"update_id": {"77"}, "status": {"OPEN"}, "description": {"still broken"}, "updated_datetime": {h.now.Format(time.RFC3339)}}
	if r := h.postForm("/open311/v2/servicerequestupdates.json", v); r.status != 400 || !strings.Contains(string(r.body), "please report the problem again") {
		t.Errorf("a citizen's update on a retired case: %d %s", r.status, r.body)
	}
	// A case neither Temporal nor the read model knows is still 404.
	if r := h.staff("POST", "/api/v1/cases/CB-000000/comments", `{"note":"x"}`, "agent-token"); r.status != 404 {
		t.Errorf("a change to an unknown case: %d %s", r.status, r.body)
	}
}
