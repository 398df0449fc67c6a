//go:build linux

// Naming the runtime's memory mappings costs a prctl per mapping at start,
// reading the container's CPU limit (the cgroup and mountinfo files) costs
// opening and parsing both, and the runtime would start a goroutine that
// re-reads that limit every second: none of it helps a process that execs
// within milliseconds, nor a relay that serves a handful of connections.
//
//go:debug decoratemappings=0
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

// Command agent-entrypoint is a container entrypoint: it provisions the
// target user, grants it the mounted agent sockets, drops privileges and
// execs the command. See README.md.
package main

import (
	"os"
	"path/filepath"
	"runtime"
)

func init() {
	// The drop changes only this OS thread (execas.Drop), and so do the
	// file system ids a setuid start looks paths up with: the goroutine
	// that runs the shim stays on it until exec.
	runtime.LockOSThread()
}

// exitFailure is the shim's own failure, as `docker run` and env(1) use it.
const exitFailure = 125

func main() {
	os.Exit(run(os.Args, os.Environ()))
}

// run chooses the mode from argv[0] and the first argument; only this
// layer reads the process's environment, and hands it down.
func run(argv, env []string) int {
	log := &logger{out: stderr}
	if name := filepath.Base(argv[0]); name == "gosu" || name == "su-exec" {
		return dropIn(log, name, argv[1:], env)
	}
	if len(argv) > 1 {
		switch argv[1] {
		case relayChildMode:
			return relayChild(log, argv[2:], env)
		case doctorMode:
			return doctor(log, argv[2:], env)
		}
	}
	return entrypoint(log, argv[1:], env)
}
