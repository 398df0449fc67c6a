package users

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// NoHome is the home directory Debian policy gives accounts that have none;
// it is never created.
const NoHome = "/nonexistent"

// homeMode is the mode of a created home directory, as useradd's HOME_MODE
// on current Debian: private to its owner.
const homeMode = 0o700

// CreateHome makes dir owned by uid:gid when it does not exist yet. Missing
// parents are created root-owned, mode 0755. An existing dir, or anything
// else at that path, is left exactly as it is; created reports whether it
// made the directory.
func CreateHome(dir string, uid, gid int) (created bool, err error) {
	if dir == NoHome || dir == "/" {
		return false, nil
	}
	if _, err := os.Lstat(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	parent, base := filepath.Split(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	// O_PATH|O_DIRECTORY: hold the parent itself so that mkdir and chown
	// below act on the same directory even if the path is swapped meanwhile.
	pfd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: parent, Err: err}
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, homeMode); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	// AT_SYMLINK_NOFOLLOW: should the new directory have been replaced by a
	// symlink in between, the link is chowned, never what it points to.
	if err := unix.Fchownat(pfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return true, &os.PathError{Op: "chown", Path: dir, Err: err}
	}
	return true, nil
}
