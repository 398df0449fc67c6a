// Package probe gathers the facts a start decides on (package policy):
// the process's ids and capabilities, the image's config file, the account
// files and whether they may be written, the sockets (opened and kept open
// for the step that changes them), and what is at the paths a decision
// asks about. It reads; it changes nothing.
//
// In a setuid start, paths the caller named (SSH_AUTH_SOCK, the home) are
// looked up with the caller's file system ids, so that what the start
// reports about them tells the caller nothing it could not see itself.
//
// It deliberately does not: decide anything, or follow a symlink where a
// decision depends on what the link is.
package probe
