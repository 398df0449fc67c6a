package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Logf receives progress messages for a human (the demo prints them, the
// tests log them). It may be nil.
type Logf func(format string, args ...any)

func (l Logf) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// LabelKey marks every image the harness builds, so that they can be found
// and removed with: docker image ls --filter label=agent-entrypoint.test
const LabelKey = "agent-entrypoint.test"

// recipeVersion is part of every tag's hash: bump it to force a rebuild of
// all cached images when the way they are built changes.
const recipeVersion = "1"

// recipeHash condenses the parts of a recipe into a tag. Each part is
// length-prefixed so that moving text from one part to the next changes it.
func recipeHash(parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", recipeVersion)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Env vars that point the tests at existing local images instead.
const (
	EnvDebianImage  = "AGENT_ENTRYPOINT_TEST_DEBIAN_IMAGE"
	EnvBusyboxImage = "AGENT_ENTRYPOINT_TEST_BUSYBOX_IMAGE"
)

// Image repositories of the harness. They carry no registry host, so they
// name local images only.
const (
	DebianRepo  = "agent-entrypoint-test/debian-bookworm"
	BusyboxRepo = "agent-entrypoint-test/busybox"
)

// The Debian base: bookworm minbase plus openssh-client (for a real
// ssh-add), written by mmdebstrap as a tarball to stdout. No mirror is
// given, so mmdebstrap uses its default Debian sources.
var (
	debianMmdebstrapArgs = []string{"--variant=minbase", "--include=openssh-client", "bookworm", "-"}
	baseImageChanges     = []string{
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		`CMD ["/bin/sh"]`,
		"LABEL " + LabelKey + "=base",
	}
)

// DebianBase returns a local Debian image for the tests: the one named by
// $AGENT_ENTRYPOINT_TEST_DEBIAN_IMAGE, else the cached mmdebstrap build,
// which it builds first if needed (tens of seconds, once).
func DebianBase(ctx context.Context, logf Logf) (string, error) {
	if ref := os.Getenv(EnvDebianImage); ref != "" {
		return existingImage(ctx, EnvDebianImage, ref)
	}
	tag := DebianRepo + ":" + recipeHash(append(append([]string{"mmdebstrap"}, debianMmdebstrapArgs...), baseImageChanges...)...)
	markUsed(tag)
	if _, err := ImageID(ctx, tag); err == nil {
		logf.printf("reuse cached Debian base image %s", tag)
		return tag, nil
	}
	logf.printf("build Debian base image %s: mmdebstrap %s | docker import (first run only, takes a while)",
		tag, strings.Join(debianMmdebstrapArgs, " "))
	if err := importCommand(ctx, tag, "mmdebstrap", debianMmdebstrapArgs); err != nil {
		return "", fmt.Errorf("build Debian base image: %w", err)
	}
	pruneOtherTags(ctx, DebianRepo, tag)
	return tag, nil
}

// BusyboxBase returns a local busybox image standing in for Alpine: the one
// named by $AGENT_ENTRYPOINT_TEST_BUSYBOX_IMAGE, else a cached image made
// from the host's static busybox (see busybox.go).
func BusyboxBase(ctx context.Context, logf Logf) (string, error) {
	if ref := os.Getenv(EnvBusyboxImage); ref != "" {
		return existingImage(ctx, EnvBusyboxImage, ref)
	}
	rootfs, err := busyboxRootfs(ctx)
	if err != nil {
		return "", fmt.Errorf("build busybox base image: %w", err)
	}
	sum := sha256.Sum256(rootfs)
	tag := BusyboxRepo + ":" + recipeHash(append([]string{hex.EncodeToString(sum[:])}, baseImageChanges...)...)
	markUsed(tag)
	if _, err := ImageID(ctx, tag); err == nil {
		logf.printf("reuse cached busybox base image %s", tag)
		return tag, nil
	}
	logf.printf("build busybox base image %s from the host's static busybox", tag)
	if err := importTarball(ctx, tag, rootfs); err != nil {
		return "", fmt.Errorf("build busybox base image: %w", err)
	}
	pruneOtherTags(ctx, BusyboxRepo, tag)
	return tag, nil
}

func existingImage(ctx context.Context, env, ref string) (string, error) {
	if _, err := ImageID(ctx, ref); err != nil {
		return "", fmt.Errorf("%s=%s: no such local image (nothing is pulled here: docker pull or docker load it first)", env, ref)
	}
	return ref, nil
}

// importArgs is the docker import command line for tag, reading stdin.
func importArgs(tag string) []string {
	args := []string{"import"}
	for _, c := range baseImageChanges {
		args = append(args, "--change", c)
	}
	return append(args, "-", tag)
}

// importTarball makes image tag from a root filesystem tarball in memory.
func importTarball(ctx context.Context, tag string, tarball []byte) error {
	res, err := Docker(ctx, bytes.NewReader(tarball), importArgs(tag)...)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("docker import: %s", res)
	}
	return nil
}

// importCommand makes image tag from the root filesystem tarball that the
// command name+args writes to its stdout, streamed into docker import.
func importCommand(ctx context.Context, tag, name string, args []string) error {
	producer := exec.CommandContext(ctx, name, args...)
	var producerErr bytes.Buffer
	producer.Stderr = &producerErr
	pipe, err := producer.StdoutPipe()
	if err != nil {
		return err
	}
	importer := exec.CommandContext(ctx, "docker", importArgs(tag)...)
	importer.Stdin = pipe
	var importerOut bytes.Buffer
	importer.Stdout = &importerOut
	importer.Stderr = &importerOut
	if err := producer.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := importer.Start(); err != nil {
		_ = producer.Process.Kill()
		_ = producer.Wait()
		return fmt.Errorf("start docker import: %w", err)
	}
	// Wait for the importer first: Wait on the producer closes the pipe's
	// read end, which the importer may still be reading. If the importer
	// gave up, nobody reads any more, so stop the producer too.
	importErr := importer.Wait()
	if importErr != nil {
		_ = producer.Process.Kill()
	}
	prodErr := producer.Wait()
	if prodErr != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), prodErr, tail(producerErr.String(), 2000))
	}
	if importErr != nil {
		return fmt.Errorf("docker import: %w\n%s", importErr, importerOut.String())
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Build is a layered image built with the legacy builder (docker build with
// DOCKER_BUILDKIT=0) from a Dockerfile whose FROM is ${BASE_IMAGE}. It is
// tagged Repo:<hash of Dockerfile, base image ID and context files>, so an
// unchanged recipe is reused and any change rebuilds.
type Build struct {
	Repo       string            // repository part of the tag
	Dockerfile []byte            // Dockerfile text; it must declare ARG BASE_IMAGE
	Base       string            // local image passed as --build-arg BASE_IMAGE
	Files      map[string]string // build-context name → host file copied there (mode kept)
}

// Image returns the tag of the built image, building it if needed.
func (b Build) Image(ctx context.Context, logf Logf) (string, error) {
	baseID, err := ImageID(ctx, b.Base)
	if err != nil {
		return "", fmt.Errorf("build %s: base image: %w", b.Repo, err)
	}
	parts := []string{string(b.Dockerfile), baseID}
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fi, err := os.Stat(b.Files[name])
		if err != nil {
			return "", fmt.Errorf("build %s: %w", b.Repo, err)
		}
		sum, err := FileSHA256(b.Files[name])
		if err != nil {
			return "", fmt.Errorf("build %s: %w", b.Repo, err)
		}
		parts = append(parts, name, fi.Mode().String(), sum)
	}
	tag := b.Repo + ":" + recipeHash(parts...)
	markUsed(tag)
	if _, err := ImageID(ctx, tag); err == nil {
		logf.printf("reuse cached image %s", tag)
		return tag, nil
	}
	logf.printf("build image %s (FROM %s)", tag, b.Base)

	dir, err := os.MkdirTemp("", "agent-entrypoint-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), b.Dockerfile, 0o644); err != nil {
		return "", err
	}
	for _, name := range names {
		fi, err := os.Stat(b.Files[name])
		if err != nil {
			return "", err
		}
		if err := copyFile(b.Files[name], filepath.Join(dir, name), fi.Mode().Perm()); err != nil {
			return "", fmt.Errorf("build %s: %w", b.Repo, err)
		}
	}
	res, err := Docker(ctx, nil, "build", "--label", LabelKey+"=1",
		"--build-arg", "BASE_IMAGE="+b.Base, "-t", tag, "-f", filepath.Join(dir, "Dockerfile"), dir)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", tag, err)
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("build %s: docker build failed:\n%s", tag, res)
	}
	pruneOtherTags(ctx, b.Repo, tag)
	return tag, nil
}

// ExampleImage builds the repository's Dockerfile.example on base, with the
// agent-entrypoint binary at shim as the build context's only file.
func ExampleImage(ctx context.Context, root, repo, base, shim string, logf Logf) (string, error) {
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile.example"))
	if err != nil {
		return "", fmt.Errorf("build example image: %w", err)
	}
	return Build{Repo: repo, Dockerfile: df, Base: base, Files: map[string]string{"agent-entrypoint": shim}}.Image(ctx, logf)
}

// pruneOtherTags removes the other tags of a harness repository, left by
// earlier recipes or binaries, unless a run used them within the last hour:
// another checkout's tests may be running against them right now. Failures
// (an image still in use) are ignored: this is housekeeping only.
func pruneOtherTags(ctx context.Context, repo, keep string) {
	out, err := DockerOK(ctx, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo)
	if err != nil {
		return
	}
	for _, ref := range strings.Fields(out) {
		if ref != keep && strings.HasPrefix(ref, repo+":") && !usedRecently(ref) {
			_, _ = Docker(ctx, nil, "image", "rm", ref)
		}
	}
}

// recentUse is how long a tag another run used is spared from pruning;
// longer than any test run.
const recentUse = time.Hour

// useStamp is the file whose modification time says when a run last used
// tag, shared by every checkout on the machine.
func useStamp(tag string) string {
	return filepath.Join(os.TempDir(), "agent-entrypoint-test-images", strings.NewReplacer("/", "_", ":", "_").Replace(tag))
}

// markUsed records that this run uses tag, before it is looked up or built,
// so that a concurrent run's pruning leaves it alone.
func markUsed(tag string) {
	p := useStamp(tag)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		_ = os.WriteFile(p, nil, 0o644)
	}
}

func usedRecently(tag string) bool {
	fi, err := os.Stat(useStamp(tag))
	return err == nil && time.Since(fi.ModTime()) < recentUse
}
