package open311

import (
	"bytes"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/casebridge/casebridge/cases"
)

// FuzzDecodeRequest feeds DecodeRequest arbitrary bodies, Content-Types and query
// strings. It must never panic; a rejection must be a well-formed *Error; and an
// accepted request must satisfy what callers rely on, the location rule first.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(formType, fmsReport, "")
	f.Add(formType+"; charset=utf-8", "api_key=k&service_code=POT&address_string=High+St&attribute[a][]=1&attribute[a]=2", "jurisdiction_id=x")
	f.Add(formType, "api_key=k&service_code=POT&lat=51.5", "long=-0.1")
	f.Add(formType, "api_key=k&service_code=POT&lat=1e1&long=-.5&description=a%0D%0Ab%0D", "")
	f.Add("", "api_key=k&service_code=POT&address_id=1&media_url=http://x/y", "")
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.SetBoundary("fuzzboundary")
	mw.WriteField("api_key", "k")
	mw.WriteField("service_code", "POT")
	mw.WriteField("lat", "51.5")
	mw.WriteField("long", "-0.12")
	fw, _ := mw.CreateFormFile("photo1", "1.jpeg")
	fw.Write([]byte("\xff\xd8\xff"))
	mw.Close()
	f.Add("multipart/form-data; boundary=fuzzboundary", mp.String(), "")

	f.Fuzz(func(t *testing.T, contentType, body, query string) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Path: "/open311/v2/requests.xml", RawQuery: query},
			Header: http.Header{"Content-Type": {contentType}},
			Body:   io.NopCloser(strings.NewReader(body)),
		}
		req, err := DecodeRequest(r, nil)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %v is a %T, want *Error", err, err)
			}
			if e.Status != 400 && e.Status != 403 && e.Status != 404 {
				t.Fatalf("status %d", e.Status)
			}
			if len(e.Problems) == 0 {
				t.Fatal("*Error without problems")
			}
			for _, p := range e.Problems {
				if p.Description == "" || !utf8.ValidString(p.Description) {
					t.Fatalf("problem %+v has no readable description", p)
				}
			}
			return
		}
		if req.Point == nil && req.AddressString == "" && req.AddressID == "" {
			t.Fatalf("accepted without a location: %+v", req)
		}
		if p := req.Point; p != nil && (math.IsNaN(p.Lat) || math.IsNaN(p.Long) ||
			math.Abs(p.Lat) > 90 || math.Abs(p.Long) > 180) {
			t.Fatalf("accepted an impossible point %+v", *p)
		}
		if req.ServiceCode == "" || req.APIKey == "" {
			t.Fatalf("accepted without service_code or api_key: %+v", req)
		}
		if n := utf8.RuneCountInString(req.Description); n > cases.MaxDescription {
			t.Fatalf("accepted a description of %d characters", n)
		}
		var repeated []string // every repeatable value: never empty, per the spec's "empty means absent"
		repeated = append(repeated, req.MediaURLs...)
		for code, vs := range req.Attributes {
			if len(vs) == 0 {
				t.Fatalf("attribute %q has no values", code)
			}
			repeated = append(repeated, vs...)
		}
		for _, s := range repeated {
			if strings.TrimSpace(s) == "" {
				t.Fatalf("accepted an empty value in %+v", req)
			}
		}
		texts := append([]string{req.ServiceCode, req.Description, req.AddressString, req.AddressID, req.Email, req.LastName}, repeated...)
		for _, s := range texts {
			if !utf8.ValidString(s) || strings.Contains(s, "\r") {
				t.Fatalf("accepted value %q is not UTF-8 with LF newlines", s)
			}
		}
	})
}
