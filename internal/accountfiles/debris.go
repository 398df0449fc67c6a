package accountfiles

import (
	"os"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"golang.org/x/sys/unix"
)

// tempPrefix starts the name of every temp file staged for the account
// file name: hidden, named after the file and after this program, so that
// a later start can tell its own debris from anything else in /etc.
func tempPrefix(name string) string { return "." + name + ".agent-entrypoint-" }

// isDebris reports whether name is a temp file of ours: the prefix of an
// account file and a random suffix in base 36.
func isDebris(name string) bool {
	for _, f := range accounts.Files {
		suffix, ok := strings.CutPrefix(name, tempPrefix(f))
		if ok && suffix != "" && strings.Trim(suffix, "0123456789abcdefghijklmnopqrstuvwxyz") == "" {
			return true
		}
	}
	return false
}

// removeDebris removes the temp files a start killed between staging and
// renaming left in dir. It must run under the lock: every temp file of a
// live writer is made and renamed while that writer holds it.
func removeDebris(dir string) error {
	// O_NOFOLLOW|O_DIRECTORY: dir itself is read, never what a link names.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fileErr("open", dir, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 16<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return fileErr("read", dir, err)
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	for _, name := range slices.DeleteFunc(names, func(n string) bool { return !isDebris(n) }) {
		var st unix.Stat_t
		// AT_SYMLINK_NOFOLLOW: a link of that name is looked at (and
		// left), never what it names; only regular files were ours.
		if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		if err := unix.Unlinkat(fd, name, 0); err != nil && err != unix.ENOENT {
			return &os.PathError{Op: "remove", Path: dir + "/" + name, Err: err}
		}
	}
	return nil
}
