package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The release toolchain: the newest patched Go, which the go command
// fetches from the module proxy. Binaries built with an older one carry its
// known standard-library vulnerabilities, which every scanner flags.
const releaseToolchain = "go1.27.3"

// The tools, pinned. They are built with go install at these versions,
// never required by the main module.
const (
	toolCycloneDX   = "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0"
	toolGovulncheck = "golang.org/x/vuln/cmd/govulncheck@v1.9.0"
	toolNfpm        = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2"
	vulndbModule    = "golang.org/x/vulndb"
	vulndbVersion   = "v0.0.0-20261105234957-e22db6528018"
	toolIndexDB     = vulndbModule + "/cmd/indexdb@" + vulndbVersion
)

// goEnv is the environment for the go command and the tools: the caller's,
// without the settings that would change what is built (a GOFLAGS with
// -tags, a GOAMD64, another toolchain), plus extra.
func goEnv(toolchain string, extra ...string) []string {
	drop := map[string]bool{
		"GOFLAGS": true, "GOOS": true, "GOARCH": true, "GOARM": true, "GO386": true, "GOAMD64": true,
		"GOPPC64": true, "GORISCV64": true, "GOEXPERIMENT": true, "CGO_ENABLED": true, "GOTOOLCHAIN": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, append([]string{"GOTOOLCHAIN=" + toolchain, "GOFLAGS=-mod=readonly", "CGO_ENABLED=0"}, extra...)...)
}

// run runs name with args in dir and env, its output on stderr for a
// human, and says what failed with its output.
func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return nil
}

// output runs name and returns its stdout, trimmed.
func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// installTools builds the pinned tools into bin and returns their paths by
// name. -trimpath keeps the module cache's path out of them: the SBOM
// records its tool's hash.
func installTools(bin, toolchain string, pkgs ...string) (map[string]string, error) {
	paths := map[string]string{}
	for _, pkg := range pkgs {
		if err := run(bin, goEnv(toolchain, "GOBIN="+bin), "go", "install", "-trimpath", pkg); err != nil {
			return nil, fmt.Errorf("install %s: %w", pkg, err)
		}
		name := filepath.Base(strings.SplitN(pkg, "@", 2)[0])
		paths[name] = filepath.Join(bin, name)
	}
	return paths, nil
}

// vulnDB returns the directory of the vulnerability database govulncheck
// reads offline (-db file://DIR): vulndb's OSV entries at the pinned
// version, indexed by vulndb's own indexdb. It is built once per version
// into the user's cache directory.
func vulnDB(tools, toolchain string, log logf) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("vulnerability database: %w", err)
	}
	dir := filepath.Join(cache, "agent-entrypoint", "vulndb-"+vulndbVersion)
	if _, err := os.Stat(filepath.Join(dir, "index", "db.json")); err == nil {
		return dir, nil
	}
	log("vulnerability database: indexing %s@%s (once per version)", vulndbModule, vulndbVersion)
	// Outside the main module, so that its go.mod is neither read nor touched.
	out, err := output(tools, goEnv(toolchain), "go", "mod", "download", "-json", vulndbModule+"@"+vulndbVersion)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", vulndbModule, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("download %s: no directory in %q (%s)", vulndbModule, out, mod.Error)
	}
	bins, err := installTools(tools, toolchain, toolIndexDB)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	// Built beside its final place and renamed, so that an interrupted run
	// leaves no half database for the next one to trust.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".vulndb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := run("", nil, bins["indexdb"], "-vulns", filepath.Join(mod.Dir, "data", "osv"), "-out", tmp); err != nil {
		return "", fmt.Errorf("index the vulnerability database: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "index", "db.json")); statErr == nil {
			return dir, nil // another run finished it first
		}
		return "", err
	}
	return dir, nil
}

// vulncheck runs the pinned govulncheck against the offline database with
// the caller's arguments, its output and exit status passed through
// (3: vulnerabilities that the code calls).
func vulncheck(args []string, log logf) error {
	// Only a leading -toolchain is its own: every other argument, flags
	// such as -mode binary included, is govulncheck's.
	toolchain := releaseToolchain
	if len(args) > 0 {
		if v, ok := strings.CutPrefix(args[0], "-toolchain="); ok {
			toolchain, args = v, args[1:]
		} else if args[0] == "-toolchain" && len(args) > 1 {
			toolchain, args = args[1], args[2:]
		}
	}
	tools, err := os.MkdirTemp("", "agent-entrypoint-release-tools-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tools)
	bins, err := installTools(tools, toolchain, toolGovulncheck)
	if err != nil {
		return err
	}
	db, err := vulnDB(tools, toolchain, log)
	if err != nil {
		return err
	}
	cmd := exec.Command(bins["govulncheck"], append([]string{"-db", "file://" + db}, args...)...)
	cmd.Env = goEnv(toolchain)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// exitCode passes a tool's exit status on.
func exitCode(err error) int {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.ExitCode() > 0 {
		return exitErr.ExitCode()
	}
	return 1
}

type logf func(format string, args ...any)
