package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/perms"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
)

// config is what the flags and the environment ask for, each value checked.
// Flags win over their environment variables.
type config struct {
	UID, GID   int // users.NoID when not given
	Name       string
	Home       string
	Groups     []string
	Sockets    []string // AGENT_ENTRYPOINT_SOCKETS and --socket, not SSH_AUTH_SOCK
	Chown      []string // trees whose files follow a moved user
	SocketMode perms.Mode
	Strict     bool
	Debug      bool
	Help       bool
	Version    bool
	Command    []string
}

// errUsage marks a mistake in the command line or environment.
var errUsage = errors.New("usage")

// option is one flag and the environment variable it mirrors.
type option struct {
	flag, env string
	isBool    bool
	set       func(c *config, v string) error
}

var options = []option{
	{"uid", "AGENT_ENTRYPOINT_UID", false, func(c *config, v string) (err error) { c.UID, err = users.ParseID(v); return }},
	{"gid", "AGENT_ENTRYPOINT_GID", false, func(c *config, v string) (err error) { c.GID, err = users.ParseID(v); return }},
	{"name", "AGENT_ENTRYPOINT_USER", false, func(c *config, v string) error { c.Name = v; return users.CheckName(v) }},
	{"home", "AGENT_ENTRYPOINT_HOME", false, func(c *config, v string) error { c.Home = v; return users.CheckHome(v) }},
	{"groups", "AGENT_ENTRYPOINT_GROUPS", false, setGroups},
	{"socket", "AGENT_ENTRYPOINT_SOCKETS", false, addSockets},
	{"chown", "AGENT_ENTRYPOINT_CHOWN", false, func(c *config, v string) (err error) { c.Chown, err = appendPaths(c.Chown, "chown path", v); return }},
	{"socket-mode", "AGENT_ENTRYPOINT_SOCKET_MODE", false, func(c *config, v string) (err error) { c.SocketMode, err = perms.ParseMode(v); return }},
	{"strict", "AGENT_ENTRYPOINT_STRICT", true, func(c *config, v string) (err error) { c.Strict, err = parseBool(v); return }},
	{"v", "AGENT_ENTRYPOINT_DEBUG", true, func(c *config, v string) (err error) { c.Debug, err = parseBool(v); return }},
	{"help", "", true, func(c *config, v string) (err error) { c.Help, err = parseBool(v); return }},
	{"h", "", true, func(c *config, v string) (err error) { c.Help, err = parseBool(v); return }},
	{"version", "", true, func(c *config, v string) (err error) { c.Version, err = parseBool(v); return }},
}

// parseConfig reads the environment through lookup, then the flags in args,
// and returns the command that follows them. Flags stop at "--" or at the
// first argument that does not start with "-".
func parseConfig(args []string, lookup func(string) (string, bool)) (config, error) {
	c := config{UID: users.NoID, GID: users.NoID, SocketMode: perms.Chmod}
	for _, o := range options {
		if o.env == "" {
			continue
		}
		// An empty variable counts as unset, as `-e VAR=` in compose files
		// is a common way to leave a default in place.
		if v, ok := lookup(o.env); ok && v != "" {
			if err := o.set(&c, v); err != nil {
				return c, fmt.Errorf("%s: %w", o.env, err)
			}
		}
	}
	// Flags may repeat --socket on top of the environment's list.
	for len(args) > 0 {
		arg := args[0]
		if arg == "--" {
			args = args[1:]
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			break
		}
		args = args[1:]
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		o, ok := lookupOption(name)
		if !ok {
			return c, fmt.Errorf("%w: unknown flag %s", errUsage, arg)
		}
		if !hasValue {
			if o.isBool {
				value = "true"
			} else if len(args) == 0 {
				return c, fmt.Errorf("%w: flag %s needs a value", errUsage, arg)
			} else {
				value, args = args[0], args[1:]
			}
		}
		if err := o.set(&c, value); err != nil {
			return c, fmt.Errorf("--%s: %w", o.flag, err)
		}
	}
	c.Command = args
	if len(c.Command) == 0 && !c.Help && !c.Version {
		return c, fmt.Errorf("%w: no command given", errUsage)
	}
	return c, nil
}

func lookupOption(name string) (option, bool) {
	for _, o := range options {
		if o.flag == name {
			return o, true
		}
	}
	return option{}, false
}

func setGroups(c *config, v string) error {
	c.Groups = nil
	for _, g := range strings.Split(v, ",") {
		var err error
		if g != "" && g[0] >= '0' && g[0] <= '9' {
			_, err = users.ParseID(g)
		} else {
			err = users.CheckName(g)
		}
		if err != nil {
			return fmt.Errorf("group %w", err)
		}
		c.Groups = append(c.Groups, g)
	}
	return nil
}

func addSockets(c *config, v string) (err error) {
	c.Sockets, err = appendPaths(c.Sockets, "socket", v)
	return err
}

// appendPaths appends the absolute paths of the colon list v to paths.
func appendPaths(paths []string, what, v string) ([]string, error) {
	for _, p := range filepath.SplitList(v) {
		if p == "" {
			continue
		}
		if !filepath.IsAbs(p) {
			return paths, fmt.Errorf("%s %q: not an absolute path", what, p)
		}
		paths = append(paths, filepath.Clean(p))
	}
	return paths, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q: want 1 or 0", v)
}
