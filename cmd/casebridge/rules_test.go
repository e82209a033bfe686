package main

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/casebridge/casebridge/areas"
	"github.com/casebridge/casebridge/config"
	"github.com/casebridge/casebridge/devserver"
	"github.com/casebridge/casebridge/internal/redistest"
	"github.com/casebridge/casebridge/rulearchive"
	"github.com/casebridge/casebridge/rules"
	"github.com/casebridge/casebridge/workflows"
)

// exitCode is the status main exits with after run returns err.
func exitCode(err error) int {
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// casebridge runs the command with args and the environment vars, as main does.
func casebridge(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, env(vars), &out, &errOut)
	return out.String(), errOut.String(), exitCode(err)
}

// writeFile writes a file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// councilConfig writes the demo council's configuration, with its areas and
// a libraries department the demo does not have, and returns its path.
func councilConfig(t *testing.T, dir string) string {
	t.Helper()
	const parking = "  - code: parking\n"
	demo := string(config.DemoYAML())
	if !strings.Contains(demo, parking) {
		t.Fatalf("the demo configuration no longer has %q", parking)
	}
	withLibraries := strings.Replace(demo, parking, "  - code: libraries\n    name: Libraries\n    teams: [branches]\n"+parking, 1)
	writeFile(t, dir, "areas.geojson", areas.DemoGeoJSON())
	return writeFile(t, dir, "casebridge.yaml", []byte(withLibraries))
}

const demoNotice = "no --config given: checking against the demo council's configuration"

func TestRulesValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "rules.yaml", rules.DemoYAML())
	bad := writeFile(t, dir, "bad.yaml", []byte(`name: routing
default:
  department: triag
rules:
  - id: r
    when: descripton == "x"
    then: {department: highway}
  - id: s
    when: hour
    then: {department: highways, sla_policy: pothol}
`))

	out, errOut, code := casebridge(t, nil, "rules", "validate", good)
	if code != 0 || out != good+": valid\n" || !strings.Contains(errOut, demoNotice) {
		t.Errorf("valid rules: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	out, _, code = casebridge(t, nil, "rules", "validate", bad)
	want := []string{
		bad + ":3:15: default route: there is no department called 'triag' — did you mean 'triage'?",
		bad + ":6:11: rule r: there is no fact called 'descripton' — did you mean 'description'?",
		bad + ":7:24: rule r: there is no department called 'highway' — did you mean 'highways'?",
		bad + ":9:11: rule s: the condition must be true or false, but this gives a whole number.",
		bad + ":10:46: rule s: there is no SLA policy called 'pothol' — did you mean 'pothole'?",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 1 || len(lines) != len(want) {
		t.Fatalf("invalid rules: exit %d, want 1 and %d lines:\n%s", code, len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start %q", i+1, lines[i], w)
		}
	}

	// With the council's configuration, its own departments count, and
	// nothing is said about the demo; the flag may come after the file.
	cfg := councilConfig(t, dir)
	libraries := writeFile(t, dir, "libraries.yaml", []byte(strings.Replace(string(rules.DemoYAML()),
		"then: {department: parking, team: abandoned-vehicles, sla_policy: abandoned-vehicle}",
		"then: {department: libraries, team: branches, sla_policy: abandoned-vehicle}", 1)))
	if out, errOut, code := casebridge(t, nil, "rules", "validate", libraries, "--config", cfg); code != 0 || strings.Contains(errOut, demoNotice) {
		t.Errorf("with the council's configuration: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := casebridge(t, map[string]string{"CASEBRIDGE_CONFIG": cfg}, "rules", "validate", libraries); code != 0 {
		t.Errorf("with CASEBRIDGE_CONFIG: exit %d\n%s", code, out)
	}
	if out, _, code := casebridge(t, nil, "rules", "validate", libraries); code != 1 || !strings.Contains(out, "there is no department called 'libraries'") {
		t.Errorf("against the demo council: exit %d, want 1 naming libraries:\n%s", code, out)
	}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no file", []string{"rules", "validate"}},
		{"two files", []string{"rules", "validate", good, bad}},
		{"unknown flag", []string{"rules", "validate", "--strict", good}},
		{"missing file", []string{"rules", "validate", filepath.Join(dir, "nope.yaml")}},
		{"unreadable configuration", []string{"rules", "validate", "--config", good, good}},
		{"no rules command", []string{"rules"}},
		{"unknown rules command", []string{"rules", "lint", good}},
	} {
		if _, errOut, code := casebridge(t, nil, tc.args...); code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %s", tc.name, code, errOut)
		}
	}
}

func TestRulesTestCommand(t *testing.T) {
	dir := t.TempDir()
	demo := writeFile(t, dir, "rules.yaml", rules.DemoYAML())
	sample := filepath.Join("..", "..", "docs", "demo-routing-cases.yaml")

	out, _, code := casebridge(t, nil, "rules", "test", demo, sample)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "ok    line 13: needles in a litter report") || !strings.HasSuffix(out, " passed, 0 failed\n") {
		t.Errorf("the demo rules against the sample cases: exit %d\n%s", code, out)
	}

	// A change that sends graffiti elsewhere fails the cases that expect it
	// where it was.
	moved := writeFile(t, dir, "moved.yaml", []byte(strings.Replace(string(rules.DemoYAML()),
		"then: {department: waste, team: graffiti, priority: low, sla_policy: graffiti}",
		"then: {department: highways, team: signs-and-lines, priority: low, sla_policy: graffiti}", 1)))
	out, _, code = casebridge(t, nil, "rules", "test", moved, sample)
	if code != 1 || strings.Count(out, "FAIL") != 1 || !strings.Contains(out, "FAIL  line 83: ordinary graffiti") ||
		!strings.Contains(out, `department = "highways", want "waste"`) {
		t.Errorf("graffiti moved: exit %d, want 1 with one failure:\n%s", code, out)
	}

	bad := writeFile(t, dir, "bad.yaml", []byte("name: routing\ndefault: {department: triage}\nrules:\n  - id: r\n    when: hour\n    then: {department: highways}\n"))
	if out, _, code := casebridge(t, nil, "rules", "test", bad, sample); code != 1 || !strings.Contains(out, bad+":5:11: rule r: the condition must be true or false") {
		t.Errorf("rules with a mistake: exit %d\n%s", code, out)
	}
	broken := writeFile(t, dir, "cases.yaml", []byte("cases:\n  - name: x\n    facts: {descripton: hi}\n    expect: {department: waste}\n"))
	if _, errOut, code := casebridge(t, nil, "rules", "test", demo, broken); code != 1 {
		t.Errorf("a broken cases file: exit %d, want 1\n%s", code, errOut)
	}
	if _, _, code := casebridge(t, nil, "rules", "test", demo); code != 2 {
		t.Errorf("no cases file: exit %d, want 2", code)
	}
}

func TestRulesExportImport(t *testing.T) {
	dir := t.TempDir()
	ts, err := devserver.Start(context.Background(), devserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()
	vars := map[string]string{"REDIS_URL": redistest.Start(t).URL(), "USER": "rita",
		"TEMPORAL_ADDRESS": ts.FrontendAddr(), "TEMPORAL_NAMESPACE": ts.Namespace()}
	cfg := councilConfig(t, dir)
	demo := writeFile(t, dir, "rules.yaml", rules.DemoYAML())

	if _, _, code := casebridge(t, vars, "rules", "export"); code != 1 {
		t.Errorf("export with nothing published: exit %d, want 1", code)
	}
	if _, _, code := casebridge(t, vars, "rules", "import", demo); code != 2 {
		t.Errorf("import without --config: exit %d, want 2", code)
	}
	if _, _, code := casebridge(t, nil, "rules", "export"); code != 2 {
		t.Errorf("export without REDIS_URL: exit %d, want 2", code)
	}

	// A draft first, then published; the flags may follow the file.
	out, _, code := casebridge(t, vars, "rules", "import", demo, "--config", cfg)
	if code != 0 || !strings.Contains(out, "saved as the draft of routing") {
		t.Fatalf("import as a draft: exit %d\n%s", code, out)
	}
	out, _, code = casebridge(t, vars, "rules", "import", demo, "--config", cfg, "--publish", "--comment", "the demo rules")
	if code != 0 || !strings.Contains(out, "published as version 1 of routing") {
		t.Fatalf("import --publish: exit %d\n%s", code, out)
	}
	out, errOut, code := casebridge(t, vars, "rules", "export")
	if code != 0 || out != string(rules.DemoYAML()) || !strings.Contains(errOut, "version 1, by rita (casebridge rules import)") || !strings.Contains(errOut, "the demo rules") {
		t.Errorf("export: exit %d, stderr %q, the YAML exported is the file imported: %v", code, errOut, out == string(rules.DemoYAML()))
	}
	if out, _, code := casebridge(t, vars, "rules", "import", demo, "--config", cfg, "--publish"); code != 0 || !strings.Contains(out, "active already: nothing to do") {
		t.Errorf("importing the active text again: exit %d\n%s", code, out)
	}

	libraries := writeFile(t, dir, "libraries.yaml", []byte(strings.Replace(string(rules.DemoYAML()),
		"then: {department: parking, team: abandoned-vehicles, sla_policy: abandoned-vehicle}",
		"then: {department: libraries, team: branches, sla_policy: abandoned-vehicle}", 1)))
	if out, _, code := casebridge(t, vars, "rules", "import", "--publish", "--config", cfg, libraries); code != 0 || !strings.Contains(out, "version 2") {
		t.Errorf("import a second version: exit %d\n%s", code, out)
	}
	if out, _, code := casebridge(t, vars, "rules", "export", "--version", "1"); code != 0 || out != string(rules.DemoYAML()) {
		t.Errorf("export --version 1: exit %d", code)
	}
	if out, _, _ := casebridge(t, vars, "rules", "export"); !strings.Contains(out, "department: libraries") {
		t.Errorf("the active version is not the second import")
	}
	if _, _, code := casebridge(t, vars, "rules", "export", "--name", "nope"); code != 1 {
		t.Errorf("export of an unknown rule set: exit %d, want 1", code)
	}
	// Both published versions are kept in Temporal too.
	c, err := client.Dial(client.Options{HostPort: ts.FrontendAddr(), Namespace: ts.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kept, err := rulearchive.New(c, workflows.TaskQueue).Load(context.Background(), rules.Routing)
	if err != nil || !slices.Equal(kept.Versions, []int{1, 2}) || kept.Active() != 2 || len(kept.Log) != 2 {
		t.Errorf("Temporal keeps %+v, %v; want versions 1 and 2, 2 active", kept, err)
	}
	noTemporal := maps.Clone(vars)
	noTemporal["TEMPORAL_ADDRESS"] = "127.0.0.1:1"
	if _, _, code := casebridge(t, noTemporal, "rules", "import", demo, "--config", cfg, "--publish"); code != 1 {
		t.Errorf("import --publish without Temporal: exit %d, want 1", code)
	}
	if out, _, _ := casebridge(t, vars, "rules", "export"); !strings.Contains(out, "department: libraries") {
		t.Errorf("an import refused for want of Temporal changed the active version")
	}

	// Rules with mistakes are refused, listed as validate lists them, and
	// change nothing.
	bad := writeFile(t, dir, "bad.yaml", []byte("name: routing\ndefault: {department: triage}\nrules:\n  - id: r\n    when: hour\n    then: {department: highways}\n"))
	out, _, code = casebridge(t, vars, "rules", "import", bad, "--config", cfg, "--publish")
	if code != 1 || !strings.Contains(out, bad+":5:11: rule r: the condition must be true or false") {
		t.Errorf("import with a mistake: exit %d\n%s", code, out)
	}
	if out, _, _ := casebridge(t, vars, "rules", "export"); !strings.Contains(out, "department: libraries") {
		t.Errorf("a refused import changed the active version")
	}
}

func TestRulesHelp(t *testing.T) {
	out, _, code := casebridge(t, nil, "rules", "help")
	if code != 0 || !strings.Contains(out, "casebridge rules validate [--config FILE] RULES.yaml") || !strings.Contains(out, "Exit status:") {
		t.Errorf("rules help: exit %d\n%s", code, out)
	}
	if out, _, code := casebridge(t, nil, "help"); code != 0 || !strings.Contains(out, "casebridge rules ") {
		t.Errorf("casebridge help does not mention rules:\n%s", out)
	}
	if _, errOut, code := casebridge(t, nil, "rules", "test", "--help"); code != 0 || !strings.Contains(errOut, "-config") {
		t.Errorf("rules test --help: exit %d\n%s", code, errOut)
	}
}
