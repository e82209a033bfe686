package calendar

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config describes a council's business calendar. It sits inside the casebridge
// configuration file, so every field reads naturally in YAML:
//
//	time_zone: Europe/London          # the default
//	bank_holidays: england-and-wales  # the default; or "none"
//	hours:
//	  friday: "09:00-16:30"
//	  saturday: "09:00-12:00"
//	  wednesday: "09:00-12:30, 13:30-17:00"
//	closures:
//	  - "2026-12-29..2026-12-31"
//	  - "2027-04-01"
//
// The zero Config is the default calendar. Config is also JSON-friendly, so a
// workflow can carry the calendar it was started with in its state.
type Config struct {
	// TimeZone is an IANA zone name; empty means Europe/London.
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// BankHolidays names the statutory holidays to observe: "england-and-wales"
	// (the default when empty) or "none".
	BankHolidays string `yaml:"bank_holidays,omitempty" json:"bank_holidays,omitempty"`
	// Hours are the working hours of each weekday; a day left empty keeps its
	// default (Monday to Friday 09:00-17:00, weekends closed).
	Hours Week `yaml:"hours,omitempty" json:"hours,omitempty"`
	// Closures are extra days the council is shut, each "2026-12-29" or an
	// inclusive range "2026-12-29..2026-12-31".
	Closures []string `yaml:"closures,omitempty" json:"closures,omitempty"`
}

// Week holds one day's working hours per weekday: "closed", or one or more
// "HH:MM-HH:MM" spans separated by commas ("24:00" may close a day). Empty keeps
// the day's default.
type Week struct {
	Monday    string `yaml:"monday,omitempty" json:"monday,omitempty"`
	Tuesday   string `yaml:"tuesday,omitempty" json:"tuesday,omitempty"`
	Wednesday string `yaml:"wednesday,omitempty" json:"wednesday,omitempty"`
	Thursday  string `yaml:"thursday,omitempty" json:"thursday,omitempty"`
	Friday    string `yaml:"friday,omitempty" json:"friday,omitempty"`
	Saturday  string `yaml:"saturday,omitempty" json:"saturday,omitempty"`
	Sunday    string `yaml:"sunday,omitempty" json:"sunday,omitempty"`
}

// Names of the bank holiday sets Config.BankHolidays accepts.
const (
	EnglandAndWales = "england-and-wales"
	NoBankHolidays  = "none"
)

const (
	defaultZone  = "Europe/London"
	defaultHours = "09:00-17:00"
	closed       = "closed"
	// maxClosure bounds a closure range so that a typo in a year
	// ("2026-12-29..2062-12-31") is an error, not forty years of shutdown.
	maxClosure = 366
)

// byWeekday returns the configured hours indexed by time.Weekday.
func (w Week) byWeekday() [7]string {
	return [7]string{w.Sunday, w.Monday, w.Tuesday, w.Wednesday, w.Thursday, w.Friday, w.Saturday}
}

// span is one stretch of working time within a day, in seconds after local
// midnight on the wall clock (so 09:00 is 09:00 whether it is GMT or BST).
type span struct{ open, close int }

// parseHours reads "closed" or "09:00-12:30, 13:30-17:00" into ordered spans.
func parseHours(s string) ([]span, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, closed) {
		return nil, nil
	}
	var out []span
	for part := range strings.SplitSeq(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("%q: want \"HH:MM-HH:MM\" or %q", part, closed)
		}
		open, err := parseClock(from)
		if err != nil {
			return nil, err
		}
		end, err := parseClock(to)
		if err != nil {
			return nil, err
		}
		if open >= end || open == 24*3600 {
			return nil, fmt.Errorf("%q: opening must be before closing on the same day", part)
		}
		if n := len(out); n > 0 && open < out[n-1].close {
			return nil, fmt.Errorf("%q: spans must be in order and must not overlap", part)
		}
		out = append(out, span{open, end})
	}
	return out, nil
}

// parseClock reads "HH:MM" (00:00 to 24:00) as seconds after midnight.
func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if !ok || len(hh) != 2 || len(mm) != 2 || err1 != nil || err2 != nil ||
		h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day like 09:00", s)
	}
	return h*3600 + m*60, nil
}

// parseClosure reads "2026-12-29" or "2026-12-29..2026-12-31".
func parseClosure(s string) (first, last day, err error) {
	from, to, isRange := strings.Cut(strings.TrimSpace(s), "..")
	if first, err = parseDate(from); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return first, first, nil
	}
	if last, err = parseDate(to); err != nil {
		return 0, 0, err
	}
	if last < first || last-first >= maxClosure {
		return 0, 0, fmt.Errorf("%q: a range must run forwards and span at most %d days", s, maxClosure)
	}
	return first, last, nil
}

func parseDate(s string) (day, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a date like 2026-12-29", s)
	}
	return dayOf(t.Date()), nil
}
