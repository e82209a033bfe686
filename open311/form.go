package open311

import (
	"bytes"
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

	"github.com/casebridge/casebridge/cases"
)

// MaxFormBody bounds the parameters of a POST, files aside. Every field at its
// limit (cases/limits.go), each character percent-encoded as four UTF-8 bytes,
// comes to 466 KiB (TestMaxFormBodyFitsAValidRequest); the rest is room for
// the parameters FixMyStreet sends that casebridge does not keep.
const MaxFormBody = 1 << 20

// MaxMultipartBody bounds a multipart POST, files included. FixMyStreet sends
// the photos of a private report as files (photo1…N, which the council could
// not download from it) and other files as file_<key>: room for a few phone
// photos. casebridge does not keep these files yet; a longer body is refused
// before it reaches the case.
const MaxMultipartBody = 16 << 20

// maxParts bounds the parts of a multipart body, each of which costs a little
// memory; maxUploads the files among them.
const (
	maxParts   = 1000
	maxUploads = 10
)

// Upload is a file sent in a multipart body: FixMyStreet sends the photos of private
// reports as photo1…N, which the council could not download, and other files as
// file_<key>.
type Upload struct {
	Field       string // the form field name
	Filename    string
	ContentType string
	Data        []byte
}

// KeyCheck checks a client's api_key, returning an *Error (403) for a wrong one.
type KeyCheck func(apiKey string) error

// readForm reads a POST's parameters from a form-urlencoded or multipart body, then
// from the query string. Every value is checked to be UTF-8 and has its newlines made
// LF (FixMyStreet sends CRLF). An api_key in the query string is checked before the
// body is read, so a client without a good key sends the body for nothing.
func readForm(r *http.Request, key KeyCheck) (url.Values, []Upload, error) {
	query, err := readQuery(r)
	if err != nil {
		return nil, nil, err
	}
	if k := strings.TrimSpace(query.Get("api_key")); k != "" && key != nil {
		if err := key(k); err != nil {
			return nil, nil, err
		}
	}
	mediaType, params := "application/x-www-form-urlencoded", map[string]string(nil)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mediaType, params, err = mime.ParseMediaType(ct); err != nil {
			return nil, nil, BadRequest("Content-Type %q cannot be read: %v", clip(ct), err)
		}
	}
	if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, nil, BadRequest("charset %q is not supported: send the body in UTF-8", clip(cs))
	}
	body := io.Reader(http.NoBody)
	if r.Body != nil {
		body = r.Body
	}
	var (
		values  url.Values
		uploads []Upload
	)
	switch mediaType {
	case "application/x-www-form-urlencoded":
		values, err = readURLEncoded(body)
	case "multipart/form-data":
		values, uploads, err = readMultipart(body, params["boundary"])
	default:
		err = BadRequest("Content-Type %q is not supported: send application/x-www-form-urlencoded or multipart/form-data", clip(mediaType))
	}
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range query {
		values[k] = append(values[k], vs...)
	}
	return values, uploads, nil
}

func readURLEncoded(body io.Reader) (url.Values, error) {
	// MaxBytesReader without a ResponseWriter: the server need not close the
	// connection, and the caller may read what is left (api drains it), so a
	// client that writes its whole body before it reads gets the answer.
	b, err := io.ReadAll(http.MaxBytesReader(nil, io.NopCloser(body), MaxFormBody))
	if err != nil {
		return nil, bodyError(err, fieldAt(b), MaxFormBody)
	}
	values, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, BadRequest("form body cannot be read: %v", err)
	}
	return normalise(values)
}

// fieldAt names the parameter a form-urlencoded body was cut off in, or "" if
// the cut fell in a name.
func fieldAt(b []byte) string {
	pair := b[bytes.LastIndexByte(b, '&')+1:]
	key, _, ok := bytes.Cut(pair, []byte("="))
	if !ok {
		return ""
	}
	name, err := url.QueryUnescape(string(key))
	if err != nil || !utf8.ValidString(name) {
		return ""
	}
	return name
}

func readMultipart(body io.Reader, boundary string) (url.Values, []Upload, error) {
	if boundary == "" {
		return nil, nil, BadRequest("Content-Type multipart/form-data has no boundary")
	}
	mr := multipart.NewReader(http.MaxBytesReader(nil, io.NopCloser(body), MaxMultipartBody), boundary)
	values := url.Values{}
	var uploads []Upload
	text := int64(MaxFormBody) // what the text parts may still take
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, bodyError(err, "", MaxMultipartBody)
		}
		if n == maxParts {
			return nil, nil, BadRequest("multipart body has more than %d parts", maxParts)
		}
		name, file := part.FormName(), part.FileName() != ""
		if file && len(uploads) == maxUploads {
			return nil, nil, BadRequest("multipart body has more than %d files", maxUploads)
		}
		limit := int64(MaxMultipartBody)
		if !file {
			limit = text
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return nil, nil, bodyError(err, name, MaxMultipartBody)
		}
		if !file {
			if text -= int64(len(data)); text < 0 {
				return nil, nil, bodyError(&http.MaxBytesError{Limit: MaxFormBody}, name, MaxFormBody)
			}
		}
		switch {
		case name == "":
			// Not a form field; nothing can refer to it.
		case file:
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

// bodyError says why a body could not be read. One past its size limit names
// the field it was cut off in, if one is known, with the field's own limit.
func bodyError(err error, field string, limit int) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); !ok {
		return BadRequest("request body cannot be read: %v", err)
	}
	whole := fmt.Sprintf("the request body is larger than the %s any valid request needs", sizeText(limit))
	if field == "" {
		return BadRequest("%s", upperFirst(whole))
	}
	if max, ok := fieldLimit(field); ok {
		return BadRequest("%s is longer than %d characters: %s", clip(field), max, whole)
	}
	return BadRequest("%s: it was cut off in %s", upperFirst(whole), clip(field))
}

func sizeText(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

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
// A value past its limit is noted, and cut to it, so that nothing after quotes
// megabytes back.
func (p *params) value(name string) string {
	var got string
	for _, v := range p.v[name] {
		v = strings.TrimSpace(v)
		if v == "" || v == got {
			continue
		}
		if got != "" {
			p.bad("%s is sent twice with different values (%q and %q): send it once", name, clip(got), clip(v))
			continue
		}
		got = v
	}
	if l, ok := limits[name]; ok && got != "" {
		check := cases.CheckLine
		if l.text {
			check = cases.CheckText
		}
		if err := check(name, got, l.max); err != nil {
			p.bad("%s", inputError(err))
			got = clip(got)
		}
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
			p.bad("%q is not an attribute parameter: write attribute[code] or, for several values, attribute[code][]", clip(key))
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
	for _, ie := range cases.CheckAttributes(a) {
		name := "attributes"
		if code, ok := strings.CutPrefix(ie.Field, "attributes."); ok {
			name = "attribute[" + clip(code) + "]"
		}
		p.bad("%s %s", name, ie.Reason)
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
