package rules

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/casebridge/casebridge/cases"
)

// Facts are what a rule's `when` can look at. Each field's expr name (its `expr`
// tag) is the name staff write; FactDocs describes every one of them and
// FACTS.md lists them for the README. The JSON and YAML names are the same, so a
// simulation request or a rules test file writes facts the way rules read them.
//
// | fact             | type            | from                                           |
// |------------------|-----------------|------------------------------------------------|
// | service_code     | text            | the Open311 service code                       |
// | service_group    | text            | the service's group in the catalogue           |
// | service_name     | text            | the service's name                             |
// | title            | text            | the report's title                             |
// | description      | text            | the report's description                       |
// | has_point        | true/false      | whether the report has latitude and longitude  |
// | lat, long        | number          | WGS84 position                                 |
// | easting,northing | number          | British National Grid position                 |
// | areas            | list of text    | council areas the point is in                  |
// | address          | text            | the address given or the closest one           |
// | source           | text            | fixmystreet, open311, phone, web or staff      |
// | reporter_type    | text            | public, staff, councillor, ...                 |
// | attributes       | text by code    | first answer to each service question          |
// | attribute_values | lists by code   | every answer to each service question          |
// | hour, minute     | whole number    | the received time on the council's clock       |
// | weekday, month   | text, number    | the received date on the council's clock       |
// | received_date    | text            | the received date as YYYY-MM-DD                |
// | working_day      | true/false      | received on a working day                      |
// | working_hours    | true/false      | received within working hours                  |
// | bank_holiday     | true/false      | received on a bank holiday                     |
// | open_nearby      | whole number    | open cases of the same service nearby          |
type Facts struct {
	ServiceCode  string `expr:"service_code" json:"service_code" yaml:"service_code"`
	ServiceGroup string `expr:"service_group" json:"service_group,omitempty" yaml:"service_group,omitempty"`
	ServiceName  string `expr:"service_name" json:"service_name,omitempty" yaml:"service_name,omitempty"`

	Title       string `expr:"title" json:"title,omitempty" yaml:"title,omitempty"`
	Description string `expr:"description" json:"description,omitempty" yaml:"description,omitempty"`

	HasPoint bool     `expr:"has_point" json:"has_point,omitempty" yaml:"has_point,omitempty"`
	Lat      float64  `expr:"lat" json:"lat,omitempty" yaml:"lat,omitempty"`
	Long     float64  `expr:"long" json:"long,omitempty" yaml:"long,omitempty"`
	Easting  float64  `expr:"easting" json:"easting,omitempty" yaml:"easting,omitempty"`
	Northing float64  `expr:"northing" json:"northing,omitempty" yaml:"northing,omitempty"`
	Areas    []string `expr:"areas" json:"areas,omitempty" yaml:"areas,omitempty"`
	Address  string   `expr:"address" json:"address,omitempty" yaml:"address,omitempty"`

	Source       string `expr:"source" json:"source,omitempty" yaml:"source,omitempty"`
	ReporterType string `expr:"reporter_type" json:"reporter_type,omitempty" yaml:"reporter_type,omitempty"`

	Attributes      map[string]string   `expr:"attributes" json:"attributes,omitempty" yaml:"attributes,omitempty"`
	AttributeValues map[string][]string `expr:"attribute_values" json:"attribute_values,omitempty" yaml:"attribute_values,omitempty"`

	Hour         int    `expr:"hour" json:"hour" yaml:"hour,omitempty"`
	Minute       int    `expr:"minute" json:"minute" yaml:"minute,omitempty"`
	Weekday      string `expr:"weekday" json:"weekday,omitempty" yaml:"weekday,omitempty"`
	Month        int    `expr:"month" json:"month,omitempty" yaml:"month,omitempty"`
	ReceivedDate string `expr:"received_date" json:"received_date,omitempty" yaml:"received_date,omitempty"`
	WorkingDay   bool   `expr:"working_day" json:"working_day" yaml:"working_day,omitempty"`
	WorkingHours bool   `expr:"working_hours" json:"working_hours" yaml:"working_hours,omitempty"`
	BankHoliday  bool   `expr:"bank_holiday" json:"bank_holiday" yaml:"bank_holiday,omitempty"`

	OpenNearby int `expr:"open_nearby" json:"open_nearby" yaml:"open_nearby,omitempty"`

	// bounded is set once the limits below are applied, so Route need not
	// walk the attribute lists again on every decision.
	bounded bool
}

// Limits on what a rule gets to see. Routing on the first 10,000 characters of
// a description loses nothing, and it bounds what a hostile rule can do with
// the text (see sandbox.go).
const (
	maxText        = 10_000
	maxListItems   = 100
	maxAttributes  = 200
	maxAttrValueLn = 1_000
)

// Calendar is the council's working-time calendar. calendar.Calendar implements it.
type Calendar interface {
	IsWorkingDay(time.Time) bool
	WithinWorkingHours(time.Time) bool
	IsBankHoliday(time.Time) bool
	Location() *time.Location
}

// NearbyCounter counts open cases of a service near a point, never counting
// the case except; the read model implements it.
type NearbyCounter interface {
	CountOpenNearby(ctx context.Context, serviceCode string, lat, long, radiusMetres float64, except string) (int, error)
}

// AreaFinder names the council areas a point is in; areas.Set implements it.
type AreaFinder interface {
	Lookup(lat, long float64) []string
}

// DefaultNearbyRadius is how far, in metres, open_nearby looks when
// FactSources says nothing.
const DefaultNearbyRadius = 100

// FactSources are what BuildFacts needs beyond the report itself. Any of them
// may be nil: the facts they provide are then left empty (false, 0 or none).
type FactSources struct {
	Calendar Calendar
	Areas    AreaFinder
	Nearby   NearbyCounter
	// NearbyRadius is the radius of open_nearby in metres (DefaultNearbyRadius if 0).
	NearbyRadius float64
	// Except is the reference of the case being routed, which open_nearby
	// never counts: it is not near itself.
	Except string
}

// BuildFacts gathers the facts about a report for routing. svc is the case's
// service now, which after re-categorisation is not the one the report was
// filed under. Time facts come from the report's ReceivedAt on the calendar's
// clock, never from the wall clock, so routing the same report again gives the
// same answer.
//
// Only the count of open cases nearby does I/O. If it fails, the facts are
// still complete apart from open_nearby (0), and the error says so: the caller
// may retry or route anyway.
func BuildFacts(ctx context.Context, r cases.Report, svc cases.Service, src FactSources) (Facts, error) {
	code := svc.Code
	if code == "" {
		code = r.ServiceCode
	}
	f := Facts{
		ServiceCode:  code,
		ServiceGroup: svc.Group,
		ServiceName:  svc.Name,
		Title:        r.Title,
		Description:  r.Description,
		Source:       string(r.Source),
		ReporterType: r.Reporter.Type,
	}
	if f.ReporterType == "" {
		f.ReporterType = "public"
		if r.Source == cases.SourceStaff {
			f.ReporterType = "staff"
		}
	}
	if len(r.Attributes) > 0 {
		f.Attributes = make(map[string]string, len(r.Attributes))
		f.AttributeValues = make(map[string][]string, len(r.Attributes))
		for k, v := range r.Attributes {
			f.AttributeValues[k] = v
			f.Attributes[k] = r.Attributes.Get(k)
		}
	}

	loc := r.Location
	if loc.HasPoint() {
		f.HasPoint, f.Lat, f.Long = true, *loc.Lat, *loc.Long
	}
	f.Easting = firstNumber(loc.Easting, r.Attributes.Get("easting"))
	f.Northing = firstNumber(loc.Northing, r.Attributes.Get("northing"))
	f.Address = firstText(loc.Address, loc.ClosestAddress, r.Attributes.Get("closest_address"))
	if f.HasPoint && src.Areas != nil {
		f.Areas = src.Areas.Lookup(f.Lat, f.Long)
	}

	f.setTime(r.ReceivedAt, src.Calendar)

	var err error
	if f.HasPoint && src.Nearby != nil && code != "" {
		radius := src.NearbyRadius
		if radius <= 0 {
			radius = DefaultNearbyRadius
		}
		n, nerr := src.Nearby.CountOpenNearby(ctx, code, f.Lat, f.Long, radius, src.Except)
		if nerr != nil {
			err = fmt.Errorf("count open %s cases near the report: %w", code, nerr)
		} else {
			f.OpenNearby = n
		}
	}
	return f.Normalize(), err
}

func (f *Facts) setTime(at time.Time, cal Calendar) {
	if at.IsZero() {
		return
	}
	if cal != nil {
		if loc := cal.Location(); loc != nil {
			at = at.In(loc)
		}
		f.WorkingDay = cal.IsWorkingDay(at)
		f.WorkingHours = cal.WithinWorkingHours(at)
		f.BankHoliday = cal.IsBankHoliday(at)
	}
	f.Hour, f.Minute = at.Hour(), at.Minute()
	f.Weekday = at.Weekday().String()
	f.Month = int(at.Month())
	f.ReceivedDate = at.Format(time.DateOnly)
}

func firstNumber(p *float64, s string) float64 {
	if p != nil {
		return *p
	}
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func firstText(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// Normalize makes facts written by hand (a simulation request, a rules test
// file) consistent the way BuildFacts makes them: attributes and
// attribute_values agree, and texts and lists are cut to the limits rules work
// within. Route normalizes facts that have not been.
func (f Facts) Normalize() Facts {
	if f.bounded {
		return f
	}
	f.Title = truncate(f.Title, maxText)
	f.Description = truncate(f.Description, maxText)
	f.Address = truncate(f.Address, maxText)
	if len(f.Areas) > 0 {
		areas := f.Areas[:min(len(f.Areas), maxListItems)]
		f.Areas = make([]string, len(areas))
		for i, a := range areas {
			f.Areas[i] = truncate(a, maxAttrValueLn)
		}
	}
	if len(f.Attributes) > 0 || len(f.AttributeValues) > 0 {
		attrs := make(map[string]string, len(f.Attributes))
		values := make(map[string][]string, len(f.AttributeValues))
		for k, v := range f.AttributeValues {
			if len(values) == maxAttributes {
				break
			}
			if len(v) > maxListItems {
				v = v[:maxListItems]
			}
			out := make([]string, len(v))
			for i, s := range v {
				out[i] = truncate(s, maxAttrValueLn)
			}
			values[k] = out
			if len(out) > 0 {
				attrs[k] = out[0]
			} else {
				attrs[k] = ""
			}
		}
		for k, v := range f.Attributes {
			if _, ok := values[k]; ok || len(values) == maxAttributes {
				continue
			}
			v = truncate(v, maxAttrValueLn)
			attrs[k], values[k] = v, []string{v}
		}
		f.Attributes, f.AttributeValues = attrs, values
	}
	f.bounded = true
	return f
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// fact is one field of Facts as rules see it.
type fact struct {
	name  string
	index int // field index in Facts
	typ   reflect.Type
}

// factTable lists the facts in declaration order; factIndex finds one by name.
var factTable, factIndex = func() ([]fact, map[string]int) {
	t := reflect.TypeFor[Facts]()
	var list []fact
	index := map[string]int{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("expr")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		index[name] = len(list)
		list = append(list, fact{name: name, index: i, typ: sf.Type})
	}
	return list, index
}()

// value returns the fact's value in f.
func (ft fact) value(f *Facts) any {
	return reflect.ValueOf(f).Elem().Field(ft.index).Interface()
}

// typeName says what kind of value a Go type holds, in words staff use.
func typeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "a list of text"
		}
		return "a list"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "texts by code"
		}
		return "lists of text by code"
	case reflect.Interface:
		return "a value"
	}
	return t.String()
}
