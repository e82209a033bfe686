package open311

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/cases"
)

// wide is n characters that take the most room percent-encoded: 4 UTF-8
// bytes, 12 bytes on the wire each.
func wide(n int) string { return strings.Repeat("😀", n) }

// maxRequest is a POST /requests with every parameter casebridge keeps at its
// limit, in the widest characters each allows.
func maxRequest() url.Values {
	v := url.Values{"api_key": {"k3y"}, "lat": {"51.5"}, "long": {"-0.1"}}
	for name, max := range Limits() {
		switch name {
		case "lat", "long", "start_date", "end_date", "updated_datetime", "service_request_id", "update_id", "status":
		case "media_url":
			for range cases.MaxMediaURLs {
				v.Add(name, "https://e.org/"+strings.Repeat("<", max-len("https://e.org/")))
			}
		default:
			v.Set(name, wide(max))
		}
	}
	v.Set("attribute[description]", wide(cases.MaxAttribute("description")))
	v.Set("attribute[title]", wide(cases.MaxAttribute("title")))
	// The other answers share what is left, one character at least each.
	others := cases.MaxAttributes - 2
	left := cases.MaxAttributeText - cases.MaxAttribute("description") - cases.MaxAttribute("title") - others
	for i := range others {
		n := min(left, cases.MaxAttributeValue-1)
		left -= n
		v.Set(fmt.Sprintf("attribute[%s%02d]", wide(cases.MaxCode-2), i), wide(1+n))
	}
	return v
}

// TestMaxFormBodyFitsAValidRequest: a request with every field at its limit
// is accepted and fits MaxFormBody with room to spare for the parameters
// FixMyStreet sends that casebridge ignores; one character more in any field
// is refused with a 400 naming it.
func TestMaxFormBodyFitsAValidRequest(t *testing.T) {
	v := maxRequest()
	body := v.Encode()
	if _, err := DecodeRequest(post(formType, body), nil); err != nil {
		t.Fatalf("a request at every limit: %v", err)
	}
	t.Logf("a request at every limit is %d KiB; MaxFormBody is %d KiB", len(body)>>10, MaxFormBody>>10)
	if len(body) > MaxFormBody*9/10 {
		t.Errorf("a request at every limit is %d KiB: MaxFormBody (%d KiB) leaves no room", len(body)>>10, MaxFormBody>>10)
	}
	for name := range v {
		if name == "api_key" || name == "lat" || name == "long" {
			continue
		}
		w := maxRequest()
		vals := w[name]
		vals[len(vals)-1] += "x"
		_, err := DecodeRequest(post(formType, w.Encode()), nil)
		got := problemsOf(t, err, 400)
		switch {
		case strings.Contains(got, name+" is longer than"):
		case strings.HasPrefix(name, "attribute[") && (strings.Contains(got, "] is longer than") || strings.Contains(got, "attributes are")):
			// An answer past its own limit, or all of them past theirs together.
		default:
			t.Errorf("%.40s one past its limit: %s", name, got)
		}
	}
}

// TestDecodeBoundsEveryField: fields of megabytes and odd characters are all
// 400s naming the field, whether the body is form-urlencoded or multipart.
func TestDecodeBoundsEveryField(t *testing.T) {
	const ok = "api_key=k&service_code=POT&lat=51.5&long=-0.1"
	huge := strings.Repeat("a", 4<<20)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"4 MiB address", ok + "&address_string=" + huge, "address_string is longer than 500 characters: the request body is larger than the 1 MiB"},
		{"4 MiB attribute", ok + "&attribute%5Buprn%5D=" + huge, "attribute[uprn] is longer than 2000 characters"},
		{"4 MiB of something ignored", ok + "&colour=" + huge, "cut off in colour"},
		{"4 MiB name of a parameter", ok + "&" + huge, "larger than the 1 MiB"},
		{"NUL in a name", ok + "&first_name=Jo%00", "first_name contains a control character (U+0000)"},
		{"a line break in an email", ok + "&email=a%0A%40b", "email contains a line break"},
		{"escape in a description", ok + "&description=%1B%5B31m", "description contains a control character (U+001B)"},
		{"not UTF-8", ok + "&phone=%FF", "phone is not UTF-8"},
		{"eleven media", ok + strings.Repeat("&media_url=https%3A%2F%2Fe.org%2F", 11), "at most 10 links"},
		{"a media URL with spaces", ok + "&media_url=https%3A%2F%2Fe.org%2Fa+b", "percent-encode"},
		{"a 3,000-character attribute code", ok + "&attribute%5B" + strings.Repeat("c", 3000) + "%5D=1", "attributes has a code that is longer than 64"},
		{"51 answers", ok + strings.Repeat("&attribute%5Bq%5D=1", 1) + func() string {
			var b strings.Builder
			for i := range 51 {
				fmt.Fprintf(&b, "&attribute%%5Bq%d%%5D=1", i)
			}
			return b.String()
		}(), "attributes has 52 answers"},
		{"a twice-sent megabyte", ok + "&first_name=" + strings.Repeat("a", 200<<10) + "&first_name=b", "first_name is sent twice"},
	} {
		_, err := DecodeRequest(post(formType, tc.body), nil)
		got := problemsOf(t, err, 400)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s\nwant %q", tc.name, got, tc.want)
		}
		if len(got) > 2000 {
			t.Errorf("%s: the answer quotes back %d bytes", tc.name, len(got))
		}
	}

	// Multipart: a text part is held to the same limits; files have room.
	multi := func(parts ...[2]string) *http.Request {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for _, p := range parts {
			if strings.HasPrefix(p[0], "photo") {
				w, _ := mw.CreateFormFile(p[0], p[0]+".jpeg")
				io.WriteString(w, p[1])
				continue
			}
			mw.WriteField(p[0], p[1])
		}
		mw.Close()
		return post(mw.FormDataContentType(), b.String())
	}
	base := [][2]string{{"api_key", "k"}, {"service_code", "POT"}, {"address_id", "1"}}
	photo := strings.Repeat("\xff", 3<<20)
	if req, err := DecodeRequest(multi(append(base, [2]string{"photo1", photo}, [2]string{"photo2", photo})...), nil); err != nil || len(req.Uploads) != 2 {
		t.Errorf("two 3 MiB photos: %v", err)
	}
	for _, tc := range []struct {
		name  string
		parts [][2]string
		want  string
	}{
		{"a 4 MiB address", append(base, [2]string{"address_string", huge}), "address_string is longer than 500 characters"},
		{"an address past its limit", append(base, [2]string{"address_string", wide(cases.MaxAddress + 1)}), "address_string is longer than 500 characters"},
		{"eleven photos", append(base, func() (ps [][2]string) {
			for i := range 11 {
				ps = append(ps, [2]string{fmt.Sprintf("photo%d", i), "x"})
			}
			return
		}()...), "more than 10 files"},
		{"six 3 MiB photos", append(base, [][2]string{{"photo1", photo}, {"photo2", photo}, {"photo3", photo}, {"photo4", photo}, {"photo5", photo}, {"photo6", photo}}...),
			"larger than the 16 MiB"},
	} {
		_, err := DecodeRequest(multi(tc.parts...), nil)
		if got := problemsOf(t, err, 400); !strings.Contains(got, tc.want) {
			t.Errorf("multipart, %s: %s\nwant %q", tc.name, got, tc.want)
		}
	}
}

// unreadable is a body that fails the test if it is read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the body was read before the api_key in the query string was checked")
	return 0, io.EOF
}

func TestDecodeChecksTheKeyFirst(t *testing.T) {
	check := func(k string) error {
		if k != "good" {
			return Forbidden("invalid api_key")
		}
		return nil
	}
	// In the query string: checked before the body is read.
	r := httptest.NewRequest(http.MethodPost, "/open311/v2/requests.xml?api_key=bad", io.NopCloser(unreadable{t}))
	r.Header.Set("Content-Type", formType)
	if _, err := DecodeRequest(r, check); !strings.Contains(problemsOf(t, err, 403), "invalid api_key") {
		t.Errorf("bad key in the query: %v", err)
	}
	// In the body: checked before anything else is, so a client without a
	// good key learns nothing about its fields.
	_, err := DecodeUpdate(post(formType, "api_key=bad&first_name="+wide(cases.MaxName+1)), check)
	if got := problemsOf(t, err, 403); strings.Contains(got, "first_name") {
		t.Errorf("bad key in the body: %s", got)
	}
	if _, err := DecodeRequest(post(formType, "api_key=good&service_code=POT&address_id=1"), check); err != nil {
		t.Errorf("good key: %v", err)
	}
}
