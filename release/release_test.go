package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var date = time.Date(2026, 11, 29, 9, 24, 19, 0, time.UTC)

func TestVersions(t *testing.T) {
	dev := devVersion("ac451d9e0f", date)
	if dev != "v0.0.0-dev.20261129092419.gac451d9" {
		t.Errorf("devVersion = %q", dev)
	}
	tests := []struct {
		v    string
		want bool
	}{
		{"v0.3.0", true},
		{"v0.3.0-rc.1", true},
		{"v0.3.0-5-gabc1234", true}, // git describe after a tag
		{dev, true},
		{markDirty("v0.3.0"), true},
		{markDirty(dev), true},
		{"0.3.0", false},
		{"v0.3", false},
		{"v0.3.0+meta", false}, // no "+" in a Docker tag
		{"v0.3.0-rc 1", false},
		{"v0.3.0/../x", false},
	}
	for _, tc := range tests {
		if got := versionRE.MatchString(tc.v); got != tc.want {
			t.Errorf("versionRE.MatchString(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
	if got := markDirty("v0.3.0"); got != "v0.3.0-dirty" {
		t.Errorf("markDirty(v0.3.0) = %q", got)
	}
	if got := packageVersion("v0.3.0"); got != "0.3.0" {
		t.Errorf("packageVersion(v0.3.0) = %q", got)
	}
}

func TestFixVEX(t *testing.T) {
	doc := `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "govulncheck/vex:abc",
  "author": "Unknown Author",
  "timestamp": "2026-11-29T10:11:12.123456789Z",
  "version": 1,
  "tooling": "https://pkg.go.dev/golang.org/x/vuln/cmd/govulncheck",
  "statements": [
    {
      "vulnerability": {"name": "GO-2026-0001"},
      "products": [
        {
          "@id": "Unknown Product",
          "subcomponents": [{"@id": "pkg:golang/stdlib@v1.26.8"}]
        }
      ],
      "status": "not_affected",
      "justification": "vulnerable_code_not_in_execute_path",
      "timestamp": "2026-11-29T10:11:12Z"
    }
  ]
}`
	got, err := fixVEX([]byte(doc), date, "pkg:golang/example@v0.3.0")
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Timestamp  string `json:"timestamp"`
		Statements []struct {
			Products []struct {
				ID string `json:"@id"`
			} `json:"products"`
		} `json:"statements"`
	}
	if err := json.Unmarshal(got, &parsed); err != nil {
		t.Fatalf("fixed VEX is not JSON: %v\n%s", err, got)
	}
	if parsed.Timestamp != "2026-11-29T09:24:19Z" {
		t.Errorf("timestamp = %q, want the source date", parsed.Timestamp)
	}
	if id := parsed.Statements[0].Products[0].ID; id != "pkg:golang/example@v0.3.0" {
		t.Errorf("product = %q, want the release's package URL", id)
	}
	if !bytes.Contains(got, []byte(`"@id": "govulncheck/vex:abc"`)) || !bytes.HasSuffix(got, []byte("}\n")) {
		t.Errorf("the rest of the document changed:\n%s", got)
	}
	if _, err := fixVEX([]byte(`{"version": 1}`), date, "x"); err == nil {
		t.Error("a document without a timestamp: want an error, got none")
	}
}

func TestEmptyOut(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"agent-entrypoint-linux-amd64", "SHA256SUMS", "agent-entrypoint_0.3.0_amd64.deb"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := emptyOut(dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := emptyOut(dir); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("a file a release does not write: want an error naming it, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Errorf("the foreign file is gone: %v", err)
	}
	fresh := filepath.Join(dir, "new", "dist")
	if err := emptyOut(fresh); err != nil {
		t.Fatalf("a missing directory: %v", err)
	}
}

func TestImageArchive(t *testing.T) {
	r := &release{version: "v0.3.0", commit: "ac451d9e0f", epoch: date}
	amd64, _ := hostTarget("amd64")
	a1, id1, err := imageArchive([]byte("binary"), amd64, r, []string{"agent-entrypoint:v0.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	a2, id2, _ := imageArchive([]byte("binary"), amd64, r, []string{"agent-entrypoint:v0.3.0"})
	if !bytes.Equal(a1, a2) || id1 != id2 {
		t.Error("two archives of the same input differ")
	}
	layer, err := imageLayer([]byte("binary"), date)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(layer))
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name+" "+string(h.Typeflag)+" "+h.Linkname+" "+os.FileMode(h.Mode).String()+" "+h.ModTime.UTC().Format(time.RFC3339))
	}
	want := []string{
		"agent-entrypoint 0  -rwxr-xr-x 2026-11-29T09:24:19Z",
		"gosu 2 agent-entrypoint -rwxrwxrwx 2026-11-29T09:24:19Z",
		"su-exec 2 agent-entrypoint -rwxrwxrwx 2026-11-29T09:24:19Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("layer:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if arm, ok := hostTarget("arm"); !ok || arm.goarm != "7" {
		t.Errorf("hostTarget(arm) = %+v, %v: want the ARMv7 build", arm, ok)
	}
}

func TestNfpmConfig(t *testing.T) {
	armv6 := targets[3]
	for _, packager := range []string{"deb", "apk"} {
		b, err := nfpmConfig(armv6, packager, "0.3.0", date)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Version     string                `json:"version"`
			Description string                `json:"description"`
			Deb         struct{ Arch string } `json:"deb"`
			Apk         struct{ Arch string } `json:"apk"`
			Contents    []struct {
				Src, Dst string
				FileInfo struct{ Mode int } `json:"file_info"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.Deb.Arch != "armel" || cfg.Apk.Arch != "armhf" || cfg.Version != "0.3.0" {
			t.Errorf("%s: %+v", packager, cfg)
		}
		if len(cfg.Contents) != 1 || cfg.Contents[0].Dst != "/usr/bin/agent-entrypoint" || cfg.Contents[0].FileInfo.Mode != 0o755 {
			t.Errorf("%s: contents %+v, want the binary alone, mode 0755", packager, cfg.Contents)
		}
		if multi := strings.Contains(cfg.Description, "\n"); multi != (packager == "deb") {
			t.Errorf("%s: description %q", packager, cfg.Description)
		}
	}
}
