package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// Mode is a strategy for making a socket usable by the target.
type Mode string

const (
	// Auto picks, per socket, the least that works: nothing when the
	// target can use it already, chmod where that is enough, group for a
	// socket its group may use, relay where nothing else can work.
	Auto Mode = "auto"
	// Chmod makes the socket mode 0666, as the seed's `sudo chmod 666`.
	Chmod Mode = "chmod"
	// Chown hands the socket to the target.
	Chown Mode = "chown"
	// Group adds the socket's group to the target's groups.
	Group Mode = "group"
	// Relay serves the target a socket of its own and passes each
	// connection to the socket, the SSH agent's as agent frames only.
	Relay Mode = "relay"
	// None changes nothing and only reports.
	None Mode = "none"
)

// ParseMode parses an AGENT_ENTRYPOINT_SOCKET_MODE value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Chmod, Chown, Group, Relay, None:
		return m, nil
	}
	return "", fmt.Errorf("invalid socket mode %q: want auto, chmod, chown, group, relay or none", s)
}

// AgentAccess is what the command may ask of a relayed agent.
type AgentAccess string

const (
	// FullAccess passes every agent request.
	FullAccess AgentAccess = "full"
	// SignAccess lists keys and signs, and refuses adding, removing,
	// locking and unlocking keys.
	SignAccess AgentAccess = "sign"
)

// ParseAccess parses an AGENT_ENTRYPOINT_AGENT_ACCESS value.
func ParseAccess(s string) (AgentAccess, error) {
	switch a := AgentAccess(s); a {
	case FullAccess, SignAccess:
		return a, nil
	}
	return "", fmt.Errorf("invalid agent access %q: want full or sign", s)
}

// SocketSpec is one entry of AGENT_ENTRYPOINT_SOCKETS: a path, and the
// mode for it when it is not the start's AGENT_ENTRYPOINT_SOCKET_MODE.
type SocketSpec struct {
	Path string
	Mode Mode
}

// ParseSocketSpec parses PATH or PATH=MODE.
func ParseSocketSpec(s string) (SocketSpec, error) {
	path, mode, ok := strings.Cut(s, "=")
	spec := SocketSpec{Path: path}
	if ok {
		m, err := ParseMode(mode)
		if err != nil {
			return spec, err
		}
		spec.Mode = m
	}
	return spec, nil
}

func (s SocketSpec) String() string {
	if s.Mode == "" {
		return s.Path
	}
	return s.Path + "=" + string(s.Mode)
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
	UID, GID    int
	Name        string // AGENT_ENTRYPOINT_USER
	Home        string
	HomeBase    string // the config file only
	Groups      []string
	Sockets     []SocketSpec
	Chown       []string
	SocketMode  Mode
	AgentAccess AgentAccess
	Strict      bool
	Debug       bool
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
//	AGENT_ENTRYPOINT_SOCKET_MODE   only none or relay (they never widen a
//	                               socket), or the mode it has anyway
//	AGENT_ENTRYPOINT_AGENT_ACCESS  only sign, or the access it has anyway
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
		over(&e.AgentAccess, call.AgentAccess, "")
		if call.Groups != nil {
			e.Groups = call.Groups
		}
		if call.Sockets != nil {
			e.Sockets = call.Sockets
		}
		if call.Chown != nil {
			e.Chown = call.Chown
		}
		e.defaults()
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
	e.defaults()
	switch call.SocketMode {
	case "", e.SocketMode:
	case None, Relay:
		e.SocketMode = call.SocketMode
	default:
		refuse(RefuseFromFile, fmt.Errorf("refuse AGENT_ENTRYPOINT_SOCKET_MODE=%s: %s", call.SocketMode, fromFile))
	}
	switch call.AgentAccess {
	case "", e.AgentAccess:
	case SignAccess:
		e.AgentAccess = SignAccess
	default:
		refuse(RefuseFromFile, fmt.Errorf("refuse AGENT_ENTRYPOINT_AGENT_ACCESS=%s: %s", call.AgentAccess, fromFile))
	}
	e.UID, e.GID = c.RUID, c.RGID
	e.Move = img.Name
	over(&e.Name, call.Name, "")
	over(&e.Home, call.Home, "")
	return e, refused
}

// defaults fills in what neither the caller nor the image gave.
func (e *Effective) defaults() {
	if e.SocketMode == "" {
		e.SocketMode = Auto
	}
	if e.AgentAccess == "" {
		e.AgentAccess = FullAccess
	}
}

// over sets *dst to v unless v is unset.
func over[T comparable](dst *T, v, unset T) {
	if v != unset {
		*dst = v
	}
}
