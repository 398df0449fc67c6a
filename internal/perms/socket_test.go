package perms

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestNeed(t *testing.T) {
	alice := Who{UID: 1000, Groups: []int{1000}}
	for _, tc := range []struct {
		name       string
		uid, gid   int
		perm       uint32
		who        Who
		mode       Mode
		wantChange bool
		wantPerm   uint32
	}{
		{"docker desktop root 0755", 0, 0, 0o755, alice, Chmod, true, 0o666},
		{"already world-writable", 0, 0, 0o777, alice, Chmod, false, 0o777},
		{"owned by the target", 1000, 1000, 0o600, alice, Chmod, false, 0o600},
		{"owned but not writable", 1000, 1000, 0o400, alice, Chmod, true, 0o666},
		{"group-writable, target in group", 0, 1000, 0o660, alice, Chmod, false, 0o660},
		{"group-writable, target not in group", 0, 999, 0o660, alice, Chmod, true, 0o666},
		{"owner bit does not help others", 0, 0, 0o700, alice, Chmod, true, 0o666},
		{"mode none changes nothing", 0, 0, 0o755, alice, None, false, 0o755},
		{"root target needs nothing", 0, 0, 0o700, Who{UID: 0}, Chmod, false, 0o700},
		{"setuid bits kept", 0, 0, 0o4700, alice, Chmod, true, 0o4666},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Socket{UID: tc.uid, GID: tc.gid, Perm: tc.perm}
			change, perm := Need(s, tc.who, tc.mode)
			if change != tc.wantChange || perm != tc.wantPerm {
				t.Errorf("Need = %v, %04o; want %v, %04o", change, perm, tc.wantChange, tc.wantPerm)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own directories as another uid")
	}
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	alice := Who{UID: 1000, Groups: []int{1000}}
	if got := Unreachable(filepath.Join(private, "agent.sock"), alice); got != private {
		t.Errorf("Unreachable = %q, want %q", got, private)
	}
	if got := Unreachable(filepath.Join(dir, "agent.sock"), alice); got != "" {
		t.Errorf("Unreachable = %q, want none", got)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"chmod", "none"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "CHMOD", "777", "relay;rm"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) succeeded", s)
		}
	}
}
