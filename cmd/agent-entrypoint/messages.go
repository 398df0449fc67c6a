package main

import (
	"errors"
	"os"
	"runtime/debug"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/perms"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
)

// hinted carries what the user can do about an error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func hint(err error, text string) error { return &hinted{err, text} }

// socketHint says how to mount an agent socket correctly.
func socketHint(err error) error {
	switch {
	case errors.Is(err, perms.ErrNotSocket):
		return hint(err, `mount the agent's socket itself, e.g. -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock`)
	case errors.Is(err, os.ErrNotExist):
		return hint(err, `mount the socket, e.g. -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock (Docker Desktop: -v /run/host-services/ssh-auth.sock:/run/host-services/ssh-auth.sock)`)
	}
	return err
}

// hintFor returns the hint an error carries, or the one its kind implies.
func hintFor(err error) string {
	var h *hinted
	switch {
	case errors.As(err, &h):
		return h.hint
	case errors.Is(err, errUsage):
		return "usage: agent-entrypoint [flags] [--] COMMAND [ARG...]; see agent-entrypoint --help"
	case errors.Is(err, users.ErrInvalidID):
		return "ids are decimal numbers from 0 to 2147483647, e.g. AGENT_ENTRYPOINT_UID=$(id -u)"
	case errors.Is(err, users.ErrInvalidName):
		return "names are 1 to 32 letters, digits, '.', '_' or '-', not starting with '-'"
	case errors.Is(err, users.ErrNameTaken):
		return "set AGENT_ENTRYPOINT_USER to a free name, or leave it unset"
	case errors.Is(err, users.ErrMoveRefused):
		return "name an ordinary image user (uid 1000 to 60000), or leave AGENT_ENTRYPOINT_USER unset"
	case errors.Is(err, users.ErrUnknownGroup):
		return "name groups that exist in the image's /etc/group, or give their gids"
	case errors.Is(err, execas.ErrNotFound):
		return "check the command's name and the image's PATH"
	}
	return ""
}

// version is the module version the binary was built from, with the VCS
// revision when the build recorded one.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v
}

const usage = `agent-entrypoint: start a container's command as the right user, with its agent socket

usage: agent-entrypoint [flags] [--] COMMAND [ARG...]

Started as root with a target uid, it adds the user and group when missing,
creates the home directory, makes the agent sockets usable by the target,
drops to it and execs COMMAND. Installed setuid-root and started with
docker run --user UID:GID, it does the same for UID:GID, once, at container
start. Root with no target: COMMAND runs unchanged.

flags (each mirrors an environment variable; flags win):
  --uid N            AGENT_ENTRYPOINT_UID     target uid
  --gid N            AGENT_ENTRYPOINT_GID     target primary gid (default: the user's, else the uid)
  --name NAME        AGENT_ENTRYPOINT_USER    name of a created user (default: $USER if valid, else user);
                                              an image user of that name with another uid is moved to it
  --chown P:P        AGENT_ENTRYPOINT_CHOWN   more trees whose files follow a moved user (repeatable)
  --home DIR         AGENT_ENTRYPOINT_HOME    home directory (default: the user's, else /home/NAME)
  --groups G,G       AGENT_ENTRYPOINT_GROUPS  extra supplementary groups, names or gids
  --socket P:P       AGENT_ENTRYPOINT_SOCKETS more sockets to grant besides SSH_AUTH_SOCK (repeatable)
  --socket-mode M    AGENT_ENTRYPOINT_SOCKET_MODE  chmod (default: mode 0666) or none
  --strict           AGENT_ENTRYPOINT_STRICT  fail the start when any step cannot be done
  -v                 AGENT_ENTRYPOINT_DEBUG   log every step with its duration
  --help, --version

SSH_AUTH_SOCK names the agent socket; when it is unset and
/run/host-services/ssh-auth.sock exists (Docker Desktop), that one is used
and exported to COMMAND.

exit status: COMMAND's own; 125 the shim failed; 126 COMMAND cannot be
executed; 127 COMMAND was not found.
`
