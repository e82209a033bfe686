package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress shows how far a long command has got: a bar redrawn in place when
// out is a terminal, and otherwise (a log, CI) a plain line every few seconds.
// Its methods are safe to call from several goroutines.
type progress struct {
	out   io.Writer
	tty   bool
	what  string // the things counted, e.g. "cases"
	now   func() time.Time
	every time.Duration // between plain lines

	mu    sync.Mutex
	total int // 0 while unknown
	done  int
	start time.Time
	shown time.Time
	last  string // the last plain line written
}

func newProgress(out io.Writer, what string, total int, now func() time.Time) *progress {
	f, ok := out.(*os.File)
	t := now()
	return &progress{out: out, tty: ok && term.IsTerminal(int(f.Fd())), what: what, now: now, every: 5 * time.Second,
		total: total, start: t, shown: t}
}

// add counts n more done, and shows it if it is time to.
func (p *progress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	t := p.now()
	switch {
	case p.tty && t.Sub(p.shown) >= 100*time.Millisecond:
		fmt.Fprintf(p.out, "\r\033[K%s", p.line(t, 30))
	case !p.tty && t.Sub(p.shown) >= p.every:
		p.last = p.line(t, 0)
		fmt.Fprintf(p.out, "%s\n", p.last)
	default:
		return
	}
	p.shown = t
}

// note prints a message on a line of its own, above the bar.
func (p *progress) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprintf(p.out, format+"\n", args...)
}

// finish shows the final count on a line of its own.
func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	if l := p.line(p.now(), 0); l != p.last {
		fmt.Fprintf(p.out, "%s\n", l)
	}
}

// line is the progress as text: "[######    ] 600/1000 cases  412/s  ETA 1s"
// with a bar width wide (none when 0).
func (p *progress) line(t time.Time, width int) string {
	elapsed := t.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	var b strings.Builder
	total := p.total
	if total > 0 {
		total = max(total, p.done) // cases started since the count was taken
	}
	if width > 0 && total > 0 {
		fill := width * p.done / total
		fmt.Fprintf(&b, "[%s%s] ", strings.Repeat("#", fill), strings.Repeat(" ", width-fill))
	}
	if total > 0 {
		fmt.Fprintf(&b, "%d/%d %s", p.done, total, p.what)
	} else {
		fmt.Fprintf(&b, "%d %s", p.done, p.what)
	}
	fmt.Fprintf(&b, "  %.0f/s", rate)
	switch {
	case total == 0:
	case p.done >= total:
		fmt.Fprintf(&b, "  in %s", elapsed.Round(100*time.Millisecond))
	case rate > 0:
		eta := time.Duration(float64(total-p.done) / rate * float64(time.Second))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}
