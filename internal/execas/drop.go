package execas

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrReversible is returned by Verify when the process could regain root.
var ErrReversible = errors.New("privilege drop is reversible")

// Creds are the ids the command runs with.
type Creds struct {
	UID, GID int
	Groups   []int // the exact supplementary group list
}

// Drop switches every thread of the process to c and then verifies it. The
// caller has locked its goroutine to the OS thread since init, so that the
// verification's single-thread syscalls run where the drop ran too.
//
// The order matters: groups, then gid, then uid, because setting groups and
// gids needs CAP_SETGID, which the process loses when its uid leaves 0.
func Drop(c Creds) error {
	// The syscall package's versions apply to all threads of the process
	// (since Go 1.16); x/sys/unix's would change only the calling thread.
	// Groups already right are left alone: setgroups needs CAP_SETGID,
	// which a setuid start under --cap-drop ALL does not have.
	if have, err := unix.Getgroups(); err != nil || !sameGroups(have, c.Groups) {
		if err := syscall.Setgroups(c.Groups); err != nil {
			return os.NewSyscallError("setgroups", err)
		}
	}
	if err := syscall.Setresgid(c.GID, c.GID, c.GID); err != nil {
		return os.NewSyscallError("setresgid", err)
	}
	if err := syscall.Setresuid(c.UID, c.UID, c.UID); err != nil {
		return os.NewSyscallError("setresuid", err)
	}
	return Verify(c)
}

// Verify checks that the process holds exactly c: real, effective and saved
// ids, the supplementary groups, and, unless c is root, no capability and no
// way back to uid or gid 0.
func Verify(c Creds) error {
	ruid, euid, suid := unix.Getresuid()
	if ruid != c.UID || euid != c.UID || suid != c.UID {
		return fmt.Errorf("%w: uids are %d/%d/%d, want %d", ErrReversible, ruid, euid, suid, c.UID)
	}
	rgid, egid, sgid := unix.Getresgid()
	if rgid != c.GID || egid != c.GID || sgid != c.GID {
		return fmt.Errorf("%w: gids are %d/%d/%d, want %d", ErrReversible, rgid, egid, sgid, c.GID)
	}
	groups, err := unix.Getgroups()
	if err != nil {
		return os.NewSyscallError("getgroups", err)
	}
	if !sameGroups(groups, c.Groups) {
		return fmt.Errorf("%w: groups are %v, want %v", ErrReversible, groups, c.Groups)
	}
	if c.UID == 0 {
		return nil
	}
	// Raw, single-thread syscalls on purpose: should one succeed, this
	// thread is root again and the process exits without running anything.
	if _, _, errno := unix.RawSyscall(unix.SYS_SETUID, 0, 0, 0); errno == 0 {
		return fmt.Errorf("%w: setuid(0) succeeded", ErrReversible)
	}
	if c.GID != 0 {
		if _, _, errno := unix.RawSyscall(unix.SYS_SETGID, 0, 0, 0); errno == 0 {
			return fmt.Errorf("%w: setgid(0) succeeded", ErrReversible)
		}
	}
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	for _, d := range data {
		if d.Effective != 0 || d.Permitted != 0 {
			return fmt.Errorf("%w: capabilities remain (permitted %#x)", ErrReversible, uint64(data[1].Permitted)<<32|uint64(data[0].Permitted))
		}
	}
	return nil
}

// sameGroups compares two group lists as sets.
func sameGroups(a, b []int) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
