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
	// Err is why it could not be opened as a socket (NotSocket: something
	// else is there); the fields below are set only without it.
	Err        error
	NotSocket  bool
	UID, GID   int
	Perm       uint32
	ReadOnly   bool
	MountPoint bool
	// Dirs are the directories above it, nearest first.
	Dirs []DirFact
	// Asked: a setuid start asked the agent for its keys, as root;
	// AgentErr is set when it did not answer as an agent.
	Asked    bool
	AgentErr error
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
