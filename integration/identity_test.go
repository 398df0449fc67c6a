package integration

import (
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// identityScript prints, as key=value lines, who the command runs as and
// what it sees, then the kernel's view of its credentials, then the agent's
// keys (agentprobe, which uses $SSH_AUTH_SOCK).
const identityScript = `echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "user=$(id -un)"
echo "group=$(id -gn)"
echo "groups=$(id -G)"
echo "HOME=$HOME"
echo "USER=$USER"
echo "LOGNAME=$LOGNAME"
echo "home_owner=$(stat -c %u:%g "$HOME")"
grep -E '^(Uid|Gid|Groups):' /proc/self/status
agentprobe`

// TestRootStartTarget starts as root with AGENT_ENTRYPOINT_UID/GID/USER:
// the command must run as exactly uid=1000(alice) gid=1000 with only the
// groups it was given (never root's), with a home it owns, and reach the
// agent; the account files gain exactly the new entries.
func TestRootStartTarget(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			cases := []struct {
				name       string
				env        []string
				wantGroups []string
			}{
				{"no-extra-groups", nil, []string{"1000"}},
				// users is gid 100 in both images; 4242 exists nowhere.
				{"extra-groups", []string{"AGENT_ENTRYPOINT_GROUPS=users,4242"}, []string{"100", "1000", "4242"}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := testAgent(t)
					args := append([]string{"-v", a.Socket + ":" + agentMount}, rootTarget.args...)
					for _, e := range tc.env {
						args = append(args, "-e", e)
					}
					id, res := runKept(t, append(args, f.image, "sh", "-c", identityScript)...)
					if res.ExitCode != 0 {
						t.Fatalf("identity script failed: %s", res)
					}
					requireVoice(t, res.Stderr)
					kv := keyValues(res.Stdout)
					want := map[string]string{
						"uid": "1000", "gid": "1000", "user": "alice",
						"HOME": "/home/alice", "USER": "alice", "LOGNAME": "alice", "home_owner": "1000:1000",
					}
					requireKeyValues(t, kv, want, res)
					groups := strings.Fields(kv["groups"])
					slices.Sort(groups)
					if !slices.Equal(groups, tc.wantGroups) {
						t.Errorf("id -G = %v, want exactly %v", groups, tc.wantGroups)
					}
					uids, gids, supp := procStatus(t, res.Stdout)
					requireIDs(t, uids, gids, testUID)
					for _, g := range supp {
						if !slices.Contains(tc.wantGroups, g) {
							t.Errorf("supplementary group %s in /proc/self/status, want only %v", g, tc.wantGroups)
						}
					}
					if !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
						t.Errorf("agentprobe as alice does not list the key %s:\n%s", a.Fingerprint, res.Stdout)
					}

					before, after := pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc")
					requireAdded(t, before, after, "etc/passwd", "alice:x:1000:1000:")
					requireAddedField(t, before, after, "etc/group", 2, "1000")
					if f.hasShadow {
						requireAdded(t, before, after, "etc/shadow", "alice:")
					}
					if f.hasGshadow {
						requireAddedCount(t, before, after, "etc/gshadow", 1)
					}
					for _, name := range []string{"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"} {
						b, a := before.entries[name], after.entries[name]
						if b.mode != a.mode || b.uid != a.uid || b.gid != a.gid || b.typ != a.typ {
							t.Errorf("%s: %v, was %v (mode and owner must be kept)", name, a, b)
						}
					}
				})
			}
		})
	}
}

// lines returns the non-empty lines of a snapshot's file.
func lines(s snapshot, name string) []string {
	var out []string
	for _, l := range strings.Split(s.contents[name], "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// addedLines checks that every line of before's file is still there,
// byte-identical and in order, and returns the lines that were added.
func addedLines(t *testing.T, before, after snapshot, name string) []string {
	t.Helper()
	b, a := lines(before, name), lines(after, name)
	var added []string
	i := 0
	for _, l := range a {
		if i < len(b) && l == b[i] {
			i++
			continue
		}
		added = append(added, l)
	}
	if i != len(b) {
		t.Errorf("%s: original line %q is gone or changed; now:\n%s", name, b[i], after.contents[name])
	}
	return added
}

// requireAdded wants exactly one line added to name, starting with prefix.
func requireAdded(t *testing.T, before, after snapshot, name, prefix string) {
	t.Helper()
	added := addedLines(t, before, after, name)
	if len(added) != 1 || !strings.HasPrefix(added[0], prefix) {
		t.Errorf("%s: want exactly one added line starting %q, added %q", name, prefix, added)
	}
}

// requireAddedField wants exactly one line added to name whose field i
// (colon-separated, from 0) is value, and no other line with that value.
func requireAddedField(t *testing.T, before, after snapshot, name string, i int, value string) {
	t.Helper()
	added := addedLines(t, before, after, name)
	if len(added) != 1 || field(added[0], i) != value {
		t.Errorf("%s: want exactly one added line with field %d = %s, added %q", name, i, value, added)
	}
	if n := countField(lines(after, name), i, value); n != 1 {
		t.Errorf("%s: %d lines with field %d = %s, want 1:\n%s", name, n, i, value, after.contents[name])
	}
}

func requireAddedCount(t *testing.T, before, after snapshot, name string, n int) {
	t.Helper()
	if added := addedLines(t, before, after, name); len(added) != n {
		t.Errorf("%s: want %d added lines, added %q", name, n, added)
	}
}

func field(line string, i int) string {
	f := strings.Split(line, ":")
	if i < len(f) {
		return f[i]
	}
	return ""
}

func countField(ls []string, i int, value string) int {
	n := 0
	for _, l := range ls {
		if field(l, i) == value {
			n++
		}
	}
	return n
}

// TestExistingUserReused runs the image that already has dev:x:1000:1000
// and group devs (gid 1000): that identity is used as it is, and nothing
// is written to the account files (no second entry for 1000).
func TestExistingUserReused(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			modes := []startMode{
				setuidUser,
				{"root-uid-gid", []string{"-e", "AGENT_ENTRYPOINT_UID=1000", "-e", "AGENT_ENTRYPOINT_GID=1000"}, testUID},
				// The gid defaults to the existing user's.
				{"root-uid-only", []string{"-e", "AGENT_ENTRYPOINT_UID=1000"}, testUID},
			}
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					a := testAgent(t)
					args := append([]string{"-v", a.Socket + ":" + agentMount}, m.args...)
					id, res := runKept(t, append(args, f.dev, "sh", "-c", identityScript)...)
					if res.ExitCode != 0 {
						t.Fatalf("identity script failed: %s", res)
					}
					requireVoice(t, res.Stderr)
					kv := keyValues(res.Stdout)
					want := map[string]string{
						"uid": "1000", "gid": "1000", "user": "dev", "group": "devs", "groups": "1000",
						"HOME": "/home/dev", "USER": "dev", "LOGNAME": "dev", "home_owner": "1000:1000",
					}
					requireKeyValues(t, kv, want, res)
					uids, gids, _ := procStatus(t, res.Stdout)
					requireIDs(t, uids, gids, testUID)
					if !strings.Contains(res.Stdout, a.Fingerprint) {
						t.Errorf("agentprobe as dev does not list the key %s:\n%s", a.Fingerprint, res.Stdout)
					}
					after := snapshotOf(t, id, "/etc")
					if n := countField(lines(after, "etc/passwd"), 2, "1000"); n != 1 {
						t.Errorf("%d passwd lines with uid 1000, want 1:\n%s", n, after.contents["etc/passwd"])
					}
					if n := countField(lines(after, "etc/group"), 2, "1000"); n != 1 {
						t.Errorf("%d group lines with gid 1000, want 1:\n%s", n, after.contents["etc/group"])
					}
					before := pristineOf(t, f.dev).under("etc")
					requireUnchanged(t, "/etc", before, withoutNewLock(t, before, after))
				})
			}
		})
	}
}

// TestRootStartTransparent starts as root without a target: the command
// runs as root, unchanged, and nothing is provisioned or granted: /etc is
// untouched and the agent socket keeps its mode (root can connect anyway).
// Whether SSH_AUTH_SOCK is exported for Docker Desktop's path in this mode
// is left open (the design's "transparent" versus its env table), so the
// probe is given the path.
func TestRootStartTransparent(t *testing.T) {
	const ids = `echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) HOME=$HOME USER=${USER-unset}"`
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			a := testAgent(t)
			control := run(t, "--entrypoint", "", f.image, "sh", "-c", ids)
			if control.ExitCode != 0 {
				t.Fatalf("control without the shim failed: %s", control)
			}
			// SSH_AUTH_SOCK is unset: the shim exports Docker Desktop's path,
			// and agentprobe, which reads it, must find the agent there.
			id, res := runKept(t, "-v", a.Socket+":"+agentMount, f.image, "sh", "-c", ids+"; agentprobe")
			if res.ExitCode != 0 {
				t.Fatalf("script failed: %s", res)
			}
			requireVoice(t, res.Stderr)
			if got, want := strings.SplitN(res.Stdout, "\n", 2)[0], strings.TrimSpace(control.Stdout); got != want {
				t.Errorf("identity with the shim: %q, without: %q", got, want)
			}
			if !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("agentprobe as root does not list the key %s:\n%s", a.Fingerprint, res.Stdout)
			}
			requireAgentSocketMode(t, a, 0o755)
			requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
		})
	}
}
