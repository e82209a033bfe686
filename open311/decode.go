package open311

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casebridge/casebridge/cases"
)

// limit bounds a parameter: at most max characters; text may hold line breaks.
type limit struct {
	max  int
	text bool
}

// Short values that are read, not stored: they need only room to be read.
const (
	maxDatetime   = 64
	maxCoordinate = 32
)

// limits are the parameters' own limits, from the domain's (cases/limits.go),
// which Open311 shares with the staff API and the console. Every value read
// by name is held to its limit; attribute answers are held by
// cases.CheckAttributes. api_key is not here: it is compared, never kept.
var limits = map[string]limit{
	"jurisdiction_id":    {max: cases.MaxJurisdiction},
	"service_code":       {max: cases.MaxCode},
	"service_request_id": {max: cases.MaxID},
	"update_id":          {max: cases.MaxID},
	"status":             {max: cases.MaxCode},
	"address_string":     {max: cases.MaxAddress, text: true},
	"address_id":         {max: cases.MaxID},
	"first_name":         {max: cases.MaxName},
	"last_name":          {max: cases.MaxName},
	"email":              {max: cases.MaxEmail},
	"phone":              {max: cases.MaxPhone},
	"account_id":         {max: cases.MaxID},
	"device_id":          {max: cases.MaxID},
	// A request's description and an update's are both held to 10,000
	// characters (cases.MaxDescription, cases.MaxNote).
	"description":      {max: min(cases.MaxDescription, cases.MaxNote), text: true},
	"media_url":        {max: cases.MaxURL},
	"updated_datetime": {max: maxDatetime},
	"start_date":       {max: maxDatetime},
	"end_date":         {max: maxDatetime},
	"lat":              {max: maxCoordinate},
	"long":             {max: maxCoordinate},
}

// fieldLimit is the most characters parameter name may have, if it has a limit.
func fieldLimit(name string) (int, bool) {
	if l, ok := limits[name]; ok {
		return l.max, true
	}
	if code, ok := attributeCode(name); ok && strings.HasPrefix(name, "attribute[") {
		return cases.MaxAttribute(code), true
	}
	return 0, false
}

// Limits lists the parameters of POST requests and servicerequestupdates
// that casebridge keeps, with the most characters each may have, for
// publishing. Attribute answers are limited by cases.MaxAttribute.
func Limits() map[string]int {
	out := map[string]int{}
	for name, l := range limits {
		out[name] = l.max
	}
	return out
}

// MaxRange is the widest start_date to end_date window of GET requests, and the window
// it defaults to, as the spec sets it.
const MaxRange = 90 * 24 * time.Hour

// Attributes are the answers of attribute[code] parameters, by code, every value in
// the order sent, so multi-value answers survive. Empty answers are dropped. Codes the
// service never declared are kept (FixMyStreet sends uprn and others); the caller
// decides what to use.
type Attributes map[string][]string

// Get is the first answer for code, or "".
func (a Attributes) Get(code string) string {
	if vs := a[code]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// Contact is who sent a request or an update. It is personal data: keep it out of logs.
type Contact struct {
	FirstName string
	LastName  string // FixMyStreet's "-" for a user without one is read as ""
	Email     string
	Phone     string
	AccountID string
}

// PostedRequest is a POST /requests: a new report.
type PostedRequest struct {
	APIKey         string
	JurisdictionID string
	ServiceCode    string
	// Point, AddressString and AddressID are the location; at least one is set.
	Point         *Point
	AddressString string
	AddressID     string
	Contact
	DeviceID    string
	Description string
	MediaURLs   []string
	Attributes  Attributes // e.g. fixmystreet_id, easting, northing, uprn
	Uploads     []Upload
}

// PostedUpdate is a POST /servicerequestupdates: a citizen's comment or reopen request
// passed on by FixMyStreet.
type PostedUpdate struct {
	APIKey           string
	JurisdictionID   string
	ServiceRequestID string
	UpdateID         string // the client's own id for the update
	// Status is lower case, from the extended vocabulary (open, closed, fixed,
	// in_progress, reopen, …); FixMyStreet sends it in upper case.
	Status      string
	UpdatedAt   time.Time
	Description string // may be empty
	Contact
	ServiceCode string
	MediaURLs   []string
	Attributes  Attributes
	Uploads     []Upload
}

// RequestQuery is a GET /requests.
type RequestQuery struct {
	JurisdictionID string
	// ServiceRequestIDs, when set, override every other filter, which are then zero.
	ServiceRequestIDs []string
	ServiceCodes      []string // any of these; none means all
	// Start and End bound requested_datetime, inclusive. Neither given means the 90
	// days up to now; only one given means the 90 days from or to it.
	Start, End time.Time
	Statuses   []string // open and/or closed; none means both
}

// UpdateQuery is a GET /servicerequestupdates.
type UpdateQuery struct {
	JurisdictionID string
	// APIKey is sent by FixMyStreet even on this GET, often empty.
	APIKey string
	// Start and End bound updated_datetime, inclusive; a zero one is unbounded.
	Start, End time.Time
}

// DecodeRequest reads a POST /requests from a form-urlencoded (with or without a
// charset) or multipart body, adding any query parameters. Values are trimmed, CRLF
// becomes LF and an empty value counts as absent. A missing api_key is a 403; key, if
// not nil, checks its value before anything else is looked at (before the body is read,
// if the key is in the query string). Any other fault is a 400 listing every problem
// found, a value past its limit (see limits) among them.
func DecodeRequest(r *http.Request, key KeyCheck) (*PostedRequest, error) {
	p, uploads, err := decodeForm(r, key, "posting a service request")
	if err != nil {
		return nil, err
	}
	req := &PostedRequest{
		APIKey:         p.value("api_key"),
		JurisdictionID: p.value("jurisdiction_id"),
		ServiceCode:    p.required("service_code", "name one of the services listed by GET services.xml"),
		AddressString:  p.value("address_string"),
		AddressID:      p.value("address_id"),
		Contact:        p.contact(),
		DeviceID:       p.value("device_id"),
		Description:    p.value("description"),
		MediaURLs:      p.mediaURLs(),
		Attributes:     p.attributes(),
		Uploads:        uploads,
	}
	var sent bool
	req.Point, sent = p.point()
	if !sent && req.AddressString == "" && req.AddressID == "" {
		p.bad("location is missing: send lat and long, address_string or address_id")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeUpdate reads a POST /servicerequestupdates as DecodeRequest reads a request.
func DecodeUpdate(r *http.Request, key KeyCheck) (*PostedUpdate, error) {
	p, uploads, err := decodeForm(r, key, "posting an update")
	if err != nil {
		return nil, err
	}
	u := &PostedUpdate{
		APIKey:           p.value("api_key"),
		JurisdictionID:   p.value("jurisdiction_id"),
		ServiceRequestID: p.required("service_request_id", "send the id the request was given when it was posted"),
		UpdateID:         p.required("update_id", "send your own unique id for this update"),
		Status:           p.updateStatus(),
		UpdatedAt:        p.time("updated_datetime", true),
		Description:      p.value("description"),
		Contact:          p.contact(),
		ServiceCode:      p.value("service_code"),
		MediaURLs:        p.mediaURLs(),
		Attributes:       p.attributes(),
		Uploads:          uploads,
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return u, nil
}

// DecodeRequestQuery reads the query of a GET /requests. now is the end of the default
// window.
func DecodeRequestQuery(r *http.Request, now time.Time) (*RequestQuery, error) {
	v, err := readQuery(r)
	if err != nil {
		return nil, err
	}
	p := &params{v: v}
	q := &RequestQuery{JurisdictionID: p.value("jurisdiction_id")}
	if q.ServiceRequestIDs = p.commaList("service_request_id"); len(q.ServiceRequestIDs) > 0 {
		return q, p.err()
	}
	q.ServiceCodes = p.commaList("service_code")
	for _, s := range p.commaList("status") {
		s = strings.ToLower(s)
		if s != "open" && s != "closed" {
			p.bad("status %q is not a request status: use open, closed or open,closed", clip(s))
			continue
		}
		q.Statuses = append(q.Statuses, s)
	}
	q.Start, q.End = p.time("start_date", false), p.time("end_date", false)
	if err := p.err(); err != nil {
		return nil, err
	}
	switch {
	case q.Start.IsZero() && q.End.IsZero():
		q.Start, q.End = now.Add(-MaxRange), now
	case q.End.IsZero():
		q.End = q.Start.Add(MaxRange)
	case q.Start.IsZero():
		q.Start = q.End.Add(-MaxRange)
	}
	p.window(q.Start, q.End)
	if q.End.Sub(q.Start) > MaxRange {
		p.bad("start_date %s to end_date %s is longer than %d days: ask for a shorter window",
			formatTime(q.Start), formatTime(q.End), int(MaxRange.Hours()/24))
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return q, nil
}

// DecodeUpdateQuery reads the query of a GET /servicerequestupdates.
func DecodeUpdateQuery(r *http.Request) (*UpdateQuery, error) {
	v, err := readQuery(r)
	if err != nil {
		return nil, err
	}
	p := &params{v: v}
	q := &UpdateQuery{
		JurisdictionID: p.value("jurisdiction_id"),
		APIKey:         p.value("api_key"),
		Start:          p.time("start_date", false),
		End:            p.time("end_date", false),
	}
	if !q.Start.IsZero() && !q.End.IsZero() {
		p.window(q.Start, q.End)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return q, nil
}

// decodeForm reads a POST's parameters and insists on a good api_key before anything
// else: a client without one learns that first, with a 403.
func decodeForm(r *http.Request, key KeyCheck, action string) (*params, []Upload, error) {
	v, uploads, err := readForm(r, key)
	if err != nil {
		return nil, nil, err
	}
	p := &params{v: v}
	k := p.value("api_key")
	if k == "" {
		return nil, nil, Forbidden("api_key is missing: %s needs the key the council issued to you", action)
	}
	if key != nil {
		if err := key(k); err != nil {
			return nil, nil, err
		}
	}
	return p, uploads, nil
}

func (p *params) contact() Contact {
	c := Contact{
		FirstName: p.value("first_name"),
		LastName:  p.value("last_name"),
		Email:     p.value("email"),
		Phone:     p.value("phone"),
		AccountID: p.value("account_id"),
	}
	if c.LastName == "-" {
		c.LastName = ""
	}
	return c
}

// mediaURLs are the repeated media_url parameters, which must be web URLs: the server
// fetches them, and must not be pointed at file: or other schemes.
func (p *params) mediaURLs() []string {
	urls := p.repeated("media_url")
	if len(urls) > cases.MaxMediaURLs {
		p.bad("media_url is sent %d times: at most %d links are accepted", len(urls), cases.MaxMediaURLs)
		return nil
	}
	for _, s := range urls {
		if err := cases.CheckLine("media_url", s, cases.MaxURL); err != nil {
			p.bad("%s", inputError(err))
			continue
		}
		if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
			p.bad("media_url %q is not a URL: percent-encode spaces and characters outside ASCII", clip(s))
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.bad("media_url %q is not an http or https URL", clip(s))
		}
	}
	return urls
}

// point reads lat and long. sent reports whether either was given, so a faulty pair is
// not also reported as a missing location.
func (p *params) point() (pt *Point, sent bool) {
	lat, long := p.value("lat"), p.value("long")
	switch {
	case lat == "" && long == "":
		return nil, false
	case long == "":
		p.bad("lat is sent without long: send both, or neither")
		return nil, true
	case lat == "":
		p.bad("long is sent without lat: send both, or neither")
		return nil, true
	}
	la, okLat := p.coordinate("lat", lat, 90)
	lo, okLong := p.coordinate("long", long, 180)
	if !okLat || !okLong {
		return nil, true
	}
	return &Point{Lat: la, Long: lo}, true
}

// coordinate reads a decimal number within ±limit. Only plain decimals are accepted:
// strconv also reads "NaN", "Inf" and hex floats, none of which is a position.
func (p *params) coordinate(name, s string, limit float64) (float64, bool) {
	digits := strings.TrimLeft(s, "+-")
	plain := len(s)-len(digits) <= 1 && digits != "" && digits != "." &&
		strings.Count(digits, ".") <= 1 && strings.Trim(digits, "0123456789.") == ""
	v, err := strconv.ParseFloat(s, 64)
	if !plain || err != nil {
		p.bad("%s %q is not a decimal number of degrees", name, clip(s))
		return 0, false
	}
	if v < -limit || v > limit {
		p.bad("%s %s is out of range: it must be between %v and %v (WGS84 degrees)", name, s, -limit, limit)
		return 0, false
	}
	return v, true
}

// time reads a W3C datetime parameter; a zero time means it was absent.
func (p *params) time(name string, required bool) time.Time {
	s := p.value(name)
	if s == "" {
		if required {
			p.bad("%s is missing: send a W3C datetime like 2024-01-02T03:04:05Z", name)
		}
		return time.Time{}
	}
	t, err := ParseTime(s)
	if err != nil {
		p.bad("%s %v", name, err)
	}
	return t
}

// window notes a problem if the window ends before it starts.
func (p *params) window(start, end time.Time) {
	if end.Before(start) {
		p.bad("end_date %s is before start_date %s", formatTime(end), formatTime(start))
	}
}

// updateStatus reads the status of a posted update, in either case.
func (p *params) updateStatus() string {
	raw := p.required("status", "send OPEN, CLOSED or an extended status such as FIXED")
	if raw == "" {
		return ""
	}
	s := strings.ToLower(raw)
	if !slices.Contains(updateStatuses, s) {
		p.bad("status %q is not one we know: send one of %s", clip(raw), strings.ToUpper(strings.Join(updateStatuses, ", ")))
	}
	return s
}

// clip is s cut short for quoting in an error: a client's mistake may be megabytes long.
func clip(s string) string {
	const most = 40
	if utf8.RuneCountInString(s) <= most {
		return s
	}
	return string([]rune(s)[:most]) + "…"
}

// inputError is a domain input error as a sentence naming the parameter:
// "first_name is longer than 100 characters".
func inputError(err error) string {
	if ie, ok := errors.AsType[*cases.InputError](err); ok {
		return ie.Field + " " + ie.Reason
	}
	return err.Error()
}
