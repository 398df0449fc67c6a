// Package startrecord keeps a short record of what a privileged start
// did: its kind, the identity it dropped to, what it did with each socket
// and why, the SSH_AUTH_SOCK it gave the command, the relay's pid and the
// warnings it gave. `agent-entrypoint doctor` reads it, and a `docker exec`
// session can take its SSH_AUTH_SOCK from it.
//
// The record is KEY=VALUE lines in the marker by which the start claimed
// the container start (package claim): a root-owned file, mode 0444, that
// names this container start and no other, in /run or /dev/shm. It costs
// a start one write to a file it makes anyway.
//
// It deliberately does not: hold anything secret (every user of the
// container may read it), make it durable (it lives as long as the
// container start it describes), or fail a start: a record that cannot be
// written is only missed by doctor.
package startrecord
