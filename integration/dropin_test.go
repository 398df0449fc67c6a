package integration

// The gosu and su-exec drop-in, in real containers, against the real gosu:
// Debian's package, the host's static /usr/sbin/gosu copied into the
// images. Debian does not package su-exec; the su-exec name runs the shim
// through a link of that name, and is held to gosu's results.

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// Where dropInImage puts each contestant.
const (
	realGosu     = "/opt/gosu/gosu"      // Debian's gosu, mode 0755
	dropInGosu   = "/opt/dropin/gosu"    // link to a plain (0755) copy of the shim
	dropInSuExec = "/opt/dropin/su-exec" // link to the same copy
	setuidGosu   = "/opt/setuid/gosu"    // link to the image's setuid-root shim
)

// dropInDockerfile adds the contestants to a flavor's image, and makes the
// account files those of gosu's own test images: games (Alpine's, where
// the image has none) a member of users, nobody a member of every group.
const dropInDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY gosu ` + realGosu + `
RUN mkdir -p /opt/dropin /opt/setuid \
 && cp ` + shimPath + ` /opt/dropin/agent-entrypoint && chmod 0755 /opt/dropin/agent-entrypoint \
 && ln -s agent-entrypoint ` + dropInGosu + ` && ln -s agent-entrypoint ` + dropInSuExec + ` \
 && ln -s ` + shimPath + ` ` + setuidGosu + ` \
 && if ! grep -q '^games:' /etc/passwd; then echo 'games:x:35:35:games:/usr/games:/sbin/nologin' >> /etc/passwd && echo 'games:x:35:' >> /etc/group; fi \
 && sed -i -e 's/^\(users:[^:]*:[^:]*:\)$/\1games/' -e 's/^\(users:[^:]*:[^:]*:..*\)$/\1,games/' /etc/group \
 && sed -i -e 's/\(:[^:][^:]*\)$/\1,nobody/' -e 's/:$/:nobody/' /etc/group
`

// dropInImage builds (or reuses) the flavor's image with the contestants.
func dropInImage(t *testing.T, f *flavor) string {
	t.Helper()
	gosu, err := exec.LookPath("gosu")
	if err == nil {
		err = harness.RequireStatic(gosu)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the real gosu is needed (Debian package gosu; CI=true, so this is a failure): %v", err)
		}
		t.Skipf("the real gosu is needed (Debian package gosu): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	logf := harness.Logf(func(format string, args ...any) { t.Logf(format, args...) })
	img, err := harness.Build{
		Repo: "agent-entrypoint-test/" + f.name + "-dropin", Dockerfile: []byte(dropInDockerfile), Base: f.image,
		Files: map[string]string{"gosu": gosu},
	}.Image(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// differentialScript runs every spec of its arguments through every
// contestant, as root, with the same probe: ids, their names, HOME, the
// kernel's view (exact groups, capabilities) and the shell's descriptors.
// The probe exits 7, so that a success also shows the status passing
// through. One line per run: spec, contestant, status, what it printed,
// and the first line of its stderr, tab-separated.
const differentialScript = `probe='echo "$(id -u):$(id -g):$(id -G):$(id -un 2>/dev/null):$(id -gn 2>/dev/null):$(id -Gn 2>/dev/null) HOME=$HOME $(grep -E "^(Groups|CapInh|CapPrm|CapEff|CapAmb|NoNewPrivs):" /proc/self/status | tr -s "\t\n" "  ")fds=$(ls /proc/$$/fd | tr "\n" " ")"; exit 7'
run() {
	spec=$1; shift
	for tool in ` + realGosu + ` ` + dropInGosu + ` ` + dropInSuExec + `; do
		out=$("$tool" "$@" 2>/tmp/err); code=$?
		printf '%s\t%s\t%s\t%s\t%s\n' "$spec" "${tool##*/opt/}" "$code" "$out" "$(head -n 1 /tmp/err)"
	done
}
for spec in "$@"; do run "$spec" "$spec" sh -c "$probe"; done
run '(not found)' 0 no-such-command
run '(not executable)' 0 /etc/passwd
run '(no command)' nobody
run '(nothing)'
`

// dropInSpecs are every form of the spec and gosu's own test cases, then
// specs that must fail for both.
var (
	dropInSpecs = []string{
		// gosu's test cases
		"0", "0:0", "root", "0:root", "root:0", "root:root", "1000", "0:1000", "1000:1000", "root:1000",
		"1000:root", "1000:daemon", "games", "games:daemon", "0:", "", ":0", "nobody",
		// the other forms: user:, :group, uid:group, user:gid, a uid with an entry
		"nobody:", ":daemon", "1000:users", "games:0", "65534", "nobody:nogroup",
		// numbers as Atoi reads them
		"+0", "00:01",
	}
	dropInFailing = []string{"bogus", "0day", "0:bogus", "0:0day", "bogus:0", "-1", "4294967296", "2147483648", "0:-1"}
)

// dropInDiffers are the specs where the drop-in knowingly parts from
// Debian's gosu 1.14, which is built with an older user library: it reads
// a third field of "0:0:x" as nothing, where the drop-in (moby/sys/user
// v0.5.0, and gosu built with it) finds no group "0:x" and fails.
var dropInDiffers = map[string]bool{"0:0:x": true}

// TestDropInMatchesGosu runs the differential in both flavors: for every
// spec, gosu and the drop-in (as gosu and as su-exec) print the same and
// exit the same, 7 (the probe's) or 1.
func TestDropInMatchesGosu(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			img := dropInImage(t, f)
			specs := slices.Concat(dropInSpecs, dropInFailing, []string{"0:0:x"})
			res := run(t, append([]string{"--entrypoint", "sh", img, "-c", differentialScript, "sh"}, specs...)...)
			if res.ExitCode != 0 {
				t.Fatalf("differential script: %s", res)
			}
			type result struct{ code, out, err string }
			got := map[string]map[string]result{}
			var order []string
			for _, line := range strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n") {
				f := strings.Split(line, "\t")
				if len(f) != 5 {
					t.Fatalf("unexpected line %q\n%s", line, res)
				}
				if got[f[0]] == nil {
					got[f[0]] = map[string]result{}
					order = append(order, f[0])
				}
				got[f[0]][f[1]] = result{f[2], f[3], f[4]}
			}
			for _, spec := range order {
				g, ours, su := got[spec]["gosu/gosu"], got[spec]["dropin/gosu"], got[spec]["dropin/su-exec"]
				t.Logf("%-18q gosu %s %s | ours %s", spec, g.code, g.out, ours.code)
				if dropInDiffers[spec] {
					if g.code != "7" || ours.code != "1" || su.code != "1" {
						t.Errorf("%q: gosu exit %s, drop-in %s and %s; want 7 and 1 (a known difference)", spec, g.code, ours.code, su.code)
					}
					continue
				}
				if ours != (result{g.code, g.out, ours.err}) || su != (result{g.code, g.out, su.err}) {
					t.Errorf("%q:\n gosu           exit %s: %s\n drop-in gosu   exit %s: %s\n drop-in su-exec exit %s: %s",
						spec, g.code, g.out, ours.code, ours.out, su.code, su.out)
				}
				switch {
				case g.code == "7":
				case g.code == "1" && (slices.Contains(dropInFailing, spec) || strings.HasPrefix(spec, "(")):
					for _, r := range []result{ours, su} {
						if !strings.HasPrefix(r.err, prefixError) {
							t.Errorf("%q: the drop-in's stderr starts %q, want %q", spec, r.err, prefixError)
						}
					}
				default:
					t.Errorf("%q: gosu exit %s (%s), want 7, the probe's status", spec, g.code, g.err)
				}
			}
			// Both could be wrong alike: a few results as gosu's own tests
			// state them (uid:gid:groups:names HOME=).
			for spec, want := range map[string]string{
				"0":            "0:0:",
				":0":           "0:0:0:root:root:root HOME=/root ",
				"1000":         "1000:0:0:1000:root:root HOME=/ ",
				"1000:root":    "1000:0:0:1000:root:root HOME=/ ",
				"1000:daemon":  "1000:1:1:1000:daemon:daemon HOME=/ ",
				"games:daemon": ":games:daemon:daemon HOME=/usr/games ",
				"games":        ":games:games:games users HOME=/usr/games ",
			} {
				if out := got[spec]["dropin/gosu"].out; !strings.Contains(out, want) {
					t.Errorf("%q printed %q, want %q in it", spec, out, want)
				}
			}
			for _, spec := range dropInFailing {
				if got[spec] == nil {
					t.Errorf("%q: no result", spec)
				}
			}
		})
	}
}

// TestDropInSingleProcess checks that the drop-in as PID 1 leaves no
// process of its own: docker top shows the command alone, with the
// target's ids, as it shows for gosu.
func TestDropInSingleProcess(t *testing.T) {
	for _, f := range flavors(t) {
		img := dropInImage(t, f)
		for _, tool := range []string{realGosu, dropInGosu, dropInSuExec} {
			t.Run(f.name+"/"+strings.TrimPrefix(tool, "/opt/"), func(t *testing.T) {
				id := runDetached(t, "--init=false", "--entrypoint", tool, img, "nobody", "sleep", "300")
				waitForCommand(t, id, "sleep 300")
				if ps := top(t, id); len(ps) != 1 || ps[0].args != "sleep 300" {
					t.Fatalf("docker top: %v, want sleep 300 alone", ps)
				}
				uids, gids, _ := procStatus(t, dockerOK(t, "exec", "--user", "0", id, "cat", "/proc/1/status"))
				requireIDs(t, uids, gids, 65534)
			})
		}
	}
}

// TestDropInExitStatus checks the status as the engine records it, the
// drop-in being the container's first process: the command's own, even
// one that looks like an exec failure, and 1 for the drop-in's own
// failures, as gosu.
func TestDropInExitStatus(t *testing.T) {
	for _, f := range flavors(t) {
		img := dropInImage(t, f)
		for _, tc := range []struct {
			name   string
			docker []string // docker run arguments before the image
			args   []string
			want   int
			hint   string // the drop-in's hint
		}{
			{"command-status", nil, []string{"nobody", "sh", "-c", "exit 7"}, 7, ""},
			{"command-status-126", nil, []string{"nobody", "sh", "-c", "exit 126"}, 126, ""},
			{"unknown-user", nil, []string{"bogus", "echo", "ran"}, 1, "name a user of the image's /etc/passwd"},
			{"command-not-found", nil, []string{"nobody", "no-such-command"}, 1, "check the command's name"},
			{"no-command", nil, []string{"nobody"}, 1, "usage: gosu USER-SPEC COMMAND"},
			{"no-setuid-capability", []string{"--cap-drop", "SETUID"}, []string{"nobody", "echo", "ran"}, 1,
				"root without the capabilities to switch users: run with --cap-add SETUID"},
		} {
			for _, tool := range []string{realGosu, dropInGosu} {
				t.Run(f.name+"/"+tc.name+"/"+strings.TrimPrefix(tool, "/opt/"), func(t *testing.T) {
					res := run(t, append(slices.Concat(tc.docker, []string{"--entrypoint", tool, img}), tc.args...)...)
					if res.ExitCode != tc.want || strings.Contains(res.Stdout, "ran") {
						t.Fatalf("exit %d, want %d: %s", res.ExitCode, tc.want, res)
					}
					if tool == dropInGosu {
						requireVoice(t, res.Stderr)
						if tc.hint != "" {
							requireLine(t, res.Stderr, prefixHint+tc.hint)
						}
					}
				})
			}
		}
	}
}

// TestDropInSetuid attacks the drop-in where the image installs the shim
// setuid-root (for docker run --user) and gosu is a link to it. A caller
// that is not root gains nothing from it: refused before anything is read,
// exit 1, and nothing in the container changes. Root may use it; its start
// then claims the container start, so that the command it drops to cannot
// exec the setuid shim for a privileged phase.
func TestDropInSetuid(t *testing.T) {
	for _, f := range flavors(t) {
		img := dropInImage(t, f)
		t.Run(f.name+"/user-runs-setuid-gosu", func(t *testing.T) {
			for _, args := range [][]string{{"0", "id", "-u"}, {"1000", "id", "-u"}, {"--help"}} {
				id, res := runKept(t, append([]string{"--user", "1000:1000", "--entrypoint", setuidGosu, img}, args...)...)
				if res.ExitCode != 1 || res.Stdout != "" {
					t.Fatalf("setuid gosu %v as uid 1000: exit %d, want 1 and nothing run: %s", args, res.ExitCode, res)
				}
				requireVoice(t, res.Stderr)
				requireLine(t, res.Stderr, prefixError+"refuse to run as gosu: started setuid")
				requireUnchanged(t, "/etc and /fixtures", pristineOf(t, img), snapshotOf(t, id, "/etc", "/fixtures"))
				requireNoMarker(t, id)
			}
		})
		t.Run(f.name+"/exec-into-root-started-container", func(t *testing.T) {
			id := runDetached(t, "--entrypoint", setuidGosu, img, "nobody", "sleep", "300")
			waitForCommand(t, id, "sleep 300")
			res := docker(t, "exec", "--user", "1000:1000", id, setuidGosu, "0", "id", "-u")
			if res.ExitCode != 1 || res.Stdout != "" {
				t.Fatalf("docker exec --user 1000 setuid gosu 0: exit %d, want 1: %s", res.ExitCode, res)
			}
			requireLine(t, res.Stderr, prefixError+"refuse to run as gosu")
		})
		// The root start of the setuid install drops to a uid with no
		// passwd entry, and the command execs the setuid shim as PID 1,
		// which would add that uid's passwd line in a privileged phase.
		script := nameOrDash + "; " + afterReentry
		reentry := `AGENT_ENTRYPOINT_DEBUG=1 exec ` + shimPath + ` -- sh -c "$APP"`
		t.Run(f.name+"/command-reenters-setuid-shim", func(t *testing.T) {
			id, res := runKept(t, "-e", "APP="+script, "--entrypoint", setuidGosu, img, "1001:1001", "sh", "-c", reentry)
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"user": "-", "uid": "1001"}, res)
			requireLine(t, res.Stderr, "agent-entrypoint: debug: no privileged phase: the container start was claimed before")
			requireUnchanged(t, "/etc and /fixtures", pristineOf(t, img), snapshotOf(t, id, "/etc", "/fixtures"))
		})
		// The control: a plain copy as gosu claims nothing (it writes
		// nothing), so the same re-entry does get a privileged phase. This
		// is why the setuid install belongs only where it is the
		// ENTRYPOINT, and why its own gosu link claims the start.
		t.Run(f.name+"/control-plain-gosu-claims-nothing", func(t *testing.T) {
			res := run(t, "-e", "APP="+script, "--entrypoint", dropInGosu, img, "1001:1001", "sh", "-c", reentry)
			if res.ExitCode != 0 || keyValues(res.Stdout)["user"] == "-" {
				t.Fatalf("the control got no privileged phase: the test above would prove nothing: %s", res)
			}
		})
	}
}

// requireNoMarker fails if the container's /run holds a start marker
// (the one candidate directory a stopped container still has).
func requireNoMarker(t *testing.T, id string) {
	t.Helper()
	for name := range snapshotOf(t, id, "/run").entries {
		if strings.Contains(name, ".agent-entrypoint-started-") {
			t.Errorf("a start marker was left: %s", name)
		}
	}
}
