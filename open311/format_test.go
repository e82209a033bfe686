package open311

import (
	"strings"
	"testing"
	"time"
)

func TestSplitFormat(t *testing.T) {
	tests := []struct {
		elem, name string
		f          Format
	}{
		{"requests.xml", "requests", XML},
		{"requests.json", "requests", JSON},
		{"033.xml", "033", XML},
		{"A.B.json", "A.B", JSON}, // a service code with a dot keeps it
		{"discovery.XML", "discovery", XML},
	}
	for _, tt := range tests {
		name, f, err := SplitFormat(tt.elem)
		if err != nil || name != tt.name || f != tt.f {
			t.Errorf("SplitFormat(%q) = %q, %q, %v; want %q, %q", tt.elem, name, f, err, tt.name, tt.f)
		}
	}
	for elem, want := range map[string]string{
		"requests":      `"requests" has no format: add .xml or .json`,
		"requests.html": `format .html of "requests.html" is not supported: use .xml or .json`,
		"requests.":     "format . of",
		".json":         `".json" names nothing before .json`,
	} {
		_, f, err := SplitFormat(elem)
		e, ok := err.(*Error)
		if !ok || e.Status != 404 || !strings.Contains(e.Error(), want) {
			t.Errorf("SplitFormat(%q) error = %v, want a 404 containing %q", elem, err, want)
		}
		if elem != ".json" && f != XML {
			t.Errorf("SplitFormat(%q) format = %q with an error, want xml to write it in", elem, f)
		}
	}
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for in, want := range map[string]time.Time{
		"2024-01-02T03:04:05Z":             utc("2024-01-02T03:04:05Z"),
		"2024-07-02T04:04:05+01:00":        utc("2024-07-02T03:04:05Z"),
		"2024-01-02T03:04:05-05:00":        utc("2024-01-02T08:04:05Z"),
		"2024-01-02T03:04:05.5Z":           utc("2024-01-02T03:04:05.5Z"),
		"2024-07-02T04:04:05.123456+01:00": utc("2024-07-02T03:04:05.123456Z"),
		// The plus of an offset sent unescaped arrives as a space.
		"2024-07-02T04:04:05 01:00": utc("2024-07-02T03:04:05Z"),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"2024-01-02T03:04:05":       "has no time zone",
		"2024-01-02T03:04:05.25":    "has no time zone",
		"2024-01-02T03:04:05+0100":  "offset without a colon",
		"2024-01-02 03:04:05":       "space between date and time",
		"2024-01-02 03:04:05Z":      "space between date and time",
		"2024-01-02":                "has no time",
		"2024-01-02t03:04:05z":      "is not a W3C datetime",
		"2024-13-02T03:04:05Z":      "is not a W3C datetime",
		"1704164645":                "is not a W3C datetime",
		"":                          "is not a W3C datetime",
		"2024-01-02T03:04:05+01":    "is not a W3C datetime",
		"2024-01-02T03:04:05+25:00": "is not a W3C datetime",
	} {
		_, err := ParseTime(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTime(%q) error = %v, want one containing %q", in, err, want)
		}
	}
}

func TestContentType(t *testing.T) {
	for f, want := range map[Format]string{
		XML:    "text/xml; charset=utf-8",
		JSON:   "application/json; charset=utf-8",
		"html": "",
	} {
		if got := f.ContentType(); got != want {
			t.Errorf("%q.ContentType() = %q, want %q", f, got, want)
		}
	}
}
