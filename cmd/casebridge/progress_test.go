package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	p := newProgress(&out, "cases", 1000, func() time.Time { return at })
	for range 4 {
		at = at.Add(time.Second)
		p.add(100)
	}
	if out.Len() != 0 {
		t.Errorf("a line before 5 s had passed: %q", out.String())
	}
	at = at.Add(time.Second)
	p.add(100) // 500 in 5 s
	p.note("skip %s: %s", "case-CB-1", "no worker")
	at = at.Add(5 * time.Second)
	p.add(500)
	p.finish()
	want := "500/1000 cases  100/s  ETA 5s\n" +
		"skip case-CB-1: no worker\n" +
		"1000/1000 cases  100/s  in 10s\n"
	if out.String() != want {
		t.Errorf("progress wrote\n%s\nwant\n%s", out.String(), want)
	}
}

func TestProgressBar(t *testing.T) {
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	p := newProgress(nil, "cases", 0, func() time.Time { return at })
	p.total, p.done = 200, 50
	at = at.Add(10 * time.Second)
	if got, want := p.line(at, 10), "[##        ] 50/200 cases  5/s  ETA 30s"; got != want {
		t.Errorf("line = %q, want %q", got, want)
	}
	// Cases started after the count was taken: the total grows with them.
	p.done = 250
	if got := p.line(at, 10); !strings.HasPrefix(got, "[##########] 250/250 cases") {
		t.Errorf("line past the count = %q", got)
	}
	p.total, p.done = 0, 7
	if got := p.line(at, 10); got != "7 cases  1/s" {
		t.Errorf("line without a count = %q", got)
	}
}
