package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/cases"
)

// chars is n characters of c.
func chars(c string, n int) string { return strings.Repeat(c, n) }

// odd are the megabyte-sized values every field is tried with: plain text,
// NULs, bytes that are not UTF-8, right-to-left marks and overrides, emoji.
var odd = map[string]func(n int) string{
	"text":      func(n int) string { return chars("a", n) },
	"NUL":       func(n int) string { return chars("a\x00", n/2) },
	"not UTF-8": func(n int) string { return chars("\xff", n) },
	"RTL":       func(n int) string { return chars("\u200f\u202e", n/6) },
	"emoji":     func(n int) string { return chars("👩‍👩‍👧", n/18) },
}

// wireField is an Open311 parameter: its limit, and what a request at the
// limit is answered (200, or 404 for a value that must name something the
// council has, and 400 where the value must be one of a set).
type wireField struct {
	name    string
	max     int
	atLimit int
	fill    string // the character the value at its limit is made of
}

var requestFields = []wireField{
	{"first_name", cases.MaxName, 200, "é"}, {"last_name", cases.MaxName, 200, "😀"},
	{"email", cases.MaxEmail, 200, "e"}, {"phone", cases.MaxPhone, 200, "1"},
	{"account_id", cases.MaxID, 200, "a"}, {"device_id", cases.MaxID, 200, "d"},
	{"address_string", cases.MaxAddress, 200, "\u200fش"}, {"address_id", cases.MaxID, 200, "1"},
	{"description", cases.MaxDescription, 200, "😀"}, {"media_url", cases.MaxURL, 200, "https://e.org/"},
	{"attribute[uprn]", cases.MaxAttributeValue, 200, "1"}, {"attribute[title]", cases.MaxTitle, 200, "t"},
	{"attribute[description]", cases.MaxDescription, 200, "d"}, {"attribute[closest_address]", cases.MaxAddress, 200, "c"},
	{"attribute[report_url]", cases.MaxURL, 200, "u"}, {"attribute[fixmystreet_id]", cases.MaxAttributeValue, 200, "9"},
	{"jurisdiction_id", cases.MaxJurisdiction, 404, "j"}, {"service_code", cases.MaxCode, 404, "S"},
	{"lat", 32, 200, "0"},
}

var updateFields = []wireField{
	{"update_id", cases.MaxID, 200, "u"}, {"description", cases.MaxNote, 200, "😀"},
	{"first_name", cases.MaxName, 200, "é"}, {"email", cases.MaxEmail, 200, "e"}, {"phone", cases.MaxPhone, 200, "1"},
	{"media_url", cases.MaxURL, 200, "https://e.org/"}, {"service_code", cases.MaxCode, 200, "S"},
	{"attribute[x]", cases.MaxAttributeValue, 200, "x"}, {"status", cases.MaxCode, 400, "s"},
	{"updated_datetime", 64, 400, "2"}, {"service_request_id", cases.MaxID, 404, "C"},
}

// sized is f's value of n characters.
func (f wireField) sized(n int) string {
	switch f.name {
	case "media_url":
		return f.fill + chars("p", n-len(f.fill))
	case "lat":
		return "51." + chars("0", n-3)
	}
	return chars(f.fill, n/len([]rune(f.fill)))
}

// TestOpen311FieldLimits posts every Open311 field at its limit and one past
// it, then at several megabytes of odd characters: past the limit is always a
// 400 with the spec's errors naming the field, never a 5xx.
func TestOpen311FieldLimits(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("0"))
	n := 0
	post := func(path string, v url.Values) response {
		return h.postForm(path, v)
	}
	request := func(name, value string) url.Values {
		n++
		v := pothole(fmt.Sprint(1000 + n))
		v.Set(name, value)
		return v
	}
	update := func(name, value string) url.Values {
		n++
		v := url.Values{"api_key": {testKey}, "service_request_id": {ref}, "update_id": {fmt.Sprint("u", n)},
			"status": {"OPEN"}, "updated_datetime": {"2026-11-02T10:00:00Z"}, "description": {"Still there"}}
		v.Set(name, value)
		return v
	}
	fives := 0
	for _, tc := range []struct {
		path   string
		fields []wireField
		build  func(name, value string) url.Values
	}{
		{"/open311/v2/requests.xml", requestFields, request},
		{"/open311/v2/servicerequestupdates.json", updateFields, update},
	} {
		for _, f := range tc.fields {
			if r := post(tc.path, tc.build(f.name, f.sized(f.max))); r.status != f.atLimit {
				t.Errorf("POST %s with %s at its limit of %d: %d %.300s, want %d", tc.path, f.name, f.max, r.status, r.body, f.atLimit)
			}
			h.open311Error(post(tc.path, tc.build(f.name, f.sized(f.max)+"x")), 400, f.name+" is longer than")
			for kind, make := range odd {
				r := post(tc.path, tc.build(f.name, make(3<<20)))
				if r.status >= 500 {
					fives++
				}
				if r.status != 400 || !bytes.Contains(r.body, []byte(f.name)) {
					t.Errorf("POST %s with 3 MiB of %s in %s: %d %.300s, want 400 naming it", tc.path, kind, f.name, r.status, r.body)
				}
			}
		}
	}
	// Short values with characters no field takes.
	for _, tc := range []struct{ name, value, want string }{
		{"first_name", "Jo\x00", "first_name contains a control character"},
		{"address_string", "1 High St\x1b[2J", "address_string contains a control character"},
		{"email", "jo@example.org\r\nBcc: x@y.z", "email contains a line break"},
		{"phone", "\xff\xfe", "phone is not UTF-8"},
	} {
		h.open311Error(post("/open311/v2/requests.xml", request(tc.name, tc.value)), 400, tc.want)
	}
	t.Logf("%d answers of 5xx to fields of 3 MiB", fives)
	// The case those updates were aimed at still takes a note.
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/comments", `{"note":"still here"}`, "agent-token"); r.status != 201 {
		t.Errorf("a note after the sweep: %d %s", r.status, r.body)
	}
}

// staffField is a staff API field: the route and the body that carries it.
type staffField struct {
	field string // as the problem document names it
	max   int
	path  string // under /api/v1/cases/{ref}, or "" for intake
	body  func(v string) any
	// atLimit is what a request at the limit is answered: a value that must
	// name something the council has is refused, naming it.
	atLimit int
}

func intakeWith(set func(m map[string]any, v string)) func(string) any {
	return func(v string) any {
		m := map[string]any{"service_code": "FLY", "location": map[string]any{"address": "1 High St"},
			"attributes": map[string]any{"waste_type": "tyres", "amount": "single"}, "reporter": map[string]any{}}
		set(m, v)
		return m
	}
}

func nested(key, field string) func(m map[string]any, v string) {
	return func(m map[string]any, v string) { m[key].(map[string]any)[field] = v }
}

var staffFields = []staffField{
	{"assignee", cases.MaxLabel, "/assignment", func(v string) any { return map[string]string{"assignee": v} }, 200},
	{"note", cases.MaxNote, "/assignment", func(v string) any { return map[string]string{"assignee": "x" + fmt.Sprint(len(v)), "note": v} }, 200},
	{"department", cases.MaxCode, "/transfer", func(v string) any { return map[string]string{"department": v} }, 422},
	{"team", cases.MaxLabel, "/transfer", func(v string) any { return map[string]string{"department": "parks", "team": v} }, 422},
	{"note", cases.MaxNote, "/transfer", func(v string) any { return map[string]string{"department": "", "note": v} }, 200},
	{"service_code", cases.MaxCode, "/category", func(v string) any { return map[string]string{"service_code": v} }, 422},
	{"note", cases.MaxNote, "/priority", func(v string) any {
		return map[string]string{"priority": []string{"urgent", "low"}[len(v)%2], "note": v}
	}, 200},
	{"note", cases.MaxNote, "/comments", func(v string) any { return map[string]string{"note": v} }, 201},
	{"note", cases.MaxNote, "/transitions", func(v string) any {
		return map[string]string{"status": []string{"investigating", "in_progress"}[len(v)%2], "note": v}
	}, 200},
	{"title", cases.MaxTitle, "", intakeWith(func(m map[string]any, v string) { m["title"] = v }), 201},
	{"description", cases.MaxDescription, "", intakeWith(func(m map[string]any, v string) { m["description"] = v }), 201},
	{"location.address", cases.MaxAddress, "", intakeWith(nested("location", "address")), 201},
	{"location.address_id", cases.MaxID, "", intakeWith(nested("location", "address_id")), 201},
	{"reporter.first_name", cases.MaxName, "", intakeWith(nested("reporter", "first_name")), 201},
	{"reporter.last_name", cases.MaxName, "", intakeWith(nested("reporter", "last_name")), 201},
	{"reporter.email", cases.MaxEmail, "", intakeWith(nested("reporter", "email")), 201},
	{"reporter.phone", cases.MaxPhone, "", intakeWith(nested("reporter", "phone")), 201},
	{"attributes.uprn", cases.MaxAttributeValue, "", intakeWith(nested("attributes", "uprn")), 201},
	{"service_code", cases.MaxCode, "", intakeWith(func(m map[string]any, v string) { m["service_code"] = v }), 422},
}

// TestStaffFieldLimits sends every staff field at its limit and one past it,
// then at several megabytes of odd characters: past the limit is a 422
// naming the field, never a 5xx, and the case goes on taking changes.
func TestStaffFieldLimits(t *testing.T) {
	h := newHarness(t)
	ref := h.postReport(pothole("1"))
	// sendRaw sends a JSON body as it is; send writes it with v in f.
	sendRaw := func(f staffField, body string) (response, Problem) {
		path := "/api/v1/cases"
		if f.path != "" {
			path += "/" + ref + f.path
		}
		r := h.do("POST", path, strings.NewReader(body), "application/json", "Authorization", "Bearer "+testToken)
		var p Problem
		json.Unmarshal(r.body, &p)
		return r, p
	}
	send := func(f staffField, v string) (response, Problem) {
		b, _ := json.Marshal(f.body(v))
		return sendRaw(f, string(b))
	}
	for _, f := range staffFields {
		v := chars("😀", f.max)
		if r, p := send(f, v); r.status != f.atLimit || r.status == 422 && (p.Field != f.field || strings.Contains(p.Detail, "longer")) {
			t.Errorf("%s%s at its limit of %d: %d %.300s, want %d", f.path, f.field, f.max, r.status, r.body, f.atLimit)
		}
		if r, p := send(f, v+"x"); r.status != 422 || p.Field != f.field {
			t.Errorf("%s %s one past its limit: %d %.300s, want 422 naming it", f.path, f.field, r.status, r.body)
		}
		if r, p := send(f, "a\x00b"); r.status != 422 || p.Field != f.field {
			t.Errorf("%s %s with a NUL: %d %.300s, want 422 naming it", f.path, f.field, r.status, r.body)
		}
	}
	// Megabytes, sent as they come: JSON written by hand, so bytes that are
	// not UTF-8 arrive as they are.
	fives := 0
	for _, f := range staffFields {
		for kind, make := range odd {
			const marker = "\x01MARK\x01"
			b, _ := json.Marshal(f.body(marker))
			r, p := sendRaw(f, strings.Replace(string(b), `\u0001MARK\u0001`, strings.ReplaceAll(make(3<<20), "\x00", `\u0000`), 1))
			if r.status >= 500 {
				fives++
			}
			if r.status != 422 || p.Field != f.field {
				t.Errorf("%s %s of 3 MiB of %s: %d %.300s, want 422 naming it", f.path, f.field, kind, r.status, r.body)
			}
		}
	}
	t.Logf("%d answers of 5xx to fields of 3 MiB", fives)
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/comments", `{"note":"still here"}`, "agent-token"); r.status != 201 {
		t.Errorf("a note after the sweep: %d %s", r.status, r.body)
	}
	// A body of many small fields past the limit cannot name one: 413.
	many := `{"note":"x"` + chars(`,"note":"x"`, 200_000) + `}`
	if r := h.staff("POST", "/api/v1/cases/"+ref+"/comments", many, "agent-token"); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB of short fields: %d %.300s, want 413", r.status, r.body)
	}
}

func TestJSONFieldAt(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"assignee":"aaaa`, "assignee"},
		{`{"a":1,"location":{"lat":1,"address":"xx`, "location.address"},
		{`{"attributes":{"q":["a","bbb`, "attributes.q"},
		{`{"a":"b","c":{"d":"e"},"f":"gg`, "f"},
		{`{"aaaa`, ""},
		{`["aaa`, ""},
	} {
		if got := jsonFieldAt([]byte(tc.doc)); got != tc.want {
			t.Errorf("jsonFieldAt(%s) = %q, want %q", tc.doc, got, tc.want)
		}
	}
}

// TestOpenAPIPublishesTheLimits: the OpenAPI document gives each staff field
// the domain's limit.
func TestOpenAPIPublishesTheLimits(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) any {
		var v any = doc
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	body := func(route string) []string {
		return []string{"paths", route, "post", "requestBody", "content", "application/json", "schema", "properties"}
	}
	newCase := []string{"components", "schemas", "NewCase", "properties"}
	for _, tc := range []struct {
		path []string
		max  int
	}{
		{append(body("/cases/{ref}/assignment"), "assignee", "maxLength"), cases.MaxLabel},
		{append(body("/cases/{ref}/transfer"), "department", "maxLength"), cases.MaxCode},
		{append(body("/cases/{ref}/transfer"), "team", "maxLength"), cases.MaxLabel},
		{append(body("/cases/{ref}/category"), "service_code", "maxLength"), cases.MaxCode},
		{append(body("/cases/{ref}/priority"), "note", "maxLength"), cases.MaxNote},
		{[]string{"components", "schemas", "Transition", "properties", "note", "maxLength"}, cases.MaxNote},
		{[]string{"components", "schemas", "Comment", "properties", "note", "maxLength"}, cases.MaxNote},
		{append(newCase, "title", "maxLength"), cases.MaxTitle},
		{append(newCase, "description", "maxLength"), cases.MaxDescription},
		{append(newCase, "service_code", "maxLength"), cases.MaxCode},
		{append(newCase, "location", "properties", "address", "maxLength"), cases.MaxAddress},
		{append(newCase, "location", "properties", "address_id", "maxLength"), cases.MaxID},
		{append(newCase, "reporter", "properties", "first_name", "maxLength"), cases.MaxName},
		{append(newCase, "reporter", "properties", "email", "maxLength"), cases.MaxEmail},
		{append(newCase, "reporter", "properties", "phone", "maxLength"), cases.MaxPhone},
		{append(newCase, "attributes", "maxProperties"), cases.MaxAttributes},
		{[]string{"components", "parameters", "IdempotencyKey", "schema", "maxLength"}, cases.MaxIdempotencyKey},
	} {
		if got, _ := at(tc.path...).(float64); int(got) != tc.max {
			t.Errorf("%s = %v, want %d", strings.Join(tc.path, "."), at(tc.path...), tc.max)
		}
	}
}

// TestAnOversizedBodyIsAnswered: a client that writes its whole body before it
// reads, as FixMyStreet's does, gets the 400 saying why, not a reset
// connection (which it would retry for ever).
func TestAnOversizedBodyIsAnswered(t *testing.T) {
	h := newHarness(t)
	body := pothole("1")
	body.Set("address_string", chars("a", 8<<20))
	enc := body.Encode()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /open311/v2/requests.xml HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", len(enc))
	if _, err := io.WriteString(conn, head+enc); err != nil {
		t.Fatalf("writing the body: %v; the server stopped reading before answering", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !bytes.Contains(b, []byte("address_string is longer than 500 characters")) {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

// TestServiceDefinitionsPublishTheLimits: each text question's limit is in
// its datatype_description, where GeoReport has room for it.
func TestServiceDefinitionsPublishTheLimits(t *testing.T) {
	h := newHarness(t)
	var def struct {
		Attributes []struct {
			Code        string `json:"code"`
			Datatype    string `json:"datatype"`
			Description string `json:"datatype_description"`
		} `json:"attributes"`
	}
	r := h.get("/open311/v2/services/POT.json")
	if err := json.Unmarshal(r.body, &def); err != nil || len(def.Attributes) == 0 {
		t.Fatalf("GET services/POT.json: %d %s", r.status, r.body)
	}
	for _, a := range def.Attributes {
		want := fmt.Sprintf("Up to %d characters.", cases.MaxAttribute(a.Code))
		text := a.Datatype == "string" || a.Datatype == "text"
		if text != strings.Contains(a.Description, want) {
			t.Errorf("%s (%s): datatype_description %q", a.Code, a.Datatype, a.Description)
		}
	}
}
