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

// Marker is the marker this process created, held open so that the
// start can write its record into it (package startrecord) at no cost of
// another file.
type Marker struct {
	fd   int
	path string
}

// Record writes what the start did into the marker, and closes it. A nil
// marker (the start made none) records nothing.
func (m *Marker) Record(data []byte) error {
	if m == nil {
		return nil
	}
	defer m.Close()
	for len(data) > 0 {
		n, err := unix.Write(m.fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "write", Path: m.path, Err: err}
		}
		data = data[n:]
	}
	return nil
}

// Close closes the marker; it stays, empty or with its record.
func (m *Marker) Close() {
	if m != nil && m.fd >= 0 {
		unix.Close(m.fd)
		m.fd = -1
	}
}

// Claim claims the container start for the calling process when first is
// set (root starts may always claim: they hold root anyway). It returns
// Claimed, with the marker it made, when it recorded the claim, Taken when
// a marker was there already, and NotFirst, recording nothing, when first
// is false. An error means the claim could not be recorded: the caller
// must fail closed.
func Claim(first bool) (Outcome, *Marker, error) {
	if !first {
		return NotFirst, nil, nil
	}
	name, err := markerName()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrUnrecorded, err)
	}
	dirs := make([]dirState, len(Dirs))
	for i, d := range Dirs {
		var err error
		dirs[i], err = examine(d, name)
		defer dirs[i].close()
		if err != nil {
			// What cannot be looked at may hold a marker: fail closed.
			return 0, nil, fmt.Errorf("%w: %w", ErrUnrecorded, err)
		}
	}
	out, candidates := decide(dirs)
	if out != 0 {
		return out, nil, nil
	}
	var errs []error
	for _, i := range candidates {
		path := filepath.Join(dirs[i].path, name)
		fd, err := create(dirs[i].fd, name)
		if errors.Is(err, unix.EEXIST) {
			return Taken, nil, nil
		}
		if err != nil {
			errs = append(errs, &os.PathError{Op: "create", Path: path, Err: err})
			continue
		}
		m := &Marker{fd: fd, path: path}
		// Another process that looked at the same moment may have put its
		// marker into another directory: then neither may go on.
		for j := range dirs {
			if j == i || dirs[j].fd < 0 {
				continue
			}
			if there, err := markerThere(dirs[j].fd, name); there || err != nil {
				m.Close()
				return Taken, nil, nil
			}
		}
		return Claimed, m, nil
	}
	for _, d := range dirs {
		if d.why != nil {
			errs = append(errs, d.why)
		}
	}
	return 0, nil, fmt.Errorf("%w: %w", ErrUnrecorded, errors.Join(errs...))
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

func create(dir int, name string) (int, error) {
	// Mode 0444 whatever the umask, without another system call on the
	// file: every process of the container may read the start's record.
	old := unix.Umask(0)
	defer unix.Umask(old)
	// O_EXCL|O_NOFOLLOW: the marker must be new; anything already there
	// means someone ran first, and it is never followed.
	return unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o444)
}

// ErrNoMarker is returned by ReadMarker where this start left no marker
// that root alone may have written.
var ErrNoMarker = errors.New("no marker of this start")

// maxMarker caps what ReadMarker reads.
const maxMarker = 64 << 10

// ReadMarker returns what the marker of this container start holds: the
// start's record, or nothing. Only a marker that root owns and no one
// else may write, in a directory only root may change (or a sticky one),
// is read; elsewhere it is as if there were none.
func ReadMarker() ([]byte, error) {
	name, err := markerName()
	if err != nil {
		return nil, err
	}
	for _, d := range Dirs {
		data, err := readMarker(d, name)
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, ErrNoMarker) {
			return nil, err
		}
	}
	return nil, ErrNoMarker
}

func readMarker(dir, name string) ([]byte, error) {
	path := filepath.Join(dir, name)
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoMarker, err)
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if ok, why := trusted(st.Uid, st.Mode); !ok {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoMarker, dir, why)
	}
	// O_NOFOLLOW: a link is refused, not followed. O_NONBLOCK: a FIFO by
	// that name must not hang the reader.
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoMarker, &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s: not a regular file root alone may write", ErrNoMarker, path)
	}
	data, err := safefs.ReadFD(fd, maxMarker, int(st.Size))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return data, nil
}

// markerName names the marker of this container start.
func markerName() (string, error) {
	id, err := StartID()
	return markerPrefix + id, err
}

// markerPrefix begins every marker's name.
const markerPrefix = ".agent-entrypoint-started-"

// StartID names this container start: the boot, the PID namespace and
// PID 1's start time, which together never repeat.
func StartID() (string, error) {
	if thisStart != "" {
		return thisStart, nil
	}
	id, err := readStartID()
	if err == nil {
		thisStart = id
	}
	return id, err
}

// thisStart is StartID, once read: it cannot change while the process
// lives.
var thisStart string

func readStartID() (string, error) {
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
	return startID(bootID, nsIno, start), nil
}

// startID is the id of one boot, PID namespace and PID 1 start time.
func startID(bootID, pidNS, start string) string {
	return bootID + "-" + pidNS + "-" + start
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
