// Package safefs holds the file system operations the shim shares between
// its steps, each of which must never follow a symlink planted by a user:
// opening a path below a directory with no symlink in any component,
// changing the mode of an inode held by an O_PATH descriptor, and telling a
// read-only mount.
//
// It deliberately does not: decide what may be opened or changed; the
// callers do.
package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2 turned out to be missing or refused, so
// that later calls go straight to the component walk; tests set it too.
var noOpenat2 atomic.Bool

// DisableOpenat2 makes OpenBeneath take the path of kernels without
// openat2, for tests.
func DisableOpenat2(off bool) { noOpenat2.Store(off) }

// OpenBeneath opens rel, a relative path below the directory dirfd, with no
// symlink in any component and never leaving dirfd's tree; with sameMount
// also without crossing a mount. flags are open(2)'s; O_NOFOLLOW and
// O_CLOEXEC are added. A symlink anywhere on the way fails with ELOOP.
//
// Where the kernel lacks openat2 (before Linux 5.6, or refused by an older
// seccomp profile), each component is opened on its own with O_NOFOLLOW,
// relative to the one before. That walk cannot see a mount crossed on the
// way: with sameMount, callers compare the result's st_dev themselves.
func OpenBeneath(dirfd int, rel string, flags int, sameMount bool) (int, error) {
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if strings.HasPrefix(rel, "/") {
		return -1, unix.EXDEV
	}
	if !noOpenat2.Load() {
		// BENEATH: nothing outside dirfd is reached, not even by "..".
		// NO_SYMLINKS: no component is a symlink, not just the last.
		// NO_XDEV: no component crosses a mount, bind mounts of the same
		// file system included.
		how := unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
		if sameMount {
			how.Resolve |= unix.RESOLVE_NO_XDEV
		}
		for {
			fd, err := unix.Openat2(dirfd, rel, &how)
			switch err {
			case nil:
				return fd, nil
			case unix.EINTR:
				continue
			case unix.ENOSYS, unix.EPERM:
				// ENOSYS before Linux 5.6; older seccomp profiles refuse
				// it with either errno.
				noOpenat2.Store(true)
			case unix.EAGAIN:
				// A rename elsewhere raced the lookup; the component walk
				// below does not need the kernel's rename check.
			default:
				return -1, err
			}
			break
		}
	}
	// ".." would leave the tree: refused, as RESOLVE_BENEATH refuses it.
	for _, c := range strings.Split(rel, "/") {
		if c == ".." {
			return -1, unix.EXDEV
		}
	}
	dir := dirfd
	for {
		name, rest, more := strings.Cut(rel, "/")
		f := flags
		if more {
			// O_PATH: the components on the way are only passed through.
			f = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		if name == "" {
			name = "."
		}
		fd, err := unix.Openat(dir, name, f, 0)
		if dir != dirfd {
			unix.Close(dir)
		}
		if err != nil || !more {
			return fd, err
		}
		dir, rel = fd, rest
	}
}

// OpenRoot opens an absolute path O_PATH from "/" with no symlink in any
// component: a directory a caller then works beneath.
func OpenRoot(path string) (int, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	rel := strings.TrimPrefix(filepath.Clean(path), "/")
	if rel == "" {
		return root, nil
	}
	defer unix.Close(root)
	fd, err := OpenBeneath(root, rel, unix.O_PATH, false)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// ChmodFD sets the permission bits of the inode fd holds, an O_PATH
// descriptor included. fchmod(2) refuses O_PATH descriptors and
// fchmodat(2) follows a symlink; the /proc magic link resolves to the very
// inode fd holds, so a path swapped since it was opened cannot redirect
// the change.
func ChmodFD(fd int, perm uint32) error {
	return unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), perm, 0)
}

// ReadOnly reports whether fd lives on a read-only mount.
func ReadOnly(fd int) bool {
	var fs unix.Statfs_t
	return unix.Fstatfs(fd, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0
}

// ReadOnlyPath reports whether path lives on a read-only mount.
func ReadOnlyPath(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0
}

// Ancestors returns the directories above path, nearest first, "/" last.
func Ancestors(path string) []string {
	var out []string
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		out = append(out, dir)
		if dir == "/" || dir == "." {
			return out
		}
	}
}

// ReadFile reads a small file (a /proc or /sys entry, a config file) of at
// most max bytes with plain system calls: os.ReadFile would set up the
// runtime's network poller on its first open, which costs two descriptors
// and a thread, and with no descriptor left the runtime dies of it.
func ReadFile(path string, max int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	data, err := ReadFD(fd, max, 4096)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return data, nil
}

// ErrTooLarge is returned by ReadFD for a file beyond its cap.
var ErrTooLarge = errors.New("file too large")

// ReadFD reads fd to its end, at most max bytes. The buffer starts at the
// size the caller expects (fstat's, say) plus a byte to see the end: one
// read in the common case; a file that grew since is read on, to the cap.
func ReadFD(fd int, max, size int) ([]byte, error) {
	data := make([]byte, 0, min(max, size)+1)
	for len(data) <= max {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(cap(data), max+1-len(data)))
		}
		n, err := unix.Read(fd, data[len(data):cap(data)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return data, nil
		}
		data = data[:len(data)+n]
	}
	return nil, ErrTooLarge
}
