package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// imageRepo is the local image's repository: no registry host, so that it
// names a local image only.
const imageRepo = "agent-entrypoint"

// loadImage loads a FROM-scratch image of the Docker host's architecture
// into the local engine, tagged with the version and latest: /agent-entrypoint
// and the gosu and su-exec links to it, for
// COPY --from=agent-entrypoint:VERSION /agent-entrypoint /usr/local/bin/.
//
// It is written as a docker-archive (docker save's format) rather than
// built, so that the layer, the configuration and therefore the image ID
// are the same on every rebuild of a commit.
func loadImage(r *release, log logf) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arch, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Arch}}").Output()
	if err != nil {
		r.image = "not built: no Docker Engine answered (docker version)"
		log("image: skipped, no Docker Engine answered (docker version): %v", err)
		return nil
	}
	t, ok := hostTarget(strings.TrimSpace(string(arch)))
	if !ok {
		r.image = fmt.Sprintf("not built: the engine's architecture %q is not a release target", arch)
		log("image: skipped, %s", r.image)
		return nil
	}
	bin, err := os.ReadFile(filepath.Join(r.out, t.binary()))
	if err != nil {
		return err
	}
	tags := []string{imageRepo + ":" + r.version, imageRepo + ":latest"}
	archive, id, err := imageArchive(bin, t, r, tags)
	if err != nil {
		return err
	}
	load := exec.CommandContext(ctx, "docker", "load")
	load.Stdin = bytes.NewReader(archive)
	if out, err := load.CombinedOutput(); err != nil {
		return fmt.Errorf("docker load: %w\n%s", err, out)
	}
	r.image = fmt.Sprintf("%s (linux/%s, %s), also %s", tags[0], t.name, id[:19], tags[1])
	return nil
}

// hostTarget is the release target of an engine's architecture as docker
// version names it (GOARCH).
func hostTarget(arch string) (target, bool) {
	if arch == "arm" {
		arch = "armv7"
	}
	for _, t := range targets {
		if t.name == arch {
			return t, true
		}
	}
	return target{}, false
}

// imageLayer is the image's one layer: the binary and two relative links,
// so that the links hold wherever the files are copied to together.
func imageLayer(bin []byte, date time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := func(name string, typ byte, mode int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, ModTime: date, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	}
	h := hdr("agent-entrypoint", tar.TypeReg, 0o755)
	h.Size = int64(len(bin))
	if err := tw.WriteHeader(h); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	for _, link := range []string{"gosu", "su-exec"} {
		h := hdr(link, tar.TypeSymlink, 0o777)
		h.Linkname = "agent-entrypoint"
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// imageArchive writes the docker-archive that docker load reads: the
// layer, the image configuration named by its hash, and a manifest with the
// tags. It returns the archive and the image ID (the configuration's hash).
func imageArchive(bin []byte, t target, r *release, tags []string) ([]byte, string, error) {
	layer, err := imageLayer(bin, r.epoch)
	if err != nil {
		return nil, "", err
	}
	layerSum := sha256.Sum256(layer)
	layerHex := hex.EncodeToString(layerSum[:])
	created := r.epoch.Format(time.RFC3339)
	platformArch, variant := t.goarch, ""
	if t.goarm != "" {
		variant = "v" + t.goarm
	}
	cfg := map[string]any{
		"architecture": platformArch,
		"os":           "linux",
		"created":      created,
		"config": map[string]any{
			"Entrypoint": []string{"/agent-entrypoint"},
			"Labels": map[string]string{
				"org.opencontainers.image.title":    "agent-entrypoint",
				"org.opencontainers.image.version":  r.version,
				"org.opencontainers.image.revision": r.commit,
				"org.opencontainers.image.created":  created,
			},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + layerHex}},
		"history": []map[string]string{{
			"created":    created,
			"created_by": "agent-entrypoint release: /agent-entrypoint, /gosu and /su-exec linked to it",
		}},
	}
	if variant != "" {
		cfg["variant"] = variant
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, "", err
	}
	cfgSum := sha256.Sum256(cfgJSON)
	cfgHex := hex.EncodeToString(cfgSum[:])
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgHex + ".json",
		"RepoTags": tags,
		"Layers":   []string{layerHex + "/layer.tar"},
	}})
	if err != nil {
		return nil, "", err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{cfgHex + ".json", cfgJSON},
		{layerHex + "/layer.tar", layer},
		{"manifest.json", manifest},
	} {
		if dir := filepath.Dir(f.name); dir != "." {
			if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: r.epoch, Format: tar.FormatPAX}); err != nil {
				return nil, "", err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body)), ModTime: r.epoch, Format: tar.FormatPAX}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "sha256:" + cfgHex, nil
}
