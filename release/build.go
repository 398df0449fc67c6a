package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// target is one Linux architecture of the release, with its names in the
// file names, in Debian and in Alpine.
type target struct {
	name   string // file name suffix: agent-entrypoint-linux-NAME
	goarch string
	goarm  string
	deb    string // Debian architecture
	apk    string // Alpine architecture
}

// The arm targets: Debian's armhf needs ARMv7, and its armel gets the ARMv6
// build (hard-float instructions, no C library to disagree about the ABI);
// Alpine's armhf is ARMv6 and its armv7 ARMv7.
var targets = []target{
	{"amd64", "amd64", "", "amd64", "x86_64"},
	{"arm64", "arm64", "", "arm64", "aarch64"},
	{"armv7", "arm", "7", "armhf", "armv7"},
	{"armv6", "arm", "6", "armel", "armhf"},
	{"386", "386", "", "i386", "x86"},
	{"ppc64le", "ppc64le", "", "ppc64el", "ppc64le"},
	{"s390x", "s390x", "", "s390x", "s390x"},
	{"riscv64", "riscv64", "", "riscv64", "riscv64"},
}

func (t target) binary() string { return "agent-entrypoint-linux-" + t.name }

type config struct {
	version    string
	out        string
	image      bool
	allowDirty bool
	toolchain  string
}

// release is what a build produced.
type release struct {
	version string
	commit  string
	epoch   time.Time
	out     string
	files   []string // artifact names in out, sorted, SHA256SUMS last
	image   string   // the loaded image's reference, or why there is none
}

// versionRE is what a release version may be: semantic versions without
// build metadata, since Docker tags have no "+".
var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)

func build(cfg config, log logf) (*release, error) {
	root, err := output("", nil, "git", "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("find the repository: %w", err)
	}
	r := &release{}
	if r.commit, err = output(root, nil, "git", "rev-parse", "HEAD"); err != nil {
		return nil, err
	}
	if r.epoch, err = sourceDate(root); err != nil {
		return nil, err
	}
	status, err := output(root, nil, "git", "status", "--porcelain")
	if err != nil {
		return nil, err
	}
	dirty := status != ""
	if dirty && !cfg.allowDirty {
		return nil, fmt.Errorf("the work tree has uncommitted changes: a release is built from a commit (commit or stash them, or pass -allow-dirty for a build marked .dirty):\n%s", status)
	}
	r.version = cfg.version
	if r.version == "" {
		r.version = describe(root, r.commit, r.epoch)
	}
	if dirty {
		r.version = markDirty(r.version)
	}
	if !versionRE.MatchString(r.version) {
		return nil, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRERELEASE, e.g. make release VERSION=v0.3.0", r.version)
	}
	r.out = cfg.out
	if !filepath.IsAbs(r.out) {
		r.out = filepath.Join(root, r.out)
	}
	if err := emptyOut(r.out); err != nil {
		return nil, err
	}
	log("%s, commit %s, SOURCE_DATE_EPOCH=%d, %s", r.version, r.commit[:7], r.epoch.Unix(), cfg.toolchain)

	tools, err := os.MkdirTemp("", "agent-entrypoint-release-tools-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tools)
	step := func(what string, f func() error) error {
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		log("%s: %s", what, time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	var bins map[string]string
	steps := []struct {
		what string
		f    func() error
	}{
		{"binaries", func() error { return buildBinaries(root, r, cfg.toolchain) }},
		{"tools", func() (err error) {
			bins, err = installTools(tools, cfg.toolchain, toolCycloneDX, toolGovulncheck, toolNfpm)
			return err
		}},
		{"SBOMs", func() error { return writeSBOMs(r, bins["cyclonedx-gomod"], cfg.toolchain) }},
		{"VEX", func() error { return writeVEX(root, r, tools, bins["govulncheck"], cfg.toolchain, log) }},
		{"packages", func() error { return writePackages(r, bins["nfpm"], cfg.toolchain) }},
		{"SHA256SUMS", func() error { return writeSums(r) }},
	}
	for _, s := range steps {
		if err := step(s.what, s.f); err != nil {
			return nil, err
		}
	}
	if cfg.image {
		if err := step("image", func() error { return loadImage(r, log) }); err != nil {
			return nil, err
		}
	} else {
		r.image = "not built (-image=false)"
	}
	return r, nil
}

// sourceDate is the time every artifact carries: SOURCE_DATE_EPOCH when
// set, else the commit's time, so that a rebuild of the commit matches.
func sourceDate(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = output(root, nil, "git", "log", "-1", "--format=%ct", "HEAD"); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// describe is the version of an unnamed release: the nearest v tag as git
// describe gives it, or, before the first tag, a dev version that sorts
// by the commit's time and names the commit.
func describe(root, commit string, epoch time.Time) string {
	if v, err := output(root, nil, "git", "describe", "--tags", "--match", "v[0-9]*"); err == nil && v != "" {
		return v
	}
	return devVersion(commit, epoch)
}

func devVersion(commit string, epoch time.Time) string {
	return "v0.0.0-dev." + epoch.Format("20060102150405") + ".g" + commit[:7]
}

// markDirty says in the version that the tree had uncommitted changes, in
// a form Docker tags and package versions accept.
func markDirty(v string) string {
	if strings.Contains(v, "-") {
		return v + ".dirty"
	}
	return v + "-dirty"
}

// emptyOut makes out an empty directory. It removes only what a release
// writes there, so that a mistyped -out cannot take anything else along.
func emptyOut(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(out, 0o755)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !(strings.HasPrefix(e.Name(), "agent-entrypoint") || e.Name() == "SHA256SUMS") {
			return fmt.Errorf("%s holds %s, which a release does not write: remove it, or pick another -out", out, e.Name())
		}
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(out, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// buildBinaries builds one static binary per target. The version and commit
// are stamped because -buildvcs=false records none: with it, a clone, a
// worktree and an unpacked source tarball of one commit build alike.
func buildBinaries(root string, r *release, toolchain string) error {
	ldflags := "-w -buildid= -X main.stampedVersion=" + r.version + " -X main.stampedCommit=" + r.commit
	for _, t := range targets {
		out := filepath.Join(r.out, t.binary())
		env := goEnv(toolchain, "GOOS=linux", "GOARCH="+t.goarch)
		if t.goarm != "" {
			env = append(env, "GOARM="+t.goarm)
		}
		if err := run(root, env, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/agent-entrypoint"); err != nil {
			return fmt.Errorf("build %s: %w", t.binary(), err)
		}
		if err := requireStatic(out); err != nil {
			return err
		}
		if err := settle(out, 0o755, r.epoch); err != nil {
			return err
		}
	}
	return nil
}

// requireStatic fails unless path is an ELF executable without a program
// interpreter: one that runs in an image without a C library.
func requireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check static binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has a program interpreter)", path)
		}
	}
	return nil
}

// settle gives an artifact its mode and the source date, so that dist/
// looks the same file by file, not only byte by byte.
func settle(path string, mode os.FileMode, date time.Time) error {
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return os.Chtimes(path, date, date)
}

// writeSBOMs describes each binary as built, from its own build
// information: the modules it links, the standard library at its
// toolchain's version, their licenses. -noserial and -notimestamp leave out
// the two fields that would differ from one run to the next.
func writeSBOMs(r *release, cyclonedx, toolchain string) error {
	for _, t := range targets {
		out := filepath.Join(r.out, t.binary()+".cdx.json")
		if err := run(r.out, goEnv(toolchain), cyclonedx, "bin", "-json", "-std", "-licenses",
			"-noserial", "-notimestamp", "-version", r.version, "-output", out, t.binary()); err != nil {
			return fmt.Errorf("SBOM of %s: %w", t.binary(), err)
		}
		if err := settle(out, 0o644, r.epoch); err != nil {
			return err
		}
	}
	return nil
}

// vexName is the OpenVEX document's file name.
const vexName = "agent-entrypoint.openvex.json"

// writeVEX writes govulncheck's OpenVEX document for the shipped command,
// analysed from source with the release toolchain and the offline
// database: for every known vulnerability in a module it links, whether
// its code is reachable. A reachable one stops the release.
func writeVEX(root string, r *release, tools, govulncheck, toolchain string, log logf) error {
	db, err := vulnDB(tools, toolchain, log)
	if err != nil {
		return err
	}
	doc, err := output(root, goEnv(toolchain, "GOOS=linux", "GOARCH=amd64"), govulncheck,
		"-db", "file://"+db, "-format", "openvex", "./cmd/agent-entrypoint")
	if err != nil {
		return err
	}
	fixed, err := fixVEX([]byte(doc), r.epoch, "pkg:golang/github.com/agent-entrypoint/agent-entrypoint@"+r.version)
	if err != nil {
		return err
	}
	var parsed struct {
		Statements []struct {
			Vulnerability struct {
				Name string `json:"name"`
			} `json:"vulnerability"`
			Status string `json:"status"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(fixed, &parsed); err != nil {
		return fmt.Errorf("read govulncheck's VEX: %w", err)
	}
	var affected []string
	for _, s := range parsed.Statements {
		if s.Status == "affected" {
			affected = append(affected, s.Vulnerability.Name)
		}
	}
	if len(affected) > 0 {
		return fmt.Errorf("the command calls vulnerable code (%s): see go run ./release vulncheck ./cmd/agent-entrypoint", strings.Join(affected, ", "))
	}
	out := filepath.Join(r.out, vexName)
	if err := os.WriteFile(out, fixed, 0o644); err != nil {
		return err
	}
	return settle(out, 0o644, r.epoch)
}

// fixVEX makes govulncheck's document the release's: the issue time is the
// source date instead of the time of the run, and the product is named by
// its package URL instead of govulncheck's "Unknown Product". The document
// is edited as text, so that everything else stays as govulncheck wrote it;
// its @id is a hash that covers neither field.
func fixVEX(doc []byte, date time.Time, product string) ([]byte, error) {
	lines := bytes.Split(doc, []byte("\n"))
	stamped := false
	for i, line := range lines {
		// MarshalIndent with two spaces: the document's own fields are the
		// lines indented once.
		if bytes.HasPrefix(line, []byte(`  "timestamp": "`)) {
			lines[i] = []byte(`  "timestamp": "` + date.Format(time.RFC3339) + `",`)
			stamped = true
		}
	}
	if !stamped {
		return nil, errors.New("govulncheck's VEX has no timestamp to set: has its format changed?")
	}
	out := bytes.Join(lines, []byte("\n"))
	out = bytes.ReplaceAll(out, []byte(`"@id": "Unknown Product"`), []byte(`"@id": "`+product+`"`))
	if !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	if !json.Valid(out) {
		return nil, errors.New("govulncheck's VEX is not valid JSON after setting its timestamp")
	}
	return out, nil
}
