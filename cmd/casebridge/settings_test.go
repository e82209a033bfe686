package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casebridge/casebridge/config"
)

// A staff token from the environment must be long enough not to be guessed.
func TestAdminTokenMinimumLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casebridge.yaml")
	if err := os.WriteFile(path, config.DemoYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	for token, ok := range map[string]bool{"x": false, strings.Repeat("a", 31): false, secret(24): true} {
		env := map[string]string{"CASEBRIDGE_CONFIG": path, "CASEBRIDGE_ADMIN_TOKEN": token}
		s, err := parseSettings("api", nil, func(k string) string { return env[k] }, io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		_, err = loadConfig(s)
		if ok != (err == nil) {
			t.Errorf("CASEBRIDGE_ADMIN_TOKEN of %d characters: %v", len(token), err)
		}
		if err != nil && !strings.Contains(err.Error(), "at least 32") {
			t.Errorf("the error does not say how long: %v", err)
		}
	}
	env := map[string]string{"CASEBRIDGE_TRUSTED_PROXIES": "10.0.0.0/8, proxy.example"}
	if _, err := parseSettings("api", nil, func(k string) string { return env[k] }, io.Discard, false); err == nil || !strings.Contains(err.Error(), "proxy.example") {
		t.Errorf("a trusted proxy by name: %v, want an error naming it", err)
	}
}

// api will not serve sign-in with an identity provider whose client secret
// the environment does not give.
func TestOIDCSecretRequired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casebridge.yaml")
	oidc := "\n" + `  oidc: {issuer: "https://login.example/tenant/v2.0", client_id: casebridge, client_secret_env: CB_OIDC_SECRET,
    redirect_url: "https://casebridge.example/login/oidc/callback", groups: [{group: g1, roles: [admin]}]}` + "\n"
	yaml := strings.Replace(string(config.DemoYAML()), "\ncases:\n", oidc+"\ncases:\n", 1)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CASEBRIDGE_CONFIG": path, "REDIS_URL": "redis://127.0.0.1:1/0"}
	_, _, cfg, err := prepare("api", nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "CB_OIDC_SECRET") {
		t.Errorf("api without the client secret: %v, want an error naming its variable", err)
	}
	env["CB_OIDC_SECRET"] = "a secret from the provider"
	if _, _, cfg, err = prepare("api", nil, func(k string) string { return env[k] }, io.Discard); err != nil || !cfg.Staff.OIDC.Enabled() {
		t.Errorf("api with the client secret: %v (oidc %+v)", err, cfg)
	}
}

// api, worker and reindex will not start with a search key the environment
// does not give, or one too short to be a secret.
func TestSearchKeyRequired(t *testing.T) {
	path := filepath.Join(t.TempDir(), "casebridge.yaml")
	yaml := strings.Replace(string(config.DemoYAML()), "\ncases:\n", "\nsearch_key_env: CB_SEARCH_KEY\ncases:\n", 1)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CASEBRIDGE_CONFIG": path, "REDIS_URL": "redis://127.0.0.1:1/0"}
	for _, name := range []string{"api", "worker", "reindex"} {
		for key, ok := range map[string]bool{"": false, "too short": false, "sixteen bytes, ok": true} {
			env["CB_SEARCH_KEY"] = key
			_, _, cfg, err := prepare(name, nil, func(k string) string { return env[k] }, io.Discard)
			switch {
			case ok && (err != nil || cfg.SearchKeyEnv != "CB_SEARCH_KEY"):
				t.Errorf("%s with a search key of %d bytes: %v", name, len(key), err)
			case !ok && (err == nil || !strings.Contains(err.Error(), "CB_SEARCH_KEY")):
				t.Errorf("%s with a search key of %d bytes: %v, want an error naming its variable", name, len(key), err)
			}
		}
	}
}
