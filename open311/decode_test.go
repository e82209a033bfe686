package open311

import (
	"bytes"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/cases"
)

const formType = "application/x-www-form-urlencoded"

// fmsReport is a POST /requests as FixMyStreet sends it: no charset, CRLF newlines,
// repeated keys without [], undeclared and unanswered attributes.
const fmsReport = "jurisdiction_id=exampleshire&api_key=k3y&service_code=POT" +
	"&lat=51.501009&long=-0.141588&first_name=Jo&last_name=Bloggs&email=jo%40example.org&phone=01632+960001" +
	"&description=title%3A+Pothole%0D%0A%0D%0Adetail%3A+Deep+hole%0D%0A%0D%0ASubmitted+via+FixMyStreet%0D%0A" +
	"&media_url=https%3A%2F%2Fwww.fixmystreet.com%2Fphoto%2F1.0.full.jpeg&media_url=https%3A%2F%2Fwww.fixmystreet.com%2Fphoto%2F1.1.full.jpeg" +
	"&attribute%5Bfixmystreet_id%5D=12345&attribute%5Beasting%5D=529157&attribute%5Buprn%5D=10001&attribute%5Bsite_code%5D="

func post(contentType, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/open311/v2/requests.xml", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// problemsOf checks err is an *Error with the status and returns its descriptions.
func problemsOf(t *testing.T, err error, status int) string {
	t.Helper()
	e, ok := errors.AsType[*Error](err)
	if !ok {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if e.Status != status {
		t.Errorf("status = %d, want %d (%v)", e.Status, status, e)
	}
	var descs []string
	for _, p := range e.Problems {
		if p.Code != e.Status || p.Description == "" {
			t.Errorf("problem %+v of a %d error", p, e.Status)
		}
		descs = append(descs, p.Description)
	}
	return strings.Join(descs, "\n")
}

func TestDecodeRequestFixMyStreet(t *testing.T) {
	for _, ct := range []string{formType, formType + "; charset=utf-8", formType + "; charset=UTF-8", ""} {
		req, err := DecodeRequest(post(ct, fmsReport), nil)
		if err != nil {
			t.Fatalf("Content-Type %q: DecodeRequest: %v", ct, err)
		}
		want := &PostedRequest{
			APIKey: "k3y", JurisdictionID: "exampleshire", ServiceCode: "POT",
			Point:       &Point{Lat: 51.501009, Long: -0.141588},
			Contact:     Contact{FirstName: "Jo", LastName: "Bloggs", Email: "jo@example.org", Phone: "01632 960001"},
			Description: "title: Pothole\n\ndetail: Deep hole\n\nSubmitted via FixMyStreet",
			MediaURLs:   []string{"https://www.fixmystreet.com/photo/1.0.full.jpeg", "https://www.fixmystreet.com/photo/1.1.full.jpeg"},
			Attributes:  Attributes{"fixmystreet_id": {"12345"}, "easting": {"529157"}, "uprn": {"10001"}},
		}
		if !reflect.DeepEqual(req, want) {
			t.Errorf("Content-Type %q: DecodeRequest =\n%+v\nwant\n%+v", ct, req, want)
		}
	}
}

func TestDecodeRequestAttributes(t *testing.T) {
	body := "api_key=k&service_code=POT&address_string=High+St" +
		"&attribute[colour]=red&attribute[colour]=blue" + // FixMyStreet's repeats, no []
		"&attribute[size][]=small&attribute[size][]=large" + // the spec's []
		"&attribute[both]=1&attribute[both][]=2" +
		"&attribute[unanswered]=&attribute[blank]=+++" +
		"&attribute[notes]=a%0D%0Ab%0Dc"
	req, err := DecodeRequest(post(formType, body), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Attributes{
		"colour": {"red", "blue"},
		"size":   {"small", "large"},
		"both":   {"1", "2"},
		"notes":  {"a\nb\nc"},
	}
	if !reflect.DeepEqual(req.Attributes, want) {
		t.Errorf("Attributes = %v, want %v", req.Attributes, want)
	}
	if got := req.Attributes.Get("colour"); got != "red" {
		t.Errorf(`Get("colour") = %q, want "red"`, got)
	}
	if got := req.Attributes.Get("unanswered"); got != "" {
		t.Errorf(`Get("unanswered") = %q, want ""`, got)
	}
}

func TestDecodeRequestMultipart(t *testing.T) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, kv := range [][2]string{
		{"api_key", "k3y"}, {"service_code", "POT"}, {"lat", "51.5"}, {"long", "-0.12"},
		{"description", "Deep\r\nhole"}, {"attribute[fixmystreet_id]", "777"},
		{"attribute[hazards]", "glass"}, {"attribute[hazards]", "oil"},
	} {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	photo := []byte("\xff\xd8\xff\xe0 not really a jpeg")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="photo1"; filename="1.jpeg"`)
	h.Set("Content-Type", "image/jpeg")
	pw, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write(photo)
	mw.Close()

	req, err := DecodeRequest(post(mw.FormDataContentType(), body.String()), nil)
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	if req.ServiceCode != "POT" || req.Point == nil || req.Point.Lat != 51.5 || req.Description != "Deep\nhole" ||
		req.Attributes.Get("fixmystreet_id") != "777" || !reflect.DeepEqual(req.Attributes["hazards"], []string{"glass", "oil"}) {
		t.Errorf("DecodeRequest = %+v", req)
	}
	want := []Upload{{Field: "photo1", Filename: "1.jpeg", ContentType: "image/jpeg", Data: photo}}
	if !reflect.DeepEqual(req.Uploads, want) {
		t.Errorf("Uploads = %+v, want %+v", req.Uploads, want)
	}
}

func TestDecodeRequestLocations(t *testing.T) {
	tests := []struct {
		body string
		want func(*PostedRequest) bool
	}{
		{"lat=0&long=0", func(r *PostedRequest) bool { return r.Point != nil && *r.Point == Point{} }},
		{"lat=-90&long=180", func(r *PostedRequest) bool { return r.Point != nil && *r.Point == Point{-90, 180} }},
		{"lat=+51.5&long=-.5", func(r *PostedRequest) bool { return r.Point != nil && *r.Point == Point{51.5, -0.5} }},
		{"address_string=10+High+St", func(r *PostedRequest) bool { return r.Point == nil && r.AddressString == "10 High St" }},
		{"address_id=%23NOTPINPOINTED%23", func(r *PostedRequest) bool { return r.AddressID == "#NOTPINPOINTED#" }},
		{"lat=&long=&address_id=42", func(r *PostedRequest) bool { return r.Point == nil && r.AddressID == "42" }},
	}
	for _, tt := range tests {
		req, err := DecodeRequest(post(formType, "api_key=k&service_code=POT&"+tt.body), nil)
		if err != nil || !tt.want(req) {
			t.Errorf("DecodeRequest(%s) = %+v, %v", tt.body, req, err)
		}
	}
}

// TestDecodeRequestErrors: every fault is a 400 (403 for the key) naming the parameter.
func TestDecodeRequestErrors(t *testing.T) {
	const ok = "api_key=k&service_code=POT&lat=51.5&long=-0.1"
	long := strings.Repeat("é", cases.MaxDescription+1)
	tests := []struct {
		name, contentType, body string
		status                  int
		want                    []string
	}{
		{"no api_key", formType, "service_code=POT&lat=51.5&long=-0.1", 403, []string{"api_key is missing"}},
		{"empty api_key", formType, "api_key=&service_code=POT&lat=51.5&long=-0.1", 403, []string{"api_key is missing"}},
		{"no service_code", formType, "api_key=k&lat=51.5&long=-0.1", 400, []string{"service_code is missing"}},
		{"empty service_code", formType, "api_key=k&service_code=+&lat=51.5&long=-0.1", 400, []string{"service_code is missing"}},
		{"no location", formType, "api_key=k&service_code=POT", 400, []string{"location is missing: send lat and long, address_string or address_id"}},
		{"lat without long", formType, "api_key=k&service_code=POT&lat=51.5", 400, []string{"lat is sent without long"}},
		{"long without lat", formType, "api_key=k&service_code=POT&long=-0.1&address_string=x", 400, []string{"long is sent without lat"}},
		{"lat out of range", formType, "api_key=k&service_code=POT&lat=91&long=0", 400, []string{"lat 91 is out of range"}},
		{"long out of range", formType, "api_key=k&service_code=POT&lat=0&long=-180.5", 400, []string{"long -180.5 is out of range"}},
		{"lat NaN", formType, "api_key=k&service_code=POT&lat=NaN&long=0", 400, []string{`lat "NaN" is not a decimal number`}},
		{"lat Inf", formType, "api_key=k&service_code=POT&lat=0&long=-Inf", 400, []string{`long "-Inf" is not a decimal number`}},
		{"lat hex", formType, "api_key=k&service_code=POT&lat=0x1p4&long=0", 400, []string{`lat "0x1p4" is not a decimal number`}},
		{"lat words", formType, "api_key=k&service_code=POT&lat=north&long=0", 400, []string{`lat "north" is not`}},
		{"over-long description", formType, ok + "&description=" + long, 400,
			[]string{"description is longer than 10000 characters"}},
		{"media_url not a web URL", formType, ok + "&media_url=file%3A%2F%2F%2Fetc%2Fpasswd", 400, []string{`media_url "file:///etc/passwd" is not an http or https URL`}},
		{"service_code twice", formType, ok + "&service_code=FLY", 400, []string{`service_code is sent twice with different values ("POT" and "FLY")`}},
		{"nested attribute key", formType, ok + "&attribute[a][b]=1", 400, []string{`"attribute[a][b]" is not an attribute parameter`}},
		{"empty attribute code", formType, ok + "&attribute[]=1", 400, []string{`"attribute[]" is not an attribute parameter`}},
		{"several faults at once", formType, "api_key=k&lat=100", 400, []string{"service_code is missing", "lat is sent without long"}},
		{"bad escape", formType, ok + "&description=100%", 400, []string{"form body cannot be read"}},
		{"not UTF-8", formType, ok + "&description=caf%E9", 400, []string{"description is not UTF-8"}},
		{"Latin-1 charset", formType + "; charset=ISO-8859-1", ok, 400, []string{`charset "ISO-8859-1" is not supported`}},
		{"JSON body", "application/json", `{"service_code":"POT"}`, 400, []string{`Content-Type "application/json" is not supported`}},
		{"broken Content-Type", "multipart/form-data; boundary", ok, 400, []string{"Content-Type"}},
		{"multipart without boundary", "multipart/form-data", ok, 400, []string{"has no boundary"}},
		{"multipart cut short", "multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nk", 400,
			[]string{"request body cannot be read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeRequest(post(tt.contentType, tt.body), nil)
			if err == nil {
				t.Fatalf("DecodeRequest(%.80s) = %+v, want a %d error", tt.body, req, tt.status)
			}
			got := problemsOf(t, err, tt.status)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems:\n%s\nwant one containing %q", got, w)
				}
			}
			if tt.name == "lat without long" && strings.Contains(got, "location is missing") {
				t.Errorf("a half-sent point is also reported as a missing location:\n%s", got)
			}
		})
	}
}

func TestDecodeRequestDescriptionLimit(t *testing.T) {
	// Counted in characters, after CRLF becomes LF: exactly the limit is accepted.
	desc := strings.Repeat("é", cases.MaxDescription-2) + "%0D%0Ax"
	req, err := DecodeRequest(post(formType, "api_key=k&service_code=POT&address_id=1&description="+desc), nil)
	if err != nil {
		t.Fatalf("description of %d characters: %v", cases.MaxDescription, err)
	}
	if n := len([]rune(req.Description)); n != cases.MaxDescription {
		t.Errorf("description has %d characters, want %d", n, cases.MaxDescription)
	}
}

// fmsUpdate is a POST /servicerequestupdates as FixMyStreet sends it.
const fmsUpdate = "jurisdiction_id=exampleshire&api_key=k3y&service_request_id=CB-7KQ2M9&update_id=9876" +
	"&status=REOPEN&updated_datetime=2026-07-01T09%3A30%3A15%2B01%3A00&description=Still+there%0D%0Asorry" +
	"&first_name=Jo&last_name=-&email=jo%40example.org&service_code=POT" +
	"&media_url=https%3A%2F%2Fwww.fixmystreet.com%2Fc%2F9876.0.full.jpeg&attribute%5Bfms_extra_x%5D=1"

func TestDecodeUpdate(t *testing.T) {
	u, err := DecodeUpdate(post(formType, fmsUpdate), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &PostedUpdate{
		APIKey: "k3y", JurisdictionID: "exampleshire", ServiceRequestID: "CB-7KQ2M9", UpdateID: "9876",
		Status:      "reopen",
		Description: "Still there\nsorry",
		Contact:     Contact{FirstName: "Jo", Email: "jo@example.org"},
		ServiceCode: "POT",
		MediaURLs:   []string{"https://www.fixmystreet.com/c/9876.0.full.jpeg"},
		Attributes:  Attributes{"fms_extra_x": {"1"}},
	}
	// London time as FixMyStreet sends it; compared as an instant, whatever the local zone.
	if !u.UpdatedAt.Equal(time.Date(2026, 7, 1, 8, 30, 15, 0, time.UTC)) {
		t.Errorf("UpdatedAt = %v, want 08:30:15Z", u.UpdatedAt)
	}
	want.UpdatedAt = u.UpdatedAt
	if !reflect.DeepEqual(u, want) {
		t.Errorf("DecodeUpdate =\n%+v\nwant\n%+v", u, want)
	}

	// Lower case statuses and an empty description are fine too.
	body := strings.Replace(strings.Replace(fmsUpdate, "REOPEN", "in_progress", 1), "Still+there%0D%0Asorry", "", 1)
	if u, err := DecodeUpdate(post(formType, body), nil); err != nil || u.Status != "in_progress" || u.Description != "" {
		t.Errorf("DecodeUpdate(lower case, empty description) = %+v, %v", u, err)
	}
}

func TestDecodeUpdateErrors(t *testing.T) {
	const ok = "api_key=k&service_request_id=CB-1&update_id=1&status=OPEN&updated_datetime=2026-01-02T03:04:05Z"
	without := func(param string) string {
		var kept []string
		for kv := range strings.SplitSeq(ok, "&") {
			if !strings.HasPrefix(kv, param+"=") {
				kept = append(kept, kv)
			}
		}
		return strings.Join(kept, "&")
	}
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"no api_key", without("api_key"), 403, "api_key is missing"},
		{"no service_request_id", without("service_request_id"), 400, "service_request_id is missing"},
		{"no update_id", without("update_id"), 400, "update_id is missing"},
		{"no status", without("status"), 400, "status is missing"},
		{"status twice", ok + "&status=OPEN&status=CLOSED", 400, `status is sent twice with different values ("OPEN" and "CLOSED")`},
		{"unknown status", without("status") + "&status=SHELVED", 400, `status "SHELVED" is not one we know`},
		{"no updated_datetime", without("updated_datetime"), 400, "updated_datetime is missing"},
		{"zone-less updated_datetime", without("updated_datetime") + "&updated_datetime=2026-01-02T03:04:05", 400,
			`updated_datetime "2026-01-02T03:04:05" has no time zone`},
		{"bad media_url", ok + "&media_url=javascript:alert(1)", 400, "media_url"},
	}
	for _, tt := range tests {
		u, err := DecodeUpdate(post(formType, tt.body), nil)
		if err == nil {
			t.Errorf("%s: DecodeUpdate = %+v, want an error", tt.name, u)
			continue
		}
		if got := problemsOf(t, err, tt.status); !strings.Contains(got, tt.want) {
			t.Errorf("%s: problems:\n%s\nwant one containing %q", tt.name, got, tt.want)
		}
	}
}

func get(query string) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/open311/v2/requests.xml?"+query, nil)
}

func TestDecodeRequestQuery(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	at := func(s string) time.Time {
		t.Helper()
		v, err := ParseTime(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		query string
		want  RequestQuery
	}{
		{"", RequestQuery{Start: now.Add(-90 * day), End: now}},
		{"jurisdiction_id=exampleshire&service_code=POT,+FLY&service_code=BIN&status=OPEN",
			RequestQuery{JurisdictionID: "exampleshire", ServiceCodes: []string{"POT", "FLY", "BIN"}, Start: now.Add(-90 * day), End: now, Statuses: []string{"open"}}},
		{"status=open,closed&start_date=2026-06-01T00:00:00Z&end_date=2026-06-02T00:00:00%2B01:00",
			RequestQuery{Statuses: []string{"open", "closed"}, Start: at("2026-06-01T00:00:00Z"), End: at("2026-06-02T00:00:00+01:00")}},
		{"start_date=2026-01-01T00:00:00Z", RequestQuery{Start: at("2026-01-01T00:00:00Z"), End: at("2026-01-01T00:00:00Z").Add(90 * day)}},
		{"end_date=2026-01-01T00:00:00Z", RequestQuery{Start: at("2026-01-01T00:00:00Z").Add(-90 * day), End: at("2026-01-01T00:00:00Z")}},
		{"start_date=2026-01-01T00:00:00Z&end_date=2026-04-01T00:00:00Z", RequestQuery{Start: at("2026-01-01T00:00:00Z"), End: at("2026-04-01T00:00:00Z")}},
		// service_request_id overrides everything else, even filters that are wrong.
		{"service_request_id=CB-1,CB-2&service_request_id=CB-3&status=pending&start_date=yesterday",
			RequestQuery{ServiceRequestIDs: []string{"CB-1", "CB-2", "CB-3"}}},
	}
	for _, tt := range tests {
		q, err := DecodeRequestQuery(get(tt.query), now)
		if err != nil {
			t.Errorf("DecodeRequestQuery(%q): %v", tt.query, err)
			continue
		}
		if !reflect.DeepEqual(*q, tt.want) {
			t.Errorf("DecodeRequestQuery(%q) =\n%+v\nwant\n%+v", tt.query, *q, tt.want)
		}
	}
}

func TestDecodeRequestQueryErrors(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct{ query, want string }{
		{"start_date=2026-01-02", `start_date "2026-01-02" has no time`},
		{"end_date=2026-01-02T03:04:05%2B0100", `end_date "2026-01-02T03:04:05+0100" has an offset without a colon`},
		{"start_date=2026-01-02+03:04:05", `start_date "2026-01-02 03:04:05" has a space between date and time`},
		{"start_date=2026-03-02T00:00:00Z&end_date=2026-03-01T00:00:00Z", "end_date 2026-03-01T00:00:00Z is before start_date 2026-03-02T00:00:00Z"},
		{"start_date=2026-01-01T00:00:00Z&end_date=2026-04-01T00:00:01Z", "start_date 2026-01-01T00:00:00Z to end_date 2026-04-01T00:00:01Z is longer than 90 days: ask for a shorter window"},
		{"start_date=2025-01-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", "is longer than 90 days"},
		{"status=pending", `status "pending" is not a request status: use open, closed or open,closed`},
		{"status=open,fixed", `status "fixed" is not a request status`},
		{"service_code=POT%ZZ", "query string cannot be read"},
	}
	for _, tt := range tests {
		q, err := DecodeRequestQuery(get(tt.query), now)
		if err == nil {
			t.Errorf("DecodeRequestQuery(%q) = %+v, want an error", tt.query, q)
			continue
		}
		if got := problemsOf(t, err, 400); !strings.Contains(got, tt.want) {
			t.Errorf("DecodeRequestQuery(%q) problems:\n%s\nwant one containing %q", tt.query, got, tt.want)
		}
	}
}

func TestDecodeUpdateQuery(t *testing.T) {
	q, err := DecodeUpdateQuery(get("jurisdiction_id=exampleshire&api_key=&start_date=2026-07-01T10:00:00Z&end_date=2026-07-01T12:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	want := UpdateQuery{
		JurisdictionID: "exampleshire",
		Start:          time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC),
		End:            time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC),
	}
	if !reflect.DeepEqual(*q, want) {
		t.Errorf("DecodeUpdateQuery = %+v, want %+v", *q, want)
	}
	// Both dates are optional: Bromley's FixMyStreet sends none, and a year is fine.
	for _, query := range []string{"", "start_date=2025-01-01T00:00:00Z&end_date=2026-07-01T00:00:00Z", "end_date=2026-07-01T00:00:00Z"} {
		if _, err := DecodeUpdateQuery(get(query)); err != nil {
			t.Errorf("DecodeUpdateQuery(%q): %v", query, err)
		}
	}
	for query, wantErr := range map[string]string{
		"start_date=2026-07-01T12:00:00Z&end_date=2026-07-01T10:00:00Z": "is before start_date",
		"start_date=2026-07-01T12:00:00":                                "start_date",
		"end_date=now":                                                  `end_date "now" is not a W3C datetime`,
	} {
		_, err := DecodeUpdateQuery(get(query))
		if err == nil {
			t.Errorf("DecodeUpdateQuery(%q) succeeded, want an error", query)
			continue
		}
		if got := problemsOf(t, err, 400); !strings.Contains(got, wantErr) {
			t.Errorf("DecodeUpdateQuery(%q) problems:\n%s\nwant one containing %q", query, got, wantErr)
		}
	}
}
