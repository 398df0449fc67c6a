package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

const (
	testUID = 1000 // the non-root uid (and gid) containers run as

	// agentMount is where Docker Desktop mounts the host's agent socket.
	agentMount = "/run/host-services/ssh-auth.sock"

	// shimPath is where Dockerfile.example installs the binary.
	shimPath = "/usr/local/bin/agent-entrypoint"

	// commandTimeout bounds one docker CLI call. It is a safety net against
	// a hung engine, not a measurement.
	commandTimeout = 3 * time.Minute
)

// Message prefixes of the shim's one stderr voice.
const (
	prefixError   = "agent-entrypoint: error: "
	prefixWarning = "agent-entrypoint: warning: "
	prefixHint    = "agent-entrypoint: hint: "
)

// The ways a container can start the shim.
type startMode struct {
	name string
	args []string // docker run arguments
	uid  int      // uid the command must end up with
}

var (
	// setuidUser is the seed's case: --user with the binary setuid root.
	setuidUser = startMode{"setuid-user", []string{"--user", "1000:1000"}, testUID}
	// rootTarget starts as root and names the target in the environment.
	rootTarget = startMode{"root-target", []string{
		"-e", "AGENT_ENTRYPOINT_UID=1000", "-e", "AGENT_ENTRYPOINT_GID=1000", "-e", "AGENT_ENTRYPOINT_USER=alice",
	}, testUID}
	// rootPlain starts as root without a target: the shim is transparent.
	rootPlain = startMode{"root-plain", nil, 0}
)

// docker runs the docker CLI; only a failure to run it at all (or a hang)
// fails the test.
func docker(t *testing.T, args ...string) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	res, err := harness.Docker(ctx, nil, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	return res
}

// dockerOK runs the docker CLI and fails the test on a non-zero exit.
func dockerOK(t *testing.T, args ...string) string {
	t.Helper()
	res := docker(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), res)
	}
	return strings.TrimSpace(res.Stdout)
}

// run is docker run --rm with args.
func run(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return docker(t, append([]string{"run", "--rm"}, args...)...)
}

// create makes a container that is removed when the test ends.
func create(t *testing.T, args ...string) string {
	t.Helper()
	id := dockerOK(t, append([]string{"create"}, args...)...)
	t.Cleanup(func() { removeContainer(id) })
	return id
}

func removeContainer(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	_, _ = harness.Docker(ctx, nil, "rm", "-f", "-v", id)
}

// start runs a created container to its end, attached, and returns its
// output and its exit code as the engine recorded it (docker start -a
// itself uses 125 for its own failures, which are not the shim's).
func start(t *testing.T, id string) harness.Result {
	t.Helper()
	res := docker(t, "start", "-a", id)
	code := dockerOK(t, "inspect", "--format", "{{.State.ExitCode}}", id)
	if _, err := fmt.Sscan(code, &res.ExitCode); err != nil {
		t.Fatalf("parse exit code %q: %v", code, err)
	}
	return res
}

// runKept is like run, but keeps the stopped container (until the test
// ends) so that its files can be inspected with snapshotOf.
func runKept(t *testing.T, args ...string) (string, harness.Result) {
	t.Helper()
	id := create(t, args...)
	return id, start(t, id)
}

// runDetached is docker run -d; the container is removed when the test ends.
func runDetached(t *testing.T, args ...string) string {
	t.Helper()
	id := dockerOK(t, append([]string{"run", "-d"}, args...)...)
	t.Cleanup(func() { removeContainer(id) })
	return id
}

// process is one line of docker top.
type process struct{ pid, args string }

// top lists the container's processes as the host sees them.
func top(t *testing.T, id string) []process {
	t.Helper()
	out := dockerOK(t, "top", id, "-o", "pid,args")
	var ps []process
	for i, line := range strings.Split(out, "\n") {
		if i == 0 || strings.TrimSpace(line) == "" {
			continue // header
		}
		pid, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		ps = append(ps, process{pid, strings.TrimSpace(args)})
	}
	return ps
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline; it is for readiness, never a measurement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitForCommand waits until the container's processes include one whose
// arguments are exactly args, i.e. until the shim has exec'd the command.
func waitForCommand(t *testing.T, id, args string) {
	t.Helper()
	waitFor(t, "command "+args+" in container "+id[:12], func() bool {
		if state := dockerOK(t, "inspect", "--format", "{{.State.Status}}", id); state != "running" {
			logs := docker(t, "logs", id)
			t.Fatalf("container %s is %s before running %q\n%s", id[:12], state, args, logs)
		}
		for _, p := range top(t, id) {
			if p.args == args {
				return true
			}
		}
		return false
	})
}

// entry is one file of a snapshot.
type entry struct {
	typ      byte
	mode     int64 // permission bits plus setuid/setgid/sticky
	uid, gid int
	link     string
	sha256   string
}

func (e entry) String() string {
	s := fmt.Sprintf("type %q mode %04o owner %d:%d", e.typ, e.mode, e.uid, e.gid)
	if e.link != "" {
		s += " -> " + e.link
	}
	if e.sha256 != "" {
		s += " sha256 " + e.sha256[:16]
	}
	return s
}

// snapshot maps paths (relative, as docker cp names them: "etc/passwd") to
// their state; contents keeps the text of small account files for messages.
type snapshot struct {
	entries  map[string]entry
	contents map[string]string
}

// volatile are the files the engine itself writes into /etc at start.
var volatile = map[string]bool{"etc/hostname": true, "etc/hosts": true, "etc/resolv.conf": true}

// snapshotOf copies dir out of a container (running or not) with docker cp
// and records every file's type, mode, owner, link target and content hash.
func snapshotOf(t *testing.T, id string, dirs ...string) snapshot {
	t.Helper()
	s := snapshot{entries: map[string]entry{}, contents: map[string]string{}}
	for _, dir := range dirs {
		res := docker(t, "cp", id+":"+dir, "-")
		if res.ExitCode != 0 {
			t.Fatalf("docker cp %s:%s: %s", id[:12], dir, res)
		}
		tr := tar.NewReader(strings.NewReader(res.Stdout))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read docker cp archive of %s: %v", dir, err)
			}
			name := strings.TrimSuffix(h.Name, "/")
			if volatile[name] {
				continue
			}
			e := entry{typ: h.Typeflag, mode: h.Mode & 0o7777, uid: h.Uid, gid: h.Gid, link: h.Linkname}
			if h.Typeflag == tar.TypeReg {
				body, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(body)
				e.sha256 = hex.EncodeToString(sum[:])
				if strings.HasPrefix(name, "etc/") && len(body) < 64<<10 {
					s.contents[name] = string(body)
				}
			}
			s.entries[name] = e
		}
	}
	return s
}

// diff lists what changed from s to after, one line per path.
func (s snapshot) diff(after snapshot) []string {
	var out []string
	for name, e := range s.entries {
		a, ok := after.entries[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: removed (was %v)", name, e))
		case a != e:
			out = append(out, fmt.Sprintf("%s: %v, was %v", name, a, e))
		}
	}
	for name, a := range after.entries {
		if _, ok := s.entries[name]; !ok {
			out = append(out, fmt.Sprintf("%s: added (%v)", name, a))
		}
	}
	sort.Strings(out)
	return out
}

// requireUnchanged fails the test if anything differs between the snapshots.
func requireUnchanged(t *testing.T, what string, before, after snapshot) {
	t.Helper()
	if d := before.diff(after); len(d) > 0 {
		t.Errorf("%s changed:\n  %s", what, strings.Join(d, "\n  "))
		for _, name := range []string{"etc/passwd", "etc/group"} {
			if before.contents[name] != after.contents[name] {
				t.Logf("%s before:\n%s\n%s after:\n%s", name, before.contents[name], name, after.contents[name])
			}
		}
	}
}

// under returns the part of s below dir ("etc", "fixtures").
func (s snapshot) under(dir string) snapshot {
	out := snapshot{entries: map[string]entry{}, contents: map[string]string{}}
	for name, e := range s.entries {
		if name == dir || strings.HasPrefix(name, dir+"/") {
			out.entries[name] = e
		}
	}
	for name, c := range s.contents {
		if strings.HasPrefix(name, dir+"/") {
			out.contents[name] = c
		}
	}
	return out
}

// lockFile is the lock of the account files (glibc's lckpwdf uses it too).
const lockFile = "etc/.pwd.lock"

// withoutNewLock drops /etc/.pwd.lock from after when before had none and
// it is what taking the lock leaves behind: an empty root-owned file with
// mode 0600. Locking is part of provisioning; use this only where the shim
// legitimately got that far (valid input), never for rejected input.
func withoutNewLock(t *testing.T, before, after snapshot) snapshot {
	t.Helper()
	if _, had := before.entries[lockFile]; had {
		return after
	}
	e, ok := after.entries[lockFile]
	if !ok {
		return after
	}
	empty := sha256.Sum256(nil)
	if e.typ != tar.TypeReg || e.mode != 0o600 || e.uid != 0 || e.sha256 != hex.EncodeToString(empty[:]) {
		t.Errorf("%s created as %v, want an empty file, mode 0600, owned by root", lockFile, e)
	}
	out := snapshot{entries: map[string]entry{}, contents: after.contents}
	for name, e := range after.entries {
		if name != lockFile {
			out.entries[name] = e
		}
	}
	return out
}

var pristine struct {
	sync.Mutex
	m map[string]snapshot
}

// pristineOf is the snapshot of /etc and /fixtures of a fresh container of
// image, before anything ran in it: what "unchanged" is compared with.
func pristineOf(t *testing.T, image string) snapshot {
	t.Helper()
	pristine.Lock()
	defer pristine.Unlock()
	if s, ok := pristine.m[image]; ok {
		return s
	}
	id := create(t, image)
	s := snapshotOf(t, id, "/etc", "/fixtures")
	if pristine.m == nil {
		pristine.m = map[string]snapshot{}
	}
	pristine.m[image] = s
	return s
}

// requireVoice fails unless every stderr line is one of the shim's
// messages (error, warning, hint, or debug). Use it where the command
// itself writes nothing to stderr.
func requireVoice(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, prefixError) && !strings.HasPrefix(line, prefixWarning) &&
			!strings.HasPrefix(line, prefixHint) && !strings.HasPrefix(line, "agent-entrypoint: debug: ") {
			t.Errorf("stderr line not in the shim's voice (agent-entrypoint: error|warning|hint: …): %q", line)
		}
	}
}

// requireLine fails unless stderr has a line starting with prefix.
func requireLine(t *testing.T, stderr, prefix string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, prefix) {
			return
		}
	}
	t.Errorf("stderr has no line starting %q:\n%s", prefix, stderr)
}

// procStatus parses the Uid, Gid and Groups lines of /proc/<pid>/status.
func procStatus(t *testing.T, text string) (uids, gids, groups []string) {
	t.Helper()
	found := 0
	for _, line := range strings.Split(text, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch key {
		case "Uid":
			uids = strings.Fields(val)
			found++
		case "Gid":
			gids = strings.Fields(val)
			found++
		case "Groups":
			groups = strings.Fields(val)
			found++
		}
	}
	if len(uids) != 4 || len(gids) != 4 || found != 3 {
		t.Fatalf("no Uid/Gid/Groups lines in:\n%s", text)
	}
	return uids, gids, groups
}

// requireIDs fails unless all four uids (real, effective, saved, fs) and
// all four gids are want.
func requireIDs(t *testing.T, uids, gids []string, want int) {
	t.Helper()
	requireAll(t, "Uid", uids, want)
	requireAll(t, "Gid", gids, want)
}

// requireAll fails unless every field of a /proc/<pid>/status line is want.
func requireAll(t *testing.T, key string, fields []string, want int) {
	t.Helper()
	w := fmt.Sprint(want)
	for i, v := range fields {
		if v != w {
			t.Errorf("%s field %d is %s, want %s (%s: %v)", key, i, v, w, key, fields)
		}
	}
}

// keyValues parses "key=value" lines.
// requireKeyValues fails for each key of want whose value in kv differs;
// context (a command's result) is printed with each failure.
func requireKeyValues(t *testing.T, kv, want map[string]string, context any) {
	t.Helper()
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q\n%v", k, kv[k], v, context)
		}
	}
}

// eachStart runs test for every flavor and start mode in modes, with and
// without docker run --init; args are the mode's docker run arguments, plus
// --init.
func eachStart(t *testing.T, modes []startMode, test func(t *testing.T, f *flavor, m startMode, init bool, args []string)) {
	t.Helper()
	for _, f := range flavors(t) {
		for _, m := range modes {
			for _, init := range []bool{false, true} {
				name := f.name + "/" + m.name
				args := slices.Clone(m.args)
				if init {
					name += "/docker-init"
					args = append(args, "--init")
				}
				t.Run(name, func(t *testing.T) { test(t, f, m, init, args) })
			}
		}
	}
}

func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv
}
