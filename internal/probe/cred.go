package probe

import (
	"os"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

// Cred reads the start's ids, groups, effective capabilities and
// no_new_privs by system call, and whether the executable is setuid-root
// and on a nosuid mount.
func Cred() (policy.Cred, error) {
	var c policy.Cred
	c.RUID, c.EUID, c.SUID = unix.Getresuid()
	c.RGID, c.EGID, c.SGID = unix.Getresgid()
	groups, err := unix.Getgroups()
	if err != nil {
		return c, os.NewSyscallError("getgroups", err)
	}
	c.Groups = groups
	sets, err := execas.Capabilities()
	if err != nil {
		return c, err
	}
	c.CapEff = policy.Caps(sets.Effective)
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return c, os.NewSyscallError("prctl", err)
	}
	c.NoNewPrivs = nnp == 1
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err == nil {
		c.SetuidBit = st.Mode&unix.S_ISUID != 0 && st.Uid == 0
	} else {
		// Without /proc the bit cannot be seen: a root start then claims
		// as if it were set, and fails closed when it cannot.
		c.SetuidBit = true
	}
	var fs unix.Statfs_t
	if err := unix.Statfs("/proc/self/exe", &fs); err == nil {
		c.NosuidMount = fs.Flags&unix.ST_NOSUID != 0
	}
	if c.EUID != 0 {
		c.UserNS = InUserNS()
	}
	c.SecureExec = secureExec()
	return c, nil
}

// atSecure is AT_SECURE of <elf.h>, which x/sys/unix does not name.
const atSecure = 23

// secureExec reports the kernel's AT_SECURE from the auxiliary vector the
// runtime kept at start, so that no /proc is needed. Without a vector it
// reports true: a caller cannot tell what it cannot read.
func secureExec() bool {
	auxv, err := unix.Auxv()
	if err != nil {
		return true
	}
	for _, kv := range auxv {
		if kv[0] == atSecure {
			return kv[1] != 0
		}
	}
	return true
}

// InUserNS reports a user namespace other than the initial one, where uid
// 0 is not the host's root (rootless Podman, userns-remap).
func InUserNS() bool {
	m, err := safefs.ReadFile("/proc/self/uid_map", 4096)
	return err == nil && !isInitialUIDMap(m)
}

// isInitialUIDMap reports the initial user namespace's map, the identity
// over all 2^32-1 ids.
func isInitialUIDMap(m []byte) bool {
	return strings.Join(strings.Fields(string(m)), " ") == "0 0 4294967295"
}
