package sockets

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listen(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

func TestOpenRefusesAllButSockets(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shadow")
	if err := os.WriteFile(target, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	listen(t, sock)
	for _, tc := range []struct {
		name, kind string
		make       func(path string) error
	}{
		{"symlink to a file", "symbolic link", func(p string) error { return os.Symlink(target, p) }},
		{"symlink to a socket", "symbolic link", func(p string) error { return os.Symlink(sock, p) }},
		{"regular file", "regular file", func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		{"directory", "directory", func(p string) error { return os.Mkdir(p, 0o755) }},
		{"fifo", "fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if !errors.Is(err, ErrNotSocket) || !strings.Contains(err.Error(), tc.kind) {
				t.Fatalf("Open = %v, %v; want ErrNotSocket naming %q", s, err, tc.kind)
			}
		})
	}
	if _, err := Open(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	fi, _ := os.Stat(target)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("symlink target mode changed to %v", fi.Mode())
	}
}

func TestSetPermThroughHandle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.sock")
	listen(t, path)
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Swap the path for a symlink to a file: the chmod must still reach
	// the socket's inode and nothing else.
	moved := filepath.Join(dir, "moved.sock")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	decoy := filepath.Join(dir, "decoy")
	if err := os.WriteFile(decoy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(decoy, path); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPerm(0o666); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(moved); fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, want 0666", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(decoy); fi.Mode().Perm() != 0o600 {
		t.Errorf("decoy mode changed to %v", fi.Mode().Perm())
	}
}

// serve answers every connection to a new socket at path with reply, after
// reading the 5-byte request, and returns the path.
func serve(t *testing.T, path string, reply []byte) string {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var req [5]byte
				if _, err := io.ReadFull(c, req[:]); err != nil {
					return
				}
				if reply != nil {
					c.Write(reply)
				}
			}()
		}
	}()
	return path
}

func TestAskAgent(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		reply []byte
		keys  int
		err   error
	}{
		{"two keys", []byte{0, 0, 0, 5, 12, 0, 0, 0, 2}, 2, nil},
		{"no keys", []byte{0, 0, 0, 5, 12, 0, 0, 0, 0}, 0, nil},
		{"failure answer", []byte{0, 0, 0, 1, 5, 0, 0, 0, 0}, 0, ErrNotAgent},
		{"HTTP", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), 0, ErrNotAgent},
		{"closed without an answer", nil, 0, ErrNotAgent},
		{"length beyond the protocol", []byte{0, 0x10, 0, 0, 12, 0, 0, 0, 1}, 0, ErrNotAgent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := serve(t, filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")), tc.reply)
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			a, err := s.AskAgent(2 * time.Second)
			if a.Keys != tc.keys || !errors.Is(err, tc.err) || a.Refused != (tc.reply == nil) {
				t.Errorf("AskAgent = %+v, %v; want %d keys, %v", a, err, tc.keys, tc.err)
			}
			if a.Listener != os.Geteuid() {
				t.Errorf("listener uid %d, want this process's %d", a.Listener, os.Geteuid())
			}
		})
	}
}

// TestAskAgentTimesOut: a socket that accepts and never answers must not
// hold the start.
func TestAskAgentTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AskAgent(50 * time.Millisecond); !errors.Is(err, unix.EAGAIN) {
		t.Errorf("AskAgent on a silent socket = %v, want a timeout (EAGAIN)", err)
	}
}

// TestMountPoint bind-mounts a socket over a file, as docker run -v does
// with a host socket: only that one is a mount point.
func TestMountPoint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to bind mount")
	}
	dir := t.TempDir()
	host := serve(t, filepath.Join(dir, "host.sock"), nil)
	target := filepath.Join(dir, "mounted.sock")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(host, target, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	for path, want := range map[string]bool{host: false, target: true} {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if s.MountPoint != want {
			t.Errorf("%s: MountPoint = %v, want %v", path, s.MountPoint, want)
		}
		s.Close()
	}
}

// TestAskAgentAs serves a fake agent that answers only uid 0, as OpenSSH's
// agent run as root does: asked as root it answers, asked as uid 1000 it
// hangs up, whatever the socket's mode (0600 root's here).
func TestAskAgentAs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to ask as another uid")
	}
	path := filepath.Join(t.TempDir(), "root-agent.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			uc := c.(*net.UnixConn)
			raw, _ := uc.SyscallConn()
			var uid uint32 = 1 << 31
			raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					uid = cred.Uid
				}
			})
			var req [5]byte
			if _, err := io.ReadFull(c, req[:]); err == nil && uid == 0 {
				c.Write([]byte{0, 0, 0, 5, 12, 0, 0, 0, 1})
			}
			c.Close()
		}
	}()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if a, err := s.AskAgent(time.Second); err != nil || a.Keys != 1 {
		t.Errorf("as root: %+v, %v", a, err)
	}
	a, err := s.AskAgentAs(1000, 1000, time.Second)
	if !a.Refused || !errors.Is(err, ErrNotAgent) {
		t.Errorf("as uid 1000: %+v, %v; want refused", a, err)
	}
	if _, euid, _ := unix.Getresuid(); euid != 0 {
		t.Fatalf("effective uid %d after asking", euid)
	}
	if bits, _ := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0); bits&secbitNoSetuidFixup != 0 {
		t.Errorf("securebits %#x left set", bits)
	}
}

func TestCandidates(t *testing.T) {
	dir := t.TempDir()
	old := serve(t, filepath.Join(dir, "old.sock"), nil)
	newer := serve(t, filepath.Join(dir, "new.sock"), nil)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(newer, filepath.Join(dir, "link.sock")); err != nil {
		t.Fatal(err)
	}
	got, err := Candidates(dir)
	if err != nil || !slices.Equal(got, []string{newer, old}) {
		t.Errorf("Candidates = %q, %v; want the two sockets, newest first", got, err)
	}
}
