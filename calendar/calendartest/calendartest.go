// Package calendartest helps tests about working time write their instants the
// way people say them: London wall-clock times.
package calendartest

import (
	"testing"
	"time"
)

// London reads "2026-05-22", "2026-05-22 16:55" or "2026-05-22 16:55:30" as a
// wall-clock time in Europe/London, failing the test if it cannot.
func London(tb testing.TB, s string) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		tb.Fatal(err)
	}
	layout := "2006-01-02 15:04:05"
	t, err := time.ParseInLocation(layout[:min(len(s), len(layout))], s, loc)
	if err != nil {
		tb.Fatalf("calendartest.London(%q): %v", s, err)
	}
	return t
}
