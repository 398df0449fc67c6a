//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/agent-entrypoint/agent-entrypoint/internal/claim"
	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"github.com/agent-entrypoint/agent-entrypoint/internal/relay"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
	"github.com/agent-entrypoint/agent-entrypoint/internal/supervisor"
	"golang.org/x/sys/unix"
)

// relayChildMode is the hidden first argument of the relay's child: the
// start re-executes itself with it to drop to the target and exec the
// command, since Go runs no code of its own between fork and exec. It
// looks like no command anyone would run.
const relayChildMode = "__agent-entrypoint-relay-child"

// relayCaps are all the supervisor keeps: reaching an upstream socket
// that is not root's (DAC_OVERRIDE, DAC_READ_SEARCH for a directory of
// them) and signalling the command (KILL).
const relayCaps = 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH | 1<<unix.CAP_KILL

// supervise is the end of a start that relays: it serves each relayed
// socket, starts the command as its child through the relay child mode,
// and stays, as PID 1 (or a subreaper), forwarding signals and reaping,
// until the command ends; it exits with the command's status.
func supervise(log *logger, d policy.Decision, creds execas.Creds, argv, env []string, marker *claim.Marker, rec startrecord.Record) int {
	// As PID 1, root in every id, the caller's groups gone: the command's
	// uid can then neither signal nor trace this process, a setuid
	// start's too. Under an init (docker run --init) the init forwards the
	// container's signals, and in a setuid start it runs as the caller's
	// uid: the real uid stays the caller's so that it may. (Tracing stays
	// barred: a setuid start is not dumpable.)
	if os.Getpid() == 1 {
		if err := becomeRoot(); err != nil {
			log.error(fmt.Errorf("become the relay's supervisor: %w", err))
			return exitFailure
		}
	}
	var serve []func()
	for _, up := range d.Relays {
		name := filepath.Base(up.Path)
		if up.Agent {
			name = "agent.sock"
		}
		l, err := relay.Listen(name, creds.UID, creds.GID)
		if err != nil {
			log.error(err)
			return exitFailure
		}
		defer l.Remove()
		if up.Agent {
			env = setEnv(env, "SSH_AUTH_SOCK="+l.Path)
			rec.AuthSock = l.Path
		}
		log.debugf("relay %s at %s", up.Path, l.Path)
		access := relay.Full
		if up.Access == policy.SignAccess {
			access = relay.Sign
		}
		u := relay.Upstream{Path: up.Path, Dir: up.Dir}
		serve = append(serve, func() { relay.Serve(l, u, up.Agent, access) })
	}
	rec.RelayPID = os.Getpid()
	writeRecord(log, marker, rec)
	if err := supervisor.Subreaper(); err != nil {
		log.error(err)
		return exitFailure
	}
	child, err := supervisor.Start("/proc/self/exe", childArgs(creds, argv), env)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	sets, err := execas.Capabilities()
	if err == nil {
		err = execas.KeepOnly(relayCaps & sets.Permitted)
	}
	if err != nil {
		// A supervisor that keeps more than it needs does not go on.
		unix.Kill(child.Pid, unix.SIGKILL)
		child.Wait()
		log.error(err)
		return exitFailure
	}
	// The supervisor lives as long as the container and each connection
	// it relays leaves a little garbage: collect it early, so that it
	// holds a small heap rather than the runtime's default floor.
	debug.SetGCPercent(10)
	for _, s := range serve {
		go s()
	}
	return child.Wait()
}

// becomeRoot sets every uid and gid of every thread to 0 and clears the
// supplementary groups.
func becomeRoot() error {
	// The syscall package's calls act on all of the runtime's threads.
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return err
	}
	return syscall.Setresuid(0, 0, 0)
}

// childArgs are the relay child's arguments: the mode, the ids to drop
// to, and the command.
func childArgs(c execas.Creds, argv []string) []string {
	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = strconv.Itoa(g)
	}
	return append([]string{"agent-entrypoint", relayChildMode, strconv.Itoa(c.UID), strconv.Itoa(c.GID), strings.Join(groups, ","), "--"}, argv...)
}

// relayChild is the relay's child: started by the supervisor, root in
// every id, it drops to the ids it is given, verified, and execs the
// command. Started any other way it refuses to do anything.
func relayChild(log *logger, args, env []string) int {
	cred, err := probe.Cred()
	if err != nil {
		log.error(err)
		return exitFailure
	}
	if policy.KindOf(cred) != policy.Root || cred.RUID != 0 {
		log.error(fmt.Errorf("refuse %s: only the relay's supervisor starts it", relayChildMode))
		return exitFailure
	}
	creds, argv, err := parseChildArgs(args)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	return dropAndExec(log, true, creds, argv, env)
}

func parseChildArgs(args []string) (execas.Creds, []string, error) {
	var c execas.Creds
	if len(args) < 5 || args[3] != "--" {
		return c, nil, fmt.Errorf("%w: %s UID GID GROUPS -- COMMAND", errUsage, relayChildMode)
	}
	var err error
	if c.UID, err = strconv.Atoi(args[0]); err == nil {
		c.GID, err = strconv.Atoi(args[1])
	}
	for _, g := range strings.FieldsFunc(args[2], func(r rune) bool { return r == ',' }) {
		var n int
		if n, err = strconv.Atoi(g); err != nil {
			break
		}
		c.Groups = append(c.Groups, n)
	}
	if err != nil {
		return c, nil, fmt.Errorf("%w: %s: %v", errUsage, relayChildMode, err)
	}
	return c, args[4:], nil
}
