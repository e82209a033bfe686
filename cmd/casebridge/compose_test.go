package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestDockerCompose loads docker-compose.yml with Docker Compose's own loader
// and checks that it describes a deployment that can work: every service the
// design needs, wired to each other with the settings casebridge reads.
func TestDockerCompose(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	load := func(env ...string) (*types.Project, error) {
		opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
			cli.WithWorkingDirectory(root), cli.WithEnv(env), cli.WithInterpolation(true))
		if err != nil {
			t.Fatal(err)
		}
		return opts.LoadProject(context.Background())
	}
	// No database password is given away: without one, compose refuses.
	if _, err := load("CASEBRIDGE_SESSION_SECRET=test-secret"); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("docker-compose.yml loads without POSTGRES_PASSWORD (error %v): it must not default one", err)
	}
	p, err := load("CASEBRIDGE_SESSION_SECRET=test-secret", "POSTGRES_PASSWORD=test-password")
	if err != nil {
		t.Fatalf("docker compose would refuse docker-compose.yml: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("no service %q: %v", name, err)
		}
		return s
	}

	pg := svc("postgresql")
	if !strings.HasPrefix(pg.Image, "postgres:") || len(pg.Volumes) == 0 || envOf(pg, "POSTGRES_PASSWORD") != "test-password" {
		t.Errorf("postgresql: image %q, volumes %v, password %q: want PostgreSQL with a volume and the password from .env", pg.Image, pg.Volumes, envOf(pg, "POSTGRES_PASSWORD"))
	}

	// The Temporal server is the version go.mod builds the cluster test's
	// from, and its schema tool comes from the same release.
	version := temporalVersion(t, root)
	schema := svc("temporal-schema")
	temporal := svc("temporal")
	if want := "temporalio/server:" + version; temporal.Image != want {
		t.Errorf("temporal runs %s; go.mod has go.temporal.io/server v%s, so want %s", temporal.Image, version, want)
	}
	if want := "temporalio/admin-tools:" + version; schema.Image != want {
		t.Errorf("temporal-schema runs %s, want %s", schema.Image, want)
	}
	// Its schema is set up the way the cluster test sets it up.
	if !slices.Contains(schema.Entrypoint, "/deploy/setup-schema.sh") || !mounts(schema, "deploy/temporal/setup-schema.sh", "/deploy/setup-schema.sh") {
		t.Errorf("temporal-schema: entrypoint %v, volumes %v: want deploy/temporal/setup-schema.sh", schema.Entrypoint, schema.Volumes)
	}
	if envOf(schema, "SQL_PASSWORD") != "test-password" || envOf(schema, "POSTGRES_SEEDS") != "postgresql" {
		t.Errorf("temporal-schema: SQL_PASSWORD %q, POSTGRES_SEEDS %q", envOf(schema, "SQL_PASSWORD"), envOf(schema, "POSTGRES_SEEDS"))
	}
	if dep, ok := temporal.DependsOn["temporal-schema"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("temporal does not wait for its schema: %+v", temporal.DependsOn)
	}
	if envOf(temporal, "DB") != "postgres12" || envOf(temporal, "POSTGRES_SEEDS") != "postgresql" || envOf(temporal, "POSTGRES_PWD") != "test-password" {
		t.Errorf("temporal: DB %q, seeds %q, password %q", envOf(temporal, "DB"), envOf(temporal, "POSTGRES_SEEDS"), envOf(temporal, "POSTGRES_PWD"))
	}
	if !mounts(temporal, "deploy/temporal/dynamicconfig.yaml", envOf(temporal, "DYNAMIC_CONFIG_FILE_PATH")) {
		t.Errorf("temporal does not read deploy/temporal/dynamicconfig.yaml: %v, DYNAMIC_CONFIG_FILE_PATH %q", temporal.Volumes, envOf(temporal, "DYNAMIC_CONFIG_FILE_PATH"))
	}
	// The namespace is made by casebridge setup, with a retention.
	setup := svc("temporal-setup")
	if len(setup.Command) < 3 || setup.Command[0] != "setup" || setup.Command[1] != "--retention" {
		t.Errorf("temporal-setup runs %v, want casebridge setup --retention ...", setup.Command)
	} else if err := new(days).Set(setup.Command[2]); err != nil {
		t.Errorf("temporal-setup: %v", err)
	}
	// ... and, given the configuration the api and workers read, the back
	// offices' poll schedules.
	if cfg := envOf(setup, "CASEBRIDGE_CONFIG"); cfg == "" || cfg != envOf(svc("api"), "CASEBRIDGE_CONFIG") || !mounts(setup, "casebridge.yaml", cfg) {
		t.Errorf("temporal-setup reads configuration %q with volumes %v: want the api's, mounted", cfg, setup.Volumes)
	}
	ui := svc("temporal-ui")
	if envOf(ui, "TEMPORAL_ADDRESS") != "temporal:7233" {
		t.Errorf("temporal-ui points at %q", envOf(ui, "TEMPORAL_ADDRESS"))
	}
	redis := svc("redis")
	if cmd := strings.Join(redis.Command, " "); !strings.Contains(cmd, "--appendonly yes") || len(redis.Volumes) == 0 {
		t.Errorf("redis: command %q, volumes %v: rule sets need AOF on a volume", cmd, redis.Volumes)
	}

	for _, name := range []string{"api", "worker"} {
		s := svc(name)
		if s.Command[0] != name {
			t.Errorf("%s runs %v", name, s.Command)
		}
		for k, want := range map[string]string{"TEMPORAL_ADDRESS": "temporal:7233", "REDIS_URL": "redis://redis:6379/0", "CASEBRIDGE_CONFIG": "/etc/casebridge/casebridge.yaml"} {
			if got := envOf(s, k); got != want {
				t.Errorf("%s: %s = %q, want %q", name, k, got, want)
			}
		}
		if dep, ok := s.DependsOn["temporal-setup"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for casebridge setup: %+v", name, s.DependsOn)
		}
		if _, ok := s.DependsOn["redis"]; !ok {
			t.Errorf("%s does not depend on redis", name)
		}
		if envOf(s, "TEMPORAL_NAMESPACE") != envOf(setup, "TEMPORAL_NAMESPACE") {
			t.Errorf("%s uses namespace %q, setup makes %q", name, envOf(s, "TEMPORAL_NAMESPACE"), envOf(setup, "TEMPORAL_NAMESPACE"))
		}
		if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "probe") || !strings.HasSuffix(s.HealthCheck.Test[len(s.HealthCheck.Test)-1], "/readyz") {
			t.Errorf("%s health check %+v should be `casebridge probe .../readyz`", name, s.HealthCheck)
		}
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Target == "/etc/casebridge/casebridge.yaml" && v.ReadOnly
		}) {
			t.Errorf("%s does not mount the configuration read-only", name)
		}
	}
	api := svc("api")
	if api.Build == nil || api.Build.Context != root {
		t.Errorf("api is not built from the repository: %+v", api.Build)
	}
	// The api is reached through a TLS proxy on the host, never directly.
	for _, port := range api.Ports {
		if port.HostIP != "127.0.0.1" {
			t.Errorf("api publishes %s on %q: bind it to 127.0.0.1, behind a TLS proxy", port.Published, port.HostIP)
		}
	}

	// Every environment variable the compose file gives casebridge is one it
	// reads: by name in the command's code, or named in the configuration.
	read := map[string]bool{}
	files, _ := filepath.Glob("*.go")
	files = append(files, filepath.Join(root, "config", "demo.yaml"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, _ := os.ReadFile(f)
		for _, m := range regexp.MustCompile(`((?:CASEBRIDGE|TEMPORAL|REDIS)_[A-Z0-9_]+)`).FindAllStringSubmatch(string(src), -1) {
			read[m[1]] = true
		}
	}
	for _, name := range []string{"api", "worker", "temporal-setup"} {
		for k := range svc(name).Environment {
			if !read[k] {
				t.Errorf("compose sets %s for %s, which casebridge never reads", k, name)
			}
		}
	}
	if envOf(api, "CASEBRIDGE_SESSION_SECRET") != "test-secret" {
		t.Error("the api does not get CASEBRIDGE_SESSION_SECRET, so console sessions would differ between replicas")
	}

	// The Dockerfile builds the command without the embedded server.
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "-tags nodev") || !strings.Contains(string(df), "./cmd/casebridge") {
		t.Errorf("Dockerfile does not build ./cmd/casebridge with -tags nodev")
	}
}

// temporalVersion is go.temporal.io/server's version in go.mod, without the v.
func temporalVersion(t *testing.T, root string) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod does not require go.temporal.io/server")
	}
	return string(m[1])
}

// mounts reports whether the service mounts the repository's file at target.
func mounts(s types.ServiceConfig, file, target string) bool {
	return slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return strings.HasSuffix(v.Source, "/"+file) && v.Target == target && v.ReadOnly
	})
}

func envOf(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}
