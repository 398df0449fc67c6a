package startup

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Caps is a capability set, bit n for capability n.
type Caps uint64

// The capabilities the shim may need, each for its own steps.
const (
	CapChown       = unix.CAP_CHOWN           // hand the home (and new account files) to their owner
	CapDACOverride = unix.CAP_DAC_OVERRIDE    // write account files root itself may not write
	CapDACRead     = unix.CAP_DAC_READ_SEARCH // walk a moved user's private directories
	CapFowner      = unix.CAP_FOWNER          // chmod a socket owned by another uid
	CapSetgid      = unix.CAP_SETGID          // set the groups and the gid
	CapSetuid      = unix.CAP_SETUID          // set the uid
)

var capNames = map[int]string{
	CapChown:       "CHOWN",
	CapDACOverride: "DAC_OVERRIDE",
	CapDACRead:     "DAC_READ_SEARCH",
	CapFowner:      "FOWNER",
	CapSetgid:      "SETGID",
	CapSetuid:      "SETUID",
}

// Has reports whether every capability in caps is in c.
func (c Caps) Has(caps ...int) bool {
	for _, n := range caps {
		if c&(1<<n) == 0 {
			return false
		}
	}
	return true
}

// Missing returns those of caps that c lacks, as Docker names them.
func (c Caps) Missing(caps ...int) []string {
	var out []string
	for _, n := range caps {
		if !c.Has(n) {
			out = append(out, capNames[n])
		}
	}
	return out
}

// CapAddFlags renders names as docker run flags.
func CapAddFlags(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("--cap-add " + n)
	}
	return b.String()
}
