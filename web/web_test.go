package web

import (
	"io/fs"
	"testing"
	"time"
)

func TestPages(t *testing.T) {
	pages, err := Pages(Funcs(time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"login", "error", "cases", "case", "board", "dashboard", "bulk", "map", "rules", "notifications"} {
		p, ok := pages[name]
		if !ok {
			t.Errorf("no page %s", name)
			continue
		}
		for _, part := range []string{"layout", "title", "content"} {
			if p.Lookup(part) == nil {
				t.Errorf("page %s has no %q template", name, part)
			}
		}
	}
	if _, ok := pages["layout"]; ok {
		t.Error("the layout is listed as a page")
	}
}

func TestStatic(t *testing.T) {
	for _, name := range []string{"console.css", "console.js"} {
		if b, err := fs.ReadFile(Static(), name); err != nil || len(b) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if v := StaticVersion(); len(v) != 12 || v != StaticVersion() {
		t.Errorf("StaticVersion %q is not a stable 12-digit hash", v)
	}
}
