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

// Conditions are what the process was started with, read once.
type Conditions struct {
	RUID, EUID, SUID int
	RGID, EGID, SGID int
	// Groups are the supplementary groups the runtime gave, such as those of
	// `docker run --group-add`.
	Groups []int
	// CapEff is the effective capability set.
	CapEff Caps
	// NoNewPrivs is set by `--security-opt no-new-privileges` and by
	// Kubernetes' allowPrivilegeEscalation: false; it voids setuid bits.
	NoNewPrivs bool
	// SetuidBit reports that the executable is owned by root and carries
	// the setuid bit, whether or not it took effect.
	SetuidBit bool
	// NosuidMount reports that the executable lives on a nosuid mount.
	NosuidMount bool
	// UserNS reports a user namespace: uid 0 is not the host's root. Only
	// read when not root in effect; InUserNS asks at any time.
	UserNS bool
}

// Detect reads the start conditions from the kernel: ids, groups,
// capabilities and no_new_privs by syscall (no /proc needed), and only when
// not running as root in effect, why a setuid bit might not have worked.
func Detect() (Conditions, error) {
	var c Conditions
	c.RUID, c.EUID, c.SUID = unix.Getresuid()
	c.RGID, c.EGID, c.SGID = unix.Getresgid()
	groups, err := unix.Getgroups()
	if err != nil {
		return c, os.NewSyscallError("getgroups", err)
	}
	c.Groups = groups
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return c, os.NewSyscallError("capget", err)
	}
	c.CapEff = Caps(data[1].Effective)<<32 | Caps(data[0].Effective)
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return c, os.NewSyscallError("prctl", err)
	}
	c.NoNewPrivs = nnp == 1
	if c.EUID == 0 {
		return c, nil
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err == nil {
		c.SetuidBit = st.Mode&unix.S_ISUID != 0 && st.Uid == 0
	}
	var fs unix.Statfs_t
	if err := unix.Statfs("/proc/self/exe", &fs); err == nil {
		c.NosuidMount = fs.Flags&unix.ST_NOSUID != 0
	}
	c.UserNS = InUserNS()
	return c, nil
}

// InUserNS reports a user namespace other than the initial one, where uid
// 0 is not the host's root (rootless Podman, userns-remap).
func InUserNS() bool {
	m, err := os.ReadFile("/proc/self/uid_map")
	return err == nil && !isInitialUIDMap(m)
}

// isInitialUIDMap reports the initial user namespace's map, the identity
// over all 2^32-1 ids.
func isInitialUIDMap(m []byte) bool {
	return strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295"
}

// SetuidVoided names why a setuid-root executable runs without root, or ""
// when it did not (or is not setuid).
func (c Conditions) SetuidVoided() string {
	switch {
	case !c.SetuidBit || c.EUID == 0:
		return ""
	case c.NoNewPrivs:
		return "no-new-privileges is set"
	case c.NosuidMount:
		return "the binary is on a nosuid mount"
	case c.UserNS:
		return "the binary's owner is not root in this user namespace"
	}
	return "the setuid bit did not take effect"
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
