//go:build !nodev

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A data directory made by an older casebridge, or under a loose umask, is
// made readable by its owner only.
func TestOwnerOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, d := range []string{dir, filepath.Join(dir, "redis")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{filepath.Join(dir, "temporal.db"), filepath.Join(dir, "redis", "appendonly.aof")}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("personal data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o644); err != nil { // past the test's umask
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ownerOnly(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(files, dir, filepath.Join(dir, "redis")) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others can read it", p, info.Mode().Perm())
		}
		if info.Mode().Perm()&0o600 != 0o600 {
			t.Errorf("%s has mode %v: its owner lost access", p, info.Mode().Perm())
		}
	}
}
