package main

// The scripts' rig: a scratch container root in $WORK/root, and commands
// to start programs in it as a runtime starts a container's first process.

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkroot":   mkroot,
			"inroot":   inroot,
			"mksock":   mksock,
			"chown":    chown,
			"agent":    agent,
			"filecaps": filecaps,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// mkroot makes $WORK/root a container root for inroot: the directories a
// start uses, with their usual owners and modes, ids as /bin/ids and the
// shim at /usr/local/bin/agent-entrypoint, setuid-root. Files the script's
// archive put under root/ (its /etc, say) stay; what is missing of
// passwd and group is a minimal image's.
func mkroot(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: mkroot")
	}
	root := ts.MkAbs("root")
	for dir, mode := range map[string]os.FileMode{
		".": 0o755, "etc": 0o755, "home": 0o755, "run": 0o755, "tmp": 0o1777, "dev": 0o755, "dev/shm": 0o1777,
		"proc": 0o555, "bin": 0o755, "usr": 0o755, "usr/local": 0o755, "usr/local/bin": 0o755,
	} {
		p := filepath.Join(root, dir)
		ts.Check(os.MkdirAll(p, 0o755))
		ts.Check(os.Chmod(p, mode|modeBits(mode)))
	}
	for name, text := range map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nusers:x:100:\nnogroup:x:65534:\n",
	} {
		if _, err := os.Stat(filepath.Join(root, name)); errors.Is(err, os.ErrNotExist) {
			ts.Check(os.WriteFile(filepath.Join(root, name), []byte(text), 0o644))
		}
	}
	self, err := os.Executable()
	ts.Check(err)
	copyBinary(ts, self, filepath.Join(root, "bin/ids"), 0o755)
	copyBinary(ts, self, filepath.Join(root, "bin/envexec"), 0o755)
	copyBinary(ts, self, filepath.Join(root, "usr/local/bin/agent-entrypoint"), 0o4755)
}

// mksock PATH MODE makes a unix socket file at PATH, as a host's agent
// socket bind-mounted in shows: nobody listens, but it is a socket. (Plain
// system calls: the net package would link the C library into the test
// binary, which must run in a root with none.)
func mksock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: mksock PATH MODE")
	}
	path := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	ts.Check(err)
	ts.Check(unix.Bind(fd, &unix.SockaddrUnix{Name: path}))
	ts.Check(unix.Close(fd))
	mode, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	ts.Check(os.Chmod(path, os.FileMode(mode)))
}

// agent PATH UID serves a stand-in SSH agent at PATH until the script
// ends: as OpenSSH's agent does, it answers a request for its keys (one)
// from root and from UID only, and hangs up on every other uid. The
// bytes it is sent are counted in PATH.bytes when the script ends.
func agent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: agent PATH UID")
	}
	path := ts.MkAbs(args[0])
	serves, err := strconv.Atoi(args[1])
	ts.Check(err)
	ts.Check(os.MkdirAll(filepath.Dir(path), 0o755))
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	ts.Check(err)
	ts.Check(unix.Bind(fd, &unix.SockaddrUnix{Name: path}))
	ts.Check(unix.Listen(fd, 16))
	var mu sync.Mutex
	received := 0
	go func() {
		for {
			c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return
			}
			go func() {
				defer unix.Close(c)
				cred, err := unix.GetsockoptUcred(c, unix.SOL_SOCKET, unix.SO_PEERCRED)
				if err != nil || (cred.Uid != 0 && int(cred.Uid) != serves) {
					return
				}
				buf := make([]byte, 4096)
				for {
					n, err := unix.Read(c, buf)
					if err != nil || n == 0 {
						return
					}
					mu.Lock()
					received += n
					mu.Unlock()
					// One key: a blob "k" and a comment "c".
					unix.Write(c, []byte{0, 0, 0, 15, 12, 0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'c'})
				}
			}()
		}
	}()
	ts.Defer(func() {
		unix.Shutdown(fd, unix.SHUT_RDWR)
		unix.Close(fd)
		mu.Lock()
		defer mu.Unlock()
		os.WriteFile(path+".bytes", []byte(strconv.Itoa(received)+"\n"), 0o644)
	})
}

// filecaps PATH gives the file at PATH the file capabilities setuid and
// setgid, permitted and effective, as setcap cap_setuid,cap_setgid+ep
// would: an install that hands a caller of any uid what a setuid-root bit
// would, with no id changed.
func filecaps(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: filecaps PATH")
	}
	// struct vfs_cap_data, revision 2, with the effective flag: permitted
	// and inheritable bits of capabilities 0-31, then 32-63.
	var data [20]byte
	binary.LittleEndian.PutUint32(data[0:], 0x02000000|0x000001) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(data[4:], 1<<unix.CAP_SETUID|1<<unix.CAP_SETGID)
	ts.Check(unix.Setxattr(ts.MkAbs(args[0]), "security.capability", data[:], 0))
}

// chown UID:GID PATH... changes the owner of files of the script.
func chown(ts *testscript.TestScript, neg bool, args []string) {
	var uid, gid int
	if neg || len(args) < 2 {
		ts.Fatalf("usage: chown UID:GID PATH...")
	}
	if _, err := fmt.Sscanf(args[0], "%d:%d", &uid, &gid); err != nil {
		ts.Fatalf("chown: %v", err)
	}
	for _, p := range args[1:] {
		ts.Check(os.Lchown(ts.MkAbs(p), uid, gid))
	}
}

// modeBits turns the sticky bit of a numeric mode into os.FileMode's.
func modeBits(m os.FileMode) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func copyBinary(ts *testscript.TestScript, src, dst string, mode os.FileMode) {
	in, err := os.Open(src)
	ts.Check(err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	ts.Check(err)
	_, err = io.Copy(out, in)
	ts.Check(err)
	ts.Check(out.Close())
	ts.Check(os.Chown(dst, 0, 0))
	perm := mode.Perm()
	if mode&0o4000 != 0 {
		perm |= os.ModeSetuid
	}
	ts.Check(os.Chmod(dst, perm))
}

// inroot runs a program of $WORK/root as PID 1 of a new PID and mount
// namespace chrooted there (through nsinit), as a container runtime
// starts a container's first process:
// inroot [-user UID:GID] [-groups G,G] [-status N] PROGRAM [ARG...].
// Its output goes to the script's stdout and stderr. It expects exit
// status N (default 0, or any failure with !).
func inroot(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("inroot", flag.ContinueOnError)
	user := fs.String("user", "", "uid:gid to start as")
	groups := fs.String("groups", "", "supplementary gids")
	status := fs.Int("status", -1, "expected exit status")
	if err := fs.Parse(args); err != nil || fs.NArg() == 0 {
		ts.Fatalf("usage: inroot [-user UID:GID] [-groups G,G] [-status N] PROGRAM [ARG...]")
	}
	root := ts.MkAbs("root")
	self, err := os.Executable()
	ts.Check(err)
	if *user == "" {
		*user = "0:0"
	}
	argv := append([]string{"nsinit", root, *user, *groups}, fs.Args()...)
	cmd := &exec.Cmd{Path: self, Args: argv, Dir: "/", Env: []string{"PATH=/usr/local/bin:/bin"}}
	for _, k := range []string{"USER", "SSH_AUTH_SOCK", "AGENT_ENTRYPOINT_UID", "AGENT_ENTRYPOINT_GID", "AGENT_ENTRYPOINT_USER",
		"AGENT_ENTRYPOINT_HOME", "AGENT_ENTRYPOINT_GROUPS", "AGENT_ENTRYPOINT_SOCKETS", "AGENT_ENTRYPOINT_SOCKET_MODE",
		"AGENT_ENTRYPOINT_CHOWN", "AGENT_ENTRYPOINT_STRICT", "AGENT_ENTRYPOINT_DEBUG"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if real := os.Getenv("GOCOVERDIR"); real != "" {
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+coverDir(ts, root, real))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Unshareflags: syscall.CLONE_NEWNS}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	err = runRetrying(cmd)
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		ts.Fatalf("inroot: %v", err)
	}
	switch {
	case *status >= 0 && code != *status:
		ts.Fatalf("exit status %d, want %d", code, *status)
	case *status < 0 && neg && code == 0:
		ts.Fatalf("exit status 0, want a failure")
	case *status < 0 && !neg && code != 0:
		ts.Fatalf("exit status %d", code)
	}
}

// runRetrying runs cmd, again while its executable is busy: a script
// running beside this one may have forked while it had its copy of the
// binary open for writing, and the fork holds it until it execs.
func runRetrying(cmd *exec.Cmd) error {
	for range 50 {
		c := *cmd
		err := c.Run()
		if !errors.Is(err, syscall.ETXTBSY) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return syscall.ETXTBSY
}

// coverDir gives the chrooted start a coverage directory every uid may
// write, at the same path inside the root as real outside, and moves what
// it wrote into real when the script ends.
func coverDir(ts *testscript.TestScript, root, real string) string {
	dir := ts.MkAbs("cover")
	ts.Check(os.MkdirAll(dir, 0o755))
	// Not sticky: counters of one uid may replace another's file.
	ts.Check(os.Chmod(dir, 0o777))
	inside := filepath.Join(root, real)
	ts.Check(os.MkdirAll(inside, 0o755))
	ts.Check(unix.Mount(dir, inside, "", unix.MS_BIND, ""))
	ts.Defer(func() {
		unix.Unmount(inside, unix.MNT_DETACH)
		entries, _ := os.ReadDir(dir)
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, name := range names {
			if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				_ = os.WriteFile(filepath.Join(real, name), data, 0o644)
			}
		}
	})
	return real
}
