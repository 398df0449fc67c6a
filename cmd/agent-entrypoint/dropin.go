//go:build linux

package main

import (
	"errors"
	"fmt"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accountfiles"
	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"github.com/agent-entrypoint/agent-entrypoint/internal/userspec"
	"golang.org/x/sys/unix"
)

// exitDropIn is gosu's and su-exec's status for every failure of their
// own, a command that cannot be run included; scripts written for them
// test for it.
const exitDropIn = 1

// errElevated marks a drop-in started with privilege its caller lacks.
var errElevated = errors.New("started setuid, setgid or with file capabilities, which the drop-in never honours")

// dropIn is the gosu and su-exec drop-in, chosen by argv[0]: gosu's
// grammar and user specs. It refuses a start that holds more than its
// caller, resolves the spec, drops, and execs the command in its place.
// It writes nothing, grants no socket and moves no user.
func dropIn(log *logger, name string, args, env []string) int {
	cred, err := probe.Cred()
	if err != nil {
		log.error(err)
		return exitDropIn
	}
	if cred.Elevated() {
		// Before any argument is looked at: whoever can run a setuid copy
		// is not whoever installed it.
		log.say("error", fmt.Errorf("refuse to run as %s: %w (uids %d/%d/%d, gids %d/%d/%d)", name, errElevated,
			cred.RUID, cred.EUID, cred.SUID, cred.RGID, cred.EGID, cred.SGID),
			"run "+name+" as root (a root entrypoint script, docker exec -u 0); for docker run --user, make agent-entrypoint the ENTRYPOINT")
		return exitDropIn
	}
	if len(args) > 0 {
		switch args[0] {
		case "--help", "-h", "-?":
			fmt.Print(dropInUsage(name))
			return 0
		case "--version", "-v":
			fmt.Println("agent-entrypoint", version())
			return 0
		}
	}
	if len(args) < 2 {
		log.say("error", fmt.Errorf("%w: %s needs a user spec and a command", errUsage, name),
			"usage: "+name+" USER-SPEC COMMAND [ARG...]; see "+name+" --help")
		return exitDropIn
	}
	spec, argv := args[0], args[1:]

	// The project's reader: no link followed, regular files only, capped.
	snap, err := accountfiles.Load(probe.EtcDir)
	if err != nil {
		log.error(err)
		return exitDropIn
	}
	t, err := userspec.Resolve(spec, userspec.Caller{UID: cred.RUID, GID: cred.RGID},
		snap.DB.Content(accounts.Passwd).Data, snap.DB.Content(accounts.Group).Data)
	if err != nil {
		log.error(fmt.Errorf("resolve user spec %q: %w", spec, err))
		return exitDropIn
	}
	kind := policy.KindOf(cred)
	if kind == policy.Root && cred.SetuidBit {
		// The very binary is a setuid entrypoint too: claim the start, as
		// its root starts do, so that the command this drops to cannot
		// exec it later for a privileged phase. The marker is all this
		// mode ever writes, and only in such an install.
		claimed, marker, claimErr := claimStart(log, kind)
		// Left empty, as a transparent start leaves it: doctor finds no
		// record of what a drop-in did, since it did nothing else.
		marker.Close()
		if policy.AfterClaim(kind, claimed, true) == policy.FailClosed {
			log.error(fmt.Errorf("%w; refusing to start, since a later process of this container could take the privileged phase", claimErr))
			return exitDropIn
		}
	}
	if err := execas.Drop(execas.Creds{UID: t.UID, GID: t.GID, Groups: t.Groups}); err != nil {
		hint := ""
		switch missing := cred.CapEff.Missing(policy.CapSetuid, policy.CapSetgid); {
		case !errors.Is(err, unix.EPERM):
		case kind == policy.Unprivileged:
			hint = "switching to another user, group or group list needs root: run " + name + " as root"
		case len(missing) > 0:
			hint = "root without the capabilities to switch users: run with " + policy.CapAddFlags(missing)
		}
		log.say("error", fmt.Errorf("drop privileges: %w", err), hint)
		return exitDropIn
	}
	log.error(execCommand(argv, setEnv(env, "HOME="+t.Home)))
	return exitDropIn
}

// dropInUsage is the drop-in's --help, in gosu's shape.
func dropInUsage(name string) string {
	return `usage: ` + name + ` USER-SPEC COMMAND [ARG...]
   eg: ` + name + ` postgres postgres -D /var/lib/postgresql/data
       ` + name + ` nobody:root sh -c 'whoami && id'
       ` + name + ` 1000:1 id

agent-entrypoint run as ` + name + ` (a link or copy named gosu or su-exec) is
a drop-in for gosu and su-exec: it runs COMMAND as USER-SPEC in its own
place, leaving no process behind, as gosu does.

USER-SPEC is user, uid, user:group, uid:gid, user:gid, uid:group, :group,
user: or empty, resolved as gosu resolves it: names from /etc/passwd and
/etc/group, a number as an id even without an entry, an empty part as the
caller's own id. The supplementary groups are those /etc/group lists the
user in (none when a group is given); HOME is the user's home, or / when
the uid has no entry.

It only drops and execs: it adds no user and grants no socket. It honours
no setuid or setgid bit and no file capability: started with more than its
caller holds, it refuses. For creating the user, the agent socket and
docker run --user, see agent-entrypoint --help.

exit status: COMMAND's own; 1 when ` + name + ` itself failed (a bad USER-SPEC,
a drop it may not make, COMMAND not found or not executable).
`
}
