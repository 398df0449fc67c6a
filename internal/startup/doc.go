// Package startup reads the conditions the shim was started under: its ids,
// its groups, and whether it is the container's first process.
//
// The first-process check is the setuid install's security boundary: the
// privileged phase may run once per container start, when nothing else in
// the container has run yet, and never for a later `docker exec`.
//
// It deliberately does not: change anything but the once-per-start marker.
package startup
