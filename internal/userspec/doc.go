// Package userspec resolves the user spec of gosu and su-exec,
// USER[:GROUP], to the ids, supplementary groups and home a command runs
// with, the way gosu resolves it: with moby/sys/user's GetExecUser over the
// contents of /etc/passwd and /etc/group, the caller's real ids standing in
// for an empty part, "/" for a home without a passwd entry.
//
// It adds one rule, which only ever refuses: an account line is an entry
// only where glibc reads one, so that `id` and the drop agree. The library
// reads a uid or gid it cannot parse, or a missing one, as 0, and reads
// comment lines of /etc/passwd as entries; a line such as "app:x::" would
// otherwise run "gosu app" as root. Such lines are left out before the
// library sees them: a name found only on one is unknown, and a group
// that lists the user on one is not joined.
//
// The result's uid is 0 only when the user part is empty and the caller's
// uid is 0, when it is a number equal to 0 (read as strconv.Atoi reads it,
// so "0", "00", "+0"), or when it is the name of a passwd entry whose uid
// field is 0 ("root", or "toor" in an image that has it). The fuzz target
// holds Resolve to that, and to the same rule for gids.
//
// It deliberately does not: read the files (the caller hands in their
// bytes, read without following a link), ask NSS (LDAP, systemd-userdb:
// gosu does not either), create a user, or change any id.
package userspec
