package diagnose

import (
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
)

// Input is everything doctor found, and what a start would decide.
type Input struct {
	Cred policy.Cred
	// SetuidDropped: doctor ran through its setuid bit and gave the
	// privilege up before it looked.
	SetuidDropped bool
	// Facts are the start's facts for this identity: the account files.
	Facts policy.Facts
	// Decision is what a start would decide for this identity now; its
	// problems with the passwd entry and the home carry their hints.
	Decision policy.Decision
	Env      Env
	Home     Path
	// Sockets are the sockets looked at, the agent's first.
	Sockets []Socket
	// Record is the record of this container start, nil when there is
	// none.
	Record *startrecord.Record
	// RelayAlive: the record's relay supervisor is running.
	RelayAlive bool
	Runtime    Runtime
}

// Env is what doctor's environment says.
type Env struct {
	Home, AuthSock       string
	HomeSet, AuthSockSet bool
}

// Path is what is at a path, as this identity sees it.
type Path struct {
	Exists, Dir bool
	UID, GID    int
	Perm        uint32
	// Writable: this identity may create files in it.
	Writable bool
}

// Source says where a socket's path came from.
type Source string

const (
	FromEnv           Source = "SSH_AUTH_SOCK"
	FromDockerDesktop Source = "Docker Desktop's socket"
	FromSettings      Source = "AGENT_ENTRYPOINT_SOCKETS"
	FromRecord        Source = "the start's SSH_AUTH_SOCK"
)

// Socket is one socket path as this identity finds it.
type Socket struct {
	Path   string
	Source Source
	Agent  bool
	// Type is what is there: "socket", "directory", "symbolic link",
	// "regular file", ...; "" for nothing.
	Type       string
	UID, GID   int
	Perm       uint32
	ReadOnly   bool
	MountPoint bool
	// Sockets is, for a directory, how many sockets it holds (-1: it could
	// not be read).
	Sockets int
	// Connect is the failure to connect as this identity, nil when it
	// connected.
	Connect error
	// Answer is what the agent answered this identity, for an agent's
	// socket that it connected to.
	Answer Answer
}

// Answer is what an agent answered a request for its keys.
type Answer struct {
	Answers bool
	Keys    []string // each key's type and comment
	// Refused: it closed the connection without an answer, as OpenSSH's
	// agent does to a uid it does not serve.
	Refused bool
	// Listener is the uid listening on the socket, -1 when not known.
	Listener int
	Err      error
}

// Runtime is what the container's runtime set.
type Runtime struct {
	ReadOnlyRoot bool
	// Bounding is the bounding set: what any process of the container
	// can ever hold.
	Bounding policy.Caps
	// PID1 is the name of the container's first process.
	PID1 string
	// Self is doctor's pid.
	Self int
}
