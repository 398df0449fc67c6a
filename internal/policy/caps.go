package policy

import (
	"slices"
	"strings"
)

// Caps is a capability set, bit n for capability n.
type Caps uint64

// The capabilities a start may need, numbered as in linux/capability.h
// (a stable kernel ABI), each for its own steps.
const (
	CapChown       = 0  // hand the home (and new account files) to their owner
	CapDACOverride = 1  // write account files root itself may not write
	CapDACRead     = 2  // walk a moved user's private directories
	CapFowner      = 3  // chmod a socket owned by another uid
	CapKill        = 5  // the relay's supervisor signals the command
	CapSetgid      = 6  // set the groups and the gid
	CapSetuid      = 7  // set the uid
	capLast        = 63 // bits of a Caps
)

var capNames = map[int]string{
	CapChown:       "CHOWN",
	CapDACOverride: "DAC_OVERRIDE",
	CapDACRead:     "DAC_READ_SEARCH",
	CapFowner:      "FOWNER",
	CapKill:        "KILL",
	CapSetgid:      "SETGID",
	CapSetuid:      "SETUID",
}

// Has reports whether every capability in caps is in c.
func (c Caps) Has(caps ...int) bool {
	for _, n := range caps {
		if n < 0 || n > capLast || c&(1<<n) == 0 {
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

// CapAddFlags renders capability names as docker run flags, sorted and
// each once.
func CapAddFlags(names []string) string {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	for i, n := range names {
		names[i] = "--cap-add " + n
	}
	return strings.Join(names, " ")
}

// missingPhrase names missing capabilities in a message.
func missingPhrase(missing []string) string {
	if len(missing) == 1 {
		return "missing capability " + missing[0]
	}
	return "missing capabilities " + strings.Join(missing, ", ")
}
