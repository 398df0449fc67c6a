//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/claim"
	"github.com/agent-entrypoint/agent-entrypoint/internal/diagnose"
	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"github.com/agent-entrypoint/agent-entrypoint/internal/userspec"
)

// logger is the shim's one voice on stderr: "agent-entrypoint: " and then
// "error:", "warning:", "hint:" or, with -v, "debug:".
type logger struct {
	out   io.Writer
	debug bool
	hints []string // printed already: a hint shared by several warnings is said once
	// warnings are what it warned of, for the start's record.
	warnings []string
}

func (l *logger) print(kind, format string, args ...any) {
	fmt.Fprintf(l.out, "agent-entrypoint: "+kind+": "+format+"\n", args...)
}

// error reports err, with the hint its kind implies.
func (l *logger) error(err error) { l.say("error", err, hintFor(err)) }

func (l *logger) say(kind string, err error, hint string) {
	l.print(kind, "%v", err)
	if kind == "warning" {
		l.warnings = append(l.warnings, err.Error())
	}
	if hint != "" && !slices.Contains(l.hints, hint) {
		l.hints = append(l.hints, hint)
		l.print("hint", "%s", hint)
	}
}

func (l *logger) debugf(format string, args ...any) {
	if l.debug {
		l.print("debug", format, args...)
	}
}

// step logs how long a step took, when debugging: defer l.step("x")().
func (l *logger) step(name string) func() {
	if !l.debug {
		return func() {}
	}
	start := time.Now()
	return func() { l.print("debug", "%s: %v", name, time.Since(start).Round(time.Microsecond)) }
}

// report prints problems, each with its hint; every missing capability is
// named in one hint. The first fatal problem, or under strict the first
// problem, is printed as the error and returned; nothing after it is said.
func (l *logger) report(problems []policy.Problem, strict bool) error {
	var caps []string
	for _, p := range problems {
		caps = append(caps, p.Caps...)
	}
	for _, p := range problems {
		if p.Fatal || strict {
			l.say("error", p.Err, problemHint(p, caps))
			return p.Err
		}
		l.say("warning", p.Err, problemHint(p, caps))
	}
	return nil
}

// problemHint is the catalogue of what to do about each problem.
func problemHint(p policy.Problem, caps []string) string {
	const ssh = `ssh needs one (it fails with "No user exists for uid %d")`
	switch p.Kind {
	case policy.RefuseUID:
		return "pick the uid with docker run --user, or start as root with AGENT_ENTRYPOINT_UID"
	case policy.RefuseGID:
		return "pick the gid with docker run --user UID:GID, or start as root with AGENT_ENTRYPOINT_GID"
	case policy.RefuseGroups:
		return "add groups with docker run --group-add, or in the image's " + policy.ConfigFile
	case policy.RefuseFromFile:
		return "set it in the image's " + policy.ConfigFile + " (owned by root, mode 0644), or start as root"
	case policy.RefuseMove:
		return "name the user in the image's " + policy.ConfigFile + " (AGENT_ENTRYPOINT_USER=NAME), or pick a name no image user has"
	case policy.SetuidVoided:
		return "start as root with AGENT_ENTRYPOINT_UID instead, or drop the option that voids setuid (no-new-privileges, allowPrivilegeEscalation: false, a nosuid mount)"
	case policy.CannotSwitch:
		return "start the container as root with AGENT_ENTRYPOINT_UID, or install the binary setuid-root and use docker run --user"
	case policy.MissingCaps:
		return "the start lacks capabilities: run with " + policy.CapAddFlags(caps) + " (Kubernetes: securityContext.capabilities.add)"
	case policy.ResolveFailed:
		return hintFor(p.Err)
	case policy.MoveConflict:
		return "leave AGENT_ENTRYPOINT_USER unset, or pick a uid no other image user has"
	case policy.PasswdReadOnly:
		return fmt.Sprintf("the root file system is read-only (docker run --read-only); "+ssh+
			": add the user in the image, or mount a writable /etc/passwd", p.UID)
	case policy.PasswdDenied:
		return fmt.Sprintf(ssh+": make /etc/passwd group-writable in the image"+
			" (chgrp 0 /etc/passwd && chmod g=u /etc/passwd, as OpenShift images do), or start as root", p.UID)
	case policy.HomeOutsideBase:
		return "create the directory in the image, or start as root with AGENT_ENTRYPOINT_HOME"
	case policy.HomeUntrusted:
		return "create the home in the image, or pick a home whose directories are root's, with no link on the way"
	case policy.HomeReadOnly:
		return "mount a writable home, e.g. docker run --tmpfs /home; HOME falls back to " + policy.FallbackHome + " where writable"
	case policy.HomeDenied:
		return "create the home in the image, or mount a volume there; HOME falls back to " + policy.FallbackHome + " where writable"
	case policy.HomeUnusable:
		return diagnose.HomeFix(p.Path, "give the user a home in the image")
	case policy.SocketBadPath:
		return "name sockets by absolute paths"
	case policy.SocketMissing:
		return `mount the socket, e.g. -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock (Docker Desktop: -v /run/host-services/ssh-auth.sock:/run/host-services/ssh-auth.sock)`
	case policy.SocketNotSocket:
		return `mount the agent's socket itself, e.g. -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock`
	case policy.SocketUnreachable:
		return "mount the socket into a directory others may search, such as /run/host-services"
	case policy.SocketNoConnect:
		return "set AGENT_ENTRYPOINT_SOCKET_MODE=auto"
	case policy.SocketNoPrivilege:
		return "start the container as root with AGENT_ENTRYPOINT_UID, or make the socket usable on the host"
	case policy.SocketReadOnly:
		return "mount the socket without :ro, or set AGENT_ENTRYPOINT_SOCKET_MODE=relay"
	case policy.SocketForeignOwner:
		return "make the socket usable on the host (for rootless Podman, use an agent socket you own)"
	case policy.SocketNotMounted:
		return `mount the host's agent socket itself, e.g. -v "$SSH_AUTH_SOCK:/run/host-services/ssh-auth.sock"`
	case policy.SocketNotAgent:
		return "point SSH_AUTH_SOCK at the SSH agent's socket; name other sockets in the image's " + policy.ConfigFile
	case policy.GroupZero:
		return "set the socket's mode to relay (AGENT_ENTRYPOINT_SOCKETS=" + p.Path + "=relay, a root start)"
	case policy.GroupNotWritable:
		return "let the socket's group write it on the host (chmod g+w), or use chmod or relay for it"
	case policy.RelayUngated:
		return "start as root to relay it, or share it by group (AGENT_ENTRYPOINT_SOCKETS=" + p.Path + "=group in " + policy.ConfigFile + ")"
	case policy.AccessNeedsRelay:
		return "set AGENT_ENTRYPOINT_SOCKET_MODE=relay (or auto), or leave AGENT_ENTRYPOINT_AGENT_ACCESS unset"
	case policy.DirNeedsRelay:
		return "set AGENT_ENTRYPOINT_SOCKET_MODE=relay (or auto) to serve a directory of agent sockets"
	}
	return ""
}

// hintFor returns the hint an error's kind implies.
func hintFor(err error) string {
	switch {
	case errors.Is(err, errUsage):
		return "usage: agent-entrypoint [flags] [--] COMMAND [ARG...]; see agent-entrypoint --help"
	case errors.Is(err, errConfig):
		return "write the config file as KEY=VALUE lines with the AGENT_ENTRYPOINT_ names of agent-entrypoint --help"
	case errors.Is(err, probe.ErrUntrustedConfig):
		return "make " + policy.ConfigFile + " and /etc owned by root and writable by root alone (chown root:root, chmod 0644)"
	case errors.Is(err, claim.ErrUnrecorded):
		return "give the container a /run (or /dev/shm) owned by root and writable by root alone, e.g. docker run --tmpfs /run"
	case errors.Is(err, accounts.ErrInvalidID):
		return "ids are decimal numbers from 0 to 2147483647, e.g. AGENT_ENTRYPOINT_UID=$(id -u)"
	case errors.Is(err, accounts.ErrInvalidName):
		return "names are 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'"
	case errors.Is(err, accounts.ErrNameTaken):
		return "set AGENT_ENTRYPOINT_USER to a free name, or leave it unset"
	case errors.Is(err, accounts.ErrMoveRefused):
		return "name an ordinary image user (uid 1000 to 60000), or leave AGENT_ENTRYPOINT_USER unset"
	case errors.Is(err, accounts.ErrUnknownGroup):
		return "name groups that exist in the image's /etc/group, or give their gids"
	case errors.Is(err, accounts.ErrMalformed):
		return "fix or remove that line of the image's account file"
	case errors.Is(err, execas.ErrNotFound):
		return "check the command's name and the image's PATH"
	case errors.Is(err, userspec.ErrNoUser):
		return "name a user of the image's /etc/passwd, or give a uid (gosu 999, gosu 999:999)"
	case errors.Is(err, userspec.ErrNoGroup):
		return "name a group of the image's /etc/group, or give a gid"
	case errors.Is(err, userspec.ErrInvalidID):
		return "ids are decimal numbers from 0 to 2147483647"
	}
	return ""
}

// stderr is where the voice goes; tests replace it.
var stderr io.Writer = os.Stderr

const usage = `agent-entrypoint: start a container's command as the right user, with its agent socket

usage: agent-entrypoint [flags] [--] COMMAND [ARG...]
       agent-entrypoint doctor [--json] [-v]   say what does not work, and the fix

Started as root with a target uid, it adds the user and group when missing,
creates the home directory, makes the agent sockets usable by the target,
drops to it and execs COMMAND. Installed setuid-root and started with
docker run --user UID:GID, it does the same for UID:GID, once, at container
start, with settings from the image's /etc/agent-entrypoint.conf only.
Root with no target: COMMAND runs unchanged.

flags (each mirrors an environment variable; flags win):
  --uid N            AGENT_ENTRYPOINT_UID     target uid
  --gid N            AGENT_ENTRYPOINT_GID     target primary gid (default: the user's, else the uid)
  --name NAME        AGENT_ENTRYPOINT_USER    name of a created user (default: $USER if valid, else user);
                                              an image user of that name with another uid is moved to it
  --chown P:P        AGENT_ENTRYPOINT_CHOWN   more trees whose files follow a moved user (repeatable)
  --home DIR         AGENT_ENTRYPOINT_HOME    home directory (default: the user's, else /home/NAME)
  --groups G,G       AGENT_ENTRYPOINT_GROUPS  extra supplementary groups, names or gids
  --socket P:P       AGENT_ENTRYPOINT_SOCKETS more sockets to grant besides SSH_AUTH_SOCK (repeatable),
                                              each PATH or PATH=MODE
  --socket-mode M    AGENT_ENTRYPOINT_SOCKET_MODE  auto (default), chmod, chown, group, relay or none
  --agent-access A   AGENT_ENTRYPOINT_AGENT_ACCESS full (default), or sign: the relayed agent
                                              lists keys and signs, and adds or removes none
  --strict           AGENT_ENTRYPOINT_STRICT  fail the start when any step cannot be done
  -v                 AGENT_ENTRYPOINT_DEBUG   log every step with its duration
  --help, --version

/etc/agent-entrypoint.conf (owned by root, writable by root alone) holds
KEY=VALUE lines with the names above, except UID and GID, plus
AGENT_ENTRYPOINT_HOME_BASE (default /home): a root start's defaults, and
all a setuid start takes besides its own name, home, strict and debug.

SSH_AUTH_SOCK names the agent socket (or a directory of them, for the
relay); when it is unset and /run/host-services/ssh-auth.sock exists
(Docker Desktop), that one is used and exported to COMMAND. auto uses
nothing when COMMAND's user can use the socket, chmod where that is enough,
group for a socket its group may use, and the relay where nothing else
works (an agent that serves another uid): then agent-entrypoint stays as
PID 1, serves COMMAND a socket of its own, and ends with COMMAND.

Linked or copied as gosu or su-exec, it is a drop-in for them: gosu's
USER-SPEC COMMAND grammar, drop and exec only (see gosu --help).

exit status: COMMAND's own; 125 the shim failed; 126 COMMAND cannot be
executed; 127 COMMAND was not found (as gosu or su-exec: 1 for all three).
`
