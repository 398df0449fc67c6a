package policy

import (
	"fmt"
	"slices"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// Mode is a strategy for making a socket usable by the target.
type Mode string

const (
	// Chmod makes the socket mode 0666, as the seed's `sudo chmod 666`.
	Chmod Mode = "chmod"
	// None changes nothing and only reports.
	None Mode = "none"
)

// ParseMode parses an AGENT_ENTRYPOINT_SOCKET_MODE value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Chmod, None:
		return m, nil
	}
	return "", fmt.Errorf("invalid socket mode %q: want chmod or none", s)
}

// ConfigFile is where an image keeps the settings of its setuid starts
// (and the defaults of its root starts).
const ConfigFile = "/etc/agent-entrypoint.conf"

// DefaultHomeBase is where homes are created unless the image's config
// file names another base.
const DefaultHomeBase = "/home"

// Settings are what a start is asked to do, by the flags and environment
// (the caller) or by the image's config file. A zero value means "not
// given": accounts.NoID for ids, "" for strings and the mode, nil for lists.
type Settings struct {
	UID, GID   int
	Name       string // AGENT_ENTRYPOINT_USER
	Home       string
	HomeBase   string // the config file only
	Groups     []string
	Sockets    []string
	Chown      []string
	SocketMode Mode
	Strict     bool
	Debug      bool
}

// Unset is Settings with nothing given.
func Unset() Settings { return Settings{UID: accounts.NoID, GID: accounts.NoID} }

// Input is everything a start was handed: the caller's settings, the
// image's, and the two values of the environment that are not settings of
// the shim's own.
type Input struct {
	Caller Settings
	Image  Settings
	// AgentSocket is SSH_AUTH_SOCK as handed in, "" when unset.
	AgentSocket string
	// User is $USER, the preferred name of a created user when valid.
	User string
}

// Effective are the settings a start goes by, after Settle.
type Effective struct {
	Settings
	// Move names the image user the start may move to the target uid:
	// AGENT_ENTRYPOINT_USER of a root start, only the config file's in a
	// setuid start.
	Move string
}

// Settle merges the caller's settings over the image's and applies the
// rules of a setuid start, which serves whoever ran the setuid binary and
// so takes from the caller only what cannot widen what root does:
//
//	setting                        from the caller in a setuid start
//	AGENT_ENTRYPOINT_UID, _GID     only the real ids (use docker run --user)
//	AGENT_ENTRYPOINT_USER          the name of a created user; an image user is
//	                               moved only when the config file names it
//	AGENT_ENTRYPOINT_HOME          yes; created only below the home base
//	AGENT_ENTRYPOINT_GROUPS        refused (use docker run --group-add)
//	AGENT_ENTRYPOINT_SOCKETS       refused: the config file's only
//	AGENT_ENTRYPOINT_CHOWN         refused: the config file's only
//	AGENT_ENTRYPOINT_SOCKET_MODE   only none, or the mode it has anyway
//	AGENT_ENTRYPOINT_STRICT, DEBUG yes
//	SSH_AUTH_SOCK                  yes; granted only when it is bind-mounted
//	                               and answers the SSH agent protocol
//
// Every refusal is a fatal Problem. A root or unprivileged start takes
// every setting, the caller's winning over the image's.
func Settle(k Kind, c Cred, in Input) (Effective, []Problem) {
	img, call := in.Image, in.Caller
	e := Effective{Settings: img}
	e.Strict = img.Strict || call.Strict
	e.Debug = img.Debug || call.Debug
	if e.HomeBase == "" {
		e.HomeBase = DefaultHomeBase
	}
	if k != Setuid {
		over(&e.UID, call.UID, accounts.NoID)
		over(&e.GID, call.GID, accounts.NoID)
		over(&e.Name, call.Name, "")
		over(&e.Home, call.Home, "")
		over(&e.SocketMode, call.SocketMode, "")
		if call.Groups != nil {
			e.Groups = call.Groups
		}
		if call.Sockets != nil {
			e.Sockets = call.Sockets
		}
		if call.Chown != nil {
			e.Chown = call.Chown
		}
		if e.SocketMode == "" {
			e.SocketMode = Chmod
		}
		e.Move = e.Name
		return e, nil
	}

	var refused []Problem
	refuse := func(kind ProblemKind, err error) {
		refused = append(refused, Problem{Kind: kind, Err: err, Fatal: true})
	}
	const why = "a setuid start only serves the ids it was started with"
	if call.UID != accounts.NoID && call.UID != c.RUID {
		refuse(RefuseUID, fmt.Errorf("refuse uid %d: %s (uid %d)", call.UID, why, c.RUID))
	}
	if call.GID != accounts.NoID && call.GID != c.RGID {
		refuse(RefuseGID, fmt.Errorf("refuse gid %d: %s (gid %d)", call.GID, why, c.RGID))
	}
	if call.Groups != nil {
		refuse(RefuseGroups, fmt.Errorf("refuse groups %v: %s", call.Groups, why))
	}
	fromFile := "a setuid start takes it from " + ConfigFile + " only"
	if call.Sockets != nil && !slices.Equal(call.Sockets, img.Sockets) {
		refuse(RefuseFromFile, fmt.Errorf("refuse AGENT_ENTRYPOINT_SOCKETS: %s", fromFile))
	}
	if call.Chown != nil && !slices.Equal(call.Chown, img.Chown) {
		refuse(RefuseFromFile, fmt.Errorf("refuse AGENT_ENTRYPOINT_CHOWN: %s", fromFile))
	}
	mode := img.SocketMode
	if mode == "" {
		mode = Chmod
	}
	switch call.SocketMode {
	case "", mode:
	case None:
		mode = None
	default:
		refuse(RefuseFromFile, fmt.Errorf("refuse AGENT_ENTRYPOINT_SOCKET_MODE=%s: %s", call.SocketMode, fromFile))
	}
	e.SocketMode = mode
	e.UID, e.GID = c.RUID, c.RGID
	e.Move = img.Name
	over(&e.Name, call.Name, "")
	over(&e.Home, call.Home, "")
	return e, refused
}

// over sets *dst to v unless v is unset.
func over[T comparable](dst *T, v, unset T) {
	if v != unset {
		*dst = v
	}
}
