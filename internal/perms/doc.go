// Package perms inspects agent sockets and grants the target identity access
// to them.
//
// A socket is opened O_PATH|O_NOFOLLOW, must be S_IFSOCK, and is changed
// only through that descriptor, so that a symlink, a regular file, a
// directory or a FIFO named where a socket was expected is reported and
// never touched. Whether a change is needed (Need) is pure.
//
// It deliberately does not: follow symlinks, connect to the sockets, or
// touch the directories that hold them.
package perms
