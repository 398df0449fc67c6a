package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Result is what one docker CLI invocation produced.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
}

// String renders r for failure messages.
func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout ---\n%s--- stderr ---\n%s", r.ExitCode, ensureNL(r.Stdout), ensureNL(r.Stderr))
}

func ensureNL(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// Docker runs the docker CLI with args and stdin (may be nil). A non-zero
// exit status is not an error: it is reported in Result.ExitCode. The error
// is set only when the CLI could not be run or ctx expired.
func Docker(ctx context.Context, stdin io.Reader, args ...string) (Result, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = stdin
	// docker run/exec/start may leave a CLI process attached to a container
	// when ctx expires; do not wait forever for its pipes.
	cmd.WaitDelay = 5 * time.Second
	// Images are built with the legacy builder: it builds FROM a local tag
	// without ever contacting a registry, and it needs no buildx plugin.
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	return runCLI(ctx, cmd, args, func(s string) string { return s })
}

// runCLI runs a container CLI (docker or podman) to its end. A non-zero
// exit status goes into Result.ExitCode; the error is set only when the
// CLI could not run or ctx expired. clean filters its stderr.
func runCLI(ctx context.Context, cmd *exec.Cmd, args []string, clean func(string) string) (Result, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: clean(stderr.String())}
	name := filepath.Base(cmd.Path)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return res, fmt.Errorf("%s %s: %w", name, summarize(args), ctxErr)
	}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		return res, fmt.Errorf("%s %s: %w", name, summarize(args), err)
	}
	return res, nil
}

// DockerOK runs docker and treats a non-zero exit status as an error that
// carries the CLI's stderr. It returns stdout with surrounding space trimmed.
func DockerOK(ctx context.Context, args ...string) (string, error) {
	res, err := Docker(ctx, nil, args...)
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("docker %s: exit %d: %s", summarize(args), res.ExitCode, strings.TrimSpace(res.Stderr))
	}
	return strings.TrimSpace(res.Stdout), nil
}

func summarize(args []string) string {
	s := strings.Join(args, " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ErrNoDocker means the Docker Engine cannot be used for the tests.
var ErrNoDocker = errors.New("docker engine not usable")

// CheckDaemon reports whether a Docker Engine is reachable through the
// docker CLI and runs containers with the host's uids: the tests compare
// uids inside containers with uids on the host (the ssh-agent's peer check),
// which user-namespace remapping and rootless engines break.
func CheckDaemon(ctx context.Context) error {
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("%w: docker CLI not found in PATH", ErrNoDocker)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := DockerOK(ctx, "info", "--format", "{{.ServerVersion}} {{json .SecurityOptions}}")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocker, err)
	}
	if strings.Contains(out, "name=userns") || strings.Contains(out, "name=rootless") {
		return fmt.Errorf("%w: the engine remaps uids (userns-remap or rootless): %s", ErrNoDocker, out)
	}
	return nil
}

// ImageID returns the ID of a local image, or an error if it is not present.
// It never pulls.
func ImageID(ctx context.Context, ref string) (string, error) {
	return DockerOK(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
}
