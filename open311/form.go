package open311

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxBodySize bounds a POST body, photos included: FixMyStreet sends photos as URLs,
// uploading them only for private reports, and several phone photos fit in 32 MiB.
const MaxBodySize = 32 << 20

// maxParts bounds the parts of a multipart body, each of which costs a little memory.
const maxParts = 1000

// Upload is a file sent in a multipart body: FixMyStreet sends the photos of private
// reports as photo1…N, which the council could not download, and other files as
// file_<key>.
type Upload struct {
	Field       string // the form field name
	Filename    string
	ContentType string
	Data        []byte
}

// readForm reads a POST's parameters from a form-urlencoded or multipart body, then
// from the query string. Every value is checked to be UTF-8 and has its newlines made
// LF (FixMyStreet sends CRLF).
func readForm(r *http.Request) (url.Values, []Upload, error) {
	mediaType, params := "application/x-www-form-urlencoded", map[string]string(nil)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		var err error
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, nil, BadRequest("Content-Type %q cannot be read: %v", ct, err)
		}
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, nil, BadRequest("charset %q is not supported: send the body in UTF-8", cs)
	}
	body := io.ReadCloser(http.NoBody)
	if r.Body != nil {
		body = http.MaxBytesReader(nil, r.Body, MaxBodySize)
	}
	var (
		values  url.Values
		uploads []Upload
		err     error
	)
	switch mediaType {
	case "application/x-www-form-urlencoded":
		values, err = readURLEncoded(body)
	case "multipart/form-data":
		values, uploads, err = readMultipart(body, params["boundary"])
	default:
		err = BadRequest("Content-Type %q is not supported: send application/x-www-form-urlencoded or multipart/form-data", mediaType)
	}
	if err != nil {
		return nil, nil, err
	}
	query, err := readQuery(r)
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range query {
		values[k] = append(values[k], vs...)
	}
	return values, uploads, nil
}

func readURLEncoded(body io.Reader) (url.Values, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, bodyError(err)
	}
	values, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, BadRequest("form body cannot be read: %v", err)
	}
	return normalise(values)
}

func readMultipart(body io.Reader, boundary string) (url.Values, []Upload, error) {
	if boundary == "" {
		return nil, nil, BadRequest("Content-Type multipart/form-data has no boundary")
	}
	mr := multipart.NewReader(body, boundary)
	values := url.Values{}
	var uploads []Upload
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, bodyError(err)
		}
		if n == maxParts {
			return nil, nil, BadRequest("multipart body has more than %d parts", maxParts)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, nil, bodyError(err)
		}
		name := part.FormName()
		switch {
		case name == "":
			// Not a form field; nothing can refer to it.
		case part.FileName() != "":
			uploads = append(uploads, Upload{
				Field:       name,
				Filename:    part.FileName(),
				ContentType: part.Header.Get("Content-Type"),
				Data:        data,
			})
		default:
			values[name] = append(values[name], string(data))
		}
	}
	values, err := normalise(values)
	return values, uploads, err
}

func bodyError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return BadRequest("request body is larger than %d MiB", MaxBodySize>>20)
	}
	return BadRequest("request body cannot be read: %v", err)
}

// readQuery reads the query string strictly: url.Values from r.URL.Query would drop a
// malformed pair without a word, and the client would not learn why a filter was ignored.
func readQuery(r *http.Request) (url.Values, error) {
	if r.URL == nil {
		return url.Values{}, nil
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, BadRequest("query string cannot be read: %v", err)
	}
	return normalise(values)
}

// normalise rejects keys and values that are not UTF-8 and turns CRLF and lone CR
// into LF, so text compares and counts the same whichever client sent it.
func normalise(values url.Values) (url.Values, error) {
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return nil, BadRequest("parameter name %q is not UTF-8", k)
		}
		for i, v := range vs {
			if !utf8.ValidString(v) {
				return nil, BadRequest("%s is not UTF-8: send the body in UTF-8", k)
			}
			if strings.Contains(v, "\r") {
				vs[i] = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\r", "\n")
			}
		}
	}
	return values, nil
}

// params reads named parameters and collects what is wrong with them, so one reply can
// tell a client about every fault at once.
type params struct {
	v        url.Values
	problems []Problem
}

func (p *params) bad(format string, args ...any) {
	p.problems = append(p.problems, Problem{Code: http.StatusBadRequest, Description: fmt.Sprintf(format, args...)})
}

// err is nil, or a 400 *Error with every problem found.
func (p *params) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &Error{Status: http.StatusBadRequest, Problems: p.problems}
}

// value is the single value of name, trimmed; empty means absent, as the spec says of
// optional parameters. The same value sent twice is fine; two different ones are not.
func (p *params) value(name string) string {
	var got string
	for _, v := range p.v[name] {
		v = strings.TrimSpace(v)
		if v == "" || v == got {
			continue
		}
		if got != "" {
			p.bad("%s is sent twice with different values (%q and %q): send it once", name, got, v)
			continue
		}
		got = v
	}
	return got
}

// required is value, noting a problem when it is absent.
func (p *params) required(name, why string) string {
	v := p.value(name)
	if v == "" {
		p.bad("%s is missing: %s", name, why)
	}
	return v
}

// repeated is every non-empty value of a repeatable parameter, sent as name=a&name=b
// (FixMyStreet's way) or name[]=a&name[]=b.
func (p *params) repeated(name string) []string {
	var out []string
	for _, key := range []string{name, name + "[]"} {
		for _, v := range p.v[key] {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// commaList is every item of a comma-separated list parameter; repeating the
// parameter adds to the list.
func (p *params) commaList(name string) []string {
	var out []string
	for _, v := range p.repeated(name) {
		for item := range strings.SplitSeq(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// attributes reads every attribute[code] and attribute[code][] parameter.
func (p *params) attributes() Attributes {
	var a Attributes
	// Sorted keys, so attribute[x] values come before attribute[x][] ones every time.
	for _, key := range slices.Sorted(maps.Keys(p.v)) {
		if !strings.HasPrefix(key, "attribute[") {
			continue
		}
		code, ok := attributeCode(key)
		if !ok {
			p.bad("%q is not an attribute parameter: write attribute[code] or, for several values, attribute[code][]", key)
			continue
		}
		for _, v := range p.v[key] {
			// Unanswered optional questions arrive as empty strings.
			if v = strings.TrimSpace(v); v != "" {
				if a == nil {
					a = Attributes{}
				}
				a[code] = append(a[code], v)
			}
		}
	}
	return a
}

func attributeCode(key string) (string, bool) {
	rest := strings.TrimPrefix(key, "attribute[")
	rest = strings.TrimSuffix(rest, "[]")
	code, ok := strings.CutSuffix(rest, "]")
	if !ok || code == "" || strings.ContainsAny(code, "[]") {
		return "", false
	}
	return code, true
}
