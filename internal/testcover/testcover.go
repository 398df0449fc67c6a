// Package testcover lets tests count the coverage of child processes that
// drop root: under go test -cover, a child of the test binary writes its
// counters into $GOCOVERDIR, a directory only root may write, so a child
// running as another uid would lose them and warn on its output.
//
// It is for tests only.
package testcover

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Environ returns the environment for a child that may drop root: the
// test's, with GOCOVERDIR pointing at a directory every uid may write.
// When the test ends, the counters written there join the test's own.
func Environ(t testing.TB) []string {
	t.Helper()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOCOVERDIR=") })
	real := os.Getenv("GOCOVERDIR")
	if real == "" {
		return env
	}
	// Not t.TempDir: its parent is private to root.
	dir, err := os.MkdirTemp("", "testcover-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer os.RemoveAll(dir)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil {
				err = os.WriteFile(filepath.Join(real, e.Name()), data, 0o644)
			}
			if err != nil {
				t.Logf("keep coverage counters of a child: %v", err)
			}
		}
	})
	return append(env, "GOCOVERDIR="+dir)
}
