package calendar

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/calendar/calendartest"
)

const show = "Mon 2006-01-02 15:04:05 MST"

var ldn = calendartest.London

func mustNew(tb testing.TB, c Config) *Calendar {
	tb.Helper()
	cl, err := New(c)
	if err != nil {
		tb.Fatalf("New(%+v): %v", c, err)
	}
	return cl
}

// council is a realistic configured calendar: early close on Fridays and the
// offices shut between Christmas and New Year.
func council(tb testing.TB) *Calendar {
	return mustNew(tb, Config{
		Hours:    Week{Friday: "09:00-16:30"},
		Closures: []string{"2026-12-29..2026-12-31", "2027-12-29..2027-12-31"},
	})
}

func TestBankHolidays(t *testing.T) {
	// The England and Wales lists published on gov.uk/bank-holidays.
	holidays := []string{
		"2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31", "2020-12-25", "2020-12-28",
		"2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03", "2022-08-29", "2022-09-19",
		"2022-12-26", "2022-12-27",
		"2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29", "2023-08-28", "2023-12-25", "2023-12-26",
		"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28",
		"2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30", "2027-12-27", "2027-12-28",
		"2028-01-03", "2028-04-14", "2028-04-17", "2028-05-01", "2028-05-29", "2028-08-28", "2028-12-25", "2028-12-26",
		// The days themselves, when they fall on a weekend and a substitute is given.
		"2027-12-25", "2027-12-26", "2028-01-01",
	}
	notHolidays := []string{
		"2020-05-04", // Early May moved to VE Day
		"2022-05-30", // Spring moved to 2 June for the Jubilee
		"2026-12-24", "2026-12-29", "2027-12-29", "2027-12-31",
		"2026-08-03", // Scotland's summer holiday
		"2026-11-30", // St Andrew's Day
		"2026-03-17", // St Patrick's Day
	}
	c := Default()
	for _, s := range holidays {
		if !c.IsBankHoliday(ldn(t, s)) {
			t.Errorf("IsBankHoliday(%s) = false, want true", s)
		}
		if c.IsWorkingDay(ldn(t, s)) {
			t.Errorf("IsWorkingDay(%s) = true on a bank holiday", s)
		}
	}
	for _, s := range notHolidays {
		if c.IsBankHoliday(ldn(t, s)) {
			t.Errorf("IsBankHoliday(%s) = true, want false", s)
		}
	}
	// The date is London's, not the instant's own zone: 23:30 UTC on Sunday
	// 24 May 2026 is already the Spring bank holiday in London.
	if at := time.Date(2026, 5, 24, 23, 30, 0, 0, time.UTC); !c.IsBankHoliday(at) {
		t.Errorf("IsBankHoliday(%s) = false: the date must be taken in London", at)
	}
	none := mustNew(t, Config{BankHolidays: NoBankHolidays})
	if none.IsBankHoliday(ldn(t, "2026-12-25")) || !none.IsWorkingDay(ldn(t, "2026-12-25")) {
		t.Error(`bank_holidays: none still observes Christmas Day 2026 (a Friday)`)
	}
}

// TestHolidaysOutsidePrecomputedYears checks that the years New works out in
// advance and the years worked out on demand agree.
func TestHolidaysOutsidePrecomputedYears(t *testing.T) {
	c := Default()
	for _, y := range []int{firstYear, 2026, 2027, lastYear} {
		for d := dayOf(y, time.January, 1); d <= dayOf(y, time.December, 31); d++ {
			pre := c.holidays[d]
			c2 := *c
			c2.holFrom, c2.holTo = 1, 0 // forces the on-demand path
			if got := c2.isHoliday(d); got != pre {
				yy, m, dd := d.date()
				t.Errorf("%d-%02d-%02d: on demand %v, precomputed %v", yy, m, dd, got, pre)
			}
		}
	}
	if !c.IsBankHoliday(ldn(t, "2110-12-25")) || !c.IsBankHoliday(ldn(t, "2110-12-26")) {
		t.Error("Christmas 2110 (outside the precomputed years) is not a bank holiday")
	}
}

func TestIsWorkingDayAndHours(t *testing.T) {
	c := council(t)
	for _, tc := range []struct {
		at          string
		workingDay  bool
		withinHours bool
	}{
		{"2026-05-22 08:59", true, false},
		{"2026-05-22 09:00", true, true}, // opening is working time
		{"2026-05-21 16:59", true, true},
		{"2026-05-21 17:00", true, false}, // closing is not
		{"2026-05-22 16:29", true, true},  // Friday closes at 16:30
		{"2026-05-22 16:30", true, false},
		{"2026-05-23 10:00", false, false}, // Saturday
		{"2026-05-25 10:00", false, false}, // Spring bank holiday
		{"2026-12-29 10:00", false, false}, // council closure
		{"2026-12-31 10:00", false, false},
		{"2027-01-04 10:00", true, true},
		{"2026-03-30 09:30", true, true}, // first day of BST
		{"2026-10-26 16:59", true, true}, // first day of GMT
	} {
		at := ldn(t, tc.at)
		if got := c.IsWorkingDay(at); got != tc.workingDay {
			t.Errorf("IsWorkingDay(%s) = %v, want %v", at.Format(show), got, tc.workingDay)
		}
		if got := c.WithinWorkingHours(at); got != tc.withinHours {
			t.Errorf("WithinWorkingHours(%s) = %v, want %v", at.Format(show), got, tc.withinHours)
		}
	}
}

func TestAdd(t *testing.T) {
	def, cou := Default(), council(t)
	split := mustNew(t, Config{Hours: Week{Wednesday: "09:00-12:30, 13:30-17:00"}})
	for _, tc := range []struct {
		name  string
		cal   *Calendar
		start string
		d     time.Duration
		want  string
	}{
		{"zero", def, "2026-05-23 11:00", 0, "2026-05-23 11:00"},
		{"same day", def, "2026-05-21 10:00", 3 * time.Hour, "2026-05-21 13:00"},
		{"ends exactly at closing", def, "2026-05-22 16:55", 5 * time.Minute, "2026-05-22 17:00"},
		{"Friday 16:55 before a bank-holiday Monday", def, "2026-05-22 16:55", 10 * time.Minute, "2026-05-26 09:05"},
		{"one working day from Friday 16:55", def, "2026-05-22 16:55", 8 * time.Hour, "2026-05-26 16:55"},
		{"eight hours from opening is closing, not next opening", def, "2026-05-26 09:00", 8 * time.Hour, "2026-05-26 17:00"},
		{"start before opening", def, "2026-05-21 07:30", time.Hour, "2026-05-21 10:00"},
		{"start after closing", def, "2026-05-21 19:00", time.Hour, "2026-05-22 10:00"},
		{"start on Saturday", def, "2026-05-23 11:00", time.Hour, "2026-05-26 10:00"},
		{"start on the bank holiday", def, "2026-05-25 11:00", time.Hour, "2026-05-26 10:00"},
		{"into British Summer Time (29 March)", def, "2026-03-27 16:00", 2 * time.Hour, "2026-03-30 10:00"},
		{"back to GMT (25 October)", def, "2026-10-23 16:00", 2 * time.Hour, "2026-10-26 10:00"},
		{"a week over the October change", def, "2026-10-21 12:00", 40 * time.Hour, "2026-10-28 12:00"},
		{"Christmas 2026: Boxing Day substitute on Monday 28th", def, "2026-12-24 16:00", 2 * time.Hour, "2026-12-29 10:00"},
		{"Christmas 2026 with the council's closure", cou, "2026-12-24 16:00", 2 * time.Hour, "2027-01-04 10:00"},
		{"Christmas 2027: Saturday, substitutes on 27th and 28th", def, "2027-12-24 16:00", 2 * time.Hour, "2027-12-29 10:00"},
		{"New Year 2028: Saturday, substitute on Monday 3rd", def, "2027-12-31 16:30", time.Hour, "2028-01-04 09:30"},
		{"Friday closes at 16:30", cou, "2026-05-21 16:00", 2 * time.Hour, "2026-05-22 10:00"},
		{"Friday closes at 16:30, into Tuesday", cou, "2026-05-22 16:00", time.Hour, "2026-05-26 09:30"},
		{"lunch is not working time", split, "2026-05-20 12:00", time.Hour, "2026-05-20 14:00"},
		{"backwards over a bank-holiday weekend", def, "2026-05-26 09:05", -10 * time.Minute, "2026-05-22 16:55"},
		{"backwards from opening", def, "2026-05-26 09:00", -8 * time.Hour, "2026-05-22 09:00"},
		{"backwards over lunch", split, "2026-05-20 14:00", -time.Hour, "2026-05-20 12:00"},
	} {
		start, want := ldn(t, tc.start), ldn(t, tc.want)
		got := tc.cal.Add(start, tc.d)
		if !got.Equal(want) || got.Location() != tc.cal.Location() {
			t.Errorf("%s: Add(%s, %v) = %s, want %s", tc.name, start.Format(show), tc.d, got.Format(show), want.Format(show))
		}
	}
}

func TestAddDays(t *testing.T) {
	def, cou := Default(), council(t)
	for _, tc := range []struct {
		name  string
		cal   *Calendar
		start string
		n     int
		want  string
	}{
		{"zero days", def, "2026-05-23 11:00", 0, "2026-05-23 11:00"},
		{"same time next day", def, "2026-05-20 14:00", 1, "2026-05-21 14:00"},
		{"Friday 16:55 before a bank-holiday Monday", def, "2026-05-22 16:55", 1, "2026-05-26 16:55"},
		{"five days from Friday 16:55", def, "2026-05-22 16:55", 5, "2026-06-01 16:55"},
		{"from opening: end of the day", def, "2026-05-18 09:00", 1, "2026-05-18 17:00"},
		{"from before opening: end of the fifth day", def, "2026-05-18 07:00", 5, "2026-05-22 17:00"},
		{"from Saturday: end of the fifth working day", def, "2026-05-16 10:00", 5, "2026-05-22 17:00"},
		{"from after closing, before a bank holiday", def, "2026-05-22 18:00", 1, "2026-05-26 17:00"},
		{"wall clock kept into BST", def, "2026-03-27 10:00", 1, "2026-03-30 10:00"},
		{"wall clock kept into GMT", def, "2026-10-23 10:00", 1, "2026-10-26 10:00"},
		{"over Christmas 2027", def, "2027-12-23 11:00", 2, "2027-12-29 11:00"},
		{"over Christmas 2026 with closures", cou, "2026-12-23 11:00", 2, "2027-01-04 11:00"},
		{"clamped to a short Friday", cou, "2026-05-21 16:45", 1, "2026-05-22 16:30"},
		{"from a short Friday's last minutes", cou, "2026-05-22 16:20", 1, "2026-05-26 16:20"},
	} {
		start, want := ldn(t, tc.start), ldn(t, tc.want)
		got := tc.cal.AddDays(start, tc.n)
		if !got.Equal(want) {
			t.Errorf("%s: AddDays(%s, %d) = %s, want %s", tc.name, start.Format(show), tc.n, got.Format(show), want.Format(show))
		}
	}
}

func TestBetween(t *testing.T) {
	def, cou := Default(), council(t)
	for _, tc := range []struct {
		name string
		cal  *Calendar
		a, b string
		want time.Duration
	}{
		{"same instant", def, "2026-05-21 10:00", "2026-05-21 10:00", 0},
		{"within a day", def, "2026-05-21 10:00", "2026-05-21 12:30", 150 * time.Minute},
		{"a weekend", def, "2026-05-16 00:00", "2026-05-18 00:00", 0},
		{"Friday 16:55 to Tuesday 09:05 over a bank holiday", def, "2026-05-22 16:55", "2026-05-26 09:05", 10 * time.Minute},
		{"a week", def, "2026-05-11 00:00", "2026-05-18 00:00", 40 * time.Hour},
		{"a week with a short Friday", cou, "2026-05-11 00:00", "2026-05-18 00:00", 39*time.Hour + 30*time.Minute},
		// 65 hours on the clock, not 66: an hour vanished at 01:00 on Sunday.
		{"over the March change", def, "2026-03-27 16:00", "2026-03-30 10:00", 2 * time.Hour},
		{"over the October change", def, "2026-10-23 16:00", "2026-10-26 10:00", 2 * time.Hour},
		{"Christmas week 2026", def, "2026-12-21 00:00", "2027-01-04 00:00", 7 * 8 * time.Hour},
		{"Christmas week 2026 with closures", cou, "2026-12-21 00:00", "2027-01-04 00:00", 4 * 8 * time.Hour},
		{"reversed", def, "2026-05-21 12:30", "2026-05-21 10:00", -150 * time.Minute},
	} {
		a, b := ldn(t, tc.a), ldn(t, tc.b)
		if got := tc.cal.Between(a, b); got != tc.want {
			t.Errorf("%s: Between(%s, %s) = %v, want %v", tc.name, a.Format(show), b.Format(show), got, tc.want)
		}
	}
}

// TestAddBetweenInverse walks starts across the March clock change, a bank
// holiday, the October change and Christmas, and checks that Add and Between
// undo each other, that AddDays lands where Add would, and that working time
// adds up across any split point (which is what lets the sla package subtract
// pauses).
func TestAddBetweenInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2026))
	durations := []time.Duration{time.Second, 5 * time.Minute, time.Hour, 8 * time.Hour, 23 * time.Hour, 40 * time.Hour, 200 * time.Hour}
	for _, cl := range []*Calendar{Default(), council(t), mustNew(t, Config{Hours: Week{Wednesday: "09:00-12:30,13:30-17:00", Saturday: "10:00-13:00"}})} {
		for _, from := range []string{"2026-03-25 00:00", "2026-05-20 00:00", "2026-10-21 00:00", "2026-12-22 00:00", "2027-12-22 00:00"} {
			base := ldn(t, from)
			for range 60 {
				start := base.Add(time.Duration(rng.Int64N(int64(8 * 24 * time.Hour))))
				d := durations[rng.IntN(len(durations))]
				end := cl.Add(start, d)
				if got := cl.Between(start, end); got != d {
					t.Fatalf("Between(%s, Add(.., %v) = %s) = %v", start.Format(show), d, end.Format(show), got)
				}
				// start itself is d before end, and Add(end, -d) is the latest such instant.
				if back := cl.Add(end, -d); cl.Between(back, end) != d || back.Before(start) {
					t.Fatalf("Add(%s, -%v) = %s, want the latest instant %v of working time before, so not before %s", end.Format(show), d, back.Format(show), d, start.Format(show))
				}
				other := start.Add(time.Duration(rng.Int64N(int64(10 * 24 * time.Hour))))
				w := cl.Between(start, other)
				if got := cl.Add(start, w); got.After(other) || (cl.WithinWorkingHours(other) && !got.Equal(other)) {
					t.Fatalf("Add(%s, Between(.., %s) = %v) = %s", start.Format(show), other.Format(show), w, got.Format(show))
				}
				mid := start.Add(time.Duration(rng.Int64N(int64(other.Sub(start) + 1))))
				if a, b := cl.Between(start, mid), cl.Between(mid, other); a+b != w {
					t.Fatalf("Between(%s, %s) = %v, but split at %s: %v + %v", start.Format(show), other.Format(show), w, mid.Format(show), a, b)
				}
				n := 1 + rng.IntN(12)
				days := cl.AddDays(start, n)
				if got := cl.Add(start, cl.Between(start, days)); !got.Equal(days) {
					t.Fatalf("AddDays(%s, %d) = %s, but Add of the same working time is %s", start.Format(show), n, days.Format(show), got.Format(show))
				}
			}
		}
	}
}

func TestConfigFromYAML(t *testing.T) {
	const src = `
time_zone: Europe/London
bank_holidays: england-and-wales
hours:
  friday: "09:00-16:30"
  wednesday: "09:00-12:30, 13:30-17:00"
  saturday: "09:00-12:00"
closures:
  - "2026-12-29..2026-12-31"
  - "2026-08-28"
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	c := mustNew(t, cfg)
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2026-05-22 16:45", false}, // Friday after 16:30
		{"2026-05-23 10:00", true},  // Saturday morning
		{"2026-05-23 12:00", false},
		{"2026-05-20 13:00", false}, // Wednesday lunch
		{"2026-05-20 13:30", true},
		{"2026-05-18 16:59", true}, // Monday keeps its default
		{"2026-05-24 10:00", false},
		{"2026-08-28 10:00", false}, // closure
		{"2026-12-30 10:00", false},
	} {
		if got := c.WithinWorkingHours(ldn(t, tc.at)); got != tc.want {
			t.Errorf("WithinWorkingHours(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TimeZone: "Europe/Londres"}, "time_zone"},
		{Config{BankHolidays: "scotland"}, "bank_holidays"},
		{Config{Hours: Week{Friday: "9-5"}}, "hours.friday"},
		{Config{Hours: Week{Friday: "09:00 to 17:00"}}, "hours.friday"},
		{Config{Hours: Week{Monday: "17:00-09:00"}}, "hours.monday"},
		{Config{Hours: Week{Monday: "09:00-09:00"}}, "hours.monday"},
		{Config{Hours: Week{Tuesday: "25:00-26:00"}}, "hours.tuesday"},
		{Config{Hours: Week{Tuesday: "09:00-24:30"}}, "hours.tuesday"},
		{Config{Hours: Week{Wednesday: "09:00-13:00, 12:00-17:00"}}, "hours.wednesday"},
		{Config{Hours: Week{Monday: "closed", Tuesday: "closed", Wednesday: "closed", Thursday: "closed", Friday: "Closed"}}, "at least one weekday"},
		{Config{Closures: []string{"2026-12-29", "29/12/2026"}}, "closures[1]"},
		{Config{Closures: []string{"2026-12-31..2026-12-29"}}, "closures[0]"},
		{Config{Closures: []string{"2026-12-29..2062-12-31"}}, "closures[0]"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
	// Round-the-clock hours are allowed and end at midnight.
	c := mustNew(t, Config{Hours: Week{Sunday: "00:00-24:00"}})
	if got, want := c.Add(ldn(t, "2026-05-24 23:00"), 2*time.Hour), ldn(t, "2026-05-26 10:00"); !got.Equal(want) {
		t.Errorf("Add(Sunday 23:00, 2h) with Sunday open all day = %s, want %s", got.Format(show), want.Format(show))
	}
}

func BenchmarkAdd(b *testing.B) {
	c := Default()
	start := ldn(b, "2026-05-22 16:55")
	for b.Loop() {
		c.Add(start, 40*time.Hour) // five working days over a bank-holiday weekend
	}
}

func BenchmarkAddDays(b *testing.B) {
	c := Default()
	start := ldn(b, "2026-05-22 16:55")
	for b.Loop() {
		c.AddDays(start, 10)
	}
}

func BenchmarkBetween(b *testing.B) {
	c := Default()
	from, to := ldn(b, "2026-12-01 10:00"), ldn(b, "2027-01-01 10:00")
	for b.Loop() {
		c.Between(from, to)
	}
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
