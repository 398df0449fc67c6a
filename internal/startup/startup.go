package startup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Conditions are the ids the process started with.
type Conditions struct {
	RUID, EUID, SUID int
	RGID, EGID, SGID int
	// Groups are the supplementary groups the runtime gave, such as those of
	// `docker run --group-add`.
	Groups []int
}

// Detect reads the process's ids.
func Detect() (Conditions, error) {
	var c Conditions
	c.RUID, c.EUID, c.SUID = unix.Getresuid()
	c.RGID, c.EGID, c.SGID = unix.Getresgid()
	groups, err := unix.Getgroups()
	if err != nil {
		return c, os.NewSyscallError("getgroups", err)
	}
	c.Groups = groups
	return c, nil
}

// Root reports a plain root start.
func (c Conditions) Root() bool { return c.RUID == 0 && c.EUID == 0 }

// Setuid reports a start through the setuid bit: root in effect only.
func (c Conditions) Setuid() bool { return c.EUID == 0 && c.RUID != 0 }

// inits are the process names of the minimal inits that start the
// container's command as their only child: docker-init (tini, from `docker
// run --init`), tini itself, catatonit (podman --init) and dumb-init.
var inits = []string{"docker-init", "tini", "tini-static", "catatonit", "dumb-init"}

// MarkerDirs are where the once-per-start marker goes: /run, root-owned in
// every image, or when the root file system is read-only, /dev/shm, a tmpfs
// whose sticky bit keeps others from removing a root-owned file.
var MarkerDirs = []string{"/run", "/dev/shm"}

// ErrNotFirst is returned by ClaimStart when the process is not the first of
// its container start, or the start was claimed already.
var ErrNotFirst = errors.New("not the container's first process")

// ClaimStart succeeds once per container start, for the process that is the
// container's first: PID 1, or the direct child of a known init that is
// PID 1. It records the claim in a marker named after PID 1's start time
// (a restarted container gets a new PID 1 and so a new marker), so that a
// process reparented to the init later, or one exec'd by PID 1 after the
// shim ran, is refused.
func ClaimStart() error {
	pid, ppid := os.Getpid(), os.Getppid()
	if pid != 1 {
		comm, _ := os.ReadFile("/proc/1/comm")
		name := strings.TrimSpace(string(comm))
		if ppid != 1 || !slices.Contains(inits, name) {
			return fmt.Errorf("%w: pid %d, parent pid %d", ErrNotFirst, pid, ppid)
		}
	}
	start, err := pid1StartTime()
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range MarkerDirs {
		marker := filepath.Join(dir, ".agent-entrypoint-started-"+start)
		err := createMarker(marker)
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: the privileged phase already ran in this container (marker %s)", ErrNotFirst, marker)
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("record container start: %w", errors.Join(errs...))
}

func createMarker(path string) error {
	// O_EXCL|O_NOFOLLOW: the marker must be new; a file or symlink already
	// there means someone ran first, and it is never followed.
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	return unix.Close(fd)
}

// pid1StartTime returns PID 1's start time in clock ticks since boot.
func pid1StartTime() (string, error) {
	stat, err := os.ReadFile("/proc/1/stat")
	if err != nil {
		return "", err
	}
	return startTime(stat)
}

// startTime returns field 22 of a /proc/PID/stat line.
func startTime(stat []byte) (string, error) {
	// The command name in parentheses may contain spaces and parentheses;
	// fields are counted after its last ')', which ends field 2.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/1/stat: no command name")
	}
	fields := strings.Fields(string(stat[i+1:]))
	const field = 22 - 3 // field 22, counted from field 3
	if len(fields) <= field {
		return "", fmt.Errorf("parse /proc/1/stat: %d fields", len(fields)+2)
	}
	return fields[field], nil
}
