package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/casebridge/casebridge/cases"
)

// BackOffice is a department's own job system (a highways asset system, a
// waste contractor's job system) that casebridge keeps in step with the
// department's cases: a job is created there for each case routed to one of
// its departments, and the system's status changes come back to the case.
type BackOffice struct {
	// Name identifies the system in URLs (/api/v1/backoffices/{name}/events),
	// metrics and the case's timeline.
	Name string `yaml:"name"`
	// Kind is the protocol: rest (JSON over HTTP) or soap (SOAP 1.1 with a
	// WS-Security UsernameToken).
	Kind string `yaml:"kind"`
	// Departments whose cases get a job in this system. A department has at
	// most one back office.
	Departments []string `yaml:"departments"`
	// URL is the system's base URL (rest) or its SOAP endpoint (soap).
	URL string `yaml:"url"`
	// Timeout bounds one call (default 10s).
	Timeout Duration `yaml:"timeout"`
	// Auth says how casebridge proves who it is. Secrets come from the
	// environment, never from this file, and never reach a log.
	Auth BackOfficeAuth `yaml:"auth"`
	// Fields maps the system's field names to the case facts that fill them
	// (BackOfficeFacts lists them; "attribute:<code>" is a service question's
	// answer; "'text'" a fixed value).
	Fields map[string]string `yaml:"fields"`
	// StatusMap turns the system's status codes into casebridge statuses.
	StatusMap StatusMap `yaml:"status_map"`
	// PollEvery is how often a Temporal Schedule reads the system's change
	// feed (default 1m; "0s" turns polling off, for systems that only call the
	// webhook).
	PollEvery *Duration `yaml:"poll_every"`
	// WebhookSecretEnv names the environment variable holding the secret the
	// system signs its calls to POST /api/v1/backoffices/{name}/events with;
	// without it the webhook refuses every call.
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// RatePerSecond caps calls to the system across all workers (default 10).
	RatePerSecond int `yaml:"rate_per_second"`
	// TimeZone is the zone of local times without an offset the system sends
	// (default Europe/London).
	TimeZone string `yaml:"time_zone"`
}

// BackOfficeAuth is how casebridge authenticates to a back office.
type BackOfficeAuth struct {
	// Type is none, bearer, basic (rest) or wsse (soap: a WS-Security
	// UsernameToken).
	Type string `yaml:"type"`
	// TokenEnv names the variable holding a bearer token.
	TokenEnv string `yaml:"token_env"`
	// UsernameEnv and PasswordEnv name the variables holding basic or wsse
	// credentials.
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
}

// StatusMap translates status codes between a back office and casebridge.
type StatusMap struct {
	// From maps each of the system's codes to a casebridge status, or to
	// IGNORE for a code that means nothing to the case (its note, if any, is
	// still recorded). A code not listed is recorded on the timeline as an
	// internal note and changes nothing.
	From map[string]string `yaml:"from"`
	// To maps casebridge statuses to the system's codes, where the system
	// accepts status changes: closing a case closes its job with the code
	// for the case's status, or else the code for "closed". Without one,
	// the job is left as it is there (and the timeline says so).
	To map[string]string `yaml:"to"`
}

// Ignore is the status-map value of a code that does not change the case.
const Ignore = "IGNORE"

// Map turns a system's code into a casebridge status. It reports false for an
// IGNOREd code and for a code the map does not know.
func (m StatusMap) Map(code string) (cases.Status, bool) {
	v, ok := m.From[code]
	if !ok || v == Ignore {
		return "", false
	}
	return cases.Status(v), true
}

// BackOfficeFacts are the case facts a back office's fields can be filled
// from. easting and northing are the report's point on the British National
// Grid (EPSG:27700), for systems that know no latitude.
var BackOfficeFacts = []string{
	"ref", "service_code", "service_name", "service_group", "title", "description",
	"address", "lat", "long", "easting", "northing", "priority", "department", "team",
	"received_at", "report_url", "source",
}

const (
	kindREST = "rest"
	kindSOAP = "soap"
)

func (c *Config) backOfficeDefaults() {
	for i := range c.BackOffices {
		b := &c.BackOffices[i]
		if b.Timeout == 0 {
			b.Timeout = Duration(10 * time.Second)
		}
		if b.PollEvery == nil {
			d := Duration(time.Minute)
			b.PollEvery = &d
		}
		if b.RatePerSecond == 0 {
			b.RatePerSecond = 10
		}
		if b.TimeZone == "" {
			b.TimeZone = "Europe/London"
		}
		if b.Auth.Type == "" {
			b.Auth.Type = "none"
		}
	}
}

// checkBackOffices reports every mistake in the back offices, naming where.
func (c *Config) checkBackOffices(depts map[string]bool) []error {
	var errs []error
	names := map[string]bool{}
	owner := map[string]string{}
	for i, b := range c.BackOffices {
		where := fmt.Sprintf("back_offices[%d] (%s)", i, b.Name)
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(where+": "+format, args...)) }
		if !codeRE.MatchString(b.Name) {
			bad("name must be 1-64 of A-Z a-z 0-9 _ . -")
		}
		if names[b.Name] {
			bad("name is listed twice")
		}
		names[b.Name] = true
		if b.Kind != kindREST && b.Kind != kindSOAP {
			bad("kind %q must be rest or soap", b.Kind)
		}
		if len(b.Departments) == 0 {
			bad("departments is empty: name the departments whose cases go to this system")
		}
		for _, d := range b.Departments {
			if !depts[d] {
				bad("departments: %q is not a department", d)
			} else if o, ok := owner[d]; ok {
				bad("departments: %q already sends its cases to back office %q", d, o)
			}
			owner[d] = b.Name
		}
		if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url %q must be an absolute http or https URL", b.URL)
		}
		auths := map[string][]string{kindREST: {"none", "bearer", "basic"}, kindSOAP: {"none", "wsse", "basic"}}[b.Kind]
		if auths != nil && !slices.Contains(auths, b.Auth.Type) {
			bad("auth.type %q must be one of %s for a %s system", b.Auth.Type, strings.Join(auths, ", "), b.Kind)
		}
		switch b.Auth.Type {
		case "bearer":
			if b.Auth.TokenEnv == "" {
				bad("auth.token_env must name the environment variable holding the token")
			}
		case "basic", "wsse":
			if b.Auth.UsernameEnv == "" || b.Auth.PasswordEnv == "" {
				bad("auth.username_env and auth.password_env must name the environment variables holding the credentials")
			}
		}
		for _, field := range slices.Sorted(maps.Keys(b.Fields)) {
			if err := checkFact(b.Fields[field]); err != nil {
				bad("fields.%s: %v", field, err)
			}
		}
		if len(b.StatusMap.From) == 0 {
			bad("status_map.from is empty: say what each of the system's status codes means (a status, or IGNORE)")
		}
		for _, code := range slices.Sorted(maps.Keys(b.StatusMap.From)) {
			v := b.StatusMap.From[code]
			if v != Ignore && !cases.Status(v).Valid() {
				bad("status_map.from.%s: %q is neither a casebridge status nor IGNORE", code, v)
			}
		}
		for _, st := range slices.Sorted(maps.Keys(b.StatusMap.To)) {
			if !cases.Status(st).Valid() {
				bad("status_map.to: %q is not a casebridge status", st)
			}
			if b.StatusMap.To[st] == "" {
				bad("status_map.to.%s: the system's code is empty", st)
			}
		}
		if b.PollEvery != nil && *b.PollEvery != 0 && time.Duration(*b.PollEvery) < time.Second {
			bad("poll_every %s: poll at most once a second (or 0s for never)", time.Duration(*b.PollEvery))
		}
		if b.RatePerSecond < 0 {
			bad("rate_per_second must be positive")
		}
		if _, err := time.LoadLocation(b.TimeZone); err != nil {
			bad("time_zone %q: %v", b.TimeZone, err)
		}
	}
	return errs
}

func checkFact(f string) error {
	switch {
	case len(f) >= 2 && strings.HasPrefix(f, "'") && strings.HasSuffix(f, "'"):
		return nil
	case strings.HasPrefix(f, "attribute:"):
		if !codeRE.MatchString(strings.TrimPrefix(f, "attribute:")) {
			return fmt.Errorf("%q names no attribute code", f)
		}
		return nil
	case slices.Contains(BackOfficeFacts, f):
		return nil
	}
	return fmt.Errorf("unknown fact %q (facts: %s, attribute:<code>, or 'fixed text')", f, strings.Join(BackOfficeFacts, ", "))
}

// BackOffice returns the back office with the given name.
func (c *Config) BackOffice(name string) (BackOffice, bool) {
	for _, b := range c.BackOffices {
		if b.Name == name {
			return b, true
		}
	}
	return BackOffice{}, false
}

// BackOfficeFor returns the name of the back office a department's cases go
// to, or "".
func (c *Config) BackOfficeFor(department string) string {
	for _, b := range c.BackOffices {
		if slices.Contains(b.Departments, department) {
			return b.Name
		}
	}
	return ""
}

// BackOfficeRoutes maps each department that has a back office to its name,
// for cases to carry in their settings.
func (c *Config) BackOfficeRoutes() map[string]string {
	out := map[string]string{}
	for _, b := range c.BackOffices {
		for _, d := range b.Departments {
			out[d] = b.Name
		}
	}
	return out
}
