// Package accountfiles reads and writes the account files of a directory
// (normally /etc) for package accounts, which decides what they hold.
//
// Files are opened without following a symlink and must be regular files
// no larger than 64 MiB. Writes happen under the lock glibc's lckpwdf and
// shadow-utils take, through a temp file with the original's mode and
// owner, fsync and rename, committed in accounts.Files order; so a failed
// or killed start leaves each file old or new, never a mix, and the next
// start removes the temp files it left and adds what it did not commit.
// Where rename cannot work (a bind-mounted file, a start without
// CAP_CHOWN, a user who may write /etc/passwd but not /etc), the file is
// rewritten in place, tail only when lines are appended.
//
// It deliberately does not: fsync /etc (a lost rename leaves the old file
// whole), decide which lines to write, or take the lock on its own.
package accountfiles
