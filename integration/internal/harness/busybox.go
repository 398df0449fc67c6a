package harness

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"
)

// The busybox image stands in for Alpine: one static busybox, its applets
// as symlinks, and account files without shadow-utils and without
// /etc/shadow. It is a tarball written here, byte for byte reproducible
// from the host's busybox, so its hash is its recipe.
const (
	busyboxPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	busyboxGroup = "root:x:0:\n" +
		"daemon:x:1:\n" +
		"wheel:x:10:root\n" +
		"users:x:100:\n" +
		"nogroup:x:65534:\n"
)

// busyboxRootfs builds the image's root filesystem as a tar archive from
// the host's busybox, which must be statically linked (Debian package
// busybox-static).
func busyboxRootfs(ctx context.Context) ([]byte, error) {
	bin, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("find busybox (install the busybox-static package): %w", err)
	}
	if err := RequireStatic(bin); err != nil {
		return nil, fmt.Errorf("%w (install the busybox-static package)", err)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}

	dirs := map[string]int64{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"usr/local": 0o755, "usr/local/bin": 0o755, "usr/local/sbin": 0o755,
		"etc": 0o755, "root": 0o700, "home": 0o755, "tmp": 0o1777, "var": 0o755, "var/tmp": 0o1777,
		"run": 0o755, "proc": 0o755, "sys": 0o755, "dev": 0o755,
	}
	links := map[string]bool{}
	for _, applet := range strings.Fields(string(out)) {
		applet = strings.TrimPrefix(applet, "/")
		if applet == "bin/busybox" || applet == "linuxrc" || strings.Contains(applet, "..") {
			continue
		}
		links[applet] = true
		for d := path.Dir(applet); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	hdr := func(name string, typ byte, mode int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, ModTime: mtime, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	}
	// Parents sort before their children, so every directory precedes its entries.
	for _, d := range sortedKeys(dirs) {
		if err := tw.WriteHeader(hdr(d+"/", tar.TypeDir, dirs[d])); err != nil {
			return nil, err
		}
	}
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"bin/busybox", 0o755, body},
		{"etc/passwd", 0o644, []byte(busyboxPasswd)},
		{"etc/group", 0o644, []byte(busyboxGroup)},
	}
	for _, f := range files {
		h := hdr(f.name, tar.TypeReg, f.mode)
		h.Size = int64(len(f.body))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	for _, l := range sortedKeys(links) {
		h := hdr(l, tar.TypeSymlink, 0o777)
		h.Linkname = "/bin/busybox"
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
