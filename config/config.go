// Package config reads casebridge's YAML configuration: the council, its Open311
// service catalogue, departments, API keys and staff tokens. The demo council that
// `casebridge dev` writes on first start lives in demo.yaml.
package config

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/casebridge/casebridge/calendar"
	"github.com/casebridge/casebridge/sla"
)

//go:embed demo.yaml
var demoYAML []byte

// DemoYAML returns the commented demo configuration, as `dev` writes it.
func DemoYAML() []byte { return bytes.Clone(demoYAML) }

// Config is the whole configuration file.
type Config struct {
	Council     Council      `yaml:"council"`
	Open311     Open311      `yaml:"open311"`
	Staff       Staff        `yaml:"staff"`
	Cases       Cases        `yaml:"cases"`
	Departments []Department `yaml:"departments"`
	Partners    []Partner    `yaml:"partners"`
	Services    []Service    `yaml:"services"`
	Routing     Routing      `yaml:"routing"`
	// Areas is a GeoJSON file of the council's wards or areas (a FeatureCollection
	// of polygons with a "name" property), for rules; relative to this file.
	Areas string `yaml:"areas"`
	// SearchKeyEnv names an environment variable holding the secret (16
	// bytes or more) the read model names its search words' sets by (an
	// HMAC of each word), so no reporter's name or address is in a Redis
	// key name. Every api, worker and reindex of the installation needs the
	// same one. Without it the names are keyed with a fixed, public salt.
	SearchKeyEnv string `yaml:"search_key_env"`
	// Calendar is the council's working time, for SLAs in working hours or days.
	Calendar      calendar.Config `yaml:"calendar"`
	SLA           SLA             `yaml:"sla"`
	Notifications Notifications   `yaml:"notifications"`
	// BackOffices are the departments' own job systems casebridge keeps in
	// step with their cases (backoffice.go).
	BackOffices []BackOffice `yaml:"back_offices"`
}

// SLA holds the service level policies routing rules choose from.
type SLA struct {
	// DefaultPolicy applies when a routing decision names none.
	DefaultPolicy string       `yaml:"default_policy"`
	Policies      sla.Policies `yaml:"policies"`
}

// Notifications says where escalation notices go.
type Notifications struct {
	// Webhooks are named endpoints ("webhook:<name>" in a policy) that get a
	// signed JSON POST.
	Webhooks []Webhook `yaml:"webhooks"`
	// SMTP sends email notices; without a host, email notices wait in the outbox.
	SMTP SMTP `yaml:"smtp"`
}

// Webhook is an endpoint notices are POSTed to, signed with HMAC-SHA256.
type Webhook struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret signs each request; SecretEnv names an environment variable
	// holding it instead, to keep it out of the file.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
}

// SMTP is the mail server for email notices.
type SMTP struct {
	Addr        string `yaml:"addr"` // host:port; empty means no email is sent
	From        string `yaml:"from"`
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"password_env"`
	// StartTLS upgrades the connection before authenticating; keep it on
	// unless the server is on the same host.
	StartTLS bool `yaml:"starttls"`
}

// Council names the council and how it presents itself.
type Council struct {
	Name string `yaml:"name"`
	// JurisdictionID is the Open311 jurisdiction_id. Requests naming another
	// jurisdiction are refused; requests naming none are accepted.
	JurisdictionID string `yaml:"jurisdiction_id"`
	// RefPrefix starts every case reference, e.g. "CB-".
	RefPrefix string `yaml:"ref_prefix"`
	Contact   string `yaml:"contact"`
	// PublicURL is where the council's casebridge is reached, for Open311 discovery.
	PublicURL string `yaml:"public_url"`
}

// Open311 configures the GeoReport v2 server.
type Open311 struct {
	APIKeys []APIKey `yaml:"api_keys"`
}

// APIKey lets one Open311 client (FixMyStreet, say) post reports and updates.
type APIKey struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

// Staff holds the bearer tokens of staff and service accounts.
type Staff struct {
	Tokens []Token `yaml:"tokens"`
	// OIDC is sign-in with the council's identity provider; nil without.
	OIDC *OIDC `yaml:"oidc"`
}

// Token is a bearer token with roles. Only its SHA-256 is kept in the file.
type Token struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"token_sha256"`
	Roles  []string `yaml:"roles"`
	// Departments and Teams ("department/team") are the token's scope, as
	// a person's: a supervisor token sees its departments' cases, an agent
	// token its teams' and departments'. An admin token sees all.
	Departments []string `yaml:"departments"`
	Teams       []string `yaml:"teams"`
}

// Token returns the token with the given name.
func (c *Config) Token(name string) (Token, bool) {
	for _, t := range c.Staff.Tokens {
		if t.Name == name {
			return t, true
		}
	}
	return Token{}, false
}

// Roles a staff token can carry.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleRulesAdmin = "rules_admin"
	RoleAdmin      = "admin"
	// RoleMetrics reads /metrics and nothing else: Prometheus's token.
	RoleMetrics = "metrics"
)

// AllRoles lists every role.
var AllRoles = []string{RoleAgent, RoleSupervisor, RoleRulesAdmin, RoleAdmin, RoleMetrics}

// MinToken is the fewest characters a staff bearer token may have: 32
// characters of base64 are 192 random bits, beyond guessing even without the
// sign-in throttle.
const MinToken = 32

// Cases holds settings of the case lifecycle.
type Cases struct {
	// ReopenWindow is how long a closed case can still be reopened before its
	// workflow completes.
	ReopenWindow Duration `yaml:"reopen_window"`
	// MaxHistoryEvents makes a case continue-as-new before its history grows past
	// this many events (Temporal also suggests it on its own).
	MaxHistoryEvents int `yaml:"max_history_events"`
}

// Department is a part of the council that owns cases.
type Department struct {
	Code  string   `yaml:"code"`
	Name  string   `yaml:"name"`
	Email string   `yaml:"email"`
	Teams []string `yaml:"teams"`
	// TeamLeads maps a team to its lead's email (the "team_lead" of an
	// escalation); a team without one falls back to the department's email.
	TeamLeads map[string]string `yaml:"team_leads"`
	// HeadOfService is the email of the "head_of_service" of an escalation.
	HeadOfService string `yaml:"head_of_service"`
}

// Partner is an agency outside the council a case can be handed to. A route
// naming a partner with a URL hands the case over: a signed POST to URL, and
// the partner answers with signed callbacks to
// /api/v1/partners/{code}/callbacks. A partner without a URL is named on the
// case only.
type Partner struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret signs the hand-off and checks the partner's callbacks (HMAC-SHA256
	// over timestamp, nonce and body: internal/signing); SecretEnv names an
	// environment variable holding it instead.
	Secret    string `yaml:"secret"`
	SecretEnv string `yaml:"secret_env"`
	// Deadline is how long the partner may stay silent (after the hand-off or
	// its last word) before the case escalates; DefaultPartnerDeadline if unset.
	Deadline Duration `yaml:"deadline"`
}

// DefaultPartnerDeadline is how long a partner may stay silent when its
// configuration does not say.
const DefaultPartnerDeadline = 2 * 24 * time.Hour

// Silence is how long the partner may stay silent before the case escalates.
func (p Partner) Silence() time.Duration {
	if p.Deadline > 0 {
		return time.Duration(p.Deadline)
	}
	return DefaultPartnerDeadline
}

// Partner returns the partner with the given code.
func (c *Config) Partner(code string) (Partner, bool) {
	for _, p := range c.Partners {
		if p.Code == code {
			return p, true
		}
	}
	return Partner{}, false
}

// Service is one category of the Open311 service catalogue.
type Service struct {
	Code        string   `yaml:"code"`
	Name        string   `yaml:"name"`
	Group       string   `yaml:"group"`
	Description string   `yaml:"description"`
	Keywords    []string `yaml:"keywords"`
	// Type is realtime (an id is returned at once) or batch (a token is returned).
	Type       string      `yaml:"type"`
	Notice     string      `yaml:"notice"`
	Attributes []Attribute `yaml:"attributes"`
}

// Attribute is a question a service asks (an Open311 service definition attribute).
type Attribute struct {
	Code                string `yaml:"code"`
	Description         string `yaml:"description"`
	Datatype            string `yaml:"datatype"`
	DatatypeDescription string `yaml:"datatype_description"`
	Required            bool   `yaml:"required"`
	Order               int    `yaml:"order"`
	// Variable false means informational only: no answer is expected.
	Variable *bool `yaml:"variable"`
	// Automated is FixMyStreet's extension: server_set or hidden_field.
	Automated string  `yaml:"automated"`
	Values    []Value `yaml:"values"`
}

// IsVariable reports whether the attribute expects an answer (the default).
func (a Attribute) IsVariable() bool { return a.Variable == nil || *a.Variable }

// Value is one choice of a list attribute.
type Value struct {
	Key  string `yaml:"key"`
	Name string `yaml:"name"`
}

// Routing holds the route every case takes until the rules say otherwise.
type Routing struct {
	Default Route `yaml:"default"`
}

// Route names who owns a case.
type Route struct {
	Department string `yaml:"department"`
	Team       string `yaml:"team"`
	Priority   string `yaml:"priority"`
}

// Duration is a time.Duration that YAML may also write in days ("28d").
type Duration time.Duration

// UnmarshalYAML reads "90s", "12h" or "28d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as Go writes it.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ParseDuration reads a Go duration or a whole number of days ("28d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q: want e.g. 28d, 36h or 90s", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad duration %q: want e.g. 28d, 36h or 90s", s)
	}
	return v, nil
}

// Load reads and checks a configuration file. Paths in it are made relative to
// the file's directory.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if c.Areas != "" && !filepath.IsAbs(c.Areas) {
		c.Areas = filepath.Join(filepath.Dir(path), c.Areas)
	}
	return c, nil
}

// Parse reads and checks configuration YAML, filling in defaults.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	c.defaults()
	if err := c.Check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Demo returns the demo council's configuration.
func Demo() *Config {
	c, err := Parse(demoYAML)
	if err != nil {
		panic("demo.yaml is broken: " + err.Error()) // covered by TestDemo
	}
	return c
}

func (c *Config) defaults() {
	if c.Council.RefPrefix == "" {
		c.Council.RefPrefix = "CB-"
	}
	if c.Cases.ReopenWindow == 0 {
		c.Cases.ReopenWindow = Duration(28 * 24 * time.Hour)
	}
	if c.Cases.MaxHistoryEvents == 0 {
		c.Cases.MaxHistoryEvents = 2000
	}
	for i := range c.Services {
		if c.Services[i].Type == "" {
			c.Services[i].Type = "realtime"
		}
	}
	if c.Routing.Default.Priority == "" {
		c.Routing.Default.Priority = "normal"
	}
	c.backOfficeDefaults()
	c.Staff.OIDC.defaults(c.Council.PublicURL)
	for i := range c.SLA.Policies {
		if c.SLA.Policies[i].Version == 0 {
			c.SLA.Policies[i].Version = 1
		}
	}
}

// Service codes go into URL paths unescaped by FixMyStreet, so keep them plain.
var codeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

var datatypes = []string{"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}

// Check reports every mistake in the configuration at once.
func (c *Config) Check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !regexp.MustCompile(`^[A-Z]{1,4}-?$`).MatchString(c.Council.RefPrefix) {
		bad("council.ref_prefix %q: use 1 to 4 capital letters, optionally followed by '-'", c.Council.RefPrefix)
	}
	depts := map[string]bool{}
	for i, d := range c.Departments {
		if !codeRE.MatchString(d.Code) {
			bad("departments[%d].code %q: use letters, digits, '_', '-' or '.'", i, d.Code)
		}
		if depts[d.Code] {
			bad("departments[%d].code %q is listed twice", i, d.Code)
		}
		depts[d.Code] = true
	}
	seen := map[string]bool{}
	for i, s := range c.Services {
		where := fmt.Sprintf("services[%d] (%s)", i, s.Code)
		if !codeRE.MatchString(s.Code) {
			bad("%s: code must be 1-64 of A-Z a-z 0-9 _ . -", where)
		}
		if seen[s.Code] {
			bad("%s: code is listed twice", where)
		}
		seen[s.Code] = true
		if s.Name == "" {
			bad("%s: name is empty", where)
		}
		if s.Type != "realtime" && s.Type != "batch" {
			bad("%s: type %q must be realtime or batch", where, s.Type)
		}
		codes := map[string]bool{}
		for j, a := range s.Attributes {
			aw := fmt.Sprintf("%s attributes[%d] (%s)", where, j, a.Code)
			if !codeRE.MatchString(a.Code) {
				bad("%s: code must be ASCII letters, digits, _ . -", aw)
			}
			if codes[a.Code] {
				bad("%s: code is listed twice", aw)
			}
			codes[a.Code] = true
			if !slices.Contains(datatypes, a.Datatype) {
				bad("%s: datatype %q must be one of %s", aw, a.Datatype, strings.Join(datatypes, ", "))
			}
			isList := strings.HasSuffix(a.Datatype, "valuelist")
			if isList && len(a.Values) == 0 {
				bad("%s: a %s needs values", aw, a.Datatype)
			}
			if !isList && len(a.Values) > 0 {
				bad("%s: only list datatypes take values", aw)
			}
			if a.Automated != "" && a.Automated != "server_set" && a.Automated != "hidden_field" {
				bad("%s: automated %q must be server_set or hidden_field", aw, a.Automated)
			}
		}
	}
	if c.Routing.Default.Department == "" {
		bad("routing.default.department is empty: every case needs somewhere to go")
	} else if len(depts) > 0 && !depts[c.Routing.Default.Department] {
		bad("routing.default.department %q is not a department", c.Routing.Default.Department)
	}
	for i, t := range c.Staff.Tokens {
		if len(t.SHA256) != 64 {
			bad("staff.tokens[%d] (%s): token_sha256 must be the 64 hex digits of sha256(token)", i, t.Name)
		}
		for _, r := range t.Roles {
			if !slices.Contains(AllRoles, r) {
				bad("staff.tokens[%d] (%s): unknown role %q (roles: %s)", i, t.Name, r, strings.Join(AllRoles, ", "))
			}
		}
		for _, d := range t.Departments {
			if len(depts) > 0 && !depts[d] {
				bad("staff.tokens[%d] (%s): department %q is not a department", i, t.Name, d)
			}
		}
		for _, tm := range t.Teams {
			d, team, _ := strings.Cut(tm, "/")
			if dept, ok := c.Department(d); !ok || !slices.Contains(dept.Teams, team) {
				bad("staff.tokens[%d] (%s): team %q is not a team (write department/team)", i, t.Name, tm)
			}
		}
	}
	c.Staff.OIDC.check(c, bad)
	if _, err := calendar.New(c.Calendar); err != nil {
		bad("calendar: %v", err)
	}
	if err := c.SLA.Policies.Validate(); err != nil {
		bad("sla.policies: %v", err)
	}
	if p := c.SLA.DefaultPolicy; p != "" {
		if _, ok := c.SLA.Policies.Find(p); !ok {
			bad("sla.default_policy %q is not one of sla.policies", p)
		}
	}
	hooks := map[string]bool{}
	for i, w := range c.Notifications.Webhooks {
		if !codeRE.MatchString(w.Name) || hooks[w.Name] {
			bad("notifications.webhooks[%d]: name %q must be unique, letters, digits, _ . -", i, w.Name)
		}
		hooks[w.Name] = true
	}
	for _, p := range c.SLA.Policies {
		for _, r := range p.Recipients() {
			if r.Kind() == "webhook" && !hooks[r.Address()] {
				bad("sla.policies %s: notifies webhook %q, which notifications.webhooks does not define", p.Name, r.Address())
			}
		}
	}
	for i, p := range c.Partners {
		if p.URL == "" {
			continue
		}
		if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("partners[%d] (%s): url must be an http(s) URL", i, p.Code)
		}
		if p.Secret == "" && p.SecretEnv == "" {
			bad("partners[%d] (%s): a partner with a url needs a secret or secret_env to sign hand-offs and check its callbacks", i, p.Code)
		}
	}
	errs = append(errs, c.checkBackOffices(depts)...)
	for i, k := range c.Open311.APIKeys {
		if len(k.Key) < 16 {
			bad("open311.api_keys[%d] (%s): key must be at least 16 characters", i, k.Name)
		}
	}
	return errors.Join(errs...)
}

// Service returns the service with the given code.
func (c *Config) Service(code string) (Service, bool) {
	for _, s := range c.Services {
		if s.Code == code {
			return s, true
		}
	}
	return Service{}, false
}

// Department returns the department with the given code.
func (c *Config) Department(code string) (Department, bool) {
	for _, d := range c.Departments {
		if d.Code == code {
			return d, true
		}
	}
	return Department{}, false
}

// HashToken returns the hex SHA-256 of a bearer token, as kept in the file.
func HashToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// TokenRoles returns the roles of a bearer token and its name, comparing in
// constant time.
func (c *Config) TokenRoles(token string) (name string, roles []string, ok bool) {
	if token == "" {
		return "", nil, false
	}
	h := []byte(HashToken(token))
	for _, t := range c.Staff.Tokens {
		if subtle.ConstantTimeCompare(h, []byte(strings.ToLower(t.SHA256))) == 1 {
			return t.Name, t.Roles, true
		}
	}
	return "", nil, false
}

// APIKeyName returns the client an Open311 api_key belongs to.
func (c *Config) APIKeyName(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	for _, k := range c.Open311.APIKeys {
		if subtle.ConstantTimeCompare([]byte(key), []byte(k.Key)) == 1 {
			return k.Name, true
		}
	}
	return "", false
}

// Catalogue is what routing rules may name, from this configuration:
// departments and their teams, partners, SLA policies, services and the
// question codes of every service, and the areas inArea() may use. The rules
// compiler checks every name a rule uses against it (rules.Catalogue is this
// type).
type Catalogue struct {
	Departments []string
	// Teams lists each department's teams; a team must belong to the rule's
	// department.
	Teams       map[string][]string
	Partners    []string
	SLAPolicies []string
	// Services are the Open311 service codes.
	Services []string
	// Areas are the names inArea() may use (areas.Set.Names()); the
	// configuration does not hold them, so Catalogue leaves them to the caller,
	// who loads the areas file.
	Areas []string
	// Attributes are the question codes attr() may use, across all services.
	Attributes []string
}

// Catalogue lists what routing rules may name (all but the areas).
func (c *Config) Catalogue() Catalogue {
	n := Catalogue{Teams: map[string][]string{}}
	for _, d := range c.Departments {
		n.Departments = append(n.Departments, d.Code)
		n.Teams[d.Code] = d.Teams
	}
	for _, p := range c.Partners {
		n.Partners = append(n.Partners, p.Code)
	}
	for _, p := range c.SLA.Policies {
		n.SLAPolicies = append(n.SLAPolicies, p.Name)
	}
	for _, svc := range c.Services {
		n.Services = append(n.Services, svc.Code)
		for _, q := range svc.Attributes {
			if !slices.Contains(n.Attributes, q.Code) {
				n.Attributes = append(n.Attributes, q.Code)
			}
		}
	}
	return n
}
