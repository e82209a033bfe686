// Package browsertest starts a headless Chromium for tests that drive the
// staff console in a real browser, and opens tabs in it with cookies of their
// own, through chromedp.
package browsertest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// names are the browser binaries looked for on PATH, Debian's first.
var names = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// Find returns the path of an installed Chromium or Chrome.
func Find() (string, error) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium, chromium-browser or google-chrome on PATH")
}

// Start runs one headless Chromium with a fresh profile for t, to be shared
// by its subtests, and stops it when t ends. Without Chromium the test is
// skipped, unless CI=true: CI must run the browser tests, so there it fails.
func Start(t testing.TB) context.Context {
	t.Helper()
	bin, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is not installed, and CI=true requires the browser tests to run (apt-get install chromium chromium-driver): %v", err)
		}
		t.Skipf("Chromium is not installed (%v); install it (apt-get install chromium) to run this test", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox, // tests often run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc() // waits for the browser to exit, before its profile is removed
	})
	// The first action starts the browser, and the browser lives as long as
	// that action's context: so it runs on the browser's own.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return browser
}

// Tab opens a tab of the browser in a browser context of its own (its own
// cookies and storage), closed when t ends. Every action in it fails after
// timeout, so a page that never shows what a test waits for fails the test
// rather than hanging it.
func Tab(t testing.TB, browser context.Context, timeout time.Duration) context.Context {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tab, timeout)
	t.Cleanup(func() {
		cancel()
		cancelTab()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}
