package claim

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

// Dirs are where a marker may be: /run, root-owned in every image, and
// /dev/shm, a sticky tmpfs that stays writable under --read-only.
var Dirs = []string{"/run", "/dev/shm"}

// inits are the process names of the minimal inits that start the
// container's command as their only child: docker-init (tini, from `docker
// run --init`), tini itself, catatonit (podman --init) and dumb-init.
var inits = []string{"docker-init", "tini", "tini-static", "catatonit", "dumb-init"}

// Outcome is what Claim found.
type Outcome int

const (
	// Claimed: this process recorded the claim; it is the start's first.
	Claimed Outcome = iota + 1
	// Taken: the start was claimed before; this process gains nothing.
	Taken
	// NotFirst: this process is not the container's first, and claimed
	// nothing.
	NotFirst
)

func (o Outcome) String() string {
	switch o {
	case Claimed:
		return "claimed"
	case Taken:
		return "taken"
	case NotFirst:
		return "not first"
	}
	return "unknown"
}

// ErrUnrecorded is returned when no candidate directory could take the
// marker.
var ErrUnrecorded = errors.New("cannot record the container start")

// First reports whether this process is the container's first: PID 1, or
// the direct child of a known init that is PID 1.
func First() (bool, string) {
	pid, ppid := os.Getpid(), os.Getppid()
	if pid == 1 {
		return true, ""
	}
	comm, _ := safefs.ReadFile("/proc/1/comm", 64)
	name := strings.TrimSpace(string(comm))
	if ppid == 1 && slices.Contains(inits, name) {
		return true, ""
	}
	return false, fmt.Sprintf("pid %d, parent pid %d, pid 1 is %q", pid, ppid, name)
}

// Claim claims the container start for the calling process when first is
// set (root starts may always claim: they hold root anyway). It returns
// Claimed when it recorded the claim, Taken when a marker was there
// already, and NotFirst, recording nothing, when first is false. An error
// means the claim could not be recorded: the caller must fail closed.
func Claim(first bool) (Outcome, error) {
	if !first {
		return NotFirst, nil
	}
	name, err := markerName()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnrecorded, err)
	}
	dirs := make([]dirState, len(Dirs))
	for i, d := range Dirs {
		var err error
		dirs[i], err = examine(d, name)
		defer dirs[i].close()
		if err != nil {
			// What cannot be looked at may hold a marker: fail closed.
			return 0, fmt.Errorf("%w: %w", ErrUnrecorded, err)
		}
	}
	out, candidates := decide(dirs)
	if out != 0 {
		return out, nil
	}
	var errs []error
	for _, i := range candidates {
		err := create(dirs[i].fd, name)
		if errors.Is(err, unix.EEXIST) {
			return Taken, nil
		}
		if err != nil {
			errs = append(errs, &os.PathError{Op: "create", Path: filepath.Join(dirs[i].path, name), Err: err})
			continue
		}
		// Another process that looked at the same moment may have put its
		// marker into another directory: then neither may go on.
		for j := range dirs {
			if j == i || dirs[j].fd < 0 {
				continue
			}
			if there, err := markerThere(dirs[j].fd, name); there || err != nil {
				return Taken, nil
			}
		}
		return Claimed, nil
	}
	for _, d := range dirs {
		if d.why != nil {
			errs = append(errs, d.why)
		}
	}
	return 0, fmt.Errorf("%w: %w", ErrUnrecorded, errors.Join(errs...))
}

// dirState is what Claim learned of one candidate directory.
type dirState struct {
	path    string
	fd      int   // O_PATH descriptor of the directory, -1 if it could not be opened
	present bool  // a marker of this start is there, or may be
	trusted bool  // the marker may be created there
	why     error // why it may not, for the error message
}

func (d dirState) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
	}
}

// decide is Claim's rule: a marker in any directory means the start was
// claimed; otherwise the trusted directories, in order, are where to
// record it. Without any, the claim cannot be recorded.
func decide(dirs []dirState) (Outcome, []int) {
	var candidates []int
	for i, d := range dirs {
		if d.present {
			return Taken, nil
		}
		if d.trusted {
			candidates = append(candidates, i)
		}
	}
	return 0, candidates
}

// examine opens a candidate directory without following a symlink and
// looks for the marker in it. A directory that is not there, or is a
// symlink, holds no marker: none was ever made through a link. Any other
// failure to look is an error, since a marker may be there.
func examine(path, name string) (dirState, error) {
	d := dirState{path: path, fd: -1}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch err {
	case nil:
	case unix.ENOENT, unix.ENOTDIR, unix.ELOOP:
		d.why = &os.PathError{Op: "open", Path: path, Err: err}
		return d, nil
	default:
		return d, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d.fd = fd
	if d.present, err = markerThere(fd, name); err != nil {
		return d, &os.PathError{Op: "look for the marker in", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return d, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	d.trusted, d.why = trusted(st.Uid, st.Mode)
	if d.why != nil {
		d.why = &os.PathError{Op: "use", Path: path, Err: d.why}
	}
	return d, nil
}

// trusted is the rule for a marker directory: root's, and either writable
// by no one else or sticky, so that no one else can remove a root-owned
// marker from it.
func trusted(uid, mode uint32) (bool, error) {
	switch {
	case uid != 0:
		return false, fmt.Errorf("owned by uid %d, not root", uid)
	case mode&0o022 != 0 && mode&unix.S_ISVTX == 0:
		return false, fmt.Errorf("mode %04o: others may write it", mode&0o7777)
	}
	return true, nil
}

// markerThere reports whether anything by the marker's name is in dir,
// of whatever type and owner.
func markerThere(dir int, name string) (bool, error) {
	var st unix.Stat_t
	// AT_SYMLINK_NOFOLLOW: a link by that name counts itself.
	switch err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err {
	case nil:
		return true, nil
	case unix.ENOENT:
		return false, nil
	default:
		return false, err
	}
}

func create(dir int, name string) error {
	// O_EXCL|O_NOFOLLOW: the marker must be new; anything already there
	// means someone ran first, and it is never followed.
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// markerName names this container start: the boot, the PID namespace and
// PID 1's start time, which together never repeat.
func markerName() (string, error) {
	boot, err := safefs.ReadFile("/proc/sys/kernel/random/boot_id", 64)
	if err != nil {
		return "", err
	}
	bootID := strings.TrimSpace(string(boot))
	if len(bootID) != 36 || strings.Trim(bootID, "0123456789abcdef-") != "" {
		return "", fmt.Errorf("parse boot id %q", bootID)
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return "", err
	}
	nsIno, ok := strings.CutPrefix(ns, "pid:[")
	nsIno, ok2 := strings.CutSuffix(nsIno, "]")
	if !ok || !ok2 || nsIno == "" || strings.Trim(nsIno, "0123456789") != "" {
		return "", fmt.Errorf("parse pid namespace %q", ns)
	}
	stat, err := safefs.ReadFile("/proc/1/stat", 4096)
	if err != nil {
		return "", err
	}
	start, err := startTime(stat)
	if err != nil {
		return "", err
	}
	return markerFor(bootID, nsIno, start), nil
}

// markerFor is the marker's name for one boot, PID namespace and PID 1
// start time.
func markerFor(bootID, pidNS, start string) string {
	return ".agent-entrypoint-started-" + bootID + "-" + pidNS + "-" + start
}

// startTime returns field 22 of a /proc/PID/stat line, the start time in
// clock ticks since boot.
func startTime(stat []byte) (string, error) {
	// The command name in parentheses may contain spaces and parentheses;
	// fields are counted after its last ')', which ends field 2.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/1/stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	const field = 22 - 3 // field 22, counted from field 3
	if len(fields) <= field || strings.Trim(fields[field], "0123456789") != "" {
		return "", fmt.Errorf("parse /proc/1/stat: no start time")
	}
	return fields[field], nil
}
