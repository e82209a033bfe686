package config

import (
	"strings"
	"testing"
	"time"
)

func TestDemoParses(t *testing.T) {
	c := Demo()
	if len(c.Services) < 15 {
		t.Errorf("demo catalogue has %d services, want a realistic catalogue of 15 or more", len(c.Services))
	}
	groups := map[string]bool{}
	for _, s := range c.Services {
		groups[s.Group] = true
	}
	for _, g := range []string{"Roads and pavements", "Street lighting", "Waste and fly-tipping", "Graffiti", "Parks and trees", "Noise and pollution", "Abandoned vehicles"} {
		if !groups[g] {
			t.Errorf("demo catalogue lacks group %q", g)
		}
	}
	pot, ok := c.Service("POT")
	if !ok {
		t.Fatal("no POT service")
	}
	var asked bool
	for _, a := range pot.Attributes {
		if a.Code == "dangerous" && a.Datatype == "singlevaluelist" && a.Required && len(a.Values) == 2 {
			asked = true
		}
	}
	if !asked {
		t.Error("POT does not ask 'Is it dangerous to the public?' as a required single-value list")
	}
	if time.Duration(c.Cases.ReopenWindow) != 28*24*time.Hour {
		t.Errorf("reopen window = %v, want 28 days", time.Duration(c.Cases.ReopenWindow))
	}
	if _, roles, ok := c.TokenRoles("change-me"); !ok || len(roles) != 1 || roles[0] != RoleAdmin {
		t.Errorf("placeholder token: roles %v ok %v", roles, ok)
	}
}

func TestCheckReportsEveryMistake(t *testing.T) {
	src := `
council: {ref_prefix: "cb"}
departments: [{code: highways}, {code: highways}]
services:
  - code: "bad code"
    name: ""
    type: sometimes
    attributes:
      - {code: q, datatype: colour}
      - {code: l, datatype: singlevaluelist}
routing: {default: {department: nowhere}}
staff: {tokens: [{name: x, token_sha256: abc, roles: [wizard]}]}
open311: {api_keys: [{name: fms, key: short}]}
`
	_, err := Parse([]byte(src))
	if err == nil {
		t.Fatal("Parse accepted a broken config")
	}
	for _, want := range []string{"ref_prefix", "listed twice", "code must be", "name is empty", "type \"sometimes\"", "datatype \"colour\"", "needs values", "not a department", "token_sha256", "unknown role", "at least 16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnknownFieldRejected(t *testing.T) {
	if _, err := Parse([]byte("councl: {name: x}\nrouting: {default: {department: triage}}\n")); err == nil || !strings.Contains(err.Error(), "councl") {
		t.Errorf("Parse(misspelt key) = %v, want an error naming the key", err)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"28d", 28 * 24 * time.Hour, true}, {"90s", 90 * time.Second, true}, {"1h30m", 90 * time.Minute, true}, {"-1d", 0, false}, {"soon", 0, false}} {
		got, err := ParseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestBackOfficeChecked(t *testing.T) {
	base := Demo()
	if b, ok := base.BackOffice("highways"); !ok || base.BackOfficeFor("street-lighting") != "highways" || b.Auth.TokenEnv == "" {
		t.Fatalf("demo back office highways = %+v, %v", b, ok)
	}
	if s, ok := base.BackOffices[0].StatusMap.Map("INSP"); !ok || s != "investigating" {
		t.Errorf("Map(INSP) = %q, %v", s, ok)
	}
	if _, ok := base.BackOffices[0].StatusMap.Map("RAISED"); ok {
		t.Error("Map(RAISED) is IGNOREd, but mapped")
	}
	tests := []struct {
		name string
		edit func(b *BackOffice)
		want string
	}{
		{"unknown status", func(b *BackOffice) { b.StatusMap.From["INSP"] = "inspected" }, `status_map.from.INSP: "inspected" is neither a casebridge status nor IGNORE`},
		{"unknown to", func(b *BackOffice) { b.StatusMap.To["shut"] = "X" }, `status_map.to: "shut" is not a casebridge status`},
		{"empty map", func(b *BackOffice) { b.StatusMap.From = nil }, "status_map.from is empty"},
		{"unknown fact", func(b *BackOffice) { b.Fields["x"] = "colour" }, `fields.x: unknown fact "colour"`},
		{"kind", func(b *BackOffice) { b.Kind = "ftp" }, `kind "ftp" must be rest or soap`},
		{"department", func(b *BackOffice) { b.Departments = []string{"roads"} }, `departments: "roads" is not a department`},
		{"url", func(b *BackOffice) { b.URL = "highways.local" }, `url "highways.local" must be an absolute http or https URL`},
		{"auth", func(b *BackOffice) { b.Auth = BackOfficeAuth{Type: "bearer"} }, "auth.token_env must name"},
		{"wsse on rest", func(b *BackOffice) { b.Auth.Type = "wsse" }, `auth.type "wsse" must be one of none, bearer, basic`},
	}
	for _, tt := range tests {
		c := Demo()
		b := &c.BackOffices[0]
		b.Fields = map[string]string{"description": "description"}
		b.StatusMap.From = map[string]string{"INSP": "investigating"}
		b.StatusMap.To = map[string]string{}
		tt.edit(b)
		err := c.Check()
		if err == nil || !strings.Contains(err.Error(), "back_offices[0] (highways): "+tt.want) {
			t.Errorf("%s: Check() = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	c := Demo()
	c.BackOffices = append(c.BackOffices, c.BackOffices[0])
	c.BackOffices[1].Name = "highways2"
	if err := c.Check(); err == nil || !strings.Contains(err.Error(), `"highways" already sends its cases to back office "highways"`) {
		t.Errorf("a department in two back offices: Check() = %v", err)
	}
}
