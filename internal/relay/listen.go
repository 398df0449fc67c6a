package relay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Bases are where a relay's directory goes: /run, or where the root file
// system is read-only, the tmpfs a container has at /dev/shm (or /tmp).
var Bases = []string{"/run", "/dev/shm", "/tmp"}

// runDir holds the relays' directories under /run.
const runDir = "agent-entrypoint"

// Listener is a relay's socket, served to the target alone: a socket of
// mode 0600 in a directory of mode 0700, both the target's.
type Listener struct {
	Path string
	f    *os.File
	dir  string
}

// Listen makes a new directory for one relay and a socket in it named
// name, both owned by uid:gid, in the first of Bases that takes them.
func Listen(name string, uid, gid int) (*Listener, error) {
	var errs []error
	for _, base := range Bases {
		l, err := listenIn(base, name, uid, gid)
		if err == nil {
			return l, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("make a relay socket: %w", errors.Join(errs...))
}

func listenIn(base, name string, uid, gid int) (*Listener, error) {
	parent := base
	if base == "/run" {
		// /run is root's alone: a directory of ours in it needs no random
		// name to be safe, but gets one so that a restart never meets the
		// last start's.
		parent = filepath.Join(base, runDir)
		if err := ensureRootDir(parent); err != nil {
			return nil, err
		}
		removeStale(parent)
	} else if err := checkBase(base); err != nil {
		return nil, err
	}
	prefix := "agent-entrypoint-relay-"
	if parent != base {
		prefix = "relay-"
	}
	dir, err := makeDir(parent, prefix)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	// The directory is new, root's and not writable by others until it is
	// handed over below: nothing can be swapped in before the socket is
	// made and given its owner.
	f, err := listenUnix(path)
	if err == nil {
		err = errors.Join(unix.Fchmodat(unix.AT_FDCWD, path, 0o600, 0), os.Lchown(path, uid, gid), os.Lchown(dir, uid, gid))
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.Remove(path)
		os.Remove(dir)
		return nil, &os.PathError{Op: "listen", Path: path, Err: err}
	}
	return &Listener{Path: path, f: f, dir: dir}, nil
}

// Remove stops the listener, which ends Serve, and removes its socket and
// directory.
func (l *Listener) Remove() {
	l.f.Close()
	os.Remove(l.Path)
	os.Remove(l.dir)
}

// ensureRootDir makes dir, root's and mode 0755, or checks that it is
// root's alone and no link.
func ensureRootDir(dir string) error {
	if err := unix.Mkdir(dir, 0o755); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	return checkBase(dir)
}

// checkBase requires a directory no one but root may change, or a sticky
// one root owns (/tmp, /dev/shm), where others cannot remove ours.
func checkBase(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return &os.PathError{Op: "use", Path: dir, Err: unix.ENOTDIR}
	case st.Uid != 0 || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0):
		return &os.PathError{Op: "use", Path: dir, Err: fmt.Errorf("owner %d, mode %04o: not root's alone", st.Uid, st.Mode&0o7777)}
	}
	return nil
}

// makeDir makes a directory named prefix and random letters in parent,
// mode 0700. (Mkdir never follows a link in its last component, and
// fails where anything is already: the name need not be secret, only
// hard to have taken in advance, which the runtime's randomly seeded
// generator gives without linking crypto/rand's.)
func makeDir(parent, prefix string) (string, error) {
	for range 10 {
		dir := filepath.Join(parent, fmt.Sprintf("%s%016x", prefix, rand.Uint64()))
		err := unix.Mkdir(dir, 0o700)
		if err == nil {
			return dir, nil
		}
		if err != unix.EEXIST {
			return "", &os.PathError{Op: "mkdir", Path: dir, Err: err}
		}
	}
	return "", &os.PathError{Op: "mkdir", Path: parent, Err: unix.EEXIST}
}

// removeStale removes what earlier starts left in /run/agent-entrypoint:
// each relay directory's entries, never following a link, and then the
// directory. Whatever cannot go stays.
func removeStale(parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "relay-") {
			continue
		}
		fd, err := unix.Open(filepath.Join(parent, e.Name()), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		f := os.NewFile(uintptr(fd), e.Name())
		names, _ := f.Readdirnames(-1)
		for _, n := range names {
			// No AT_REMOVEDIR: a directory the user made in there stays,
			// and so does this one.
			unix.Unlinkat(fd, n, 0)
		}
		f.Close()
		unix.Rmdir(filepath.Join(parent, e.Name()))
	}
}
