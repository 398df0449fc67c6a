package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// goBuildStatic builds the main package pkg (relative to the module root)
// into out the way releases are built: static, reproducible, symbols kept.
func goBuildStatic(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-w -buildid=", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return nil
}

// ShimPackage and ProbePackage are the main packages the harness builds.
const (
	ShimPackage  = "./cmd/agent-entrypoint"
	ProbePackage = "./integration/internal/agentprobe"
)

// BuildShim puts the agent-entrypoint binary at out: a copy of
// $AGENT_ENTRYPOINT_TEST_BINARY when set, else a fresh build of
// ./cmd/agent-entrypoint. Either way the result must be a static binary,
// since it is copied into images that may have no C library at all.
func BuildShim(ctx context.Context, root, out string) error {
	if prebuilt := os.Getenv("AGENT_ENTRYPOINT_TEST_BINARY"); prebuilt != "" {
		if err := copyFile(prebuilt, out, 0o755); err != nil {
			return fmt.Errorf("use AGENT_ENTRYPOINT_TEST_BINARY: %w", err)
		}
	} else if err := goBuildStatic(ctx, root, ShimPackage, out); err != nil {
		return err
	}
	return RequireStatic(out)
}

// BuildProbe builds the agentprobe helper (see integration/internal/agentprobe).
func BuildProbe(ctx context.Context, root, out string) error {
	if err := goBuildStatic(ctx, root, ProbePackage, out); err != nil {
		return err
	}
	return RequireStatic(out)
}

// RequireStatic fails unless path is an ELF executable without a program
// interpreter, i.e. one that runs in an image without a C library.
func RequireStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("check static binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("check static binary %s: dynamically linked (has a program interpreter)", path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	// OpenFile's mode is filtered by the umask and ignored for an existing file.
	return os.Chmod(dst, mode)
}

// FileSHA256 returns the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
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
