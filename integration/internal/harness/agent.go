package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KeyComment is the comment of the fixture's key, as ssh-add -l shows it.
const KeyComment = "agent-entrypoint-test"

// Agent is a real ssh-agent on the host holding one fresh ed25519 key,
// reachable through a socket that is owned by root with mode 0755 inside a
// world-searchable directory: what Docker Desktop mounts at
// /run/host-services/ssh-auth.sock, and what a process with another uid
// cannot connect to (connect(2) on a unix socket needs write permission).
//
// OpenSSH's agent serves only peers (SO_PEERCRED) whose uid is 0 or its own,
// so the agent runs as the uid the container's command will run as.
type Agent struct {
	Dir         string // private directory of the fixture, removed by Close
	Socket      string // the agent's socket: mount it into containers
	PublicKey   string // path of the key's .pub file
	Fingerprint string // SHA256:… as ssh-add -l and ssh-keygen -l print it
	UID, GID    uint32 // the ids the agent runs as

	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{}
}

// StartAgent generates a key, starts ssh-agent -D as uid:gid, adds the key
// and hands the socket to root with mode 0755. Close stops it.
func StartAgent(ctx context.Context, uid, gid uint32) (_ *Agent, err error) {
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("start agent: %s not found (install openssh-client): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "agent-entrypoint-agent-")
	if err != nil {
		return nil, err
	}
	a := &Agent{Dir: dir, UID: uid, GID: gid, done: make(chan struct{})}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// MkdirTemp makes 0700; the socket's directory must be world-searchable.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	sockDir := filepath.Join(dir, "agent")
	if err := os.Mkdir(sockDir, 0o755); err != nil {
		return nil, err
	}
	// The agent binds its socket as uid:gid, so it needs to write there.
	if err := os.Chown(sockDir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	a.Socket = filepath.Join(sockDir, "agent.sock")

	key := filepath.Join(dir, "id_ed25519")
	a.PublicKey = key + ".pub"
	if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", KeyComment, "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %w: %s", err, out)
	}
	out, err := exec.CommandContext(ctx, "ssh-keygen", "-l", "-f", a.PublicKey).Output()
	if err != nil {
		return nil, fmt.Errorf("ssh-keygen -l: %w", err)
	}
	if f := strings.Fields(string(out)); len(f) >= 2 && strings.HasPrefix(f[1], "SHA256:") {
		a.Fingerprint = f[1]
	} else {
		return nil, fmt.Errorf("ssh-keygen -l: unexpected output %q", out)
	}

	// -D: stay in the foreground, so the agent is our child and dies with Close.
	a.cmd = exec.Command("ssh-agent", "-D", "-a", a.Socket)
	a.cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	a.cmd.Stderr = &a.stderr
	if uid != uint32(os.Getuid()) || gid != uint32(os.Getgid()) {
		// Empty Groups: drop root's supplementary groups as well.
		a.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	}
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ssh-agent: %w", err)
	}
	go func() { _ = a.cmd.Wait(); close(a.done) }()
	if err := a.waitForSocket(ctx); err != nil {
		return nil, err
	}

	// Root is always served by the agent, whatever the socket's mode.
	add := exec.CommandContext(ctx, "ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+a.Socket)
	if out, err := add.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-add: %w: %s", err, out)
	}
	if err := a.Reset(); err != nil {
		return nil, err
	}
	// The directory goes back to root too: only the socket is of interest.
	if err := os.Chown(sockDir, 0, 0); err != nil {
		return nil, err
	}
	list := exec.CommandContext(ctx, "ssh-add", "-l")
	list.Env = append(os.Environ(), "SSH_AUTH_SOCK="+a.Socket)
	if out, err := list.CombinedOutput(); err != nil || !strings.Contains(string(out), a.Fingerprint) {
		return nil, fmt.Errorf("ssh-add -l on the host does not list the key: %v: %s", err, out)
	}
	return a, nil
}

func (a *Agent) waitForSocket(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if fi, err := os.Lstat(a.Socket); err == nil && fi.Mode().Type() == fs.ModeSocket {
			return nil
		}
		select {
		case <-a.done:
			return fmt.Errorf("ssh-agent exited before creating %s: %s", a.Socket, a.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("wait for ssh-agent socket %s: %w", a.Socket, ctx.Err())
		case <-tick.C:
		}
	}
}

// Reset gives the socket back to root with mode 0755. A container that
// chmods its bind mount of the socket changes this very inode, so every
// test that depends on the socket's mode resets it first.
func (a *Agent) Reset() error {
	if err := os.Lchown(a.Socket, 0, 0); err != nil {
		return err
	}
	return os.Chmod(a.Socket, 0o755)
}

// Close stops the agent and removes its directory.
func (a *Agent) Close() error {
	var errs []error
	if a.cmd != nil && a.cmd.Process != nil {
		select {
		case <-a.done:
		default:
			if err := a.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, err)
			}
			<-a.done
		}
	}
	errs = append(errs, os.RemoveAll(a.Dir))
	return errors.Join(errs...)
}

// Owner describes a file's type, permission bits and owner.
type Owner struct {
	Mode     fs.FileMode
	UID, GID uint32
}

// String renders o as ls -ln would: "srwxr-xr-x 0:0".
func (o Owner) String() string {
	typ := "-"
	switch o.Mode.Type() {
	case fs.ModeSocket:
		typ = "s"
	case fs.ModeDir:
		typ = "d"
	case fs.ModeSymlink:
		typ = "l"
	case fs.ModeNamedPipe:
		typ = "p"
	}
	return fmt.Sprintf("%s%s %d:%d", typ, o.Mode.Perm().String()[1:], o.UID, o.GID)
}

// StatOwner lstats path on the host.
func StatOwner(path string) (Owner, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Owner{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Owner{}, fmt.Errorf("stat %s: no owner information", path)
	}
	return Owner{Mode: fi.Mode(), UID: st.Uid, GID: st.Gid}, nil
}
