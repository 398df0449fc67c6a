// Naming the runtime's memory mappings costs a prctl per mapping at start,
// and the runtime would start a goroutine that re-reads the CPU limit every
// second: neither helps a process that execs within milliseconds.
//
//go:debug decoratemappings=0
//go:debug updatemaxprocs=0

// Command agent-entrypoint is a container entrypoint: it provisions the
// target user, grants it the mounted agent sockets, drops privileges and
// execs the command. See README.md.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startup"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
)

func init() {
	// The drop changes only this OS thread (execas.Drop): the goroutine
	// that runs the shim stays on it until exec, so nothing of ours runs
	// with ids the drop did not change.
	runtime.LockOSThread()
}

// exitFailure is the shim's own failure, as `docker run` and env(1) use it.
const exitFailure = 125

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	log := &logger{}
	cfg, err := parseConfig(args, os.LookupEnv)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	log.debug = cfg.Debug
	if cfg.Help {
		fmt.Print(usage)
		return 0
	}
	if cfg.Version {
		fmt.Println("agent-entrypoint", version())
		return 0
	}
	cond, err := startup.Detect()
	if err != nil {
		log.error(err)
		return exitFailure
	}

	if cond.Root() && cfg.UID == users.NoID {
		log.debugf("no target uid given: running the command as root")
		env := os.Environ()
		if p, export := agentSocket(); export {
			env = setEnv(env, "SSH_AUTH_SOCK="+p)
		}
		return execCommand(log, cfg.Command, env)
	}
	if cond.Setuid() {
		if err := checkSetuidRequest(cfg, cond); err != nil {
			log.error(err)
			return exitFailure
		}
		// What the privileged phase creates (the marker, the lock, parents
		// of the home) belongs to root's group, not to the caller's.
		// Without CAP_SETGID (--cap-drop ALL) it stays the caller's: the
		// files are root-owned and not group-writable either way.
		_ = execas.SetEGID(0)
		if err := startup.ClaimStart(); err != nil {
			// A later `docker exec` or a process the command started: it
			// gets its own ids back and nothing else.
			log.debugf("no privileged phase: %v", err)
			if err := execas.Drop(realCreds(cond)); err != nil {
				log.error(err)
				return exitFailure
			}
			return execCommand(log, cfg.Command, os.Environ())
		}
	}

	if why := cond.SetuidVoided(); why != "" {
		err := hint(fmt.Errorf("started without root although installed setuid: %s", why),
			"start as root with AGENT_ENTRYPOINT_UID instead, or drop the option that voids setuid (no-new-privileges, allowPrivilegeEscalation: false, a nosuid mount)")
		if cfg.Strict {
			log.error(err)
			return exitFailure
		}
		log.warn(err)
	}

	s := &start{cfg: cfg, cond: cond, log: log}
	if err := s.prepare(); err != nil {
		log.error(err)
		return exitFailure
	}
	if err := s.apply(); err != nil {
		log.error(err)
		return exitFailure
	}
	if cond.EUID == 0 {
		done := log.step("drop privileges")
		err := execas.Drop(s.creds())
		done()
		if err != nil {
			log.error(fmt.Errorf("drop privileges: %w", err))
			return exitFailure
		}
	}
	env, err := s.environment()
	if err != nil {
		log.error(err)
		return exitFailure
	}
	return execCommand(log, cfg.Command, env)
}

// execCommand only returns when exec failed, with the exit status for it.
func execCommand(log *logger, argv, env []string) int {
	err := execas.Exec(argv, env)
	log.error(err)
	return execas.ExitCode(err)
}
