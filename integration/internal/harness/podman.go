package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnvPodmanUser names the unprivileged host user that runs rootless podman
// for the tests. It needs ranges in /etc/subuid and /etc/subgid.
const EnvPodmanUser = "AGENT_ENTRYPOINT_TEST_PODMAN_USER"

// DefaultPodmanUser is the user EnsurePodmanUser creates when none is named.
const DefaultPodmanUser = "agent-entrypoint-podman"

// ErrNoPodman means rootless podman cannot be used for the tests.
var ErrNoPodman = errors.New("rootless podman not usable")

// Podman runs rootless podman as an unprivileged host user. Close stops the
// pause process podman leaves behind to hold the user's namespaces.
type Podman struct {
	User       string
	UID, GID   uint32
	Home       string
	RuntimeDir string

	conf string // CONTAINERS_CONF, for root podman
}

// PodmanTools checks that what rootless podman needs is installed: podman
// itself and the setuid newuidmap/newgidmap of the uidmap package.
func PodmanTools() error {
	for _, tool := range []string{"podman", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found (install the Debian packages podman and uidmap)", ErrNoPodman, tool)
		}
	}
	return nil
}

// EnsurePodmanUser creates the host user name (with a home, and with
// subordinate id ranges, which useradd allocates from /etc/login.defs) when
// it does not exist yet. It changes the host: call it only where that is
// wanted (CI).
func EnsurePodmanUser(ctx context.Context, name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	out, err := exec.CommandContext(ctx, "useradd", "--create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s: %w: %s", name, err, out)
	}
	return nil
}

// NewPodman prepares rootless podman for the host user name, which must
// exist and have subordinate uid and gid ranges.
func NewPodman(name string) (*Podman, error) {
	if err := PodmanTools(); err != nil {
		return nil, err
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPodman, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	if uid == 0 {
		return nil, fmt.Errorf("%w: %s is root; rootless podman needs an unprivileged user", ErrNoPodman, name)
	}
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		ok, err := hasSubordinateRange(file, u.Username, u.Uid)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoPodman, err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s has no range in %s (usermod --add-subuids/--add-subgids)", ErrNoPodman, name, file)
		}
	}
	dir, err := runtimeDir(uint32(uid), uint32(gid))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoPodman, err)
	}
	return &Podman{User: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir, RuntimeDir: dir}, nil
}

// runtimeDir returns the user's XDG_RUNTIME_DIR: /run/user/UID where a
// login manager made one, else /tmp/podman-run-UID (podman's own fallback),
// created if needed. It must stay the same from run to run: podman records
// it in its database on first use and keeps using the recorded path.
func runtimeDir(uid, gid uint32) (string, error) {
	for _, dir := range []string{fmt.Sprintf("/run/user/%d", uid), filepath.Join(os.TempDir(), fmt.Sprintf("podman-run-%d", uid))} {
		fi, err := os.Lstat(dir)
		if errors.Is(err, os.ErrNotExist) && strings.HasPrefix(dir, "/run/") {
			continue
		}
		if errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return "", err
			}
			if err := os.Chown(dir, int(uid), int(gid)); err != nil {
				return "", err
			}
			return dir, nil
		}
		if err != nil {
			return "", err
		}
		// It must be the user's own private directory, not one planted there.
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || st.Uid != uid || fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("runtime directory %s is not a private directory of uid %d", dir, uid)
		}
		return dir, nil
	}
	panic("unreachable")
}

func hasSubordinateRange(file, name, uid string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) == 3 && (fields[0] == name || fields[0] == uid) && fields[2] != "0" {
			return true, nil
		}
	}
	return false, sc.Err()
}

// RootPodman is podman run by root itself, as a Kubernetes node runs pods:
// only a root engine can give a container an arbitrary uid such as
// OpenShift's, which lies outside any subordinate range of a rootless user.
// Its images and containers live in root's podman storage, apart from
// Docker's. It writes its containers.conf into dir.
func RootPodman(dir string) (*Podman, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("%w: podman not found (install the Debian packages podman and catatonit): %v", ErrNoPodman, err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: podman as root needs root", ErrNoPodman)
	}
	// Root podman gives every container the largest open-file and process
	// limits by default, which runc then fails to set (EPERM) where this
	// process runs under lower hard limits without CAP_SYS_RESOURCE, as in
	// a sandboxed CI runner. Limits of our own, within our hard limit, work
	// everywhere; the pods here run a handful of processes.
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		return nil, fmt.Errorf("%w: getrlimit: %v", ErrNoPodman, err)
	}
	conf := filepath.Join(dir, "containers.conf")
	text := fmt.Sprintf("[containers]\ndefault_ulimits = [\"nofile=%d:%d\", \"nproc=4096:4096\"]\n", nofile.Max, nofile.Max)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return &Podman{User: "root", Home: "/root", conf: conf}, nil
}

// command is podman args run as the user, in a minimal environment of its own.
func (p *Podman) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "podman", args...)
	cmd.Dir = p.Home
	cmd.Env = []string{
		"HOME=" + p.Home, "USER=" + p.User, "LOGNAME=" + p.User,
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	cmd.WaitDelay = 5 * time.Second
	if p.UID == 0 {
		cmd.Env = append(cmd.Env, "CONTAINERS_CONF="+p.conf)
		return cmd
	}
	cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+p.RuntimeDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: p.UID, Gid: p.GID, Groups: []uint32{p.GID}}}
	return cmd
}

// Run runs podman with args and stdin (may be nil) as the user. As with
// Docker, a non-zero exit status is reported in Result.ExitCode, not as an
// error. Podman's own log lines (time="…" level=…) are dropped from stderr,
// so that what remains is the container's.
func (p *Podman) Run(ctx context.Context, stdin io.Reader, args ...string) (Result, error) {
	cmd := p.command(ctx, args...)
	cmd.Stdin = stdin
	return runCLI(ctx, cmd, args, dropPodmanLog)
}

// dropPodmanLog removes podman's logrus lines, such as its warning that /
// is not a shared mount.
func dropPodmanLog(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, `time="`) && strings.Contains(line, " level=") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// Load makes the local Docker image ref available to the user's podman as
// localhost/<ref>: docker save streamed into podman load, once; later calls
// (and later runs) find it in podman's storage. Other tags of the same
// repository, left by earlier runs, are removed.
func (p *Podman) Load(ctx context.Context, ref string) (string, error) {
	local := "localhost/" + ref
	if res, err := p.Run(ctx, nil, "image", "exists", local); err != nil {
		return "", err
	} else if res.ExitCode == 0 {
		return local, nil
	}
	save := exec.CommandContext(ctx, "docker", "save", ref)
	var saveErr bytes.Buffer
	save.Stderr = &saveErr
	pipe, err := save.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := save.Start(); err != nil {
		return "", fmt.Errorf("start docker save: %w", err)
	}
	res, loadErr := p.Run(ctx, pipe, "load")
	if loadErr != nil || res.ExitCode != 0 {
		_ = save.Process.Kill()
	}
	if err := save.Wait(); err != nil {
		return "", fmt.Errorf("docker save %s: %w: %s", ref, err, saveErr.String())
	}
	if loadErr != nil {
		return "", loadErr
	}
	if res.ExitCode != 0 {
		return "", fmt.Errorf("podman load of %s: %s", ref, res)
	}
	repo, _, _ := strings.Cut(local, ":")
	if res, err := p.Run(ctx, nil, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repo); err == nil && res.ExitCode == 0 {
		for _, old := range strings.Fields(res.Stdout) {
			if old != local && strings.HasPrefix(old, repo+":") {
				_, _ = p.Run(ctx, nil, "image", "rm", old)
			}
		}
	}
	return local, nil
}

// Close stops the pause process that holds the user's namespaces: rootless
// podman starts it and leaves it running. The next podman command starts a
// new one.
func (p *Podman) Close() error {
	if p.UID == 0 {
		return nil // root podman keeps no pause process
	}
	b, err := os.ReadFile(filepath.Join(p.RuntimeDir, "libpod", "tmp", "pause.pid"))
	if err != nil {
		return nil // none was started
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return nil
	}
	// Only the user's own process: the pid file is the user's to write.
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil || st.Sys().(*syscall.Stat_t).Uid != p.UID {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop podman pause process %d: %w", pid, err)
	}
	return nil
}
