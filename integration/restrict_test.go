package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// The tests in this file run the shim under the runtime restrictions people
// actually use: --read-only, --cap-drop, no-new-privileges, an arbitrary
// uid without privileges (OpenShift), a nosuid mount, and all of
// Kubernetes' "restricted" profile at once. In each the shim must do what
// the restriction allows, name what it cannot do (a warning, then a hint
// saying what to change), and still start the command; under
// AGENT_ENTRYPOINT_STRICT=1 it must instead exit 125 having changed
// nothing.

// openshiftUID is an arbitrary uid as OpenShift assigns them (from the
// project's range), with gid 0.
const openshiftUID = 1000680000

// restrictScriptTemplate prints what the command sees, as key=value lines: its
// ids, its user name ("-" when there is no passwd entry), HOME and who owns
// it, whether ssh finds a user for its uid (images with ssh only), and what
// the agent check printed, with its status. The command's own stderr goes
// to stdout, so that stderr holds the shim's messages only. AGENTCHECK is
// replaced by the flavor's agent check. The first line, "ran", shows that
// the command started at all.
const restrictScriptTemplate = `echo ran
echo "uid=$(id -u)"
echo "gid=$(id -g)"
name=$(id -un 2>/dev/null) || name=-
echo "user=$name"
echo "HOME=$HOME"
if [ -d "$HOME" ]; then echo "home=$(stat -c %u:%g:%a "$HOME")"; else echo "home=missing"; fi
if command -v ssh >/dev/null 2>&1; then
	if out=$(ssh -G localhost 2>&1 >/dev/null); then echo "ssh_user=ok"; else echo "ssh_user=$(echo "$out" | tail -n 1 | tr -d '\r')"; fi
fi
out=$(AGENTCHECK 2>&1)
echo "agent_status=$?"
echo "$out"`

// restrictScript is restrictScriptTemplate with f's agent check.
func (f *flavor) restrictScript() string {
	return strings.ReplaceAll(restrictScriptTemplate, "AGENTCHECK", strings.Join(f.agentCheck(), " "))
}

// Images derived from a flavor's image for the starts without privileges:
// the binary installed without the setuid bit, and on top of that the
// OpenShift pattern of a passwd file that group 0 may write.
const (
	plainImageDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN chmod 0755 /usr/local/bin/agent-entrypoint
`
	openshiftImageDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN chgrp 0 /etc/passwd && chmod g=u /etc/passwd
`
)

// restrictedImages are the images of one flavor built from the above.
type restrictedImages struct {
	plain     string // the shim mode 0755, /etc as in the flavor's image
	openshift string // plain with /etc/passwd root:root mode 0664
}

var restricted struct {
	sync.Mutex
	m map[string]restrictedImages
}

func restrictedImagesOf(t *testing.T, f *flavor) restrictedImages {
	t.Helper()
	restricted.Lock()
	defer restricted.Unlock()
	if imgs, ok := restricted.m[f.name]; ok {
		return imgs
	}
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	logf := harness.Logf(func(format string, args ...any) { t.Logf(f.name+": "+format, args...) })
	repo := "agent-entrypoint-test/" + f.name
	var imgs restrictedImages
	var err error
	imgs.plain, err = harness.Build{Repo: repo + "-plain", Dockerfile: []byte(plainImageDockerfile), Base: f.image}.Image(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	imgs.openshift, err = harness.Build{Repo: repo + "-openshift", Dockerfile: []byte(openshiftImageDockerfile), Base: imgs.plain}.Image(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	if restricted.m == nil {
		restricted.m = map[string]restrictedImages{}
	}
	restricted.m[f.name] = imgs
	return imgs
}

// message is one warning (or, for a start that fails, the error) the shim
// must print: its line contains every part of cause, and the hint line after
// it every part of hint and none of notInHint. A nil hint means none is
// required; anyHint requires one, whatever it says.
type message struct {
	cause     []string
	hint      []string
	notInHint []string
}

// anyHint requires a hint without prescribing its words: for problems whose
// hint the shim does not give yet.
var anyHint = []string{}

func (m message) String() string {
	return fmt.Sprintf("cause %q, hint %q", m.cause, m.hint)
}

func (m message) matches(line string) bool {
	for _, c := range m.cause {
		if !strings.Contains(line, c) {
			return false
		}
	}
	return true
}

// requireMessages fails unless every warning (kind prefixWarning) or error
// (prefixError) line on stderr is one of msgs, each of msgs is there, and
// each is followed by its hint. The shim says a hint shared by several
// messages once, so a hint with the required words may instead have come
// earlier; anyHint must be the very next line.
func requireMessages(t *testing.T, stderr, kind string, msgs []message) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	found := make([]bool, len(msgs))
	for i, line := range lines {
		if !strings.HasPrefix(line, prefixWarning) && !strings.HasPrefix(line, prefixError) {
			continue
		}
		if !strings.HasPrefix(line, kind) {
			t.Errorf("stderr line %q: want only %q lines", line, strings.TrimSpace(kind))
			continue
		}
		j := slices.IndexFunc(msgs, func(m message) bool { return m.matches(line) })
		if j < 0 {
			t.Errorf("unexpected message %q; want only %v", line, msgs)
			continue
		}
		found[j] = true
		if msgs[j].hint == nil {
			continue
		}
		hasHint := func(l string) bool {
			if !strings.HasPrefix(l, prefixHint) {
				return false
			}
			for _, h := range msgs[j].hint {
				if !strings.Contains(l, h) {
					return false
				}
			}
			return true
		}
		var hint string
		switch {
		case i+1 < len(lines) && hasHint(lines[i+1]):
			hint = lines[i+1]
		case len(msgs[j].hint) > 0:
			// Said already, after an earlier message. (With anyHint
			// any earlier hint would do, so there the next line must be.)
			if k := slices.IndexFunc(lines[:i], hasHint); k >= 0 {
				hint = lines[k]
			}
		}
		if hint == "" {
			if len(msgs[j].hint) == 0 {
				t.Errorf("message %q is not followed by a hint:\n%s", line, stderr)
			} else {
				t.Errorf("message %q is not followed by a hint naming %q:\n%s", line, msgs[j].hint, stderr)
			}
			continue
		}
		for _, no := range msgs[j].notInHint {
			if strings.Contains(hint, no) {
				t.Errorf("hint %q names %q; it must not", hint, no)
			}
		}
	}
	for j, ok := range found {
		if !ok {
			t.Errorf("no %s line with %v:\n%s", strings.TrimSpace(kind), msgs[j], stderr)
		}
	}
}

// requireOneError fails unless stderr has exactly one error line, and it
// is one of msgs (the warnings of the same start without --strict: which of
// them fails the start first is the shim's choice), followed by its hint.
func requireOneError(t *testing.T, stderr string, msgs []message) {
	t.Helper()
	var errs []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, prefixWarning) {
			t.Errorf("strict start printed a warning %q; every problem must be an error", line)
		}
		if strings.HasPrefix(line, prefixError) {
			errs = append(errs, line)
		}
	}
	if len(errs) != 1 {
		t.Errorf("want exactly one error line, got %d:\n%s", len(errs), stderr)
		return
	}
	for _, m := range msgs {
		if m.matches(errs[0]) {
			requireMessages(t, stderr, prefixError, []message{m})
			return
		}
	}
	t.Errorf("error %q is none of %v", errs[0], msgs)
}

// socketPreset is the state the host's agent socket is put in before a
// start: owner and mode.
type socketPreset struct {
	uid, gid uint32
	perm     os.FileMode
}

var (
	rootOnly   = socketPreset{0, 0, 0o755}       // Docker Desktop's: only root may connect
	everyone   = socketPreset{0, 0, 0o666}       // usable by every uid the agent serves
	otherOwner = socketPreset{1001, 1001, 0o755} // owned by another uid: chmod needs FOWNER

	// granted is the mode the shim's chmod gives the socket.
	granted = os.FileMode(0o666)
)

func (p socketPreset) apply(t *testing.T, a *harness.Agent) {
	t.Helper()
	if err := os.Lchown(a.Socket, int(p.uid), int(p.gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.Socket, p.perm); err != nil {
		t.Fatal(err)
	}
}

// requireSocket fails unless the host's agent socket is owned as preset
// says and has mode perm.
func requireSocket(t *testing.T, a *harness.Agent, p socketPreset, perm os.FileMode) {
	t.Helper()
	o, err := harness.StatOwner(a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode.Type() != os.ModeSocket || o.Mode.Perm() != perm || o.UID != p.uid || o.GID != p.gid {
		t.Errorf("host agent socket is %v, want a socket with mode %v owned by %d:%d", o, perm, p.uid, p.gid)
	}
}

// etcChange says what a start may change in /etc.
type etcChange int

const (
	etcUnchanged   etcChange = iota // nothing (an empty lock file aside)
	etcProvisioned                  // one new user and group in every account file, modes and owners kept
	etcPasswdOnly                   // one line appended to passwd, nothing else
)

// restriction is one way of starting a container under a restriction,
// and what the start must do.
type restriction struct {
	name  string
	image func(f *flavor, imgs restrictedImages) string
	args  []string // docker run arguments
	// mountOptions are appended to the agent socket's -v, e.g. ":ro".
	mountOptions string
	// setup, when set, returns more docker run arguments (after args) for
	// a start of image.
	setup func(t *testing.T, image string) []string
	// entrypoint replaces the image's; the command then follows "--".
	entrypoint string
	agentUID   uint32 // the uid the agent serves: testUID or openshiftUID
	socket     socketPreset

	// What the start must do. A start with messages but exit 0 also gets
	// a strict variant: exit 125, one of the messages as the error, /etc
	// and the socket unchanged.
	exit     int
	messages []message
	uid, gid int
	user     string      // "-": no passwd entry, so id -un fails
	home     string      // HOME
	homeMade bool        // HOME was created for the command: owned by uid:gid, mode 0700
	key      bool        // the agent check lists the key
	socketTo os.FileMode // the host socket's mode afterwards (its owner stays)
	etc      etcChange
	passwd   string // prefix of the passwd line added (etcProvisioned, etcPasswdOnly)
}

func defaultImage(f *flavor, _ restrictedImages) string      { return f.image }
func plainImage(_ *flavor, imgs restrictedImages) string     { return imgs.plain }
func openshiftImage(_ *flavor, imgs restrictedImages) string { return imgs.openshift }

// Messages shared by several rows.
var (
	noNewPrivsVoided = message{
		cause: []string{"started without root although installed setuid: no-new-privileges is set"},
		hint:  []string{"AGENT_ENTRYPOINT_UID", "no-new-privileges"},
	}
	nosuidVoided = message{
		cause: []string{"started without root although installed setuid: the binary is on a nosuid mount"},
		hint:  []string{"AGENT_ENTRYPOINT_UID", "nosuid"},
	}
)

func passwdReadOnly(uid int) message {
	return message{
		cause: []string{fmt.Sprintf("no passwd entry for uid %d", uid), "read-only file system"},
		hint:  []string{"--read-only", fmt.Sprintf(`"No user exists for uid %d"`, uid)},
	}
}

func passwdNotWritable(uid int) message {
	return message{
		cause: []string{fmt.Sprintf("no passwd entry for uid %d", uid), "permission denied"},
		hint:  []string{"chmod g=u /etc/passwd", fmt.Sprintf(`"No user exists for uid %d"`, uid)},
	}
}

func homeReadOnly(home string) message {
	return message{cause: []string{"cannot create home " + home, "read-only file system"}, hint: []string{"--tmpfs /home"}}
}

func homeNotWritable(home string) message {
	return message{cause: []string{"cannot create home " + home, "permission denied"}, hint: []string{"create the home in the image"}}
}

// homeUnusable is the warning when HOME stays a home that does not exist
// (no writable /tmp to fall back to either).
func homeUnusable(home string) message {
	return message{cause: []string{"home " + home + " is not usable"}, hint: anyHint}
}

// homeFallback is the warning when HOME falls back to /tmp.
func homeFallback(home string) message {
	return message{cause: []string{"home " + home + " is not usable", "HOME=/tmp"}, hint: []string{"--tmpfs /home"}}
}

func socketUnusable(uid int) message {
	return message{
		cause: []string{fmt.Sprintf("uid %d cannot connect to %s", uid, agentMount), "a start without root cannot change it"},
		hint:  []string{"make the socket usable on the host"},
	}
}

var rootTargetArgs = rootTarget.args // AGENT_ENTRYPOINT_UID=1000 GID=1000 USER=alice

// capArgs drops every capability and adds back the named ones.
func capArgs(add ...string) []string {
	args := []string{"--cap-drop", "ALL"}
	for _, c := range add {
		args = append(args, "--cap-add", c)
	}
	return args
}

// restrictions are the rows of TestRestrictions.
func restrictions() []restriction {
	const alice, user = "/home/alice", "/home/user"
	setuidArgs := []string{"--user", "1000:1000"}
	openshiftArgs := []string{"--user", fmt.Sprint(openshiftUID) + ":0"}
	with := func(a []string, b ...string) []string { return append(slices.Clone(a), b...) }
	// The documented minimum for a root start with AGENT_ENTRYPOINT_UID.
	minimum := []string{"CHOWN", "SETGID", "SETUID"}
	without := func(c string) []string {
		return slices.DeleteFunc(slices.Clone(minimum), func(x string) bool { return x == c })
	}
	r := []restriction{
		// --read-only: no passwd entry, no home; the socket (a bind mount)
		// is still granted. Root start and setuid --user alike.
		{
			name: "read-only/root-target", args: with(rootTargetArgs, "--read-only"),
			messages: []message{passwdReadOnly(testUID), homeReadOnly(alice), homeUnusable(alice)},
			uid:      testUID, gid: testUID, user: "-", home: alice, key: true, socketTo: granted,
		},
		{
			name: "read-only/setuid-user", args: with(setuidArgs, "--read-only"),
			messages: []message{passwdReadOnly(testUID), homeReadOnly(user), homeUnusable(user)},
			uid:      testUID, gid: testUID, user: "-", home: user, key: true, socketTo: granted,
		},
		{
			name: "read-only+tmpfs-tmp/root-target", args: with(rootTargetArgs, "--read-only", "--tmpfs", "/tmp"),
			messages: []message{passwdReadOnly(testUID), homeReadOnly(alice), homeFallback(alice)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", key: true, socketTo: granted,
		},
		{
			name: "read-only+tmpfs-home/root-target", args: with(rootTargetArgs, "--read-only", "--tmpfs", "/home"),
			messages: []message{passwdReadOnly(testUID)},
			uid:      testUID, gid: testUID, user: "-", home: alice, homeMade: true, key: true, socketTo: granted,
		},
		{
			name: "read-only+tmpfs-home/setuid-user", args: with(setuidArgs, "--read-only", "--tmpfs", "/home"),
			messages: []message{passwdReadOnly(testUID)},
			uid:      testUID, gid: testUID, user: "-", home: user, homeMade: true, key: true, socketTo: granted,
		},

		// --cap-drop ALL, root start: it cannot become the target, so the
		// command must not run (as root); the hint names every capability
		// the start lacks.
		{
			name: "cap-drop-all/root-target", args: with(rootTargetArgs, capArgs()...),
			exit: 125,
			messages: []message{{
				cause: []string{"cannot switch to uid 1000: missing capabilities SETUID, SETGID"},
				hint:  []string{"--cap-add SETUID", "--cap-add SETGID", "--cap-add CHOWN"},
				// The socket is root's: root may chmod it without FOWNER.
				notInHint: []string{"FOWNER", "DAC_OVERRIDE"},
			}},
			socketTo: rootOnly.perm,
		},
		// The documented minimum does everything.
		{
			name: "cap-minimum/root-target", args: with(rootTargetArgs, capArgs(minimum...)...),
			uid: testUID, gid: testUID, user: "alice", home: alice, homeMade: true, key: true, socketTo: granted,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		// Each capability of the minimum is needed.
		{
			name: "cap-minimum-without-CHOWN/root-target", args: with(rootTargetArgs, capArgs(without("CHOWN")...)...),
			messages: []message{
				{cause: []string{"cannot hand home /home/alice to uid 1000: missing capability CHOWN"}, hint: []string{"--cap-add CHOWN"}, notInHint: []string{"SETUID", "SETGID"}},
				homeFallback(alice),
			},
			// The account files are still written, in place where a
			// temp file could not be given their owner.
			uid: testUID, gid: testUID, user: "alice", home: "/tmp", key: true, socketTo: granted,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		{
			name: "cap-minimum-without-SETUID/root-target", args: with(rootTargetArgs, capArgs(without("SETUID")...)...),
			exit: 125,
			messages: []message{{
				cause: []string{"cannot switch to uid 1000: missing capability SETUID"},
				hint:  []string{"--cap-add SETUID"}, notInHint: []string{"SETGID", "CHOWN"},
			}},
			socketTo: rootOnly.perm,
		},
		{
			name: "cap-minimum-without-SETGID/root-target", args: with(rootTargetArgs, capArgs(without("SETGID")...)...),
			exit: 125,
			messages: []message{{
				cause: []string{"cannot switch to uid 1000: missing capability SETGID"},
				hint:  []string{"--cap-add SETGID"}, notInHint: []string{"SETUID", "CHOWN"},
			}},
			socketTo: rootOnly.perm,
		},
		// A setuid start needs no SETUID or SETGID to return to its real
		// ids: of the minimum only CHOWN, for the home.
		{
			name: "cap-drop-all/setuid-user", args: with(setuidArgs, capArgs()...),
			messages: []message{
				{cause: []string{"cannot hand home /home/user to uid 1000: missing capability CHOWN"}, hint: []string{"--cap-add CHOWN"}, notInHint: []string{"SETUID", "SETGID"}},
				homeFallback(user),
			},
			uid: testUID, gid: testUID, user: "user", home: "/tmp", key: true, socketTo: granted,
			etc: etcProvisioned, passwd: "user:x:1000:1000:",
		},
		{
			name: "cap-drop-all+CHOWN/setuid-user", args: with(setuidArgs, capArgs("CHOWN")...),
			uid: testUID, gid: testUID, user: "user", home: user, homeMade: true, key: true, socketTo: granted,
			etc: etcProvisioned, passwd: "user:x:1000:1000:",
		},

		// A socket another uid owns is that uid's agent's, which serves only
		// root and its own uid: no chmod helps the target, so the fix is
		// what the relay needs (to reach it, and to pass signals on),
		// never FOWNER. With those, the relay serves the key, and the
		// host's socket stays as it was.
		{
			name: "cap-minimum/socket-of-other-uid", args: with(rootTargetArgs, capArgs(minimum...)...), socket: otherOwner,
			messages: []message{{
				cause: []string{"cannot relay " + agentMount, "missing capabilities DAC_OVERRIDE, KILL"},
				hint:  []string{"--cap-add DAC_OVERRIDE --cap-add KILL"}, notInHint: []string{"FOWNER", "CHOWN", "SETUID", "SETGID"},
			}},
			uid: testUID, gid: testUID, user: "alice", home: alice, homeMade: true, socketTo: otherOwner.perm,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		{
			name: "cap-minimum+DAC_OVERRIDE+KILL/socket-of-other-uid", args: with(rootTargetArgs, capArgs(append(minimum, "DAC_OVERRIDE", "KILL")...)...), socket: otherOwner,
			uid: testUID, gid: testUID, user: "alice", home: alice, homeMade: true, key: true, socketTo: otherOwner.perm,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		{
			name: "cap-drop-all/setuid-user/socket-of-other-uid", args: with(setuidArgs, capArgs()...), socket: otherOwner,
			messages: []message{
				{cause: []string{"cannot hand home /home/user to uid 1000: missing capability CHOWN"}, hint: []string{"--cap-add CHOWN"}},
				homeFallback(user),
				{cause: []string{"cannot relay " + agentMount, "missing capabilities DAC_OVERRIDE, KILL"}, notInHint: []string{"FOWNER"}},
			},
			uid: testUID, gid: testUID, user: "user", home: "/tmp", socketTo: otherOwner.perm,
			etc: etcProvisioned, passwd: "user:x:1000:1000:",
		},

		// no-new-privileges: nothing to void in a root start; a setuid
		// --user start runs without root and says so.
		{
			name: "no-new-privileges/root-target", args: with(rootTargetArgs, "--security-opt", "no-new-privileges"),
			uid: testUID, gid: testUID, user: "alice", home: alice, homeMade: true, key: true, socketTo: granted,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		{
			name: "no-new-privileges/setuid-user", args: with(setuidArgs, "--security-opt", "no-new-privileges"),
			messages: []message{noNewPrivsVoided, passwdNotWritable(testUID), homeNotWritable(user), socketUnusable(testUID), homeFallback(user)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", socketTo: rootOnly.perm,
		},
		// The agent works once the host makes the socket usable.
		{
			name: "no-new-privileges/setuid-user/socket-0666", args: with(setuidArgs, "--security-opt", "no-new-privileges"), socket: everyone,
			messages: []message{noNewPrivsVoided, passwdNotWritable(testUID), homeNotWritable(user), homeFallback(user)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", key: true, socketTo: everyone.perm,
		},

		// Kubernetes' "restricted" pod security standard, as docker run
		// flags: a non-root user, no capabilities, no privilege escalation,
		// a read-only root with a writable /tmp.
		{
			name: "kubernetes-restricted", args: with(setuidArgs, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp"),
			messages: []message{noNewPrivsVoided, passwdReadOnly(testUID), homeNotWritable(user), socketUnusable(testUID), homeFallback(user)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", socketTo: rootOnly.perm,
		},
		{
			name: "kubernetes-restricted/socket-0666", args: with(setuidArgs, "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp"), socket: everyone,
			messages: []message{noNewPrivsVoided, passwdReadOnly(testUID), homeNotWritable(user), homeFallback(user)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", key: true, socketTo: everyone.perm,
		},

		// OpenShift: an arbitrary uid with gid 0, no privileges, and an
		// image whose /etc/passwd group 0 may write. The entry is appended
		// in place; the agent here runs as that uid, as it would have to.
		{
			name: "openshift-uid/passwd-group-writable", image: openshiftImage, args: openshiftArgs, agentUID: openshiftUID,
			messages: []message{homeNotWritable(user), socketUnusable(openshiftUID), homeFallback(user)},
			uid:      openshiftUID, gid: 0, user: "user", home: "/tmp", socketTo: rootOnly.perm,
			etc: etcPasswdOnly, passwd: fmt.Sprintf("user:x:%d:0:", openshiftUID),
		},
		{
			name: "openshift-uid/passwd-group-writable/socket-0666", image: openshiftImage, args: openshiftArgs, agentUID: openshiftUID, socket: everyone,
			messages: []message{homeNotWritable(user), homeFallback(user)},
			uid:      openshiftUID, gid: 0, user: "user", home: "/tmp", key: true, socketTo: everyone.perm,
			etc: etcPasswdOnly, passwd: fmt.Sprintf("user:x:%d:0:", openshiftUID),
		},
		// A primary group that does not exist: its group line cannot be
		// written (the group file is not writable) and that is no warning.
		{
			name: "openshift-uid/own-gid/passwd-group-writable", image: openshiftImage, agentUID: openshiftUID, socket: everyone,
			args:     []string{"--user", fmt.Sprintf("%d:%d", openshiftUID, openshiftUID), "--group-add", "0"},
			messages: []message{homeNotWritable(user), homeFallback(user)},
			uid:      openshiftUID, gid: openshiftUID, user: "user", home: "/tmp", key: true, socketTo: everyone.perm,
			etc: etcPasswdOnly, passwd: fmt.Sprintf("user:x:%d:%d:", openshiftUID, openshiftUID),
		},
		{
			name: "openshift-uid/passwd-read-only", image: plainImage, args: openshiftArgs, agentUID: openshiftUID, socket: everyone,
			messages: []message{passwdNotWritable(openshiftUID), homeNotWritable(user), homeFallback(user)},
			uid:      openshiftUID, gid: 0, user: "-", home: "/tmp", key: true, socketTo: everyone.perm,
		},

		// A socket mounted read-only cannot be chmod'ed, not even by root:
		// auto relays it instead, the mount untouched; with chmod asked
		// for, the start says why it cannot, with a hint, and under
		// --strict fails before it changed anything.
		{
			name: "socket-read-only-mount/root-target", args: rootTargetArgs, mountOptions: ":ro",
			uid: testUID, gid: testUID, user: "alice", home: alice, homeMade: true, key: true, socketTo: rootOnly.perm,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},
		{
			name: "socket-read-only-mount/setuid-user", args: setuidArgs, mountOptions: ":ro",
			uid: testUID, gid: testUID, user: "user", home: user, homeMade: true, key: true, socketTo: rootOnly.perm,
			etc: etcProvisioned, passwd: "user:x:1000:1000:",
		},
		{
			name: "socket-read-only-mount/root-target/chmod", args: with(rootTargetArgs, "-e", "AGENT_ENTRYPOINT_SOCKET_MODE=chmod"), mountOptions: ":ro",
			messages: []message{{cause: []string{agentMount, "read-only mount"}, hint: []string{"without :ro"}, notInHint: []string{"=none"}}},
			uid:      testUID, gid: testUID, user: "alice", home: alice, homeMade: true, socketTo: rootOnly.perm,
			etc: etcProvisioned, passwd: "alice:x:1000:1000:",
		},

		// A nosuid mount voids the setuid bit of the copy of the binary on it.
		{
			name: "nosuid-mount/setuid-user", args: setuidArgs, setup: nosuidShim, entrypoint: nosuidDir + "/agent-entrypoint",
			messages: []message{nosuidVoided, passwdNotWritable(testUID), homeNotWritable(user), socketUnusable(testUID), homeFallback(user)},
			uid:      testUID, gid: testUID, user: "-", home: "/tmp", socketTo: rootOnly.perm,
		},
	}
	for i := range r {
		if r[i].image == nil {
			r[i].image = defaultImage
		}
		if r[i].agentUID == 0 {
			r[i].agentUID = testUID
		}
		if r[i].socket == (socketPreset{}) {
			r[i].socket = rootOnly
		}
	}
	return r
}

// nosuidDir is where the nosuid copy of the binary is mounted.
const nosuidDir = "/opt/ae"

// nosuidShim mounts a nosuid tmpfs on the host, puts a setuid-root copy of
// the binary on it, and returns the docker run arguments that mount it at
// nosuidDir, having checked that it is a nosuid mount in a container of
// image. (The bind mount is not read-only: runc 1.1's read-only remount of a
// bind mount drops the nosuid flag it inherited, and the setuid bit would
// take effect.)
func nosuidShim(t *testing.T, image string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=16m"); err != nil {
		t.Fatalf("mount a nosuid tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	body, err := os.ReadFile(suite.shim)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "agent-entrypoint")
	if err := os.WriteFile(bin, body, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(bin, 0, 0); err != nil {
		t.Fatal(err)
	}
	// os.FileMode has its own setuid bit; a plain 0o4000 would be dropped.
	if err := os.Chmod(bin, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Fatalf("the copy of the binary is not setuid: %v, %v", fi.Mode(), err)
	}
	mount := []string{"-v", dir + ":" + nosuidDir}
	res := run(t, append(mount, "--entrypoint", "/bin/sh", image, "-c", "grep ' "+nosuidDir+" ' /proc/self/mountinfo")...)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "nosuid") {
		t.Fatalf("%s is not a nosuid mount in the container (the row would test nothing): %s", nosuidDir, res)
	}
	return mount
}

var openshiftAgent struct {
	sync.Mutex
	a *harness.Agent
}

// agentFor returns an agent serving uid: the suite's for testUID, else one
// of this file's, started on first use and stopped when the test ends.
func agentFor(t *testing.T, uid uint32) *harness.Agent {
	t.Helper()
	if uid == testUID {
		return testAgent(t)
	}
	if uid != openshiftUID {
		t.Fatalf("no agent fixture for uid %d", uid)
	}
	openshiftAgent.Lock()
	defer openshiftAgent.Unlock()
	if openshiftAgent.a == nil {
		a, err := harness.StartAgent(t.Context(), uid, 0)
		if err != nil {
			t.Fatalf("start an ssh-agent as uid %d: %v", uid, err)
		}
		openshiftAgent.a = a
	}
	return openshiftAgent.a
}

// TestRestrictions runs every row of restrictions() over both flavors, and
// each row that warns once more with AGENT_ENTRYPOINT_STRICT=1.
func TestRestrictions(t *testing.T) {
	t.Cleanup(func() {
		openshiftAgent.Lock()
		defer openshiftAgent.Unlock()
		if openshiftAgent.a != nil {
			if err := openshiftAgent.a.Close(); err != nil {
				t.Errorf("stop the uid %d ssh-agent: %v", openshiftUID, err)
			}
			openshiftAgent.a = nil
		}
	})
	for _, f := range flavors(t) {
		imgs := restrictedImagesOf(t, f)
		for _, r := range restrictions() {
			t.Run(f.name+"/"+r.name, func(t *testing.T) {
				runRestriction(t, f, r.image(f, imgs), r, false)
			})
			if r.exit == 0 && len(r.messages) > 0 {
				t.Run(f.name+"/"+r.name+"/strict", func(t *testing.T) {
					runRestriction(t, f, r.image(f, imgs), r, true)
				})
			}
		}
	}
}

func runRestriction(t *testing.T, f *flavor, image string, r restriction, strict bool) {
	a := agentFor(t, r.agentUID)
	if err := a.Reset(); err != nil {
		t.Fatal(err)
	}
	r.socket.apply(t, a)

	args := []string{"-v", a.Socket + ":" + agentMount + r.mountOptions}
	args = append(args, r.args...)
	if r.setup != nil {
		args = append(args, r.setup(t, image)...)
	}
	if strict {
		args = append(args, "-e", "AGENT_ENTRYPOINT_STRICT=1")
	}
	cmd := []string{"sh", "-c", f.restrictScript()}
	if r.entrypoint != "" {
		args = append(args, "--entrypoint", r.entrypoint)
		cmd = append([]string{"--"}, cmd...)
	}
	id, res := runKept(t, append(append(args, image), cmd...)...)
	defer func() {
		if t.Failed() {
			t.Logf("docker run %s\n%s", strings.Join(args, " "), res)
		}
	}()
	requireVoice(t, res.Stderr)
	before := pristineOf(t, image).under("etc")
	after := withoutNewLock(t, before, snapshotOf(t, id, "/etc"))

	if strict || r.exit != 0 {
		if res.ExitCode != 125 || res.Stdout != "" {
			t.Errorf("want exit 125 before the command runs, got %s", res)
		}
		if strict {
			requireOneError(t, res.Stderr, r.messages)
		} else {
			requireMessages(t, res.Stderr, prefixError, r.messages)
		}
		requireUnchanged(t, "/etc", before, after)
		requireSocket(t, a, r.socket, r.socket.perm)
		return
	}

	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "ran\n") {
		t.Fatalf("want the command to run (exit 0), got %s", res)
	}
	requireMessages(t, res.Stderr, prefixWarning, r.messages)
	kv := keyValues(res.Stdout)
	want := map[string]string{
		"uid": fmt.Sprint(r.uid), "gid": fmt.Sprint(r.gid), "user": r.user, "HOME": r.home,
	}
	if r.homeMade {
		want["home"] = fmt.Sprintf("%d:%d:700", r.uid, r.gid)
	}
	if f.hasSSHAdd {
		// ssh itself needs the passwd entry, as the hints say.
		want["ssh_user"] = "ok"
		if r.user == "-" {
			want["ssh_user"] = fmt.Sprintf("No user exists for uid %d", r.uid)
		}
	}
	requireKeyValues(t, kv, want, res)
	listed := kv["agent_status"] == "0" && strings.Contains(res.Stdout, a.Fingerprint)
	switch {
	case r.key && !listed:
		t.Errorf("%v does not list the key %s:\n%s", f.agentCheck(), a.Fingerprint, res)
	case !r.key && listed:
		t.Errorf("%v lists the key, but the socket should not be usable here:\n%s", f.agentCheck(), res)
	}
	requireSocket(t, a, r.socket, r.socketTo)

	switch r.etc {
	case etcUnchanged:
		requireUnchanged(t, "/etc", before, after)
	case etcProvisioned:
		requireProvisioned(t, f, before, after, r.passwd, r.gid)
	case etcPasswdOnly:
		requirePasswdOnly(t, before, after, r.passwd)
	}
}

// requireProvisioned wants one new user (passwd line starting passwdLine)
// and one new group with gid in every account file, and nothing else
// changed: other lines byte-identical, modes and owners kept.
func requireProvisioned(t *testing.T, f *flavor, before, after snapshot, passwdLine string, gid int) {
	t.Helper()
	requireAdded(t, before, after, "etc/passwd", passwdLine)
	requireAddedField(t, before, after, "etc/group", 2, fmt.Sprint(gid))
	if f.hasShadow {
		name, _, _ := strings.Cut(passwdLine, ":")
		requireAdded(t, before, after, "etc/shadow", name+":")
	}
	if f.hasGshadow {
		requireAddedCount(t, before, after, "etc/gshadow", 1)
	}
	requireRestUnchanged(t, before, after, "etc/passwd", "etc/group", "etc/shadow", "etc/gshadow")
}

// requirePasswdOnly wants exactly one line appended to /etc/passwd, its
// mode and owner kept, and everything else in /etc unchanged.
func requirePasswdOnly(t *testing.T, before, after snapshot, passwdLine string) {
	t.Helper()
	requireAdded(t, before, after, "etc/passwd", passwdLine)
	requireRestUnchanged(t, before, after, "etc/passwd")
}

// requireRestUnchanged wants the named files to keep their type, mode and
// owner (their content is checked elsewhere), and every other file of /etc
// unchanged.
func requireRestUnchanged(t *testing.T, before, after snapshot, names ...string) {
	t.Helper()
	for _, name := range names {
		b, okB := before.entries[name]
		a, okA := after.entries[name]
		if okB != okA {
			t.Errorf("%s: exists before %v, after %v", name, okB, okA)
			continue
		}
		if b.typ != a.typ || b.mode != a.mode || b.uid != a.uid || b.gid != a.gid {
			t.Errorf("%s: %v, was %v (mode and owner must be kept)", name, a, b)
		}
	}
	strip := func(s snapshot) snapshot {
		out := snapshot{entries: map[string]entry{}, contents: s.contents}
		for name, e := range s.entries {
			if !slices.Contains(names, name) {
				out.entries[name] = e
			}
		}
		return out
	}
	requireUnchanged(t, "/etc apart from "+strings.Join(names, ", "), strip(before), strip(after))
}
