// Package backoffice connects casebridge to departments' own job systems: one
// small interface (Connector) and the protocols behind it, REST/JSON and
// SOAP/XML, built from the configuration's back_offices. It knows nothing of
// Temporal; the activities call it.
package backoffice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/casebridge/casebridge/cases"
	"github.com/casebridge/casebridge/config"
)

// Connector is one back-office system, as the case workflow's effects use it.
type Connector interface {
	// Create makes a job for a case. key is the idempotency key the system
	// is sent (one per case and system), for systems that honour one.
	Create(ctx context.Context, job Job, key string) (Record, error)
	// Find looks a job up by our reference; found is false when there is none.
	Find(ctx context.Context, ref string) (rec Record, found bool, err error)
	// Changes reads the system's change feed after cursor ("" from the start).
	Changes(ctx context.Context, cursor string) (Page, error)
	// Note adds a note to a job, sending n.Key as its idempotency key: a
	// system that honours it stores a note at most once per key.
	Note(ctx context.Context, jobID string, n Note) error
	// Cancel withdraws a job (the case left the department).
	Cancel(ctx context.Context, jobID, reason string) error
	// SetStatus moves a job to one of the system's status codes (closing it
	// as the case closes). A system that takes no status changes fails it
	// with an error Unsupported reports.
	SetStatus(ctx context.Context, jobID, code, note string) error
}

// Job is what a system is asked to record: our reference and the system's
// fields filled from the case.
type Job struct {
	Ref    string
	Fields map[string]any
}

// Record is a job as the system holds it.
type Record struct {
	ID     string `json:"id"`
	Ref    string `json:"ref"`
	Status string `json:"status,omitempty"`
}

// Change is one entry of a system's change feed: a job moved to another of
// the system's status codes, or gained a note.
type Change struct {
	// ID is the system's id for the change; a change is applied to a case
	// once however often it arrives.
	ID    string    `json:"id"`
	JobID string    `json:"job_id"`
	Ref   string    `json:"ref"`
	Code  string    `json:"code,omitempty"`
	Note  string    `json:"note,omitempty"`
	At    time.Time `json:"at"`
}

// Page is one page of a change feed.
type Page struct {
	Changes []Change
	// Next is the cursor to read on from; More says whether a page follows
	// at once.
	Next string
	More bool
}

// Note is a note for a job.
type Note struct {
	Text   string
	Public bool
	// Key is the idempotency key the system is sent (a retry after a
	// timeout sends the same).
	Key string
}

// Error is a call to a system that failed, saying whether a retry may help.
type Error struct {
	System string
	Op     string
	// Status is the HTTP status, when there was an answer.
	Status    int
	Retryable bool
	// RetryAfter is how long the system asked us to wait (429, 503).
	RetryAfter time.Duration
	// Unsupported says the system does not offer the operation at all.
	Unsupported bool
	Msg         string
}

func (e *Error) Error() string {
	s := e.System + ": " + e.Op
	if e.Status != 0 {
		s += ": HTTP " + strconv.Itoa(e.Status)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Permanent reports whether err is a failure no retry can mend (a refused
// request, bad credentials, a SOAP client fault).
func Permanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && !e.Retryable
}

// Unsupported reports whether err says the system does not offer the
// operation (a REST 405 or 501, a SOAP fault NOT_SUPPORTED): asking again
// cannot help.
func Unsupported(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Unsupported
}

// RetryAfter returns the wait the system asked for, if any.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// statusError classifies an HTTP answer: 408, 409 (a create with the same key
// still under way), 425, 429 and 5xx are worth retrying; other 4xx are not.
func statusError(system, op string, resp *http.Response, msg string) *Error {
	e := &Error{System: system, Op: op, Status: resp.StatusCode, Msg: msg}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		e.Retryable = true
	default:
		e.Retryable = resp.StatusCode >= 500
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	return e
}

// New builds the connector of a configured back office, reading its secrets
// through getenv.
func New(b config.BackOffice, getenv func(string) string, client *http.Client) (Connector, error) {
	if client == nil {
		client = &http.Client{}
	}
	loc, err := time.LoadLocation(b.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("back office %s: %w", b.Name, err)
	}
	switch b.Kind {
	case "rest":
		return &REST{Name: b.Name, BaseURL: strings.TrimSuffix(b.URL, "/"), Auth: authOf(b.Auth, getenv), Client: client,
			Timeout: time.Duration(b.Timeout), Location: loc}, nil
	case "soap":
		return &SOAP{Name: b.Name, URL: b.URL, Auth: authOf(b.Auth, getenv), Client: client,
			Timeout: time.Duration(b.Timeout), Location: loc}, nil
	}
	return nil, fmt.Errorf("back office %s: kind %q has no connector", b.Name, b.Kind)
}

// Auth is how a connector proves who it is. Its fields are secrets: never
// log or print it.
type Auth struct {
	Type                      string
	Token, Username, Password string
}

func (a Auth) String() string { return "auth:" + a.Type } // never the secrets

func authOf(c config.BackOfficeAuth, getenv func(string) string) Auth {
	a := Auth{Type: c.Type}
	if c.TokenEnv != "" {
		a.Token = getenv(c.TokenEnv)
	}
	if c.UsernameEnv != "" {
		a.Username = getenv(c.UsernameEnv)
	}
	if c.PasswordEnv != "" {
		a.Password = getenv(c.PasswordEnv)
	}
	return a
}

// JobFor fills a system's fields from a case, by its configured mapping.
// Missing facts (a report without a point) are left out.
func JobFor(c *cases.Case, fields map[string]string) Job {
	j := Job{Ref: c.Ref, Fields: map[string]any{}}
	for name, fact := range fields {
		if v, ok := factOf(c, fact); ok {
			j.Fields[name] = v
		}
	}
	return j
}

func factOf(c *cases.Case, fact string) (any, bool) {
	rep := c.Report()
	str := func(s string) (any, bool) { return s, s != "" }
	if code, ok := strings.CutPrefix(fact, "attribute:"); ok {
		return str(rep.Attributes.Get(code))
	}
	if len(fact) >= 2 && strings.HasPrefix(fact, "'") && strings.HasSuffix(fact, "'") {
		return fact[1 : len(fact)-1], true
	}
	loc := rep.Location
	switch fact {
	case "ref":
		return c.Ref, true
	case "service_code":
		return str(c.Service.Code)
	case "service_name":
		return str(c.Service.Name)
	case "service_group":
		return str(c.Service.Group)
	case "title":
		return str(rep.Title)
	case "description":
		return str(rep.Description)
	case "address":
		if loc.Address != "" {
			return loc.Address, true
		}
		return str(loc.ClosestAddress)
	case "lat":
		if loc.Lat != nil {
			return *loc.Lat, true
		}
	case "long":
		if loc.Long != nil {
			return *loc.Long, true
		}
	case "easting", "northing":
		if loc.Easting != nil && loc.Northing != nil {
			return map[bool]float64{true: *loc.Easting, false: *loc.Northing}[fact == "easting"], true
		}
		if !loc.HasPoint() {
			return nil, false
		}
		e, n := GridRef(*loc.Lat, *loc.Long)
		return map[bool]float64{true: e, false: n}[fact == "easting"], true
	case "priority":
		return str(string(c.Priority))
	case "department":
		return str(c.Department)
	case "team":
		return str(c.Team)
	case "received_at":
		return c.ReceivedAt.UTC().Format(time.RFC3339), true
	case "report_url":
		return str(rep.ReportURL)
	case "source":
		return str(string(rep.Source))
	}
	return nil, false
}
