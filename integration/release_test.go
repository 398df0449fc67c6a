package integration

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// The release tests check what make release wrote into the directory
// $AGENT_ENTRYPOINT_TEST_DIST (.ci/run builds it in a clean clone): the
// artifacts and their checksums, every binary under qemu-user, the .deb in
// the Debian image, the .apk's contents, and the FROM-scratch image in a
// multi-stage build.
const envDist = "AGENT_ENTRYPOINT_TEST_DIST"

// releaseTarget is one architecture of the release, by its names in the
// artifacts, and how qemu-user runs it.
type releaseTarget struct {
	name, deb, apk string
	platform       string   // what --version names
	qemu           []string // qemu-user command line before the binary
}

var releaseTargets = []releaseTarget{
	{"amd64", "amd64", "x86_64", "linux/amd64", []string{"qemu-x86_64-static"}},
	{"arm64", "arm64", "aarch64", "linux/arm64", []string{"qemu-aarch64-static"}},
	{"armv7", "armhf", "armv7", "linux/arm/v7", []string{"qemu-arm-static", "-cpu", "cortex-a7"}},
	// An ARMv6 CPU (the first Raspberry Pi's): the build must need no more.
	{"armv6", "armel", "armhf", "linux/arm/v6", []string{"qemu-arm-static", "-cpu", "arm1176"}},
	{"386", "i386", "x86", "linux/386", []string{"qemu-i386-static"}},
	{"ppc64le", "ppc64el", "ppc64le", "linux/ppc64le", []string{"qemu-ppc64le-static"}},
	{"s390x", "s390x", "s390x", "linux/s390x", []string{"qemu-s390x-static"}},
	{"riscv64", "riscv64", "riscv64", "linux/riscv64", []string{"qemu-riscv64-static"}},
}

func (rt releaseTarget) binary() string { return "agent-entrypoint-linux-" + rt.name }

// dist is a release directory and the version it holds.
type dist struct {
	dir     string
	version string // without the "v", as in the package names
}

func (d dist) path(name string) string { return filepath.Join(d.dir, name) }

// releaseDist returns the release under test. Without one the test skips,
// except under CI=true, where .ci/run must have built it.
func releaseDist(t *testing.T) dist {
	t.Helper()
	dir := os.Getenv(envDist)
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set (CI=true, so this is a failure): .ci/run builds a release and names its dist/ there", envDist)
		}
		t.Skipf("release test skipped: set %s to a dist/ that make release wrote", envDist)
	}
	debs, err := filepath.Glob(filepath.Join(dir, "agent-entrypoint_*_amd64.deb"))
	if err != nil || len(debs) != 1 {
		t.Fatalf("%s=%s: want one agent-entrypoint_VERSION_amd64.deb in it, found %v (%v)", envDist, dir, debs, err)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(debs[0]), "agent-entrypoint_"), "_amd64.deb")
	return dist{dir: dir, version: v}
}

// requireTool returns the path of a tool from Debian package pkg, or skips
// the test without it (fails it under CI=true, where .ci/run installs it).
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (install the Debian package %s); CI=true, so this is a failure", name, pkg)
	}
	t.Skipf("%s not found (install the Debian package %s); with CI=true this fails instead", name, pkg)
	return ""
}

// TestReleaseArtifacts checks that every artifact is there, that
// SHA256SUMS covers each with its right sum, that the binaries are static,
// and that each SBOM describes its binary at the release's version.
func TestReleaseArtifacts(t *testing.T) {
	d := releaseDist(t)
	want := map[string]bool{"agent-entrypoint.openvex.json": true}
	for _, rt := range releaseTargets {
		want[rt.binary()] = true
		want[rt.binary()+".cdx.json"] = true
		want["agent-entrypoint_"+d.version+"_"+rt.deb+".deb"] = true
		want["agent-entrypoint_"+d.version+"_"+rt.apk+".apk"] = true
	}
	sums, err := os.ReadFile(d.path("SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Errorf("SHA256SUMS: line %q is not in sha256sum's format", line)
			continue
		}
		listed[name] = true
		got, err := harness.FileSHA256(d.path(name))
		if err != nil {
			t.Errorf("SHA256SUMS lists %s: %v", name, err)
		} else if got != sum {
			t.Errorf("SHA256SUMS: %s has sha256 %s, the file %s", name, sum, got)
		}
	}
	for name := range want {
		if !listed[name] {
			t.Errorf("SHA256SUMS does not list %s", name)
		}
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "SHA256SUMS" && !want[e.Name()] {
			t.Errorf("dist holds %s, which is no artifact of a release", e.Name())
		}
	}
	for _, rt := range releaseTargets {
		if err := harness.RequireStatic(d.path(rt.binary())); err != nil {
			t.Error(err)
		}
		var bom struct {
			BOMFormat string `json:"bomFormat"`
			Metadata  struct {
				Component struct {
					Name, Version string
				} `json:"component"`
			} `json:"metadata"`
			Components []struct{ Name, Version string } `json:"components"`
		}
		b, err := os.ReadFile(d.path(rt.binary() + ".cdx.json"))
		if err == nil {
			err = json.Unmarshal(b, &bom)
		}
		if err != nil {
			t.Errorf("SBOM of %s: %v", rt.binary(), err)
			continue
		}
		var deps []string
		for _, c := range bom.Components {
			deps = append(deps, c.Name+"@"+c.Version)
		}
		if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != "v"+d.version ||
			!strings.Contains(strings.Join(deps, " "), "golang.org/x/sys@") || !strings.Contains(strings.Join(deps, " "), "std@") {
			t.Errorf("SBOM of %s: format %q, version %q, components %v: want CycloneDX at v%s with x/sys and std",
				rt.binary(), bom.BOMFormat, bom.Metadata.Component.Version, deps, d.version)
		}
	}
}

// TestReleaseCrossArch runs every binary's --version under qemu-user,
// called directly so that no binfmt registration is needed; each must name
// its own platform and the release's version.
func TestReleaseCrossArch(t *testing.T) {
	d := releaseDist(t)
	for _, rt := range releaseTargets {
		t.Run(rt.name, func(t *testing.T) {
			argv := append(append([]string{}, rt.qemu...), d.path(rt.binary()), "--version")
			// qemu-i386 7.2 (Debian 12) crashes Go's signal handling
			// ("morestack on gsignal"); an x86-64 kernel runs i386 itself.
			if rt.name == "386" && runtime.GOARCH == "amd64" {
				argv = argv[len(rt.qemu):]
			} else {
				argv[0] = requireTool(t, rt.qemu[0], "qemu-user-static")
			}
			out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
			want := "agent-entrypoint v" + d.version + " (go"
			if err != nil || !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), " "+rt.platform+", commit ") {
				t.Errorf("%s: %v\n%s\nwant %q ... %q", strings.Join(argv, " "), err, out, want, rt.platform)
			}
		})
	}
}

// TestReleaseArm64Chroot has the arm64 binary, under qemu-user in a chroot,
// do a real drop as the gosu drop-in: root to a user of the chroot's
// /etc/passwd, with its groups from /etc/group, then exec a native id. The
// chroot gets a pid namespace and its own /proc, as a container would: the
// drop-in, as the first process, records the start in /run.
func TestReleaseArm64Chroot(t *testing.T) {
	d := releaseDist(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root for chroot (CI=true, so this is a failure)")
		}
		t.Skip("needs root for chroot")
	}
	qemu := requireTool(t, "qemu-aarch64-static", "qemu-user-static")
	busybox := requireTool(t, "busybox", "busybox-static")
	unshare := requireTool(t, "unshare", "util-linux")
	if err := harness.RequireStatic(busybox); err != nil {
		t.Fatalf("%v (install busybox-static)", err)
	}
	root := t.TempDir()
	for _, dir := range []string{"bin", "etc", "tmp", "proc", "run"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"agent-entrypoint":    d.path("agent-entrypoint-linux-arm64"),
		"qemu-aarch64-static": qemu,
		"bin/busybox":         busybox,
	}
	for dst, src := range files {
		if err := copyExecutable(src, filepath.Join(root, dst)); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"gosu": "agent-entrypoint", "bin/id": "busybox"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	accounts := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/tmp:/bin/sh\n",
		"etc/group":  "root:x:0:\nalice:x:1000:\nextra:x:1001:alice\n",
	}
	for name, body := range accounts {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// qemu emulates the drop's system calls for the arm64 binary and hands
	// its execve of a native binary to the kernel.
	cmd := exec.CommandContext(ctx, unshare, "--mount", "--pid", "--fork", "--mount-proc="+filepath.Join(root, "proc"),
		"chroot", root, "/qemu-aarch64-static", "/gosu", "alice", "/bin/id")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	// busybox id lists getgroups(2) alone: gosu's groups are those
	// /etc/group names the user in, the primary group is the gid.
	if want := "uid=1000(alice) gid=1000(alice) groups=1001(extra)\n"; err != nil || string(out) != want {
		t.Errorf("chroot %s qemu-aarch64-static /gosu alice /bin/id: %v\n%s\nwant %q", root, err, out, want)
	}
}

func copyExecutable(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// TestReleaseApk reads each .apk as apk-tools does (a gzip stream of the
// control tar, then one of the data tar): .PKGINFO names the package, its
// version and architecture, and the data holds the binary alone, root's,
// mode 0755, byte for byte the release's.
func TestReleaseApk(t *testing.T) {
	d := releaseDist(t)
	for _, rt := range releaseTargets {
		t.Run(rt.apk, func(t *testing.T) {
			name := "agent-entrypoint_" + d.version + "_" + rt.apk + ".apk"
			control, data, err := readApk(d.path(name))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			info := pkginfo(control[".PKGINFO"].body)
			binSum, err := harness.FileSHA256(d.path(rt.binary()))
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(d.path(rt.binary()))
			if err != nil {
				t.Fatal(err)
			}
			wantInfo := map[string]string{
				"pkgname": "agent-entrypoint",
				// apk spells a pre-release with "_".
				"pkgver": strings.Replace(d.version, "-", "_", 1),
				"arch":   rt.apk,
				"size":   strconv.FormatInt(fi.Size(), 10),
			}
			for k, v := range wantInfo {
				if info[k] != v {
					t.Errorf(".PKGINFO %s = %q, want %q (all: %v)", k, info[k], v, info)
				}
			}
			var files []string
			for path, e := range data {
				files = append(files, path)
				if e.uid != 0 || e.gid != 0 {
					t.Errorf("%s is owned by %d:%d, want root's", path, e.uid, e.gid)
				}
			}
			bin, ok := data["usr/bin/agent-entrypoint"]
			if len(data) != 3 || !ok || data["usr/"].typ != tar.TypeDir || data["usr/bin/"].typ != tar.TypeDir {
				t.Fatalf("data: %v, want usr/, usr/bin/ and usr/bin/agent-entrypoint alone", files)
			}
			if bin.typ != tar.TypeReg || bin.mode != 0o755 || bin.sum != binSum {
				t.Errorf("usr/bin/agent-entrypoint: type %c, mode %o, sha256 %s; want a file, mode 755, sha256 %s", bin.typ, bin.mode, bin.sum, binSum)
			}
		})
	}
}

type apkEntry struct {
	typ      byte
	mode     int64
	uid, gid int
	sum      string
	body     []byte
}

// readApk returns the entries of an unsigned .apk's control and data
// streams, by path.
func readApk(path string) (control, data map[string]apkEntry, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var streams []map[string]apkEntry
	zr, err := gzip.NewReader(br)
	for err == nil {
		// One gzip member at a time: each is a tar stream of its own.
		zr.Multistream(false)
		entries := map[string]apkEntry{}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			body, err := io.ReadAll(tr)
			if err != nil {
				return nil, nil, err
			}
			sum := sha256.Sum256(body)
			entries[h.Name] = apkEntry{h.Typeflag, h.Mode, h.Uid, h.Gid, hex.EncodeToString(sum[:]), body}
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, nil, err
		}
		streams = append(streams, entries)
		err = zr.Reset(br)
	}
	if !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	if len(streams) != 2 {
		return nil, nil, errors.New("want two gzip streams (control and data, unsigned)")
	}
	return streams[0], streams[1], nil
}

// pkginfo parses .PKGINFO's "key = value" lines.
func pkginfo(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// TestReleaseDeb installs the amd64 .deb in the Debian test image with
// dpkg, makes it setuid root the Debian way (dpkg-statoverride, which
// survives upgrades) and runs the seed's scenario: docker run --user
// 1000:1000 with the agent socket, ssh-add -l lists the key.
func TestReleaseDeb(t *testing.T) {
	d := releaseDist(t)
	requireEngine(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	base, err := harness.DebianBase(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	const dockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY agent-entrypoint.deb /tmp/
RUN dpkg -i /tmp/agent-entrypoint.deb && rm /tmp/agent-entrypoint.deb \
 && dpkg-statoverride --update --add root root 4755 /usr/bin/agent-entrypoint
ENTRYPOINT ["/usr/bin/agent-entrypoint", "--"]
CMD ["/bin/sh"]
`
	image, err := harness.Build{
		Repo: "agent-entrypoint-test/release-deb", Dockerfile: []byte(dockerfile), Base: base,
		Files: map[string]string{"agent-entrypoint.deb": d.path("agent-entrypoint_" + d.version + "_amd64.deb")},
	}.Image(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, "--entrypoint", "/bin/sh", image, "-c",
		"dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' agent-entrypoint; dpkg -L agent-entrypoint; stat -c '%a %U:%G' /usr/bin/agent-entrypoint; agent-entrypoint --version")
	for _, want := range []string{
		"agent-entrypoint " + strings.Replace(d.version, "-", "~", 1) + " amd64\n",
		"/usr/bin/agent-entrypoint\n",
		"4755 root:root\n",
		"agent-entrypoint v" + d.version + " (go",
	} {
		if res.ExitCode != 0 || !strings.Contains(res.Stdout, want) {
			t.Errorf("the installed package: want %q in %s", want, res)
		}
	}
	if strings.Contains(res.Stdout, "gosu") || strings.Contains(res.Stdout, "su-exec") {
		t.Errorf("the package ships a gosu or su-exec link, which would clash with Debian's: %s", res)
	}

	a := testAgent(t)
	res = run(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, image, "ssh-add", "-l")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
		t.Errorf("ssh-add -l with the installed package: want the key %s listed, got %s", a.Fingerprint, res)
	}
	requireVoice(t, res.Stderr)
}

// TestReleaseImage uses the release's FROM-scratch image the way gosu's
// image is used: COPY --from in a multi-stage Dockerfile on the Debian
// base, then the seed's scenario; its gosu link is gosu, in that image and
// in its own.
func TestReleaseImage(t *testing.T) {
	d := releaseDist(t)
	requireEngine(t)
	ref := "agent-entrypoint:v" + d.version
	id := dockerOK(t, "image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}", ref)
	f := strings.Fields(id)
	if len(f) != 3 || f[1] != "linux/"+runtime.GOARCH || f[2] != `["/agent-entrypoint"]` {
		t.Errorf("%s: %s, want linux/%s with /agent-entrypoint as its entrypoint", ref, id, runtime.GOARCH)
	}
	// The scratch image alone: the relative link resolves, drops, and execs.
	res := run(t, "--entrypoint", "/gosu", ref, "1000:1000", "/agent-entrypoint", "--version")
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "agent-entrypoint v"+d.version+" (go") {
		t.Errorf("/gosu in %s: %s", ref, res)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	base, err := harness.DebianBase(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	// The image's ID is in the recipe, so that a rebuilt image of the same
	// version is not mistaken for the cached one.
	dockerfile := `# ` + ref + ` is ` + f[0] + `
ARG BASE_IMAGE
FROM ` + ref + ` AS shim
FROM ${BASE_IMAGE}
COPY --from=shim /agent-entrypoint /gosu /usr/local/bin/
RUN chown root:root /usr/local/bin/agent-entrypoint && chmod 4755 /usr/local/bin/agent-entrypoint
ENTRYPOINT ["/usr/local/bin/agent-entrypoint", "--"]
CMD ["/bin/sh"]
`
	image, err := harness.Build{Repo: "agent-entrypoint-test/release-image", Dockerfile: []byte(dockerfile), Base: base}.Image(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	a := testAgent(t)
	res = run(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, image, "ssh-add", "-l")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
		t.Errorf("ssh-add -l in the COPY --from image: want the key %s listed, got %s", a.Fingerprint, res)
	}
	requireVoice(t, res.Stderr)

	res = run(t, "--entrypoint", "/usr/local/bin/gosu", image, "nobody", "id")
	if want := "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"; res.ExitCode != 0 || res.Stdout != want {
		t.Errorf("gosu nobody id in the COPY --from image: want %q, got %s", want, res)
	}
	res = run(t, "--entrypoint", "/usr/local/bin/gosu", image, "nobody")
	if res.ExitCode != 1 || !strings.Contains(res.Stderr, "usage: gosu") {
		t.Errorf("gosu without a command: want gosu's usage error, exit 1, got %s", res)
	}
}
