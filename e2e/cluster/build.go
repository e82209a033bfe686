package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Binaries are the programs a cluster runs.
type Binaries struct {
	// Temporal is Temporal's server (go.temporal.io/server/cmd/server), and
	// SQLTool its schema tool (cmd/tools/sql), at the version in go.mod.
	Temporal, SQLTool string
	// Version is that version, e.g. v1.32.1.
	Version string
	// Schema is the module's schema/postgresql/v12 directory, which the
	// schema tool applies.
	Schema string
	// Casebridge is this checkout's casebridge command, built as the
	// production image builds it (-tags nodev).
	Casebridge string
	// CasebridgeDev is the casebridge command with `dev` (BuildDev), for
	// measuring the embedded server beside the cluster; "" until built.
	CasebridgeDev string
	// Root is the checkout (the directory holding go.mod).
	Root string
}

// Build builds the binaries. The Temporal server and schema tool take a
// while to link (the server is ~200 MB), so they are kept in the user's cache
// directory by module and Go version and built only when missing; casebridge
// is built afresh into dir, since it is what is being tested.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := ModuleRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Root: root}
	out, err := goCmd(ctx, root, "list", "-m", "-f", "{{.Version}} {{.Dir}}", "go.temporal.io/server")
	if err != nil {
		return b, err
	}
	f := strings.Fields(out)
	if len(f) != 2 {
		return b, fmt.Errorf("go list go.temporal.io/server: %q", out)
	}
	b.Version, b.Schema = f[0], filepath.Join(f[1], "schema", "postgresql", "v12")

	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	tools := filepath.Join(cache, "casebridge", "temporal-"+b.Version+"-"+runtime.Version())
	if err := os.MkdirAll(tools, 0o755); err != nil {
		return b, err
	}
	b.Temporal, b.SQLTool = filepath.Join(tools, "temporal-server"), filepath.Join(tools, "temporal-sql-tool")
	for bin, pkg := range map[string]string{b.Temporal: "go.temporal.io/server/cmd/server", b.SQLTool: "go.temporal.io/server/cmd/tools/sql"} {
		if _, err := os.Stat(bin); err == nil {
			continue
		}
		// Built beside its final name and renamed, so an interrupted build
		// never leaves half a binary to be reused.
		tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
		if _, err := goCmd(ctx, root, "build", "-o", tmp, pkg); err != nil {
			os.Remove(tmp)
			return b, fmt.Errorf("build %s (go.mod's tool directive lists it): %w", pkg, err)
		}
		if err := os.Rename(tmp, bin); err != nil {
			return b, err
		}
	}
	b.Casebridge = filepath.Join(dir, "casebridge")
	if _, err := goCmd(ctx, root, "build", "-tags", "nodev", "-o", b.Casebridge, "./cmd/casebridge"); err != nil {
		return b, fmt.Errorf("build casebridge: %w", err)
	}
	return b, nil
}

// ModuleRoot is the directory of the go.mod above the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the casebridge checkout")
		}
		dir = parent
	}
}

func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
