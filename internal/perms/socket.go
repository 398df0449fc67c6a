package perms

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrNotSocket is returned by Open for a path that is not a unix socket.
var ErrNotSocket = errors.New("not a socket")

// Mode is a strategy for granting access to a socket.
type Mode string

const (
	// Chmod makes the socket mode 0666, as the seed's `sudo chmod 666`.
	Chmod Mode = "chmod"
	// None changes nothing and only reports.
	None Mode = "none"
)

// ParseMode parses the AGENT_ENTRYPOINT_SOCKET_MODE value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Chmod, None:
		return m, nil
	}
	return "", fmt.Errorf("invalid socket mode %q: want chmod or none", s)
}

// Who is the identity that must be able to connect.
type Who struct {
	UID    int
	Groups []int // every gid it holds, primary included
}

// Socket is an open handle on a unix socket's inode.
type Socket struct {
	Path string
	fd   int
	UID  int
	GID  int
	Perm uint32 // permission bits
	// ReadOnly is set for a socket on a read-only mount (-v SOCK:PATH:ro):
	// its mode cannot change.
	ReadOnly bool
}

// Open opens path without following a symlink and checks that it is a
// socket. The caller must Close it.
func Open(path string) (*Socket, error) {
	// O_PATH opens the inode without connecting to or reading it; with
	// O_NOFOLLOW a symlink is opened itself rather than its target, so a
	// link to /etc/shadow is seen as a link.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is a %s", ErrNotSocket, kind(st.Mode))}
	}
	sock := &Socket{Path: path, fd: fd, UID: int(st.Uid), GID: int(st.Gid), Perm: st.Mode & 0o7777}
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) == nil {
		sock.ReadOnly = fs.Flags&unix.ST_RDONLY != 0
	}
	return sock, nil
}

// Close releases the handle.
func (s *Socket) Close() error { return unix.Close(s.fd) }

// CanConnect reports whether who may connect to the socket: connecting to
// a unix socket needs write permission on its inode.
func (s *Socket) CanConnect(who Who) bool {
	return canAccess(s.UID, s.GID, s.Perm, who, 0o2)
}

// Need reports whether mode must change the socket for who to connect, and
// the permission bits it would set. Nothing that already works is changed.
func Need(s *Socket, who Who, mode Mode) (change bool, perm uint32) {
	if mode == None || s.CanConnect(who) {
		return false, s.Perm
	}
	return true, (s.Perm &^ 0o777) | 0o666
}

// SetPerm sets the socket's permission bits through the handle.
func (s *Socket) SetPerm(perm uint32) error {
	// fchmod(2) refuses O_PATH descriptors (EBADF). The /proc magic link
	// resolves to the very inode opened and checked in Open, so a path
	// swapped since then cannot redirect the chmod.
	proc := "/proc/self/fd/" + strconv.Itoa(s.fd)
	if err := unix.Fchmodat(unix.AT_FDCWD, proc, perm, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: s.Path, Err: err}
	}
	s.Perm = perm
	return nil
}

// Unreachable returns the first directory above path that who cannot
// search, or "" when none blocks it. No change to the socket helps then.
func Unreachable(path string, who Who) string {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err == nil && !canAccess(int(st.Uid), int(st.Gid), st.Mode&0o777, who, 0o1) {
			return dir
		}
		if dir == "/" || dir == "." {
			return ""
		}
	}
}

// canAccess applies the kernel's owner, then group, then other check for
// the permission bits in want (0o2 write, 0o1 search).
func canAccess(owner, group int, perm uint32, who Who, want uint32) bool {
	switch {
	case who.UID == 0:
		return true
	case who.UID == owner:
		return perm&(want<<6) != 0
	case slices.Contains(who.Groups, group):
		return perm&(want<<3) != 0
	}
	return perm&want != 0
}

func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "file of unknown type"
}
