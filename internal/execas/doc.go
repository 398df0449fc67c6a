// Package execas drops the process to the target identity, proves the drop
// cannot be undone, and execs the command in its place.
//
// It deliberately does not: decide who the target is, keep any capability,
// or stay around after exec (no fork, no supervision).
package execas
