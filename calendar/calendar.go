// Package calendar is the council's business calendar: which instants are working
// time (in Europe/London, on the council's working hours, outside England and Wales
// bank holidays and the council's own closure days), and how to add and measure
// working time across weekends, holidays and clock changes.
//
// A Calendar is immutable and its answers depend only on its Config and the
// arguments, so deterministic workflow code may call it and goroutines may share it.
package calendar

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // deadlines must not silently turn into UTC on a host without a zoneinfo database

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/gb"
)

// Calendar answers working-time questions for one council.
type Calendar struct {
	loc      *time.Location
	week     [7][]span // by time.Weekday; nil when the day is closed
	bank     []*cal.Holiday
	holidays map[day]bool // bank holidays from firstYear to lastYear, worked out once
	holFrom  day          // 1 January firstYear
	holTo    day          // 31 December lastYear
	closures map[day]bool
}

// The years whose bank holidays New works out in advance; other years are
// worked out on each question, which is correct but slower.
const firstYear, lastYear = 2000, 2100

// New builds a calendar from its configuration.
func New(c Config) (*Calendar, error) {
	zone := c.TimeZone
	if zone == "" {
		zone = defaultZone
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time_zone: %w", err)
	}
	cl := &Calendar{loc: loc, closures: map[day]bool{}}

	switch c.BankHolidays {
	case "", EnglandAndWales:
		cl.bank = englandAndWales()
		cl.holidays = map[day]bool{}
		// A substitute day can fall in the next year, so look one year either side.
		cl.holFrom, cl.holTo = dayOf(firstYear, time.January, 1), dayOf(lastYear, time.December, 31)
		for y := firstYear - 1; y <= lastYear+1; y++ {
			for _, d := range holidaysOf(cl.bank, y) {
				if d >= cl.holFrom && d <= cl.holTo {
					cl.holidays[d] = true
				}
			}
		}
	case NoBankHolidays:
	default:
		return nil, fmt.Errorf("bank_holidays: %q is not one of %q, %q", c.BankHolidays, EnglandAndWales, NoBankHolidays)
	}

	open := false
	for wd, s := range c.Hours.byWeekday() {
		if s == "" {
			s = closed
			if wd != int(time.Saturday) && wd != int(time.Sunday) {
				s = defaultHours
			}
		}
		if cl.week[wd], err = parseHours(s); err != nil {
			return nil, fmt.Errorf("hours.%s: %w", strings.ToLower(time.Weekday(wd).String()), err)
		}
		open = open || len(cl.week[wd]) > 0
	}
	if !open {
		// Without a working weekday no amount of working time can ever pass.
		return nil, errors.New("hours: at least one weekday must have working hours")
	}

	for i, s := range c.Closures {
		first, last, err := parseClosure(s)
		if err != nil {
			return nil, fmt.Errorf("closures[%d]: %w", i, err)
		}
		for d := first; d <= last; d++ {
			cl.closures[d] = true
		}
	}
	return cl, nil
}

// Default is the England and Wales calendar in Europe/London, open Monday to
// Friday 09:00-17:00.
func Default() *Calendar {
	c, err := New(Config{})
	if err != nil {
		panic("calendar: the default configuration is invalid: " + err.Error()) // a bug, not an input error
	}
	return c
}

// englandAndWales is rickar/cal's gb set plus the one-off bank holiday it lacks.
func englandAndWales() []*cal.Holiday {
	return append(slices.Clone(gb.Holidays), &cal.Holiday{
		Name: "State Funeral of Queen Elizabeth II", Type: cal.ObservanceBank,
		Month: time.September, Day: 19, Func: cal.CalcDayOfMonth, StartYear: 2022, EndYear: 2022,
	})
}

// holidaysOf lists the days the holidays of one year fall on. Both the day itself
// and any substitute day count: a council open on Saturdays still closes on a
// Saturday Christmas Day.
func holidaysOf(hs []*cal.Holiday, year int) []day {
	var out []day
	for _, h := range hs {
		actual, observed := h.Calc(year)
		for _, t := range []time.Time{actual, observed} {
			if !t.IsZero() {
				out = append(out, dayOf(t.Date()))
			}
		}
	}
	return out
}

// Location is the calendar's time zone; every instant it returns is in it.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsWorkingDay reports whether t's date (in the calendar's zone) is a working
// day: a weekday with working hours that is neither a bank holiday nor a closure.
func (c *Calendar) IsWorkingDay(t time.Time) bool { return len(c.spans(c.local(t))) > 0 }

// IsBankHoliday reports whether t's date (in the calendar's zone) is a bank
// holiday, either the holiday itself or its substitute day.
func (c *Calendar) IsBankHoliday(t time.Time) bool { return c.isHoliday(c.local(t)) }

// WithinWorkingHours reports whether t is working time. Spans include their
// opening instant and exclude their closing one: 09:00 is working time, 17:00 is not.
func (c *Calendar) WithinWorkingHours(t time.Time) bool {
	d := c.local(t)
	for _, s := range c.spans(d) {
		if !t.Before(c.at(d, s.open)) && t.Before(c.at(d, s.close)) {
			return true
		}
	}
	return false
}

// Add returns the earliest instant at which d of working time has passed since
// start, so that Between(start, Add(start, d)) == d. Eight working hours from
// Monday 09:00 is Monday 17:00, not Tuesday 09:00. A start outside working hours
// counts from the next opening. A negative d counts backwards and returns the
// latest instant that is -d of working time before start. Add(start, 0) is start.
func (c *Calendar) Add(start time.Time, d time.Duration) time.Time {
	if d < 0 {
		return c.sub(start, -d)
	}
	if d == 0 {
		return start.In(c.loc)
	}
	for day := c.local(start); ; day++ {
		for _, s := range c.spans(day) {
			open, close := c.at(day, s.open), c.at(day, s.close)
			if !close.After(start) {
				continue
			}
			from := later(open, start)
			avail := close.Sub(from)
			if d <= avail {
				return from.Add(d).In(c.loc)
			}
			d -= avail
		}
	}
}

func (c *Calendar) sub(end time.Time, d time.Duration) time.Time {
	for day := c.local(end); ; day-- {
		spans := c.spans(day)
		for i := len(spans) - 1; i >= 0; i-- {
			open, close := c.at(day, spans[i].open), c.at(day, spans[i].close)
			if !open.Before(end) {
				continue
			}
			to := earlier(close, end)
			avail := to.Sub(open)
			if d <= avail {
				return to.Add(-d).In(c.loc)
			}
			d -= avail
		}
	}
}

// Between is the working time from a to b; negative when b is before a.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if b.Before(a) {
		return -c.Between(b, a)
	}
	var total time.Duration
	last := c.local(b)
	for d := c.local(a); d <= last; d++ {
		for _, s := range c.spans(d) {
			if lo, hi := later(c.at(d, s.open), a), earlier(c.at(d, s.close), b); hi.After(lo) {
				total += hi.Sub(lo)
			}
		}
	}
	return total
}

// AddDays returns the instant n working days after start: the same wall-clock
// time on the nth working day after start's date. Precisely:
//
//   - a start outside working hours counts from the next opening (a report sent
//     on Saturday starts on Monday at 09:00);
//   - if the time of day is outside the hours of the day landed on (Thursday 16:45
//     plus one day when Friday closes at 16:30), it is clamped to that day's hours;
//   - an opening time is the same amount of working time away as the close before
//     it, and the earlier of the two is returned, as Add does: one working day from
//     Monday 09:00, or from Sunday, is Monday 17:00.
//
// So AddDays(t, n) == Add(t, Between(t, AddDays(t, n))) always holds, and n
// working days are n full working days of working time when every day has the
// same hours. The wall clock is kept across a change to or from summer time.
// AddDays with n <= 0 returns start.
func (c *Calendar) AddDays(start time.Time, n int) time.Time {
	if n <= 0 {
		return start.In(c.loc)
	}
	s := c.nextWorking(start)
	d := c.local(s)
	for k := 0; k < n; {
		d++
		if len(c.spans(d)) > 0 {
			k++
		}
	}
	h, m, sec := s.Clock()
	wall, ns := h*3600+m*60+sec, s.Nanosecond()
	spans := c.spans(d)
	for i, x := range spans {
		switch {
		case wall < x.open || (wall == x.open && ns == 0):
			if i > 0 {
				return c.at(d, spans[i-1].close)
			}
			return c.closeBefore(d)
		case wall < x.close:
			y, mo, dd := d.date()
			return time.Date(y, mo, dd, 0, 0, wall, ns, c.loc)
		}
	}
	return c.at(d, spans[len(spans)-1].close)
}

// nextWorking is t if it is working time, else the next opening.
func (c *Calendar) nextWorking(t time.Time) time.Time {
	for d := c.local(t); ; d++ {
		for _, s := range c.spans(d) {
			if open := c.at(d, s.open); t.Before(open) {
				return open
			}
			if t.Before(c.at(d, s.close)) {
				return t.In(c.loc)
			}
		}
	}
}

// closeBefore is the last closing time on a working day before d.
func (c *Calendar) closeBefore(d day) time.Time {
	for d--; ; d-- {
		if s := c.spans(d); len(s) > 0 {
			return c.at(d, s[len(s)-1].close)
		}
	}
}

// spans are the working hours of d; nil when d is not a working day.
func (c *Calendar) spans(d day) []span {
	s := c.week[d.weekday()]
	if len(s) == 0 || c.closures[d] || c.isHoliday(d) {
		return nil
	}
	return s
}

func (c *Calendar) isHoliday(d day) bool {
	if c.bank == nil {
		return false
	}
	if d >= c.holFrom && d <= c.holTo {
		return c.holidays[d]
	}
	y, _, _ := d.date()
	for yy := y - 1; yy <= y+1; yy++ {
		if slices.Contains(holidaysOf(c.bank, yy), d) {
			return true
		}
	}
	return false
}

// local is t's date in the calendar's zone.
func (c *Calendar) local(t time.Time) day { return dayOf(t.In(c.loc).Date()) }

// at is the instant of a wall-clock time on day d; time.Date normalises the
// seconds, so 24:00 is the next midnight.
func (c *Calendar) at(d day, sec int) time.Time {
	y, m, dd := d.date()
	return time.Date(y, m, dd, 0, 0, sec, 0, c.loc)
}

// day is a date without a zone, counted in days from 1970-01-01. Stepping
// through dates by number keeps clock changes out of the arithmetic.
type day int64

func dayOf(y int, m time.Month, d int) day {
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (d day) date() (int, time.Month, int) { return time.Unix(int64(d)*86400, 0).UTC().Date() }

// weekday counts from 1970-01-01, a Thursday.
func (d day) weekday() time.Weekday { return time.Weekday(((int64(d)+4)%7 + 7) % 7) }

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
