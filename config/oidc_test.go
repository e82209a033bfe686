package config

import (
	"slices"
	"strings"
	"testing"
)

const oidcBase = `
council: {public_url: "https://casebridge.example.gov.uk"}
departments: [{code: highways, teams: [north]}, {code: waste}]
routing: {default: {department: highways}}
`

func TestOIDCChecked(t *testing.T) {
	for _, tc := range []struct {
		oidc string
		want []string // mistakes the error names; none: accepted
	}{
		{`{name: Entra, issuer: "https://login.microsoftonline.com/t/v2.0", client_id: c, client_secret_env: S,
		   groups: [{group: g1, roles: [supervisor], departments: [highways], teams: [highways/north]}]}`, nil},
		{`{issuer: "http://idp.example", client_id: "", redirect_url: "https://casebridge.example.gov.uk/elsewhere",
		   groups: [{group: g1, roles: [wizard], departments: [parks], teams: [highways/south]}, {group: g1, roles: []}]}`,
			[]string{"issuer \"http://idp.example\": use an https URL", "client_id is empty", "client_secret_env is empty",
				"path must be /login/oidc/callback", "unknown role \"wizard\"", "department \"parks\"", "team \"highways/south\"",
				"each once", "give the roles"}},
		{`{issuer: "https://idp.example", client_id: c, client_secret_env: S, groups: []}`, []string{"staff.oidc.groups is empty"}},
		{`{client_id: c, groups: [{group: g, roles: [agent]}]}`, []string{"staff.oidc.issuer is empty"}},
	} {
		_, err := Parse([]byte(oidcBase + "staff: {oidc: " + tc.oidc + "}\n"))
		if len(tc.want) == 0 && err != nil {
			t.Errorf("Parse(%s) = %v, want it accepted", tc.oidc, err)
		}
		if len(tc.want) > 0 && err == nil {
			t.Errorf("Parse(%s) accepted it", tc.oidc)
		}
		for _, w := range tc.want {
			if err != nil && !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%s): the error does not say %q:\n%v", tc.oidc, w, err)
			}
		}
	}
}

func TestOIDCDefaultsAndGrant(t *testing.T) {
	c, err := Parse([]byte(oidcBase + `staff: {oidc: {issuer: "http://127.0.0.1:9999", client_id: c, client_secret_env: S, groups: [
  {group: sup, roles: [supervisor], departments: [highways]},
  {group: agents, roles: [agent, supervisor], departments: [waste, highways], teams: [highways/north]}]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Staff.OIDC
	if o.RedirectURL != "https://casebridge.example.gov.uk/login/oidc/callback" || o.GroupsClaim != "groups" || o.LoginClaim != "preferred_username" {
		t.Errorf("defaults: redirect %q, groups claim %q, login claim %q", o.RedirectURL, o.GroupsClaim, o.LoginClaim)
	}
	if got := o.PostLogoutURL(); got != "https://casebridge.example.gov.uk/login" {
		t.Errorf("PostLogoutURL() = %q, want the sign-in page", got)
	}
	roles, depts, teams := o.Grant([]string{"agents", "sup", "unmapped"})
	if !slices.Equal(roles, []string{"agent", "supervisor"}) || !slices.Equal(depts, []string{"highways", "waste"}) || !slices.Equal(teams, []string{"highways/north"}) {
		t.Errorf("Grant = %v %v %v", roles, depts, teams)
	}
	if roles, _, _ := o.Grant([]string{"unmapped"}); roles != nil {
		t.Errorf("Grant(no mapped group) = %v, want no roles", roles)
	}
}
