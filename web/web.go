// Package web holds the staff console's HTML templates and static assets (CSS
// and a little JavaScript), embedded in the binary so the console needs no
// build step and no files beside the program, and the template helpers the
// pages use. The handlers that fill the templates live in package api.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templates embed.FS

//go:embed static
var static embed.FS

// Static returns the assets served under /static/.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

// StaticVersion is a short hash of every static asset. Pages link to assets
// with it in the query string, so browsers may cache them for long and still
// fetch a new release's at once.
func StaticVersion() string {
	h := sha256.New()
	err := fs.WalkDir(Static(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Static(), p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		panic(err) // embedded files are always readable
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Pages parses every page (templates/NAME.html, all but the layout) together
// with the layout, and returns them by NAME. Each page defines "title" and
// "content"; execute "layout" to render one.
func Pages(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templates, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	names, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templates, n)
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// Funcs are the helpers the templates use; times are shown in loc, the
// council's time zone.
func Funcs(loc *time.Location) template.FuncMap {
	return template.FuncMap{
		// when is a moment as staff read it: "Mon 2 Nov 2026, 10:00".
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(loc).Format("Mon 2 Jan 2006, 15:04")
		},
		// iso is a moment for a <time datetime> attribute.
		"iso": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(loc).Format(time.RFC3339)
		},
		"join": strings.Join,
		"add":  func(a, b int) int { return a + b },
		"addf": func(a, b float64) float64 { return a + b },
		// dict makes a map of name, value pairs, to pass several values to
		// a template.
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
		"plural": Plural,
		"actor":  Actor,
	}
}

// Plural is one or many, by n.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Actor is who made a change to a case, as staff read it: a member of staff
// by their name, a system by what it is.
func Actor(actor string) string {
	if name, ok := strings.CutPrefix(actor, "staff:"); ok {
		return name
	}
	switch actor {
	case "fixmystreet":
		return "FixMyStreet"
	case "routing":
		return "routing rules"
	case "escalation":
		return "SLA escalation"
	}
	return actor
}
