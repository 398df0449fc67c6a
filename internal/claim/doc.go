// Package claim records that a container start has begun, so that a
// setuid-root agent-entrypoint runs its privileged phase once per start and
// never again for anything that runs in the container later: the command it
// started, a process that command drops with gosu or setpriv, an orphan
// reparented to an init, or a `docker exec`.
//
// The record is a root-owned marker file named after the boot, the PID
// namespace and PID 1's start time, so that a restarted container (a new
// PID 1) is a new start and a marker from before a reboot never matches.
// It goes into the first candidate directory (/run, then /dev/shm) that is
// owned by root and writable by no one else, or sticky; a marker found in
// any candidate directory counts, whoever made it. When the claim cannot
// be recorded at all, Claim fails, and a setuid start must not go on.
//
// It deliberately does not: remove markers, trust a directory another user
// may write, or follow a symlink.
package claim
