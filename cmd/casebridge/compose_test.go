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
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv([]string{"CASEBRIDGE_SESSION_SECRET=test-secret"}), cli.WithInterpolation(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
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
	if !strings.HasPrefix(pg.Image, "postgres:") || len(pg.Volumes) == 0 {
		t.Errorf("postgresql: image %q, volumes %v: want PostgreSQL with a volume", pg.Image, pg.Volumes)
	}
	temporal := svc("temporal")
	if !strings.HasPrefix(temporal.Image, "temporalio/") || envOf(temporal, "DB") != "postgres12" || envOf(temporal, "POSTGRES_SEEDS") != "postgresql" {
		t.Errorf("temporal: image %q, DB %q, seeds %q", temporal.Image, envOf(temporal, "DB"), envOf(temporal, "POSTGRES_SEEDS"))
	}
	if _, ok := temporal.DependsOn["postgresql"]; !ok {
		t.Error("temporal does not depend on postgresql")
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
		for _, dep := range []string{"temporal", "redis"} {
			if _, ok := s.DependsOn[dep]; !ok {
				t.Errorf("%s does not depend on %s", name, dep)
			}
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
	if api.HealthCheck == nil || !slices.Contains(api.HealthCheck.Test, "probe") {
		t.Errorf("api health check %+v should use `casebridge probe`", api.HealthCheck)
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
	for k := range svc("api").Environment {
		if !read[k] {
			t.Errorf("compose sets %s, which casebridge never reads", k)
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

func envOf(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}
