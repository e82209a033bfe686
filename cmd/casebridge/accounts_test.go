package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/casebridge/casebridge/accountarchive"
	"github.com/casebridge/casebridge/accounts"
	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/workflows"
)

// Accounts survive the loss of Redis: `casebridge users add` and every
// change keep them in Temporal first, and Sync puts back what Redis lost, at
// its newest version, password included.
func TestAccountsSurviveLosingRedis(t *testing.T) {
	ctx := context.Background()
	ts, c := temporalWithWorker(t, func(w sdkworker.Worker) {
		w.RegisterWorkflowWithOptions(accountarchive.Workflow, workflow.RegisterOptions{Name: accountarchive.WorkflowName})
	})
	rs := redistest.Start(t)

	// The first admin, from the command line.
	path := filepath.Join(t.TempDir(), "casebridge.yaml")
	if err := os.WriteFile(path, config.DemoYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), "areas.geojson"), areas.DemoGeoJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CASEBRIDGE_CONFIG": path, "TEMPORAL_ADDRESS": ts.FrontendAddr(), "TEMPORAL_NAMESPACE": ts.Namespace(), "REDIS_URL": rs.URL()}
	var out bytes.Buffer
	if err := run(ctx, []string{"users", "add", "--login", "Ada", "--name", "Ada Admin", "--roles", "admin"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("users add: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out.String())
	if m == nil || len(m[1]) < accounts.MinPassword {
		t.Fatalf("users add printed no password:\n%s", out.String())
	}
	if err := run(ctx, []string{"users", "add", "--login", "ada", "--name", "Ada Again", "--roles", "admin"}, func(k string) string { return env[k] }, &out, &out); err == nil {
		t.Error("a second account ada was made")
	}

	archive := accountarchive.New(c, workflows.TaskQueue)
	store := accounts.NewStore(rs.Client(), "cb:", archive)
	ada, err := store.Get(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	// A change, kept too.
	ada.Roles = []string{config.RoleAdmin, config.RoleSupervisor}
	ada.Departments = []string{"highways"}
	if _, err := store.Put(ctx, *ada, "account:ada", time.Now()); err != nil {
		t.Fatal(err)
	}

	// Redis loses everything; Sync brings ada back at version 2.
	if err := rs.Client().FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	var n int
	deadline := time.Now().Add(30 * time.Second)
	for { // visibility lists a new workflow a moment after it starts
		if n, err = store.Sync(ctx); err != nil || n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || n != 1 {
		t.Fatalf("sync restored %d accounts: %v", n, err)
	}
	back, err := store.Get(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 2 || len(back.Roles) != 2 || back.Departments[0] != "highways" || !accounts.CheckPassword(back, m[1]) {
		t.Errorf("restored %+v, want version 2 with both roles, highways and the printed password", back)
	}
	if n, err := store.Sync(ctx); err != nil || n != 0 {
		t.Errorf("a second sync restored %d: %v", n, err)
	}
}
