//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
)

// cli is what the command line and the environment ask for, each value
// checked. Flags win over their environment variables.
type cli struct {
	policy.Settings
	Help, Version bool
	Command       []string
}

// errUsage marks a mistake in the command line or environment.
var errUsage = errors.New("usage")

// errConfig marks a mistake in the image's config file.
var errConfig = errors.New("config file")

// option is one flag and the environment variable (and config file key) it
// mirrors.
type option struct {
	flag, env string
	isBool    bool
	// where it may be given: flags and environment, the config file, or both.
	cli, file bool
	set       func(c *cli, v string) error
}

var options = []option{
	{"uid", "AGENT_ENTRYPOINT_UID", false, true, false, func(c *cli, v string) (err error) { c.UID, err = accounts.ParseID(v); return }},
	{"gid", "AGENT_ENTRYPOINT_GID", false, true, false, func(c *cli, v string) (err error) { c.GID, err = accounts.ParseID(v); return }},
	{"name", "AGENT_ENTRYPOINT_USER", false, true, true, func(c *cli, v string) error { c.Name = v; return accounts.CheckName(v) }},
	{"home", "AGENT_ENTRYPOINT_HOME", false, true, true, func(c *cli, v string) error { c.Home = v; return accounts.CheckHome(v) }},
	{"", "AGENT_ENTRYPOINT_HOME_BASE", false, false, true, func(c *cli, v string) error { c.HomeBase = v; return accounts.CheckHome(v) }},
	{"groups", "AGENT_ENTRYPOINT_GROUPS", false, true, true, setGroups},
	{"socket", "AGENT_ENTRYPOINT_SOCKETS", false, true, true, addSockets},
	{"chown", "AGENT_ENTRYPOINT_CHOWN", false, true, true, func(c *cli, v string) (err error) { c.Chown, err = appendPaths(c.Chown, "chown path", v); return }},
	{"socket-mode", "AGENT_ENTRYPOINT_SOCKET_MODE", false, true, true, func(c *cli, v string) (err error) { c.SocketMode, err = policy.ParseMode(v); return }},
	{"agent-access", "AGENT_ENTRYPOINT_AGENT_ACCESS", false, true, true, func(c *cli, v string) (err error) { c.AgentAccess, err = policy.ParseAccess(v); return }},
	{"strict", "AGENT_ENTRYPOINT_STRICT", true, true, true, func(c *cli, v string) (err error) { c.Strict, err = parseBool(v); return }},
	{"v", "AGENT_ENTRYPOINT_DEBUG", true, true, true, func(c *cli, v string) (err error) { c.Debug, err = parseBool(v); return }},
	{"help", "", true, true, false, func(c *cli, v string) (err error) { c.Help, err = parseBool(v); return }},
	{"h", "", true, true, false, func(c *cli, v string) (err error) { c.Help, err = parseBool(v); return }},
	{"version", "", true, true, false, func(c *cli, v string) (err error) { c.Version, err = parseBool(v); return }},
}

// parseCLI reads the environment through lookup, then the flags in args,
// and returns the command that follows them. Flags stop at "--" or at the
// first argument that does not start with "-".
func parseCLI(args []string, lookup func(string) (string, bool)) (cli, error) {
	c, err := parseEnv(lookup)
	if err != nil {
		return c, err
	}
	// Flags may repeat --socket and --chown on top of the environment's.
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
		o, ok := lookupFlag(name)
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

// parseEnv reads the settings of the environment through lookup.
func parseEnv(lookup func(string) (string, bool)) (cli, error) {
	c := cli{Settings: policy.Unset()}
	for _, o := range options {
		if o.env == "" || !o.cli {
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
	return c, nil
}

func lookupFlag(name string) (option, bool) {
	for _, o := range options {
		if o.cli && o.flag == name && name != "" {
			return o, true
		}
	}
	return option{}, false
}

// parseConfigFile reads the image's config file: KEY=VALUE lines with the
// environment's names and values, blank lines and '#' comments. A key it
// does not take is an error, so that a typo never passes for a setting.
func parseConfigFile(data []byte) (policy.Settings, error) {
	c := cli{Settings: policy.Unset()}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		i := -1
		for j, o := range options {
			if o.file && o.env == key {
				i = j
			}
		}
		switch {
		case !ok:
			return c.Settings, fmt.Errorf("%w %s line %d: want KEY=VALUE", errConfig, policy.ConfigFile, n)
		case i < 0:
			return c.Settings, fmt.Errorf("%w %s line %d: %s is no setting of the config file", errConfig, policy.ConfigFile, n, key)
		}
		if err := options[i].set(&c, strings.TrimSpace(value)); err != nil {
			return c.Settings, fmt.Errorf("%w %s line %d: %s: %w", errConfig, policy.ConfigFile, n, key, err)
		}
	}
	return c.Settings, sc.Err()
}

func setGroups(c *cli, v string) error {
	c.Groups = []string{}
	for _, g := range strings.Split(v, ",") {
		if _, _, err := accounts.ParseGroupRef(g); err != nil {
			return fmt.Errorf("group %w", err)
		}
		c.Groups = append(c.Groups, g)
	}
	return nil
}

// addSockets appends the sockets of the colon list v, each PATH or
// PATH=MODE, to c's.
func addSockets(c *cli, v string) error {
	if c.Sockets == nil {
		c.Sockets = []policy.SocketSpec{}
	}
	for _, item := range filepath.SplitList(v) {
		if item == "" {
			continue
		}
		spec, err := policy.ParseSocketSpec(item)
		if err != nil {
			return fmt.Errorf("socket %q: %w", item, err)
		}
		if !filepath.IsAbs(spec.Path) {
			return fmt.Errorf("socket %q: not an absolute path", spec.Path)
		}
		spec.Path = filepath.Clean(spec.Path)
		c.Sockets = append(c.Sockets, spec)
	}
	return nil
}

// appendPaths appends the absolute paths of the colon list v to paths.
func appendPaths(paths []string, what, v string) ([]string, error) {
	if paths == nil {
		paths = []string{}
	}
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

// lookupIn looks a variable up in env as os.LookupEnv does: the last
// assignment of a name wins.
func lookupIn(env []string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], key+"="); ok {
				return v, true
			}
		}
		return "", false
	}
}
