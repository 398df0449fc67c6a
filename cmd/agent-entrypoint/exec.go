//go:build linux

package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
)

// dropAndExec drops to creds when drop is set, verifies the drop, and
// execs argv with env. It only returns on failure, with the exit status.
func dropAndExec(log *logger, drop bool, creds execas.Creds, argv, env []string) int {
	if drop {
		done := log.step("drop privileges")
		err := execas.Drop(creds)
		done()
		if err != nil {
			log.error(fmt.Errorf("drop privileges: %w", err))
			return exitFailure
		}
	}
	err := execCommand(argv, env)
	if hint := flagHint(argv[0]); hint != "" && errors.Is(err, execas.ErrNotFound) {
		log.say("error", err, hint)
	} else {
		log.error(err)
	}
	return execas.ExitCode(err)
}

// flagHint is the hint for a command that is one of agent-entrypoint's
// flags: docker run IMAGE -v puts it after the image name, where it is the
// command.
func flagHint(name string) string {
	flag, _, _ := strings.Cut(strings.TrimLeft(name, "-"), "=")
	o, ok := lookupFlag(flag)
	if !strings.HasPrefix(name, "-") || !ok {
		return ""
	}
	if o.env == "" {
		return "after the image name " + name + " is the command: run agent-entrypoint " + name + " with docker run --entrypoint agent-entrypoint IMAGE " + name
	}
	value := "VALUE"
	if o.isBool {
		value = "1"
	}
	return fmt.Sprintf("after the image name %s is the command: set %s=%s with docker run -e before the image name", name, o.env, value)
}

// execCommand replaces the process with the command. The tests run the
// command as a child instead and exit with its status, so that the
// process's coverage counters are written at exit, which exec skips.
var execCommand = execas.Exec

// setEnv returns env with each KEY=value of set in place of any earlier
// value of KEY: the one way the command's environment is built.
func setEnv(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, k+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
