package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestShippedDependencies builds the binary as releases are built and
// checks what it links: the test-only modules (x/crypto's agent client,
// testscript) must stay out of it. moby/sys/user is the gosu drop-in's
// resolver of user specs, gosu's own.
func TestShippedDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "agent-entrypoint")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-w -buildid=", "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var deps []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "dep" {
			deps = append(deps, f[1])
		}
	}
	slices.Sort(deps)
	if want := []string{"github.com/moby/sys/mountinfo", "github.com/moby/sys/user", "golang.org/x/sys"}; !slices.Equal(deps, want) {
		t.Errorf("the binary links %v, want only %v", deps, want)
	}
}

// TestOtherSystemsSayGOOS builds the command for systems it does not run
// on: the one error printed must say how to build it (GOOS=linux), not
// name whichever Linux system call the compiler met first.
func TestOtherSystemsSayGOOS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, goos := range []string{"darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			build := exec.Command("go", "build", "-o", filepath.Join(t.TempDir(), "agent-entrypoint"), ".")
			build.Env = append(build.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH=arm64")
			out, err := build.CombinedOutput()
			if err == nil {
				t.Fatalf("GOOS=%s go build succeeded, want a failure that names GOOS=linux", goos)
			}
			if !strings.Contains(string(out), "build_it_with_GOOS_linux") || strings.Contains(string(out), "unix.") {
				t.Errorf("GOOS=%s go build: want only the error that says to build with GOOS=linux, got\n%s", goos, out)
			}
		})
	}
}
