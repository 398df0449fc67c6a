// Package homedir creates a home directory for the target user without
// following a symlink anywhere on its path.
//
// Every component is opened relative to the one before it, from the home
// base down, with no symlink allowed in any of them (openat2's
// RESOLVE_NO_SYMLINKS, or O_NOFOLLOW one component at a time), and the new
// directory is handed over through a descriptor of its own. A link a user
// planted in a directory on the way (their own home, say) fails the
// creation instead of leading it into /etc or /usr/lib.
//
// It deliberately does not: touch a home that exists (whoever owns it),
// create anything outside the base, or copy /etc/skel.
package homedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

// NoHome is the home directory Debian policy gives accounts that have none;
// it is never created.
const NoHome = "/nonexistent"

// Modes of what Create makes: the home private to its owner, as useradd's
// HOME_MODE on current Debian; parents root's and searchable by all.
const (
	homeMode   = 0o700
	parentMode = 0o755
)

// ErrOutsideBase is returned for a home that is not strictly below the base.
var ErrOutsideBase = errors.New("not below the home base")

// ErrUntrusted is returned when the base, or a directory between it and the
// home, is not root's alone: another user could change what is below it.
var ErrUntrusted = errors.New("directory not owned by root or writable by others")

// ErrSymlink is returned when a component of the home's path is a
// symbolic link: a home is never created through one.
var ErrSymlink = errors.New("a symbolic link")

// Rules say where Create may create a home.
type Rules struct {
	// Base is the directory homes are created below, "/" for anywhere.
	Base string
	// RootOnly requires the base and every existing directory between it
	// and the home to be owned by root and writable by no one else, as a
	// setuid start must: it creates the home for whoever started it.
	RootOnly bool
}

// Below reports whether home is strictly below base (any home is below "/").
func Below(home, base string) bool {
	base = filepath.Clean(base)
	home = filepath.Clean(home)
	if base == "/" {
		return home != "/"
	}
	return strings.HasPrefix(home, base+"/")
}

// Create makes home, owned by uid:gid with mode 0700, when it does not
// exist yet; missing parents are created owned by the caller, mode 0755.
// It reports whether it made the directory: an existing home, or anything
// else at that path, is left exactly as it is.
func Create(home string, uid, gid int, r Rules) (bool, error) {
	home = filepath.Clean(home)
	if home == NoHome || home == "/" {
		return false, nil
	}
	if !filepath.IsAbs(home) || !Below(home, r.Base) {
		return false, &os.PathError{Op: "create home", Path: home, Err: ErrOutsideBase}
	}
	dir, err := safefs.OpenRoot(r.Base)
	if err != nil {
		return false, err
	}
	// OpenRoot holds its last component O_PATH|O_NOFOLLOW: a link there is
	// held as a link, which is no directory to work in.
	var st unix.Stat_t
	if err := unix.Fstat(dir, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(dir)
		why := error(unix.ENOTDIR)
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			why = ErrSymlink
		}
		return false, &os.PathError{Op: "open", Path: r.Base, Err: why}
	}
	defer func() { unix.Close(dir) }()
	if err := check(dir, r.Base, r); err != nil {
		return false, err
	}
	rel, _ := filepath.Rel(filepath.Clean(r.Base), home)
	parts := strings.Split(rel, "/")
	path := filepath.Clean(r.Base)
	for _, name := range parts[:len(parts)-1] {
		path = filepath.Join(path, name)
		next, err := openOrMake(dir, name, path)
		if err != nil {
			return false, err
		}
		unix.Close(dir)
		dir = next
		if err := check(dir, path, r); err != nil {
			return false, err
		}
	}
	return makeHome(dir, parts[len(parts)-1], home, uid, gid)
}

// check applies r.RootOnly to the directory fd holds.
func check(fd int, path string, r Rules) error {
	if !r.RootOnly {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Uid != 0 || st.Mode&0o022 != 0 {
		return &os.PathError{Op: "create home below", Path: path, Err: fmt.Errorf("%w (owner %d, mode %04o)", ErrUntrusted, st.Uid, st.Mode&0o7777)}
	}
	return nil
}

// openOrMake opens the directory name below dir, making it first when it
// is missing. O_NOFOLLOW|O_DIRECTORY: a symlink or a file there fails.
func openOrMake(dir int, name, path string) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dir, name, flags, 0)
	if err == unix.ENOENT {
		if err := unix.Mkdirat(dir, name, parentMode); err != nil && err != unix.EEXIST {
			return -1, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		if err := setMode(dir, name, path, parentMode); err != nil {
			return -1, err
		}
		fd, err = unix.Openat(dir, name, flags, 0)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: whyNot(dir, name, err)}
	}
	return fd, nil
}

// whyNot names a symlink where a directory was wanted: O_NOFOLLOW with
// O_DIRECTORY reports one as ENOTDIR, or ELOOP.
func whyNot(dir int, name string, err error) error {
	var st unix.Stat_t
	if (err == unix.ENOTDIR || err == unix.ELOOP) &&
		unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return ErrSymlink
	}
	return err
}

// makeHome creates name below dir and hands it to uid:gid through a
// descriptor of the new directory itself.
func makeHome(dir int, name, path string, uid, gid int) (bool, error) {
	if err := unix.Mkdirat(dir, name, homeMode); err != nil {
		if err == unix.EEXIST {
			return false, nil
		}
		return false, &os.PathError{Op: "mkdir", Path: path, Err: whyNot(dir, name, err)}
	}
	// O_NOFOLLOW|O_DIRECTORY: should the new directory have been swapped
	// for a link since, this fails instead of changing what it names.
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	// The umask may have taken bits off; the mode is set as documented,
	// before the chown, while the start still owns the directory (without
	// CAP_FOWNER it could not change another user's).
	if err := unix.Fchmod(fd, homeMode); err != nil {
		return true, &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return true, &os.PathError{Op: "chown", Path: path, Err: err}
	}
	return true, nil
}

// setMode gives a parent just made its mode, whatever the umask took off.
func setMode(dir int, name, path string, mode uint32) error {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, mode); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}
