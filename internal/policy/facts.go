package policy

import "github.com/agent-entrypoint/agent-entrypoint/internal/accounts"

// Facts are what the probe found, gathered once before deciding.
type Facts struct {
	Cred Cred
	// InUserNS: uid 0 is not the host's root (rootless Podman,
	// userns-remap).
	InUserNS bool
	// Accounts are the account files as read.
	Accounts *accounts.DB
	// Writable says, for each account file, whether this start may write
	// it.
	Writable map[string]Access
	// HasBash: /bin/bash exists, the login shell of a created user.
	HasBash bool
	// ExportAgent: SSH_AUTH_SOCK was unset and Docker Desktop's socket
	// was found; the command needs it exported.
	ExportAgent bool
	// Sockets are the sockets the settings name, the agent's first.
	Sockets []SocketFact
	// Paths are what the probe found at the paths Decide asked about.
	Paths map[string]PathFact
}

// DockerDesktopSocket is where Docker Desktop mounts the host's agent.
const DockerDesktopSocket = "/run/host-services/ssh-auth.sock"

// SocketFact is one socket as found.
type SocketFact struct {
	Path  string
	Agent bool // the SSH agent's socket (SSH_AUTH_SOCK or Docker Desktop's)
	// Mode is the mode AGENT_ENTRYPOINT_SOCKETS gave this socket, "" for
	// the start's.
	Mode Mode
	// Err is why it could not be opened as a socket (NotSocket: something
	// else is there); the fields below are set only without it. Dir: the
	// agent's path is a directory of agent sockets, which only the relay
	// serves.
	Err        error
	NotSocket  bool
	Dir        bool
	UID, GID   int
	Perm       uint32
	ReadOnly   bool
	MountPoint bool
	// Dirs are the directories above it, nearest first.
	Dirs []DirFact
	// AsRoot is what the agent answered the start as root, AsTarget what
	// it answered the target's uid: OpenSSH's agent serves only root and
	// its own uid, whatever the socket's mode.
	AsRoot, AsTarget AgentProbe
	// Listener is the uid of the process listening on the socket, -1 when
	// not known.
	Listener int
}

// AgentProbe is one request for an agent's keys.
type AgentProbe struct {
	Tried   bool
	Answers bool // it answered with its keys
	// Refused: it accepted the connection and closed it without an answer,
	// as OpenSSH's agent does to a uid it does not serve.
	Refused bool
	// Denied: the socket's mode kept the asker from connecting.
	Denied bool
	Err    error // why it did not answer
}

// DirFact is one directory's owner and permission bits.
type DirFact struct {
	Path     string
	UID, GID int
	Perm     uint32
}

// PathFact is what is at a path, and above it.
type PathFact struct {
	Exists   bool
	Dir      bool
	UID, GID int
	Perm     uint32
	ReadOnly bool
	// Err is a failure to look, other than the path not existing.
	Err error
	// For a missing path: Parent is the nearest directory that exists, and
	// Create whether this start may create in it.
	Parent string
	Create Access
	// Dirs are the directories above it that exist, nearest first.
	Dirs []DirFact
	// Untrusted is set when, between the home base and the path, a
	// component is a symlink or a directory that is not root's alone.
	Untrusted error
}

// Access is whether a start may write somewhere: Err says why not.
type Access struct {
	Err      error
	ReadOnly bool // Err is a read-only mount
}
