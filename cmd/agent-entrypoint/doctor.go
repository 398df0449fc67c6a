//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/agent-entrypoint/agent-entrypoint/internal/diagnose"
	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/probe"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
)

// doctorMode is the first argument that makes the binary diagnose.
const doctorMode = "doctor"

// exitProblem is doctor's status when it found a problem.
const exitProblem = 1

// doctor says why the agent, the user or the home does not work, and what
// to change: it gives up a setuid bit's root, gathers what this process
// sees, judges it, and says it. It changes nothing.
func doctor(log *logger, args, env []string) int {
	asJSON, verbose, help, err := parseDoctor(args)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	if help {
		fmt.Fprint(stdout, doctorUsage)
		return 0
	}
	dropped, err := execas.ReturnToRealIDs()
	if err != nil {
		log.error(fmt.Errorf("give up the setuid bit's root: %w", err))
		return exitFailure
	}
	in, err := doctorFacts(env)
	if err != nil {
		log.error(err)
		return exitFailure
	}
	in.SetuidDropped = dropped
	checks := diagnose.Judge(in)
	if asJSON {
		writeJSON(stdout, checks)
	} else {
		writeChecks(stdout, checks, verbose)
	}
	if diagnose.Worst(checks) == diagnose.Problem {
		return exitProblem
	}
	return 0
}

func parseDoctor(args []string) (asJSON, verbose, help bool, err error) {
	for _, a := range args {
		switch a {
		case "--json", "-json":
			asJSON = true
		case "-v", "--v":
			verbose = true
		case "--help", "-help", "-h":
			help = true
		default:
			return false, false, false, fmt.Errorf("%w: doctor takes --json and -v, not %s", errUsage, a)
		}
	}
	return asJSON, verbose, help, nil
}

// doctorFacts gathers what doctor judges, as this process, with the
// start's own probe and decision.
func doctorFacts(env []string) (diagnose.Input, error) {
	var in diagnose.Input
	lookup := lookupIn(env)
	cred, err := probe.Cred()
	if err != nil {
		return in, err
	}
	in.Cred = cred
	kind := policy.KindOf(cred)
	c, err := parseEnv(lookup)
	if err != nil {
		return in, err
	}
	image, err := imageSettings()
	if err != nil {
		return in, err
	}
	e, _ := policy.Settle(kind, cred, policy.Input{Caller: c.Settings, Image: image})
	// The start's decision, for the hints about the passwd entry and the
	// home: without asking any agent (doctor asks its own way, below).
	e.SocketMode, e.Sockets = policy.None, nil
	p, facts, err := probe.Gather(cred, e, "")
	if err != nil {
		return in, err
	}
	p.Close()
	in.Facts = facts
	if kind == policy.Unprivileged {
		user, _ := lookup("USER")
		in.Decision = decide(p, &in.Facts, e, user)
	}

	in.Env.Home, in.Env.HomeSet = lookup("HOME")
	in.Env.AuthSock, in.Env.AuthSockSet = lookup("SSH_AUTH_SOCK")
	in.Home = probe.HomeAt(in.Env.Home)
	if r, err := startrecord.Read(); err == nil {
		in.Record = &r
		in.RelayAlive = r.RelayPID > 0 && probe.RelayAlive(r.RelayPID)
	} else if !errors.Is(err, startrecord.ErrNone) {
		return in, err
	}
	// The agent's socket: this process's, else the one the start gave the
	// command (a docker exec session has none of its own), else Docker
	// Desktop's, which a start would use.
	switch {
	case in.Env.AuthSockSet && in.Env.AuthSock != "":
		in.Sockets = append(in.Sockets, probe.LookAt(in.Env.AuthSock, diagnose.FromEnv, true))
	case in.Record != nil && in.Record.AuthSock != "":
		in.Sockets = append(in.Sockets, probe.LookAt(in.Record.AuthSock, diagnose.FromRecord, true))
	case probe.Exists(policy.DockerDesktopSocket):
		in.Sockets = append(in.Sockets, probe.LookAt(policy.DockerDesktopSocket, diagnose.FromDockerDesktop, true))
	}
	for _, s := range c.Sockets {
		in.Sockets = append(in.Sockets, probe.LookAt(s.Path, diagnose.FromSettings, false))
	}
	in.Runtime = probe.Runtime()
	return in, nil
}

// writeChecks prints one line per check, its verdict first, and under a
// warning or a problem the fix.
func writeChecks(w io.Writer, checks []diagnose.Check, verbose bool) {
	for _, c := range checks {
		name := c.Name
		if c.Subject != "" {
			name += " " + c.Subject
		}
		fmt.Fprintf(w, "%-8s %s: %s\n", c.Verdict, name, c.Says)
		if fix := fixOf(c); fix != "" {
			fmt.Fprintf(w, "%-8s fix: %s\n", "", fix)
		}
		if verbose {
			for _, d := range c.Details {
				fmt.Fprintf(w, "%-8s %s\n", "", d)
			}
		}
	}
	problems, warnings := count(checks)
	switch {
	case problems+warnings == 0:
		fmt.Fprintln(w, "doctor: everything the command needs works")
	default:
		fmt.Fprintf(w, "doctor: %d %s, %d %s\n", problems, plural(problems, "problem", "problems"), warnings, plural(warnings, "warning", "warnings"))
	}
}

func fixOf(c diagnose.Check) string {
	if c.Fix == "" && c.Problem != nil {
		return problemHint(*c.Problem, c.Problem.Caps)
	}
	return c.Fix
}

func count(checks []diagnose.Check) (problems, warnings int) {
	for _, c := range checks {
		switch c.Verdict {
		case diagnose.Problem:
			problems++
		case diagnose.Warning:
			warnings++
		}
	}
	return problems, warnings
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// writeJSON prints the checks as one JSON object (README.md, doctor):
//
//	{"status": "ok"|"warning"|"problem", "problems": N, "warnings": N,
//	 "checks": [{"check", "subject", "verdict", "says", "fix", "details": [...]}]}
//
// Written by hand: encoding/json would add a quarter of the binary's size
// for one fixed shape.
func writeJSON(w io.Writer, checks []diagnose.Check) {
	problems, warnings := count(checks)
	var b strings.Builder
	fmt.Fprintf(&b, `{"status":%s,"problems":%d,"warnings":%d,"checks":[`, jsonString(diagnose.Worst(checks).String()), problems, warnings)
	for i, c := range checks {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"check":%s,"subject":%s,"verdict":%s,"says":%s,"fix":%s,"details":[`,
			jsonString(c.Name), jsonString(c.Subject), jsonString(c.Verdict.String()), jsonString(c.Says), jsonString(fixOf(c)))
		for k, d := range c.Details {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(d))
		}
		b.WriteString("]}")
	}
	b.WriteString("]}\n")
	io.WriteString(w, b.String())
}

// jsonString quotes s as a JSON string; bytes that are not UTF-8 become
// U+FFFD.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// stdout is where doctor's report goes; tests replace it.
var stdout io.Writer = os.Stdout

const doctorUsage = `usage: agent-entrypoint doctor [--json] [-v]

Says, for this process of the container, whether the agent, the user and
the home work, and for each thing that does not, the one change that fixes
it: the identity and its passwd entry, HOME, each socket (SSH_AUTH_SOCK,
Docker Desktop's, AGENT_ENTRYPOINT_SOCKETS) and what the agent answers,
what the container's start did (from its record), and the runtime's
restrictions. It changes nothing; installed setuid-root, it gives root up
before it looks. Run it as the container's command, or in a running one:

  docker exec --user UID:GID CONTAINER agent-entrypoint doctor

  --json   one JSON object with every check
  -v       also list the agent's keys

exit status: 0 when nothing is a problem, 1 when something is, 125 when
doctor itself failed.
`
