package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// summary is the packages' one-line description; Alpine's .PKGINFO has
// room for no more.
const summary = "container entrypoint that runs the command as the docker run --user uid"

// description is the Debian package's, whose control file folds the lines
// after the first.
const description = summary + `
agent-entrypoint adds the target uid's passwd entry and home, makes the
forwarded SSH agent socket usable by it, drops privileges and execs the
command. Linked as gosu or su-exec it is a drop-in for them. The package
installs the binary with mode 0755; see its documentation for the setuid
install that docker run --user needs.`

// packageVersion is the version inside the packages and in their file
// names: the release's, without its "v".
func packageVersion(v string) string { return strings.TrimPrefix(v, "v") }

// nfpmConfig is nfpm's configuration for one target, in JSON, which its
// YAML reader accepts. The packages hold the binary and nothing else: a
// gosu or su-exec link would collide with Debian's and Alpine's gosu and
// su-exec packages.
func nfpmConfig(t target, packager, version string, date time.Time) ([]byte, error) {
	maintainer := os.Getenv("RELEASE_MAINTAINER")
	if maintainer == "" {
		maintainer = "agent-entrypoint maintainers"
	}
	fileInfo := map[string]any{"mode": 0o755, "owner": "root", "group": "root", "mtime": date.Format(time.RFC3339)}
	cfg := map[string]any{
		"name":           "agent-entrypoint",
		"arch":           t.goarch,
		"platform":       "linux",
		"version":        version,
		"version_schema": "semver",
		"section":        "admin",
		"priority":       "optional",
		"maintainer":     maintainer,
		"description":    summary,
		"mtime":          date.Format(time.RFC3339),
		"deb":            map[string]any{"arch": t.deb},
		"apk":            map[string]any{"arch": t.apk},
		"contents": []map[string]any{
			{"src": t.binary(), "dst": "/usr/bin/agent-entrypoint", "file_info": fileInfo},
		},
	}
	if packager == "deb" {
		cfg["description"] = description
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// writePackages makes a .deb and an .apk per target with nfpm, which takes
// every time in them from the configuration's mtime.
func writePackages(r *release, nfpm, toolchain string) error {
	version := packageVersion(r.version)
	cfgDir, err := os.MkdirTemp("", "agent-entrypoint-nfpm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cfgDir)
	for _, t := range targets {
		for _, p := range []struct{ packager, name string }{
			{"deb", "agent-entrypoint_" + version + "_" + t.deb + ".deb"},
			{"apk", "agent-entrypoint_" + version + "_" + t.apk + ".apk"},
		} {
			cfg, err := nfpmConfig(t, p.packager, version, r.epoch)
			if err != nil {
				return err
			}
			cfgFile := filepath.Join(cfgDir, t.name+"."+p.packager+".json")
			if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
				return err
			}
			// Run in out, so that the binary is found by its bare name.
			env := goEnv(toolchain, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", r.epoch.Unix()))
			if err := run(r.out, env, nfpm, "package", "--config", cfgFile, "--packager", p.packager, "--target", p.name); err != nil {
				return fmt.Errorf("package %s: %w", p.name, err)
			}
			if err := settle(filepath.Join(r.out, p.name), 0o644, r.epoch); err != nil {
				return err
			}
		}
	}
	return nil
}

// sumsName is the checksum file, in sha256sum -c format.
const sumsName = "SHA256SUMS"

// writeSums writes SHA256SUMS over every other file in out and records the
// artifact list, sorted, with SHA256SUMS last.
func writeSums(r *release) error {
	entries, err := os.ReadDir(r.out)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && e.Name() != sumsName {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		sum, err := fileSHA256(filepath.Join(r.out, name))
		if err != nil {
			return err
		}
		// Two spaces: sha256sum's text mode, which -c reads.
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	out := filepath.Join(r.out, sumsName)
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	r.files = append(names, sumsName)
	return settle(out, 0o644, r.epoch)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// printTable prints every artifact with its size and SHA-256, then the image.
func printTable(w io.Writer, r *release) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "artifact\tbytes\tsha256")
	for _, name := range r.files {
		path := filepath.Join(r.out, name)
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(tw, "%s\t?\t%v\n", name, err)
			continue
		}
		sum, err := fileSHA256(path)
		if err != nil {
			sum = err.Error()
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", name, fi.Size(), sum)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nimage: %s\n", r.image)
}
