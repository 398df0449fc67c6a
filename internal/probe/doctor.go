package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/diagnose"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"github.com/agent-entrypoint/agent-entrypoint/internal/sockets"
	"golang.org/x/sys/unix"
)

// The facts of doctor, looked at with the calling process's own ids: it
// holds no privilege when it looks (cmd gives a setuid one up first).

// LookAt finds what is at a socket's path, never following a symlink,
// connects to it as the caller and, for the agent's, asks for its keys.
func LookAt(path string, source diagnose.Source, agent bool) diagnose.Socket {
	s := diagnose.Socket{Path: path, Source: source, Agent: agent, Sockets: -1}
	s.Answer.Listener = -1
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return s
	}
	s.Type = sockets.Kind(st.Mode)
	s.UID, s.GID, s.Perm = int(st.Uid), int(st.Gid), st.Mode&0o7777
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if list, err := sockets.Candidates(path); err == nil {
			s.Sockets = len(list)
		}
		return s
	case unix.S_IFSOCK:
	default:
		return s
	}
	if sock, err := sockets.Open(path); err == nil {
		s.ReadOnly, s.MountPoint = sock.ReadOnly, sock.MountPoint
		sock.Close()
	}
	if !agent {
		s.Connect = connect(path)
		return s
	}
	a, err := sockets.ListKeys(path, agentTimeout)
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "connect" {
		s.Connect = pe.Err
		return s
	}
	s.Answer = diagnose.Answer{Answers: err == nil, Keys: a.List, Refused: a.Refused, Listener: a.Listener, Err: err}
	return s
}

// connect connects to a unix socket and hangs up, sending nothing.
func connect(path string) error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			return err
		}
	}
}

// HomeAt finds what is at the home path, and whether the caller may
// create files in it.
func HomeAt(path string) diagnose.Path {
	var h diagnose.Path
	var st unix.Stat_t
	if path == "" || unix.Stat(path, &st) != nil {
		return h
	}
	h.Exists, h.Dir = true, st.Mode&unix.S_IFMT == unix.S_IFDIR
	h.UID, h.GID, h.Perm = int(st.Uid), int(st.Gid), st.Mode&0o7777
	// access(2) checks with the real ids, which are the caller's.
	h.Writable = h.Dir && unix.Access(path, unix.W_OK|unix.X_OK) == nil && !safefs.ReadOnlyPath(path)
	return h
}

// Runtime reads what the runtime set: a read-only root, the bounding set,
// and the container's first process.
func Runtime() diagnose.Runtime {
	rt := diagnose.Runtime{ReadOnlyRoot: safefs.ReadOnlyPath("/"), Self: os.Getpid()}
	// The command line's first word, not comm, which the kernel cuts at
	// 15 bytes.
	if cmdline, err := safefs.ReadFile("/proc/1/cmdline", 4096); err == nil {
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		rt.PID1 = filepath.Base(argv0)
	}
	for c := 0; c < 64; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err != nil {
			break // past the last capability
		}
		if in == 1 {
			rt.Bounding |= policy.Caps(1) << c
		}
	}
	return rt
}

// RelayAlive reports whether pid runs: a root supervisor the caller may
// not signal still answers EPERM.
func RelayAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
