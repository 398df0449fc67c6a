package policy

// ProblemKind names a step that cannot be done, so that the caller can
// give the one hint that fixes it.
type ProblemKind int

const (
	// Settings a setuid start refuses to take from its caller.
	RefuseUID ProblemKind = iota + 1
	RefuseGID
	RefuseGroups
	RefuseFromFile // a setting only the image's config file may give
	RefuseMove     // a setuid caller named an image user the file does not
	// The command cannot run as the target.
	SetuidVoided   // installed setuid, started without root
	CannotSwitch   // asked for another uid without privileges
	MissingCaps    // Caps names what would make it possible
	ResolveFailed  // the identity cannot be worked out (Err says why)
	MoveConflict   // the target uid belongs to another image user
	MoveNoPasswd   // the moved user's passwd line cannot be written
	PasswdReadOnly // no passwd entry: a read-only root
	PasswdDenied   // no passwd entry: no permission to write it
	// The home.
	HomeOutsideBase // a setuid start creates homes below the base only
	HomeUntrusted   // a symlink, or a directory not root's, on the way
	HomeReadOnly    // cannot create: read-only mount
	HomeDenied      // cannot create: no permission
	HomeUnusable    // HOME is not writable by the target (Fallback tells more)
	// Sockets.
	SocketBadPath   // not an absolute path
	SocketMissing   // nothing there
	SocketNotSocket // a file, directory, FIFO or symlink
	SocketUnreachable
	SocketNoConnect    // mode none, and the target cannot connect
	SocketNoPrivilege  // the target cannot connect, and a start without root cannot change that
	SocketReadOnly     // on a read-only mount
	SocketForeignOwner // owned outside this user namespace
	SocketNotMounted   // setuid: not bind-mounted into the container
	SocketNotAgent     // does not answer as an SSH agent (setuid, or to relay)
	GroupZero          // the socket's group is root's
	GroupNotWritable   // the socket's group may not use it
	RelayUngated       // a socket other than the agent, relayed by a setuid start
	AccessNeedsRelay   // agent access sign with a mode other than relay
	DirNeedsRelay      // a directory of agent sockets with a mode other than relay
)

// Problem is a step that cannot be done.
type Problem struct {
	Kind ProblemKind
	Err  error
	// Caps are the capabilities that would make the step possible.
	Caps []string
	// Fatal: the command must not run (it would run as the wrong user).
	Fatal bool
	// UID is the target's and Path the file or directory concerned, for
	// the hint.
	UID  int
	Path string
}
