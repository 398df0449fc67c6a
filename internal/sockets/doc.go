// Package sockets inspects the unix sockets a start makes usable (the SSH
// agent's first of all) and changes them.
//
// A socket is opened O_PATH|O_NOFOLLOW, must be S_IFSOCK, and is changed
// and connected to only through that descriptor, so that a symlink, a
// regular file, a directory or a FIFO named where a socket was expected is
// reported and never touched, and a path swapped after the check cannot
// redirect a change. Open also tells whether the socket is itself a mount
// point, which a bind-mounted host socket is and a socket made inside the
// container is not; AskAgent asks it for the SSH agent's key list.
//
// It deliberately does not: follow symlinks, decide whether a socket should
// change (package policy does), or touch the directories that hold them.
package sockets
