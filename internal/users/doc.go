// Package users works out the target identity and makes it exist in the
// account files: /etc/passwd, /etc/group and, where present, /etc/shadow and
// /etc/gshadow.
//
// Resolve is pure: it reads a loaded DB and returns a Plan of whole lines to
// add, or, for an image user moved to the target uid, to replace with only
// the id fields changed. Apply is the only part that writes, under the lock
// shadow-utils and glibc's lckpwdf use, through a temp file renamed over the
// original, so that a failed or killed run leaves the old file or the new
// one, never a mix.
//
// It deliberately does not: remove or rename entries, move the files of a
// moved user (package ownership does), edit membership lists of existing
// groups (supplementary groups are set at the privilege drop, not written
// down), set passwords, or copy /etc/skel.
package users
