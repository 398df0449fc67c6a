package integration

import (
	"strings"
	"testing"
)

// TestHostileIdentityInput feeds bad names and ids: each must be refused
// with "agent-entrypoint: error: " and exit 125, the command must not run,
// and /etc must be left exactly as it was (content, mode, owner), both when
// starting as root and in the setuid --user case.
func TestHostileIdentityInput(t *testing.T) {
	target := []string{"AGENT_ENTRYPOINT_UID=1000", "AGENT_ENTRYPOINT_GID=1000"}
	cases := []struct {
		name string
		env  []string
	}{
		{"user-with-colon", append(target, "AGENT_ENTRYPOINT_USER=ev:il")},
		{"user-with-newline", append(target, "AGENT_ENTRYPOINT_USER=evil\nroot::0:0::/root:/bin/sh")},
		{"user-leading-dash", append(target, "AGENT_ENTRYPOINT_USER=-evil")},
		{"user-too-long", append(target, "AGENT_ENTRYPOINT_USER="+strings.Repeat("a", 33))},
		{"uid-abc", []string{"AGENT_ENTRYPOINT_UID=abc"}},
		{"uid-minus-one", []string{"AGENT_ENTRYPOINT_UID=-1"}},
		{"uid-4294967295", []string{"AGENT_ENTRYPOINT_UID=4294967295"}},
		{"uid-99999999999", []string{"AGENT_ENTRYPOINT_UID=99999999999"}},
		{"gid-minus-one", []string{"AGENT_ENTRYPOINT_UID=1000", "AGENT_ENTRYPOINT_GID=-1"}},
	}
	modes := []startMode{{"root", nil, 0}, setuidUser}
	for _, f := range flavors(t) {
		for _, m := range modes {
			for _, tc := range cases {
				t.Run(f.name+"/"+m.name+"/"+tc.name, func(t *testing.T) {
					args := append([]string{}, m.args...)
					for _, e := range tc.env {
						args = append(args, "-e", e)
					}
					id, res := runKept(t, append(args, f.image, "echo", "ran")...)
					if res.ExitCode != 125 || strings.Contains(res.Stdout, "ran") {
						t.Errorf("want exit 125 without running the command, got %s", res)
					}
					requireVoice(t, res.Stderr)
					requireLine(t, res.Stderr, prefixError)
					requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
				})
			}
		}
	}
}

// TestHostileSocketPaths points SSH_AUTH_SOCK (or AGENT_ENTRYPOINT_SOCKETS)
// at things that are not sockets: a symlink to /etc/shadow, a symlink to
// /etc/passwd, a regular file, a directory, a FIFO. None may be changed
// (nor what a symlink points to); the shim warns and runs the command, or,
// with AGENT_ENTRYPOINT_STRICT=1, fails with 125. The dev image is used,
// whose user 1000 exists, so that no account file has a reason to change.
func TestHostileSocketPaths(t *testing.T) {
	cases := []struct {
		name string
		env  string
		// setuidRefused: a setuid start refuses the setting itself (it is
		// the image's config file's to give), strict or not.
		setuidRefused bool
	}{
		{"symlink-to-shadow", "SSH_AUTH_SOCK=/fixtures/link-to-shadow", false},
		{"symlink-to-passwd", "SSH_AUTH_SOCK=/fixtures/link-to-passwd", false},
		{"regular-file", "SSH_AUTH_SOCK=/fixtures/file", false},
		{"directory", "SSH_AUTH_SOCK=/fixtures/dir", false},
		{"fifo", "SSH_AUTH_SOCK=/fixtures/fifo", false},
		{"sockets-list", "AGENT_ENTRYPOINT_SOCKETS=/fixtures/link-to-shadow:/fixtures/file:/fixtures/fifo", true},
	}
	modes := []startMode{setuidUser, {"root-target", []string{"-e", "AGENT_ENTRYPOINT_UID=1000"}, testUID}}
	for _, f := range flavors(t) {
		for _, m := range modes {
			for _, tc := range cases {
				for _, strict := range []bool{false, true} {
					name := f.name + "/" + m.name + "/" + tc.name
					if strict {
						name += "/strict"
					}
					t.Run(name, func(t *testing.T) {
						args := append(append([]string{}, m.args...), "-e", tc.env)
						if strict {
							args = append(args, "-e", "AGENT_ENTRYPOINT_STRICT=1")
						}
						id, res := runKept(t, append(args, f.dev, "echo", "ran")...)
						refused := strict || (tc.setuidRefused && m.name == setuidUser.name)
						switch {
						case refused && (res.ExitCode != 125 || strings.Contains(res.Stdout, "ran")):
							t.Errorf("strict: want exit 125 without running the command, got %s", res)
						case !refused && (res.ExitCode != 0 || !strings.Contains(res.Stdout, "ran")):
							t.Errorf("want the command to run (exit 0) despite the bad socket path, got %s", res)
						}
						requireVoice(t, res.Stderr)
						if refused {
							requireLine(t, res.Stderr, prefixError)
						} else {
							requireLine(t, res.Stderr, prefixWarning)
						}
						before := pristineOf(t, f.dev)
						after := withoutNewLock(t, before, snapshotOf(t, id, "/etc", "/fixtures"))
						requireUnchanged(t, "/etc and /fixtures", before, after)
					})
				}
			}
		}
	}
}
