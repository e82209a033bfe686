package open311

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// bst is London's summer time, to show times are written in UTC whatever zone they hold.
var bst = time.FixedZone("BST", 3600)

var (
	opened  = time.Date(2026, 7, 1, 9, 30, 15, 250_000_000, bst) // 08:30:15Z, fraction dropped
	changed = time.Date(2026, 7, 2, 14, 0, 0, 0, time.UTC)
)

func samples() []struct {
	name string
	body Body
} {
	return []struct {
		name string
		body Body
	}{
		{"discovery", Discovery{
			Changeset:  changed,
			Contact:    "Highways, Exampleshire Council, 01632 960000",
			KeyService: "Email open311@exampleshire.gov.uk for a key",
			Endpoints: []Endpoint{{
				Specification: Specification,
				URL:           "https://cases.exampleshire.gov.uk/open311/v2/",
				Changeset:     changed,
				Type:          "production",
				Formats:       []Format{XML, JSON},
			}},
		}},
		{"services", Services{
			{
				ServiceCode: "POT", ServiceName: "Pothole",
				Description: "A hole or sunken area in the road surface.",
				Metadata:    true, Keywords: []string{"road", "carriageway"},
				Groups: []string{"Roads & pavements"},
			},
			{
				ServiceCode: "FLY_TIP", ServiceName: "Fly-tipping", Type: "realtime",
				Keywords: []string{"private"},
				Groups:   []string{"Street cleaning", "Waste"},
			},
		}},
		{"service_definition", ServiceDefinition{
			ServiceCode: "POT",
			Attributes: []Attribute{
				{
					Variable: true, Code: "dangerous", Datatype: "singlevaluelist", Required: true,
					DatatypeDescription: "Choose one", Order: 1, Description: "Is it dangerous to the public?",
					Values: []Value{{Key: "yes", Name: "Yes"}, {Key: "no", Name: "No"}},
				},
				{
					Code: "fixmystreet_id", Datatype: "string", Order: 90,
					Description: "FixMyStreet report id", Automated: "server_set",
				},
			},
		}},
		{"receipt", Receipt{
			ServiceRequestID: "CB-7KQ2M9",
			ServiceNotice:    "Dangerous potholes are made safe within 24 hours.",
		}},
		{"receipt_token", Receipt{Token: "tok-12345", AccountID: "acct-9"}},
		{"token", TokenLookup{Token: "tok-12345", ServiceRequestID: "CB-7KQ2M9"}},
		{"requests", Requests{
			{
				ServiceRequestID: "CB-7KQ2M9", Status: "open",
				ServiceName: "Pothole", ServiceCode: "POT",
				Description:       "title: Deep pothole\n\ndetail: Outside <No. 12> & the shop\n\nSubmitted via FixMyStreet",
				AgencyResponsible: "Highways", ServiceNotice: "Inspected within 5 working days.",
				RequestedAt: opened, UpdatedAt: changed, ExpectedAt: changed.Add(72 * time.Hour),
				Address: "12 High Street, Exampleton", AddressID: "100012345678", Zipcode: "EX1 2AB",
				Point:    &Point{Lat: 51.501009, Long: -0.141588},
				MediaURL: "https://www.fixmystreet.com/photo/12345.0.full.jpeg?a=1&b=2",
			},
			{
				ServiceRequestID: "CB-AB12CD", Status: "closed", StatusNotes: "Café owner moved the bins.",
				ServiceCode: "FLY_TIP", RequestedAt: opened,
				Address: "Market Square",
			},
		}},
		{"updates", Updates{
			{
				UpdateID: "CB-7KQ2M9-3", ServiceRequestID: "CB-7KQ2M9", Status: "action_scheduled",
				UpdatedAt: opened, Description: "Repair booked for next week.",
				ExternalStatusCode: "SCH", CustomerReference: "CB-7KQ2M9", FixMyStreetID: "12345",
				Extras: map[string]string{"latest_data_only": "1", "category": "Pothole"},
			},
			{
				UpdateID: "CB-7KQ2M9-4", ServiceRequestID: "CB-7KQ2M9", Status: "fixed",
				UpdatedAt: changed, MediaURL: "https://cases.exampleshire.gov.uk/photo/after.jpeg",
			},
		}},
		{"updates_empty", Updates{}},
		{"update_receipt", UpdateReceipt{UpdateID: "CB-7KQ2M9-5"}},
	}
}

func sample(name string) Body {
	for _, s := range samples() {
		if s.name == name {
			return s.body
		}
	}
	panic("no sample " + name)
}

func TestGolden(t *testing.T) {
	for _, s := range samples() {
		for _, f := range []Format{XML, JSON} {
			t.Run(s.name+"."+string(f), func(t *testing.T) {
				rec := httptest.NewRecorder()
				if err := Write(rec, f, s.body); err != nil {
					t.Fatalf("Write: %v", err)
				}
				checkResponse(t, rec, f, http.StatusOK)
				golden(t, s.name+"."+string(f), rec.Body.Bytes())
			})
		}
	}
}

func TestGoldenErrors(t *testing.T) {
	e := &Error{Status: http.StatusBadRequest, Problems: []Problem{
		{Code: 400, Description: "service_code is missing: name one of the services listed by GET services.xml"},
		{Code: 400, Description: "lat is sent without long: send both, or neither"},
	}}
	for _, f := range []Format{XML, JSON} {
		t.Run(string(f), func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteError(rec, f, fmt.Errorf("decode: %w", e)); err != nil {
				t.Fatalf("WriteError: %v", err)
			}
			checkResponse(t, rec, f, http.StatusBadRequest)
			golden(t, "errors."+string(f), rec.Body.Bytes())
		})
	}
}

func checkResponse(t *testing.T, rec *httptest.ResponseRecorder, f Format, status int) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d", rec.Code, status)
	}
	if got, want := rec.Header().Get("Content-Type"), f.ContentType(); got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	body := rec.Body.Bytes()
	switch f {
	case XML:
		if !bytes.HasPrefix(body, []byte(`<?xml version="1.0" encoding="utf-8"?>`+"\n")) {
			t.Errorf("XML does not start with the utf-8 declaration:\n%s", body)
		}
	case JSON:
		if !json.Valid(body) {
			t.Errorf("invalid JSON:\n%s", body)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// The spec's element names, as a client built from the spec alone would read them.
type (
	specDiscovery struct {
		XMLName    xml.Name `xml:"discovery"`
		Changeset  string   `xml:"changeset"`
		Contact    string   `xml:"contact"`
		KeyService string   `xml:"key_service"`
		Endpoints  []struct {
			Specification string   `xml:"specification"`
			URL           string   `xml:"url"`
			Changeset     string   `xml:"changeset"`
			Type          string   `xml:"type"`
			Formats       []string `xml:"formats>format"`
		} `xml:"endpoints>endpoint"`
	}
	specServices struct {
		XMLName  xml.Name `xml:"services"`
		Services []struct {
			ServiceCode string   `xml:"service_code"`
			ServiceName string   `xml:"service_name"`
			Description string   `xml:"description"`
			Metadata    string   `xml:"metadata"`
			Type        string   `xml:"type"`
			Keywords    string   `xml:"keywords"`
			Group       string   `xml:"group"`
			Groups      []string `xml:"groups>group"`
		} `xml:"service"`
	}
	specDefinition struct {
		XMLName     xml.Name `xml:"service_definition"`
		ServiceCode string   `xml:"service_code"`
		Attributes  []struct {
			Variable            string `xml:"variable"`
			Code                string `xml:"code"`
			Datatype            string `xml:"datatype"`
			Required            string `xml:"required"`
			DatatypeDescription string `xml:"datatype_description"`
			Order               string `xml:"order"`
			Description         string `xml:"description"`
			Values              []struct {
				Key  string `xml:"key"`
				Name string `xml:"name"`
			} `xml:"values>value"`
			Automated string `xml:"automated"`
		} `xml:"attributes>attribute"`
	}
	specRequests struct {
		XMLName  xml.Name `xml:"service_requests"`
		Requests []struct {
			ServiceRequestID  string `xml:"service_request_id"`
			Token             string `xml:"token"`
			Status            string `xml:"status"`
			StatusNotes       string `xml:"status_notes"`
			ServiceName       string `xml:"service_name"`
			ServiceCode       string `xml:"service_code"`
			Description       string `xml:"description"`
			AgencyResponsible string `xml:"agency_responsible"`
			ServiceNotice     string `xml:"service_notice"`
			AccountID         string `xml:"account_id"`
			RequestedDatetime string `xml:"requested_datetime"`
			UpdatedDatetime   string `xml:"updated_datetime"`
			ExpectedDatetime  string `xml:"expected_datetime"`
			Address           string `xml:"address"`
			AddressID         string `xml:"address_id"`
			Zipcode           string `xml:"zipcode"`
			Lat               string `xml:"lat"`
			Long              string `xml:"long"`
			MediaURL          string `xml:"media_url"`
		} `xml:"request"`
	}
	specUpdates struct {
		XMLName xml.Name `xml:"service_request_updates"`
		Updates []struct {
			UpdateID           string `xml:"update_id"`
			ServiceRequestID   string `xml:"service_request_id"`
			Status             string `xml:"status"`
			UpdatedDatetime    string `xml:"updated_datetime"`
			Description        string `xml:"description"`
			MediaURL           string `xml:"media_url"`
			ExternalStatusCode string `xml:"external_status_code"`
			CustomerReference  string `xml:"customer_reference"`
			FixMyStreetID      string `xml:"fixmystreet_id"`
			AccountID          string `xml:"account_id"`
			Extras             struct {
				Category       string `xml:"category"`
				LatestDataOnly string `xml:"latest_data_only"`
			} `xml:"extras"`
		} `xml:"request_update"`
	}
	specErrors struct {
		XMLName xml.Name `xml:"errors"`
		Errors  []struct {
			Code        string `xml:"code"`
			Description string `xml:"description"`
		} `xml:"error"`
	}
)

// TestXMLRoundTrip reads our XML back with encoding/xml into the spec's element names
// and checks every value arrives as sent.
func TestXMLRoundTrip(t *testing.T) {
	docs := map[string]any{}
	for _, s := range samples() {
		b, err := Marshal(XML, s.body)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", s.name, err)
		}
		var v any
		switch s.body.(type) {
		case Discovery:
			v = &specDiscovery{}
		case Services:
			v = &specServices{}
		case ServiceDefinition:
			v = &specDefinition{}
		case Receipt, TokenLookup, Requests:
			v = &specRequests{}
		case Updates, UpdateReceipt:
			v = &specUpdates{}
		}
		if err := xml.Unmarshal(b, v); err != nil {
			t.Fatalf("xml.Unmarshal(%s): %v\n%s", s.name, err, b)
		}
		docs[s.name] = v
	}

	d := docs["discovery"].(*specDiscovery)
	if len(d.Endpoints) != 1 || d.Changeset != "2026-07-02T14:00:00Z" || d.Contact == "" || d.KeyService == "" {
		t.Errorf("discovery = %+v", d)
	} else if ep := d.Endpoints[0]; ep.Specification != Specification || ep.Type != "production" ||
		ep.URL != "https://cases.exampleshire.gov.uk/open311/v2/" ||
		!reflect.DeepEqual(ep.Formats, []string{"text/xml", "application/json"}) {
		t.Errorf("discovery endpoint = %+v", ep)
	}

	sv := docs["services"].(*specServices)
	if len(sv.Services) != 2 {
		t.Fatalf("services = %+v", sv)
	}
	if s := sv.Services[0]; s.ServiceCode != "POT" || s.ServiceName != "Pothole" || s.Metadata != "true" ||
		s.Type != "realtime" || s.Keywords != "road,carriageway" || s.Group != "Roads & pavements" || s.Groups != nil {
		t.Errorf("service 0 = %+v", s)
	}
	if s := sv.Services[1]; s.Metadata != "false" || s.Description != "" || s.Group != "Street cleaning" ||
		!reflect.DeepEqual(s.Groups, []string{"Street cleaning", "Waste"}) {
		t.Errorf("service 1 = %+v", s)
	}

	def := docs["service_definition"].(*specDefinition)
	if def.ServiceCode != "POT" || len(def.Attributes) != 2 {
		t.Fatalf("service_definition = %+v", def)
	}
	if a := def.Attributes[0]; a.Variable != "true" || a.Code != "dangerous" || a.Required != "true" ||
		a.Order != "1" || a.DatatypeDescription != "Choose one" || len(a.Values) != 2 ||
		a.Values[1].Key != "no" || a.Values[1].Name != "No" || a.Automated != "" {
		t.Errorf("attribute 0 = %+v", a)
	}
	if a := def.Attributes[1]; a.Variable != "false" || a.Automated != "server_set" || a.Values != nil {
		t.Errorf("attribute 1 = %+v", a)
	}

	if r := docs["receipt"].(*specRequests).Requests; len(r) != 1 || r[0].ServiceRequestID != "CB-7KQ2M9" ||
		r[0].Token != "" || r[0].ServiceNotice == "" {
		t.Errorf("receipt = %+v", r)
	}
	if r := docs["receipt_token"].(*specRequests).Requests; len(r) != 1 || r[0].Token != "tok-12345" ||
		r[0].ServiceRequestID != "" || r[0].AccountID != "acct-9" {
		t.Errorf("receipt with token = %+v", r)
	}
	if r := docs["token"].(*specRequests).Requests; len(r) != 1 || r[0].Token != "tok-12345" || r[0].ServiceRequestID != "CB-7KQ2M9" {
		t.Errorf("token lookup = %+v", r)
	}

	rs := docs["requests"].(*specRequests).Requests
	want := sample("requests").(Requests)[0]
	if len(rs) != 2 {
		t.Fatalf("requests = %+v", rs)
	}
	if r := rs[0]; r.ServiceRequestID != want.ServiceRequestID || r.Status != "open" || r.Description != want.Description ||
		r.RequestedDatetime != "2026-07-01T08:30:15Z" || r.UpdatedDatetime != "2026-07-02T14:00:00Z" ||
		r.ExpectedDatetime != "2026-07-05T14:00:00Z" || r.Lat != "51.501009" || r.Long != "-0.141588" ||
		r.MediaURL != want.MediaURL || r.Zipcode != "EX1 2AB" || r.AddressID != "100012345678" ||
		r.AgencyResponsible != "Highways" || r.ServiceName != "Pothole" || r.ServiceCode != "POT" {
		t.Errorf("request 0 = %+v", r)
	}
	if r := rs[1]; r.Status != "closed" || r.StatusNotes != "Café owner moved the bins." || r.Lat != "" || r.UpdatedDatetime != "" {
		t.Errorf("request 1 = %+v", r)
	}

	us := docs["updates"].(*specUpdates).Updates
	if len(us) != 2 {
		t.Fatalf("updates = %+v", us)
	}
	if u := us[0]; u.UpdateID != "CB-7KQ2M9-3" || u.Status != "action_scheduled" || u.UpdatedDatetime != "2026-07-01T08:30:15Z" ||
		u.ExternalStatusCode != "SCH" || u.FixMyStreetID != "12345" || u.CustomerReference != "CB-7KQ2M9" ||
		u.Extras.Category != "Pothole" || u.Extras.LatestDataOnly != "1" {
		t.Errorf("update 0 = %+v", u)
	}
	if u := us[1]; u.Status != "fixed" || u.Description != "" || !strings.HasSuffix(u.MediaURL, "after.jpeg") {
		t.Errorf("update 1 = %+v", u)
	}
	if u := docs["updates_empty"].(*specUpdates).Updates; len(u) != 0 {
		t.Errorf("empty updates = %+v", u)
	}
	if u := docs["update_receipt"].(*specUpdates).Updates; len(u) != 1 || u[0].UpdateID != "CB-7KQ2M9-5" {
		t.Errorf("update receipt = %+v", u)
	}
}

// TestXMLShape checks what FixMyStreet's parsers depend on beyond element names: no
// attributes or namespaces anywhere, no padding inside text, and required elements of
// an update present even when empty.
func TestXMLShape(t *testing.T) {
	for _, s := range samples() {
		b, err := Marshal(XML, s.body)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", s.name, err)
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		type open struct {
			name     string
			children bool
			text     strings.Builder
		}
		var stack []*open
		leaves := map[string]int{}
		for {
			tok, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				if len(tok.Attr) > 0 || tok.Name.Space != "" {
					t.Errorf("%s: <%s> has attributes %v or namespace %q", s.name, tok.Name.Local, tok.Attr, tok.Name.Space)
				}
				if len(stack) > 0 {
					stack[len(stack)-1].children = true
				}
				stack = append(stack, &open{name: tok.Name.Local})
			case xml.CharData:
				if len(stack) > 0 {
					stack[len(stack)-1].text.Write(tok)
				}
			case xml.EndElement:
				el := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				text := el.text.String()
				switch {
				case el.children && strings.TrimSpace(text) != "":
					t.Errorf("%s: <%s> mixes text %q with elements", s.name, el.name, text)
				case !el.children && strings.TrimSpace(text) != text:
					t.Errorf("%s: <%s> has padded text %q", s.name, el.name, text)
				case !el.children:
					names := make([]string, 0, len(stack)+1)
					for _, o := range stack {
						names = append(names, o.name)
					}
					leaves[strings.Join(append(names, el.name), "/")]++
				}
			}
		}
		if s.name == "updates" {
			for _, el := range []string{"description", "media_url"} {
				if n := leaves["service_request_updates/request_update/"+el]; n != len(s.body.(Updates)) {
					t.Errorf("updates: <%s> appears in %d of %d updates", el, n, len(s.body.(Updates)))
				}
			}
		}
	}
}

// TestJSONSpark checks the Spark convention: root dropped, containers are arrays, and
// numbers and booleans are bare.
func TestJSONSpark(t *testing.T) {
	for _, s := range samples() {
		b, err := Marshal(JSON, s.body)
		if err != nil {
			t.Fatalf("Marshal(%s): %v", s.name, err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, b)
		}
		_, isArray := v.([]any)
		switch s.body.(type) {
		case Discovery, ServiceDefinition:
			if isArray {
				t.Errorf("%s: JSON root is an array, want an object", s.name)
			}
		default:
			if !isArray {
				t.Errorf("%s: JSON root is %T, want an array", s.name, v)
			}
		}
	}
	var reqs []struct {
		Lat    float64 `json:"lat"`
		Status string  `json:"status"`
	}
	b, _ := Marshal(JSON, sample("requests"))
	if err := json.Unmarshal(b, &reqs); err != nil || reqs[0].Lat != 51.501009 || reqs[0].Status != "open" {
		t.Errorf("requests JSON = %+v (%v)", reqs, err)
	}
	var def struct {
		Attributes []struct {
			Variable bool `json:"variable"`
			Order    int  `json:"order"`
			Values   []struct {
				Key string `json:"key"`
			} `json:"values"`
		} `json:"attributes"`
	}
	b, _ = Marshal(JSON, sample("service_definition"))
	if err := json.Unmarshal(b, &def); err != nil || !def.Attributes[0].Variable || def.Attributes[0].Order != 1 ||
		def.Attributes[0].Values[0].Key != "yes" {
		t.Errorf("service definition JSON = %+v (%v)", def, err)
	}
	if b, _ := Marshal(JSON, Updates(nil)); strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("no updates = %s, want []", b)
	}
}

func TestMarshalRejects(t *testing.T) {
	at := changed
	tests := []struct {
		name string
		body Body
		want string
	}{
		{"receipt with neither id nor token", Receipt{}, "exactly one"},
		{"receipt with both", Receipt{ServiceRequestID: "CB-1", Token: "t"}, "exactly one"},
		{"receipt id 0", Receipt{ServiceRequestID: "0"}, "failure"},
		{"update receipt without id", UpdateReceipt{}, "failure"},
		{"update receipt id 0", UpdateReceipt{UpdateID: "0"}, "failure"},
		{"token lookup without token", TokenLookup{ServiceRequestID: "CB-1"}, "token is empty"},
		{"request with extended status", Requests{{ServiceRequestID: "CB-1", Status: "in_progress", RequestedAt: at}}, "neither open nor closed"},
		{"request without requested time", Requests{{ServiceRequestID: "CB-1", Status: "open"}}, "requested_datetime"},
		{"request with NaN lat", Requests{{ServiceRequestID: "CB-1", Status: "open", RequestedAt: at, Point: &Point{Lat: math.NaN()}}}, "lat"},
		{"request with long out of range", Requests{{ServiceRequestID: "CB-1", Status: "open", RequestedAt: at, Point: &Point{Long: 181}}}, "long"},
		{"update with internal status", Updates{{UpdateID: "u", ServiceRequestID: "CB-1", Status: "waiting_on_citizen", UpdatedAt: at}}, "waiting_on_citizen"},
		{"update with upper-case status", Updates{{UpdateID: "u", ServiceRequestID: "CB-1", Status: "FIXED", UpdatedAt: at}}, "FIXED"},
		{"update without time", Updates{{UpdateID: "u", ServiceRequestID: "CB-1", Status: "fixed"}}, "updated_datetime"},
		{"update without request id", Updates{{UpdateID: "u", Status: "fixed", UpdatedAt: at}}, "service_request_id"},
		{"update with bad extras key", Updates{{UpdateID: "u", ServiceRequestID: "CB-1", Status: "fixed", UpdatedAt: at,
			Extras: map[string]string{"1st choice": "x"}}}, "extras key"},
		{"service without code", Services{{ServiceName: "x"}}, "service 0: service_code"},
		{"service with odd type", Services{{ServiceCode: "X", Type: "instant"}}, "instant"},
		{"attribute with odd datatype", ServiceDefinition{ServiceCode: "X", Attributes: []Attribute{{Code: "a", Datatype: "bool"}}}, "bool"},
		{"endpoint with odd type", Discovery{Endpoints: []Endpoint{{Type: "staging"}}}, "staging"},
		{"endpoint with odd format", Discovery{Endpoints: []Endpoint{{Type: "test", Formats: []Format{"html"}}}}, "html"},
	}
	for _, tt := range tests {
		for _, f := range []Format{XML, JSON} {
			_, err := Marshal(f, tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: Marshal(%s) error = %v, want one mentioning %q", tt.name, f, err, tt.want)
			}
		}
	}
	if _, err := Marshal("html", Services{}); err == nil {
		t.Error(`Marshal("html", …) succeeded`)
	}
}

// TestWriteFailure: a body that cannot be encoded becomes a 500 errors document that
// does not leak the reason, which Write returns instead.
func TestWriteFailure(t *testing.T) {
	rec := httptest.NewRecorder()
	err := Write(rec, JSON, Receipt{})
	if err == nil {
		t.Fatal("Write(Receipt{}) = nil error")
	}
	checkResponse(t, rec, JSON, http.StatusInternalServerError)
	if strings.Contains(rec.Body.String(), "exactly one") {
		t.Errorf("500 body leaks the encoding error: %s", rec.Body)
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		f          Format
		err        error
		wantStatus int
		wantFormat Format
		want       string
	}{
		{"not found", XML, NotFound("service_code %q does not exist", "NOPE"), 404, XML, `<description>service_code &#34;NOPE&#34; does not exist</description>`},
		{"forbidden in JSON", JSON, Forbidden("api_key is wrong"), 403, JSON, `"code": 403`},
		{"wrapped", JSON, fmt.Errorf("intake: %w", BadRequest("x")), 400, JSON, `"description": "x"`},
		{"plain error hides its text", JSON, errors.New("redis: jo@example.org timed out"), 500, JSON, "internal server error"},
		{"unknown format falls back to XML", "html", BadRequest("bad"), 400, XML, "<errors>"},
		{"error without problems", XML, &Error{Status: 404}, 404, XML, "<description>Not Found</description>"},
		{"error without status", XML, &Error{Problems: []Problem{{Code: 1, Description: "d"}}}, 500, XML, "<code>1</code>"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		if err := WriteError(rec, tt.f, tt.err); err != nil {
			t.Fatalf("%s: WriteError: %v", tt.name, err)
		}
		checkResponse(t, rec, tt.wantFormat, tt.wantStatus)
		if body := rec.Body.String(); !strings.Contains(body, tt.want) || strings.Contains(body, "jo@example.org") {
			t.Errorf("%s: body = %s, want it to contain %q", tt.name, body, tt.want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	if got, want := formatTime(opened), "2026-07-01T08:30:15Z"; got != want {
		t.Errorf("formatTime(%v) = %q, want %q", opened, got, want)
	}
}
