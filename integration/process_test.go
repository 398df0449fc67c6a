package integration

import (
	"strings"
	"testing"
)

// TestSingleProcessAfterExec checks that the shim replaces itself with the
// command: docker top shows the command alone (with --init: docker-init
// and the command), running with the target's ids.
func TestSingleProcessAfterExec(t *testing.T) {
	eachStart(t, []startMode{setuidUser, rootTarget, rootPlain}, func(t *testing.T, f *flavor, m startMode, init bool, args []string) {
		id := runDetached(t, append(args, f.image, "sleep", "300")...)
		waitForCommand(t, id, "sleep 300")
		ps := top(t, id)
		want := 1
		if init {
			want = 2
		}
		if len(ps) != want {
			t.Fatalf("docker top: %d processes, want %d: %v", len(ps), want, ps)
		}
		for _, p := range ps {
			if p.args != "sleep 300" && !(init && strings.Contains(p.args, "docker-init")) {
				t.Errorf("unexpected process %v, want only sleep 300", p)
			}
		}
		pid1 := "1"
		if init {
			pid1 = dockerOK(t, "exec", id, "sh", "-c", "cat /proc/1/task/1/children")
			pid1 = strings.TrimSpace(pid1)
		}
		status := dockerOK(t, "exec", "--user", "0", id, "cat", "/proc/"+pid1+"/status")
		uids, gids, _ := procStatus(t, status)
		requireIDs(t, uids, gids, m.uid)
	})
}

// TestStopDeliversSIGTERM checks that docker stop's SIGTERM reaches the
// command: it traps TERM and exits 42. Had the signal been lost, docker
// stop would kill it after its timeout and the exit code would be 137.
func TestStopDeliversSIGTERM(t *testing.T) {
	const script = `trap "exit 42" TERM; touch /tmp/ready; while :; do sleep 0.1; done`
	eachStart(t, []startMode{setuidUser, rootTarget, rootPlain}, func(t *testing.T, f *flavor, m startMode, init bool, args []string) {
		id := runDetached(t, append(args, f.image, "sh", "-c", script)...)
		// The trap is set once /tmp/ready exists.
		waitFor(t, "the trap to be set", func() bool {
			return docker(t, "exec", id, "test", "-f", "/tmp/ready").ExitCode == 0
		})
		dockerOK(t, "stop", "-t", "10", id)
		if code := dockerOK(t, "inspect", "--format", "{{.State.ExitCode}}", id); code != "42" {
			t.Errorf("exit code after docker stop: %s, want 42 (the command's TERM trap); logs:\n%s", code, docker(t, "logs", id))
		}
	})
}

// TestExitStatus checks the exit status contract: the command's own status
// once exec'd, 127 command not found, 126 not executable, 125 bad input,
// each failure of the shim's own with an "agent-entrypoint: error: " line.
func TestExitStatus(t *testing.T) {
	commands := []struct {
		name string
		cmd  []string
		want int
	}{
		{"status-passes-through", []string{"sh", "-c", "exit 7"}, 7},
		{"command-not-in-path", []string{"no-such-command-xyz"}, 127},
		{"path-does-not-exist", []string{"/no/such/command"}, 127},
		{"not-executable", []string{"/etc/passwd"}, 126},
		{"directory", []string{"/tmp"}, 126},
	}
	for _, f := range flavors(t) {
		for _, m := range []startMode{setuidUser, rootTarget, rootPlain} {
			for _, c := range commands {
				t.Run(f.name+"/"+m.name+"/"+c.name, func(t *testing.T) {
					res := run(t, append(append(append([]string{}, m.args...), f.image), c.cmd...)...)
					if res.ExitCode != c.want {
						t.Fatalf("exit %d, want %d: %s", res.ExitCode, c.want, res)
					}
					requireVoice(t, res.Stderr)
					if c.want >= 125 {
						requireLine(t, res.Stderr, prefixError)
					}
				})
			}
		}

		// Bad input: the shim's own failure, 125, before anything runs.
		entry := []string{"--entrypoint", shimPath}
		bad := []struct {
			name string
			args []string // docker run arguments before the image
			cmd  []string // after the image
			want int
		}{
			{"uid-not-a-number", []string{"-e", "AGENT_ENTRYPOINT_UID=abc"}, []string{"echo", "ran"}, 125},
			{"setuid-uid-not-a-number", []string{"--user", "1000:1000", "-e", "AGENT_ENTRYPOINT_UID=abc"}, []string{"echo", "ran"}, 125},
			{"bad-socket-mode", []string{"-e", "AGENT_ENTRYPOINT_SOCKET_MODE=bogus"}, []string{"echo", "ran"}, 125},
			{"unknown-flag", entry, []string{"--no-such-flag", "--", "echo", "ran"}, 125},
			{"no-command", entry, nil, 125},
		}
		for _, c := range bad {
			t.Run(f.name+"/bad-input/"+c.name, func(t *testing.T) {
				res := run(t, append(append(append([]string{}, c.args...), f.image), c.cmd...)...)
				if res.ExitCode != c.want || strings.Contains(res.Stdout, "ran") {
					t.Fatalf("exit %d, want %d without running the command: %s", res.ExitCode, c.want, res)
				}
				requireVoice(t, res.Stderr)
				requireLine(t, res.Stderr, prefixError)
			})
		}
		for _, flag := range []string{"--help", "--version"} {
			t.Run(f.name+"/"+flag, func(t *testing.T) {
				res := run(t, append(entry, f.image, flag)...)
				if res.ExitCode != 0 || !strings.Contains(res.Stdout+res.Stderr, "agent-entrypoint") {
					t.Errorf("%s: want exit 0 and text naming agent-entrypoint, got %s", flag, res)
				}
			})
		}
	}
}
