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
	beforeExec()
	err := execas.Exec(argv, env)
	log.error(err)
	return execas.ExitCode(err)
}

// beforeExec is a test hook: the tests write their coverage counters
// there, since exec ends the process without its exit hooks.
var beforeExec = func() {}

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
