package integration

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// remapDockerfile gives the image user dev (1000:1000) a home of about 10k
// entries, a symlink to /etc/shadow, a root-owned file and an empty mount
// point; plus, for the collision cases, a group staff (3000), a user other
// (4000) and a user ops who shares dev's group as its primary one. Its
// config file names dev as the user a setuid start may move.
const remapDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN echo 'AGENT_ENTRYPOINT_USER=dev' > /etc/agent-entrypoint.conf \
 && echo 'dev:x:1000:1000:Dev User:/home/dev:/bin/sh' >> /etc/passwd \
 && echo 'other:x:4000:4000::/home/other:/bin/sh' >> /etc/passwd \
 && echo 'dev:x:1000:' >> /etc/group \
 && echo 'staff:x:3000:' >> /etc/group \
 && echo 'other:x:4000:' >> /etc/group \
 && if [ -f /etc/shadow ]; then echo 'dev:!:19000:0:99999:7:::' >> /etc/shadow; echo 'other:!:19000:0:99999:7:::' >> /etc/shadow; fi \
 && mkdir -p /home/dev/mnt && cd /home/dev \
 && i=0; while [ $i -lt 100 ]; do mkdir d$i; j=0; while [ $j -lt 100 ]; do : > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done \
 && chown -R 1000:1000 /home/dev \
 && ln -s /etc/shadow /home/dev/shadow-link && chown -h 1000:1000 /home/dev/shadow-link \
 && : > /home/dev/rootfile
`

// opsLine is added to /etc/passwd for the shared-group case only.
const opsLine = "ops:x:1001:1000::/home/ops:/bin/sh"

// remapImage builds the remap image on f's test image.
func remapImage(t *testing.T, f *flavor) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	logf := harness.Logf(func(format string, args ...any) { t.Logf(format, args...) })
	img, err := harness.Build{Repo: "agent-entrypoint-test/" + f.name + "-remap", Dockerfile: []byte(remapDockerfile), Base: f.image}.Image(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// foreignMount is a host directory holding a file owned by the old uid
// 1000: mounted into dev's home, it must be left alone.
func foreignMount(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "file")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ownershipReport is what the remap tests read inside the container.
const ownershipReport = `id -u; id -g; id -un
echo "not-2000: $(find /home/dev -xdev ! -user 2000 | sort | tr '\n' ' ')"
echo "owned-2000=$(find /home/dev -xdev -user 2000 | wc -l | tr -d ' ')"
echo "shadow: $(stat -c %u:%g /etc/shadow 2>/dev/null || echo none)"
echo "rootfile: $(stat -c %u:%g /home/dev/rootfile)"
echo "link: $(stat -c %u:%g /home/dev/shadow-link)"
grep -E '^(dev|ops|other):' /etc/passwd
grep -E '^(dev|staff|other|group2000):' /etc/group`

// TestRemapImageUser moves dev to 2000:2000, started as root with the
// AGENT_ENTRYPOINT variables and setuid with --user, then starts the same
// container again: the second start must change nothing.
func TestRemapImageUser(t *testing.T) {
	for _, f := range flavors(t) {
		img := remapImage(t, f)
		pristine := pristineOf(t, img)
		for _, mode := range []struct {
			name string
			args []string
		}{
			{"root-env", []string{"-e", "AGENT_ENTRYPOINT_UID=2000", "-e", "AGENT_ENTRYPOINT_GID=2000"}},
			{"setuid-user", []string{"--user", "2000:2000"}},
		} {
			t.Run(f.name+"/"+mode.name, func(t *testing.T) {
				host := foreignMount(t)
				args := append([]string{"-e", "AGENT_ENTRYPOINT_USER=dev", "-e", "AGENT_ENTRYPOINT_DEBUG=1",
					"-v", host + ":/home/dev/mnt"}, mode.args...)
				id := create(t, append(args, img, "sh", "-c", ownershipReport)...)
				res := start(t, id)
				if res.ExitCode != 0 {
					t.Fatalf("first start: %s", res)
				}
				requireVoice(t, res.Stderr)
				out := res.Stdout
				for _, want := range []string{
					"2000\n2000\ndev\n",
					// Only the root-owned file and the mount point (the host's
					// directory, seen through the mount) keep other owners.
					"not-2000: /home/dev/mnt /home/dev/rootfile \n",
					"rootfile: 0:0\n",
					"link: 2000:2000\n",
					"dev:x:2000:2000:Dev User:/home/dev:/bin/sh\n",
					"dev:x:2000:\n",
					"other:x:4000:4000::/home/other:/bin/sh\n",
				} {
					if !strings.Contains(out, want) {
						t.Errorf("after the first start, want %q in:\n%s", want, out)
					}
				}
				// The home, its 100 directories and 10000 files, and the link.
				if n := keyValues(out)["owned-2000"]; n != "10102" {
					t.Errorf("entries owned by 2000: %s, want 10102\n%s", n, out)
				}
				if f.hasShadow && !strings.Contains(out, "shadow: "+shadowOwner(pristine)) {
					t.Errorf("/etc/shadow owner changed:\n%s", out)
				}
				requireHostFile(t, host)
				requireOnlyLinesChanged(t, pristine, snapshotOf(t, id, "/etc"), map[string][]string{
					"etc/passwd": {"dev:x:2000:2000:Dev User:/home/dev:/bin/sh"},
					"etc/group":  {"dev:x:2000:"},
				})
				if !strings.Contains(res.Stderr, "moved /home/dev:") {
					t.Errorf("no debug line for the walk:\n%s", res.Stderr)
				}

				afterFirst := snapshotOf(t, id, "/etc")
				again := start(t, id)
				if again.ExitCode != 0 {
					t.Fatalf("second start: %s", again)
				}
				if !strings.Contains(again.Stdout, "not-2000: /home/dev/mnt /home/dev/rootfile \n") {
					t.Errorf("second start: ownership differs:\n%s", again.Stdout)
				}
				if strings.Contains(again.Stderr, "wrote to") || strings.Contains(again.Stderr, "moved /home/dev:") {
					t.Errorf("second start wrote or walked again:\n%s", again.Stderr)
				}
				requireUnchanged(t, "/etc after the second start", afterFirst, snapshotOf(t, id, "/etc"))
				requireHostFile(t, host)
			})
		}
	}
}

// TestRemapCollisions covers the cases fixuid and devcontainers get wrong.
func TestRemapCollisions(t *testing.T) {
	f := getFlavor(t, "debian")
	img := remapImage(t, f)
	pristine := pristineOf(t, img)
	for _, tc := range []struct {
		name     string
		args     []string // more docker run arguments
		env      []string
		script   string // run before the shim, to set the case up
		wantCode int
		want     []string
		stderr   []string
		changed  map[string][]string
	}{
		{
			name: "target gid held by another group: joined, old group stays",
			env:  []string{"AGENT_ENTRYPOINT_UID=2000", "AGENT_ENTRYPOINT_GID=3000"},
			want: []string{"2000\n3000\ndev\n", "dev:x:2000:3000:Dev User:/home/dev:/bin/sh\n", "dev:x:1000:\n", "staff:x:3000:\n"},
			changed: map[string][]string{
				"etc/passwd": {"dev:x:2000:3000:Dev User:/home/dev:/bin/sh"},
			},
		},
		{
			name:   "target uid held by another user: its identity, dev not moved",
			env:    []string{"AGENT_ENTRYPOINT_UID=4000", "AGENT_ENTRYPOINT_GID=4000"},
			want:   []string{"4000\n4000\nother\n", "dev:x:1000:1000:Dev User:/home/dev:/bin/sh\n"},
			stderr: []string{"agent-entrypoint: warning: uid 4000 already belongs to other: dev was not moved"},
		},
		{
			name:     "target uid held by another user, strict: refused",
			env:      []string{"AGENT_ENTRYPOINT_UID=4000", "AGENT_ENTRYPOINT_STRICT=1"},
			wantCode: 125,
			stderr:   []string{"agent-entrypoint: error: uid 4000 already belongs to other: dev was not moved"},
		},
		{
			name:   "old primary group shared with ops: left to ops, new group for dev",
			env:    []string{"AGENT_ENTRYPOINT_UID=2000", "AGENT_ENTRYPOINT_GID=2000"},
			script: "echo '" + opsLine + "' >> /etc/passwd",
			want:   []string{"2000\n2000\ndev\n", "dev:x:2000:2000:Dev User:/home/dev:/bin/sh\n", opsLine + "\n", "dev:x:1000:\n", "group2000:x:2000:\n"},
		},
		{
			// The config file names dev; the caller may not pick another
			// image user, nobody least of all.
			name:     "setuid start: the caller cannot move nobody",
			args:     []string{"--user", "2000:2000"},
			env:      []string{"AGENT_ENTRYPOINT_USER=nobody"},
			wantCode: 125,
			stderr:   []string{"agent-entrypoint: error: refuse to move image user nobody (uid 65534)"},
		},
		{
			name:     "root is never moved",
			env:      []string{"AGENT_ENTRYPOINT_UID=2000", "AGENT_ENTRYPOINT_USER=root"},
			wantCode: 125,
			stderr:   []string{"agent-entrypoint: error: refuse to move user root"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--entrypoint", "/bin/sh"}, tc.args...)
			env := append([]string{"AGENT_ENTRYPOINT_USER=dev"}, tc.env...)
			for _, kv := range env {
				args = append(args, "-e", kv)
			}
			setup := tc.script
			if setup == "" {
				setup = "true"
			}
			id := create(t, append(args, img, "-c", setup+` && exec /usr/local/bin/agent-entrypoint -- sh -c "$0"`, ownershipReport)...)
			res := start(t, id)
			if res.ExitCode != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s", res.ExitCode, tc.wantCode, res)
			}
			requireVoice(t, res.Stderr)
			for _, want := range tc.want {
				if !strings.Contains(res.Stdout, want) {
					t.Errorf("want %q in:\n%s", want, res.Stdout)
				}
			}
			for _, want := range tc.stderr {
				requireLine(t, res.Stderr, want)
			}
			if tc.changed != nil {
				requireOnlyLinesChanged(t, pristine, snapshotOf(t, id, "/etc"), tc.changed)
			}
			if tc.wantCode == 125 {
				requireUnchanged(t, "/etc after a refused move", pristine.under("etc"), snapshotOf(t, id, "/etc"))
			}
		})
	}
}

// requireOnlyLinesChanged checks that each account file differs from the
// pristine one in exactly the lines given (matched by name field), and that
// every other file under /etc is unchanged.
func requireOnlyLinesChanged(t *testing.T, pristine, after snapshot, changed map[string][]string) {
	t.Helper()
	for name, lines := range changed {
		before, ok1 := pristine.contents[name]
		got, ok2 := after.contents[name]
		if !ok1 || !ok2 {
			t.Fatalf("%s: not in both snapshots", name)
		}
		want := before
		for _, line := range lines {
			key, _, _ := strings.Cut(line, ":")
			found := false
			var out []string
			for _, l := range strings.SplitAfter(want, "\n") {
				if !found && strings.HasPrefix(l, key+":") {
					l, found = line+"\n", true
				}
				out = append(out, l)
			}
			if !found {
				t.Fatalf("%s: no line for %s", name, key)
			}
			want = strings.Join(out, "")
		}
		if got != want {
			t.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
	}
	rest := func(s snapshot) snapshot {
		out := snapshot{entries: map[string]entry{}, contents: s.contents}
		for name, e := range s.entries {
			if _, ok := changed[name]; !ok && strings.HasPrefix(name, "etc/") && !strings.HasPrefix(name, "etc/.pwd.lock") {
				out.entries[name] = e
			}
		}
		return out
	}
	requireUnchanged(t, "the rest of /etc", rest(pristine), rest(after))
}

// requireHostFile checks that the mounted host directory kept its owner.
func requireHostFile(t *testing.T, dir string) {
	t.Helper()
	for _, p := range []string{dir, filepath.Join(dir, "file")} {
		o, err := harness.StatOwner(p)
		if err != nil {
			t.Fatal(err)
		}
		if o.UID != 1000 || o.GID != 1000 {
			t.Errorf("host %s is now %v, want owned by 1000:1000", p, o)
		}
	}
}

// shadowOwner is /etc/shadow's uid:gid in a snapshot.
func shadowOwner(s snapshot) string {
	e := s.entries["etc/shadow"]
	return strconv.Itoa(e.uid) + ":" + strconv.Itoa(e.gid)
}
