package execas

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"unsafe"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"golang.org/x/sys/unix"
)

// ErrReversible is returned by Verify when the process could regain root.
var ErrReversible = errors.New("privilege drop is reversible")

// Creds are the ids the command runs with.
type Creds struct {
	UID, GID int
	Groups   []int // the exact supplementary group list
}

// Drop switches the calling OS thread to c and verifies it. It is made for
// a process that execs right after: execve ends every other thread and
// starts the command with the calling thread's ids, so the command never
// sees a thread that kept root. Until then the other threads run only the
// Go runtime, never the shim's code, because the caller's goroutine is
// locked to its OS thread from init to exec.
//
// Single-thread syscalls, as runc's container init long used them before
// its exec: the syscall package's all-threads versions signal every runtime
// thread and wait for each, a cost bench/README.md measures.
// x/sys/unix's Setgroups is already single-thread.
//
// The order matters: groups, then gid, then uid, because setting groups and
// gids needs CAP_SETGID, which the thread loses when its uid leaves 0. The
// ambient and inheritable capability sets go first: setresuid clears the
// permitted and effective sets, not the inheritable one, and a file with
// inheritable file capabilities (cap_dac_override+ei) would hand them to
// the command.
func Drop(c Creds) error {
	if err := clearInheritable(); err != nil {
		return err
	}
	// Groups already right are left alone: setgroups needs CAP_SETGID,
	// which a setuid start under --cap-drop ALL does not have.
	if have, err := unix.Getgroups(); err != nil || !sameGroups(have, c.Groups) {
		if err := unix.Setgroups(c.Groups); err != nil {
			return os.NewSyscallError("setgroups", err)
		}
	}
	if err := rawSetres(unix.SYS_SETRESGID, c.GID, c.GID, c.GID); err != nil {
		return os.NewSyscallError("setresgid", err)
	}
	if err := rawSetres(unix.SYS_SETRESUID, c.UID, c.UID, c.UID); err != nil {
		return os.NewSyscallError("setresuid", err)
	}
	return Verify(c)
}

// ReturnToRealIDs gives up what a setuid or setgid bit gave, in every
// thread: each uid and gid becomes the real one, which for a real uid
// other than 0 also empties the capability sets. It verifies the result,
// and reports whether anything changed.
func ReturnToRealIDs() (bool, error) {
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	if ruid == euid && euid == suid && rgid == egid && egid == sgid {
		return false, nil
	}
	groups, err := unix.Getgroups()
	if err != nil {
		return false, os.NewSyscallError("getgroups", err)
	}
	if err := clearInheritable(); err != nil {
		return false, err
	}
	// The syscall package's calls act on all of the runtime's threads:
	// none may keep root, whatever runs on it later. The gid goes first,
	// while the uid may still change it.
	if err := syscall.Setresgid(rgid, rgid, rgid); err != nil {
		return false, os.NewSyscallError("setresgid", err)
	}
	if err := syscall.Setresuid(ruid, ruid, ruid); err != nil {
		return false, os.NewSyscallError("setresuid", err)
	}
	return true, Verify(Creds{UID: ruid, GID: rgid, Groups: groups})
}

// SetEGID sets the effective gid of the calling thread only, the one that
// runs the shim (see Drop).
func SetEGID(gid int) error {
	if err := rawSetres(unix.SYS_SETRESGID, -1, gid, -1); err != nil {
		return os.NewSyscallError("setresgid", err)
	}
	return nil
}

// rawSetres sets the real, effective and saved id (-1 keeps one) of the
// calling thread only; x/sys/unix's Setresuid and Setresgid are the
// all-threads ones.
func rawSetres(trap uintptr, r, e, s int) error {
	if _, _, errno := unix.RawSyscall(trap, uintptr(r), uintptr(e), uintptr(s)); errno != 0 {
		return errno
	}
	return nil
}

// Verify checks that the process holds exactly c: real, effective and saved
// ids, the supplementary groups, and, unless c is root, no way back to uid
// or gid 0 and no capability in the permitted, effective, inheritable or
// ambient set. The bounding set is left as the runtime made it: it limits
// what a setuid program of the image (sudo, ping) may gain, and emptying
// it would break those for every image that ships them.
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
	sets, err := Capabilities()
	if err != nil {
		return err
	}
	if sets.Permitted != 0 || sets.Effective != 0 || sets.Inheritable != 0 {
		return fmt.Errorf("%w: capabilities remain (permitted %#x, effective %#x, inheritable %#x)",
			ErrReversible, sets.Permitted, sets.Effective, sets.Inheritable)
	}
	// No ambient capability can remain: the kernel keeps the ambient set
	// within the permitted and inheritable sets, both empty here.
	return nil
}

// CapSets are the calling thread's capability sets, bit n for capability n.
type CapSets struct{ Effective, Permitted, Inheritable uint64 }

// Capabilities reads the calling thread's capability sets by system call,
// so that no /proc is needed.
func Capabilities() (CapSets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return CapSets{}, os.NewSyscallError("capget", err)
	}
	join := func(lo, hi uint32) uint64 { return uint64(hi)<<32 | uint64(lo) }
	return CapSets{
		Effective:   join(data[0].Effective, data[1].Effective),
		Permitted:   join(data[0].Permitted, data[1].Permitted),
		Inheritable: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

// clearInheritable empties the calling thread's ambient and inheritable
// capability sets and keeps the others. Lowering them needs no capability.
func clearInheritable() error {
	// EINVAL: a kernel before 4.3 has no ambient set to clear.
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return os.NewSyscallError("prctl", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capget", err)
	}
	if data[0].Inheritable == 0 && data[1].Inheritable == 0 {
		return nil
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return os.NewSyscallError("capset", err)
	}
	return nil
}

// sameGroups compares two group lists as sets.
func sameGroups(a, b []int) bool {
	return slices.Equal(accounts.SortedIDs(a), accounts.SortedIDs(b))
}

// KeepOnly confines the whole process, every thread of it, to the
// capabilities in keep, for a process that stays root and never execs
// again (the relay's supervisor): the permitted and effective sets become
// keep, the inheritable and ambient sets empty, the bounding set keep,
// and no_new_privs is set. It verifies the calling thread's sets after.
func KeepOnly(keep uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	// Dropping from the bounding set needs CAP_SETPCAP, so it goes first.
	// Every thread shares one bounding set (it only changes for all of
	// them, here), so the calling thread's tells which capabilities are
	// left to drop: each drop stops every thread, and a runtime's bounding
	// set is often a small one.
	for c := 0; c < 64; c++ {
		in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0)
		if err == unix.EINVAL {
			break // past the last capability
		}
		if err != nil {
			return os.NewSyscallError("prctl", err)
		}
		if in == 0 || keep&(1<<c) != 0 {
			continue
		}
		// EPERM: a runtime that took SETPCAP away keeps the bounding set
		// as it is; no_new_privs still keeps an exec from gaining more
		// than the permitted set.
		_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		if errno == unix.EPERM {
			break
		}
		if errno != 0 {
			return os.NewSyscallError("prctl", errno)
		}
	}
	for _, call := range []struct {
		name string
		trap uintptr
		args [3]uintptr
	}{
		{"prctl", unix.SYS_PRCTL, [3]uintptr{unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0}},
		{"capset", unix.SYS_CAPSET, [3]uintptr{uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0}},
		{"prctl", unix.SYS_PRCTL, [3]uintptr{unix.PR_SET_NO_NEW_PRIVS, 1, 0}},
	} {
		if _, _, errno := syscall.AllThreadsSyscall(call.trap, call.args[0], call.args[1], call.args[2]); errno != 0 {
			return os.NewSyscallError(call.name, errno)
		}
	}
	sets, err := Capabilities()
	if err != nil {
		return err
	}
	if sets.Effective != keep || sets.Permitted != keep || sets.Inheritable != 0 {
		return fmt.Errorf("confine the relay: capabilities are %#x/%#x/%#x, want %#x", sets.Effective, sets.Permitted, sets.Inheritable, keep)
	}
	return nil
}
