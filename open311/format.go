// Package open311 reads and writes the Open311 GeoReport v2 wire format, with mySociety's
// servicerequestupdates extension, as XML and JSON.
package open311

import (
	"fmt"
	"strings"
	"time"
)

// Format is a response format, chosen by the extension of the URL's last element.
type Format string

// The formats. GeoReport v2 requires XML; JSON is optional.
const (
	XML  Format = "xml"
	JSON Format = "json"
)

// ContentType is the Content-Type header of a response in f.
func (f Format) ContentType() string {
	switch f {
	case XML:
		return "text/xml; charset=utf-8"
	case JSON:
		return "application/json; charset=utf-8"
	}
	return ""
}

// mediaType is how discovery lists f: the MIME type without parameters.
func (f Format) mediaType() string {
	mt, _, _ := strings.Cut(f.ContentType(), ";")
	return mt
}

// SplitFormat splits the last element of an Open311 path, such as "requests.json" or
// "033.xml", into the resource name and its format. A missing or unknown extension is a
// 404 *Error. With an error the format returned is XML, which every client reads, so the
// caller can write the error at once.
func SplitFormat(elem string) (name string, f Format, err error) {
	i := strings.LastIndexByte(elem, '.')
	if i < 0 {
		return elem, XML, NotFound("%q has no format: add .xml or .json", elem)
	}
	name, ext := elem[:i], elem[i+1:]
	switch Format(strings.ToLower(ext)) {
	case XML:
		f = XML
	case JSON:
		f = JSON
	default:
		return name, XML, NotFound("format .%s of %q is not supported: use .xml or .json", ext, elem)
	}
	if name == "" {
		return "", f, NotFound("%q names nothing before .%s", elem, ext)
	}
	return name, f, nil
}

// ParseTime reads a W3C datetime as the spec requires it: a date, a time with or without
// fractional seconds, and a zone, either Z or an offset with a colon
// ("2024-01-02T03:04:05Z", "2024-07-01T09:30:00.25+01:00"). A time without a zone is
// rejected rather than guessed at. The result keeps the offset it was written with.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	// A "+01:00" sent unescaped in a query string or form arrives as " 01:00":
	// a space can stand nowhere else in a datetime, so read it as the plus it was.
	if n := len(s); n > len("2006-01-02T15:04:05 07:00")-1 && s[n-6] == ' ' && s[n-3] == ':' {
		if t, err := time.Parse(time.RFC3339, s[:n-6]+"+"+s[n-5:]); err == nil {
			return t, nil
		}
	}
	// Say what is wrong with the common near misses, so a client developer can fix it.
	const example = "like 2024-01-02T03:04:05Z or 2024-01-02T04:04:05+01:00"
	switch {
	case len(s) == len("2006-01-02") && parses("2006-01-02", s):
		return time.Time{}, fmt.Errorf("%q has no time: send a datetime %s", s, example)
	case len(s) > 10 && s[10] == ' ' && parses("2006-01-02", s[:10]):
		return time.Time{}, fmt.Errorf("%q has a space between date and time: send a T and a zone, %s", s, example)
	case parses("2006-01-02T15:04:05", s):
		return time.Time{}, fmt.Errorf("%q has no time zone: end it with Z or an offset, %s", s, example)
	case parses("2006-01-02T15:04:05-0700", s):
		return time.Time{}, fmt.Errorf("%q has an offset without a colon: write it %s", s, example)
	}
	return time.Time{}, fmt.Errorf("%q is not a W3C datetime: send one %s", s, example)
}

func parses(layout, s string) bool {
	_, err := time.Parse(layout, s)
	return err == nil
}

// formatTime writes t as every response does: RFC 3339 in UTC with whole seconds and Z.
// UTC is what FixMyStreet converts every time to before comparing, and a Z cannot be
// mislabelled across a clock change the way local times with offsets have been.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
