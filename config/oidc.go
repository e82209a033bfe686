package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// OIDCCallbackPath is where the identity provider sends a person back to;
// the redirect URL registered with it ends so.
const OIDCCallbackPath = "/login/oidc/callback"

// OIDC is sign-in with the council's identity provider (Microsoft Entra ID,
// say) over OpenID Connect. The provider says who a person is and which
// groups they are in; Groups says what each group may do here.
type OIDC struct {
	// Name is what the sign-in page calls the provider: "Sign in with <Name>".
	Name string `yaml:"name"`
	// Issuer is the provider's issuer URL, as its discovery document names
	// it (Entra ID: https://login.microsoftonline.com/<tenant>/v2.0).
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names the environment variable holding the client
	// secret, which is never written in this file.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// RedirectURL is this server's callback as registered with the provider:
	// public_url + /login/oidc/callback unless given.
	RedirectURL string `yaml:"redirect_url"`
	// GroupsClaim names the ID token's claim listing the person's groups
	// ("groups" unless given; Entra ID lists group object IDs there, or app
	// roles in "roles").
	GroupsClaim string `yaml:"groups_claim"`
	// LoginClaim names the claim that becomes the sign-in name
	// ("preferred_username" unless given, then "email").
	LoginClaim string `yaml:"login_claim"`
	// Scopes asked for besides openid ("profile", "email" unless given).
	Scopes []string `yaml:"scopes"`
	// Groups map the provider's groups to roles and scope. A person gets the
	// union of the grants of every group they are in; a person in none of
	// them cannot sign in.
	Groups []GroupGrant `yaml:"groups"`
}

// GroupGrant is what members of one of the provider's groups may do.
type GroupGrant struct {
	Group       string   `yaml:"group"`
	Roles       []string `yaml:"roles"`
	Departments []string `yaml:"departments"`
	Teams       []string `yaml:"teams"`
}

// Enabled reports whether sign-in with an identity provider is configured.
func (o *OIDC) Enabled() bool { return o != nil && o.Issuer != "" }

// PostLogoutURL is this server's sign-in page, to register with the provider
// as where it may send a person after signing them out: the redirect URL's
// site + /login, so public_url + /login unless redirect_url says otherwise.
func (o *OIDC) PostLogoutURL() string {
	return strings.TrimSuffix(o.RedirectURL, OIDCCallbackPath) + "/login"
}

// Grant returns the roles, departments and teams the given groups carry,
// sorted and each once; no roles means none of the groups is mapped.
func (o *OIDC) Grant(groups []string) (roles, departments, teams []string) {
	for _, g := range o.Groups {
		if !slices.Contains(groups, g.Group) {
			continue
		}
		roles = append(roles, g.Roles...)
		departments = append(departments, g.Departments...)
		teams = append(teams, g.Teams...)
	}
	tidy := func(s []string) []string { slices.Sort(s); return slices.Compact(s) }
	return tidy(roles), tidy(departments), tidy(teams)
}

func (o *OIDC) defaults(publicURL string) {
	if !o.Enabled() {
		return
	}
	if o.RedirectURL == "" && publicURL != "" {
		o.RedirectURL = strings.TrimRight(publicURL, "/") + OIDCCallbackPath
	}
	if o.GroupsClaim == "" {
		o.GroupsClaim = "groups"
	}
	if o.LoginClaim == "" {
		o.LoginClaim = "preferred_username"
	}
	if o.Scopes == nil {
		o.Scopes = []string{"profile", "email"}
	}
	if o.Name == "" {
		o.Name = "the council's account"
	}
}

// loopback reports whether a URL's host is this machine: plain http is
// taken only there (a test's provider, a developer's).
func loopback(u *url.URL) bool {
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// check reports every mistake in the OIDC section.
func (o *OIDC) check(c *Config, bad func(string, ...any)) {
	if o == nil {
		return
	}
	if !o.Enabled() {
		if o.ClientID != "" || len(o.Groups) > 0 {
			bad("staff.oidc.issuer is empty: give the identity provider's issuer URL, or leave out staff.oidc")
		}
		return
	}
	httpsURL := func(field, s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u))) {
			bad("staff.oidc.%s %q: use an https URL (plain http only on localhost)", field, s)
			return nil
		}
		return u
	}
	httpsURL("issuer", o.Issuer)
	if o.ClientID == "" {
		bad("staff.oidc.client_id is empty: give the client (application) ID registered with the provider")
	}
	if o.ClientSecretEnv == "" {
		bad("staff.oidc.client_secret_env is empty: name the environment variable holding the client secret")
	}
	if o.RedirectURL == "" {
		bad("staff.oidc.redirect_url is empty and council.public_url is not set: give this server's %s URL", OIDCCallbackPath)
	} else if u := httpsURL("redirect_url", o.RedirectURL); u != nil && u.Path != OIDCCallbackPath {
		bad("staff.oidc.redirect_url %q: the path must be %s", o.RedirectURL, OIDCCallbackPath)
	}
	if !codeRE.MatchString(o.GroupsClaim) || !codeRE.MatchString(o.LoginClaim) {
		bad("staff.oidc: groups_claim %q and login_claim %q must be claim names", o.GroupsClaim, o.LoginClaim)
	}
	if len(o.Groups) == 0 {
		bad("staff.oidc.groups is empty: map at least one of the provider's groups to roles, or nobody can sign in")
	}
	seen := map[string]bool{}
	for i, g := range o.Groups {
		where := fmt.Sprintf("staff.oidc.groups[%d] (%s)", i, g.Group)
		if g.Group == "" || seen[g.Group] {
			bad("%s: group must be given, and each once", where)
		}
		seen[g.Group] = true
		if len(g.Roles) == 0 {
			bad("%s: give the roles its members get", where)
		}
		for _, r := range g.Roles {
			if !slices.Contains(AllRoles, r) {
				bad("%s: unknown role %q (roles: %s)", where, r, strings.Join(AllRoles, ", "))
			}
		}
		for _, d := range g.Departments {
			if _, ok := c.Department(d); !ok {
				bad("%s: department %q is not a department", where, d)
			}
		}
		for _, tm := range g.Teams {
			d, team, _ := strings.Cut(tm, "/")
			if dept, ok := c.Department(d); !ok || !slices.Contains(dept.Teams, team) {
				bad("%s: team %q is not a team (write department/team)", where, tm)
			}
		}
	}
}
