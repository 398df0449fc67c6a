package main

import (
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
	log.error(err)
	return execas.ExitCode(err)
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
