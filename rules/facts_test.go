package rules

import (
	"context"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/cases"
)

var update = flag.Bool("update", false, "rewrite FACTS.md")

// fakeCalendar works 9:00 to 17:00, Monday to Friday, in London, and knows one
// bank holiday.
type fakeCalendar struct {
	loc     *time.Location
	holiday string // YYYY-MM-DD
}

func (c fakeCalendar) Location() *time.Location { return c.loc }
func (c fakeCalendar) IsBankHoliday(t time.Time) bool {
	return t.In(c.loc).Format(time.DateOnly) == c.holiday
}
func (c fakeCalendar) IsWorkingDay(t time.Time) bool {
	wd := t.In(c.loc).Weekday()
	return wd != time.Saturday && wd != time.Sunday && !c.IsBankHoliday(t)
}
func (c fakeCalendar) WithinWorkingHours(t time.Time) bool {
	h := t.In(c.loc).Hour()
	return c.IsWorkingDay(t) && h >= 9 && h < 17
}

// fakeNearby counts what it was asked, or fails.
type fakeNearby struct {
	n      int
	err    error
	asked  string
	radius float64
	except string
}

func (f *fakeNearby) CountOpenNearby(_ context.Context, code string, _, _, radius float64, except string) (int, error) {
	f.asked, f.radius, f.except = code, radius, except
	return f.n, f.err
}

func london(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	return loc
}

func TestBuildFacts(t *testing.T) {
	lat, long := 51.541, -0.144
	e := 529000.0
	rep := cases.Report{
		Source:      cases.SourceFixMyStreet,
		ServiceCode: "FLY",
		Title:       "Dumped mattress",
		Description: "Mattress and needles",
		Location:    cases.Location{Lat: &lat, Long: &long, Easting: &e, ClosestAddress: "1 High Street"},
		Attributes:  cases.Attributes{"waste_type": {"furniture", "clinical"}, "northing": {"183500"}},
		// 23:30 UTC on Sunday 24 May 2026 is 00:30 on bank-holiday Monday in London.
		ReceivedAt: time.Date(2026, 5, 24, 23, 30, 0, 0, time.UTC),
	}
	nearby := &fakeNearby{n: 3}
	f, err := BuildFacts(context.Background(), rep, cases.Service{Code: "FLY", Name: "Fly-tipping", Group: "Waste and fly-tipping"}, FactSources{
		Calendar: fakeCalendar{loc: london(t), holiday: "2026-05-25"},
		Areas:    areas.Demo(),
		Nearby:   nearby,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Facts{
		ServiceCode: "FLY", ServiceGroup: "Waste and fly-tipping", ServiceName: "Fly-tipping",
		Title: "Dumped mattress", Description: "Mattress and needles",
		HasPoint: true, Lat: lat, Long: long, Easting: 529000, Northing: 183500,
		Areas: []string{"Camden Town", "Camden Market"}, Address: "1 High Street",
		Source: "fixmystreet", ReporterType: "public",
		Attributes:      map[string]string{"waste_type": "furniture", "northing": "183500"},
		AttributeValues: map[string][]string{"waste_type": {"furniture", "clinical"}, "northing": {"183500"}},
		Hour:            0, Minute: 30, Weekday: "Monday", Month: 5, ReceivedDate: "2026-05-25",
		WorkingDay: false, WorkingHours: false, BankHoliday: true,
		OpenNearby: 3,
		bounded:    true,
	}
	if !factsEqual(f, want) {
		t.Errorf("BuildFacts =\n%+v\nwant\n%+v", f, want)
	}
	if nearby.asked != "FLY" || nearby.radius != DefaultNearbyRadius {
		t.Errorf("CountOpenNearby asked for %q within %v m", nearby.asked, nearby.radius)
	}

	// A working Tuesday afternoon, by phone, no point, nothing else to ask.
	rep = cases.Report{Source: cases.SourceStaff, ServiceCode: "BIN", ReceivedAt: time.Date(2026, 5, 26, 13, 5, 0, 0, time.UTC)}
	f, err = BuildFacts(context.Background(), rep, cases.Service{Code: "BIN"}, FactSources{Calendar: fakeCalendar{loc: london(t)}, Nearby: nearby})
	if err != nil {
		t.Fatal(err)
	}
	if f.Hour != 14 || f.Minute != 5 || !f.WorkingDay || !f.WorkingHours || f.BankHoliday || f.Weekday != "Tuesday" || f.ReporterType != "staff" || f.HasPoint || f.Areas != nil {
		t.Errorf("BuildFacts(Tuesday, staff, no point) = %+v", f)
	}

	// The nearby count failing leaves every other fact in place.
	rep.Location = cases.Location{Lat: &lat, Long: &long}
	_, err = BuildFacts(context.Background(), rep, cases.Service{}, FactSources{Nearby: &fakeNearby{err: errors.New("redis down")}, NearbyRadius: 250})
	if err == nil || !strings.Contains(err.Error(), "redis down") {
		t.Errorf("BuildFacts with a failing count: err = %v", err)
	}
}

func factsEqual(a, b Facts) bool {
	ja, jb := a, b
	return ja.ServiceCode == jb.ServiceCode && ja.ServiceGroup == jb.ServiceGroup && ja.ServiceName == jb.ServiceName &&
		ja.Title == jb.Title && ja.Description == jb.Description && ja.HasPoint == jb.HasPoint &&
		ja.Lat == jb.Lat && ja.Long == jb.Long && ja.Easting == jb.Easting && ja.Northing == jb.Northing &&
		slices.Equal(ja.Areas, jb.Areas) && ja.Address == jb.Address && ja.Source == jb.Source && ja.ReporterType == jb.ReporterType &&
		mapsEqual(ja.Attributes, jb.Attributes) && len(ja.AttributeValues) == len(jb.AttributeValues) &&
		slices.Equal(ja.AttributeValues["waste_type"], jb.AttributeValues["waste_type"]) &&
		ja.Hour == jb.Hour && ja.Minute == jb.Minute && ja.Weekday == jb.Weekday && ja.Month == jb.Month &&
		ja.ReceivedDate == jb.ReceivedDate && ja.WorkingDay == jb.WorkingDay && ja.WorkingHours == jb.WorkingHours &&
		ja.BankHoliday == jb.BankHoliday && ja.OpenNearby == jb.OpenNearby && ja.bounded == jb.bounded
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestHelpers(t *testing.T) {
	f := &Facts{
		Description:     "Someone left NEEDLES by the Cabin; the bin is full",
		Areas:           []string{"Camden Town", "Camden Market"},
		Attributes:      map[string]string{"dangerous": "yes", "depth": " 7.5 ", "bad": "deep"},
		AttributeValues: map[string][]string{"waste_type": {"tyres", "asbestos"}},
		Hour:            23, Minute: 10,
		HasPoint: true, Lat: 51.5390, Long: -0.1426,
	}
	for _, tc := range []struct {
		when string
		want bool
	}{
		{`containsAny(description, ["needle", "syringe"])`, true},
		{`containsAny(description, ["syringe"])`, false},
		{`containsAll(description, ["needles", "cabin"])`, true},
		{`containsAll(description, ["needles", "sharps"])`, false},
		{`containsAnyWord(description, ["cabin"])`, true},
		{`containsAnyWord(description, ["cab", "abin"])`, false},
		{`containsAnyWord(description, ["bin"])`, true}, // "the bin", not only "Cabin"
		{`containsAny("ÉCOLE fermée", ["école"])`, true},
		{`containsAnyWord("ÉCOLE fermée", ["ferm"])`, false},
		{`containsAny(description, areas)`, false},
		{`inArea("Camden Market")`, true},
		{`inArea("Kentish Town")`, false},
		{`inAnyArea(["Kentish Town", "Camden Town"])`, true},
		{`inAnyArea(["Kentish Town", "Gospel Oak"])`, false},
		{`withinMetres(lat, long, 51.5390, -0.1426, 1)`, true},
		{`withinMetres(lat, long, 51.5400, -0.1426, 100)`, false}, // 111 m north
		{`withinMetres(lat, long, 51.5400, -0.1426, 112)`, true},
		{`withinMetres(lat, long, 51, 0, hour)`, false}, // an int where a number is due
		{`distanceMetres(lat, long, 51.5400, -0.1426) > 110 && distanceMetres(lat, long, 51.5400, -0.1426) < 112`, true},
		{`attr("dangerous") == "yes"`, true},
		{`attr("missing") == ""`, true},
		{`attrHas("waste_type", "asbestos")`, true},
		{`attrHas("waste_type", "household")`, false},
		{`attrNumber("depth") == 7.5`, true},
		{`attrNumber("bad") == 0 && attrNumber("missing") == 0`, true},
		{`timeBetween("23:00", "07:00")`, true},
		{`timeBetween("23:15", "07:00")`, false},
		{`timeBetween("09:00", "23:10")`, false}, // the end is not included
		{`timeBetween("09:00", "24:00")`, true},
	} {
		s := &Set{Name: "t", Default: Route{Department: "triage"}, Rules: []Rule{{ID: "r", When: tc.when, Then: Route{Department: "waste"}}}}
		cat := testCatalogue()
		c, err := Compile(s, cat)
		if err != nil {
			t.Errorf("%s: %v", tc.when, err)
			continue
		}
		d := c.Route(*f)
		if d.Error != "" {
			t.Errorf("%s: %s", tc.when, d.Error)
		}
		if got := d.RuleID == "r"; got != tc.want {
			t.Errorf("%s = %v, want %v", tc.when, got, tc.want)
		}
	}
}

// Every fact and helper is documented, and FACTS.md is up to date.
func TestFactsMarkdown(t *testing.T) {
	for _, d := range FactDocs() {
		if d.Description == "" || d.Example == "" || d.Type == "" {
			t.Errorf("fact %s is not documented in factText", d.Name)
		}
	}
	if len(factText) != len(factTable) {
		t.Errorf("factText describes %d facts, Facts has %d", len(factText), len(factTable))
	}
	// Every documented example compiles, so the docs cannot lie.
	for _, d := range FactDocs() {
		s := &Set{Name: "t", Default: Route{Department: "triage"}, Rules: []Rule{{ID: "r", When: d.Example, Then: Route{Department: "waste"}}}}
		if _, err := Compile(s, demoCatalogue()); err != nil {
			t.Errorf("the example of fact %s does not compile: %v", d.Name, err)
		}
	}
	examples := []string{listExample}
	for _, d := range FunctionDocs() {
		examples = append(examples, d.Example)
	}
	for _, e := range examples {
		s := &Set{Name: "t", Default: Route{Department: "triage"}, Rules: []Rule{{ID: "r", When: e, Then: Route{Department: "waste"}}}}
		if _, err := Compile(s, demoCatalogue()); err != nil {
			t.Errorf("the example %s does not compile: %v", e, err)
		}
	}
	md := FactsMarkdown()
	if *update {
		if err := os.WriteFile("FACTS.md", []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("FACTS.md")
	if err != nil || string(b) != md {
		t.Errorf("FACTS.md is out of date: run go test ./rules -run TestFactsMarkdown -update")
	}
}

// The table in Facts' doc comment names every fact.
func TestFactsDocComment(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "facts.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	ast.Inspect(file, func(n ast.Node) bool {
		if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.TYPE && g.Specs[0].(*ast.TypeSpec).Name.Name == "Facts" {
			doc = g.Doc.Text()
		}
		return true
	})
	for _, f := range factTable {
		if !strings.Contains(doc, f.name) {
			t.Errorf("the doc comment of Facts does not list %s", f.name)
		}
	}
}
