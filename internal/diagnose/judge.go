package diagnose

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
	"golang.org/x/sys/unix"
)

// Verdict is one check's outcome.
type Verdict int

const (
	OK Verdict = iota
	Warning
	Problem
)

func (v Verdict) String() string {
	return [...]string{"ok", "warning", "problem"}[v]
}

// Check is one thing doctor looked at.
type Check struct {
	// Name is what was checked: identity, passwd, home, socket, agent,
	// start, relay, exec or runtime.
	Name string
	// Subject is the path or runtime setting checked, "" for none.
	Subject string
	Verdict Verdict
	// Says is what doctor found.
	Says string
	// Fix is the one change that fixes it, for a warning or a problem;
	// when it is empty, Problem is the start's problem whose hint is.
	Fix     string
	Problem *policy.Problem
	// Details are shown with -v: an agent's keys.
	Details []string
}

// Worst is the worst verdict of checks.
func Worst(checks []Check) Verdict {
	w := OK
	for _, c := range checks {
		w = max(w, c.Verdict)
	}
	return w
}

// Judge makes doctor's checks from what it found.
func Judge(in Input) []Check {
	j := judge{in: in}
	j.identity()
	j.passwd()
	j.home()
	j.sockets()
	j.start()
	j.runtime()
	return j.checks
}

type judge struct {
	in     Input
	checks []Check
}

func (j *judge) add(c Check) { j.checks = append(j.checks, c) }

// start, in a fix, is how to have a start do a thing for the command.
const throughStart = `start the container through agent-entrypoint (ENTRYPOINT ["agent-entrypoint", "--"]) as root with AGENT_ENTRYPOINT_UID, or installed setuid-root with docker run --user`

func (j *judge) userName(uid int) string {
	if j.in.Facts.Accounts != nil {
		if u, ok := j.in.Facts.Accounts.UserByUID(uid); ok {
			return fmt.Sprintf("%d (%s)", uid, u.Name)
		}
	}
	return fmt.Sprint(uid)
}

func (j *judge) groupName(gid int) string {
	if j.in.Facts.Accounts != nil {
		if g, ok := j.in.Facts.Accounts.GroupByGID(gid); ok {
			return fmt.Sprintf("%d (%s)", gid, g.Name)
		}
	}
	return fmt.Sprint(gid)
}

func (j *judge) identity() {
	c := j.in.Cred
	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = j.groupName(g)
	}
	says := fmt.Sprintf("uid %s, gid %s", j.userName(c.RUID), j.groupName(c.RGID))
	if len(groups) > 0 {
		says += ", groups " + strings.Join(groups, ", ")
	}
	check := Check{Name: "identity", Says: says}
	r := j.in.Record
	switch {
	case c.RUID != 0 && c.RGID == 0:
		check.Verdict = Warning
		check.Says += `: gid 0 is root's group, what docker run --user UID gives without ":GID"`
		check.Fix = `run with --user "$(id -u):$(id -g)" (Kubernetes: runAsGroup)`
	case c.RUID == 0 && r != nil && r.UID != 0:
		check.Verdict = Warning
		check.Says += fmt.Sprintf("; the command runs as uid %d", r.UID)
		check.Fix = fmt.Sprintf("ask as the command's user: docker exec --user %d:%d CONTAINER agent-entrypoint doctor", r.UID, r.GID)
	}
	if j.in.SetuidDropped {
		check.Says += "; installed setuid-root, doctor gave root up before it looked"
	}
	j.add(check)
}

func (j *judge) passwd() {
	uid := j.in.Cred.RUID
	check := Check{Name: "passwd"}
	if j.in.Facts.Accounts == nil {
		return
	}
	if u, ok := j.in.Facts.Accounts.UserByUID(uid); ok {
		check.Says = fmt.Sprintf("uid %d is %s, home %s, shell %s", uid, u.Name, u.Home, u.Shell)
		j.add(check)
		return
	}
	check.Verdict = Problem
	check.Says = fmt.Sprintf(`no entry for uid %d: ssh fails with "No user exists for uid %d", and shells say "I have no name!"`, uid, uid)
	if p := j.problemOf(policy.PasswdReadOnly, policy.PasswdDenied, policy.MissingCaps); p != nil {
		check.Problem = p
	} else {
		check.Fix = throughStart + ": it adds the entry"
	}
	j.add(check)
}

// problemOf returns the decision's first problem of one of kinds.
func (j *judge) problemOf(kinds ...policy.ProblemKind) *policy.Problem {
	for i, p := range j.in.Decision.Problems {
		for _, k := range kinds {
			if p.Kind == k {
				return &j.in.Decision.Problems[i]
			}
		}
	}
	return nil
}

func (j *judge) home() {
	env, h := j.in.Env, j.in.Home
	check := Check{Name: "home"}
	switch {
	case !env.HomeSet || env.Home == "":
		check.Verdict = Warning
		check.Says = "HOME is not set: ssh and git look for their files in the passwd entry's home instead"
		check.Fix = throughStart + ": it sets HOME"
	case !h.Exists:
		check.Verdict = Problem
		check.Says = fmt.Sprintf("HOME is %s, which does not exist: ssh cannot keep known_hosts, nor git its config", env.Home)
		check.Fix = HomeFix(env.Home, "create it in the image")
	case !h.Dir:
		check.Verdict = Problem
		check.Says = fmt.Sprintf("HOME is %s, which is not a directory", env.Home)
		check.Fix = "give the user a home in the image, or set AGENT_ENTRYPOINT_HOME"
	case !h.Writable:
		check.Verdict = Warning
		check.Says = fmt.Sprintf("HOME is %s, owned by %d:%d, mode %04o: uid %d cannot write it, so ssh cannot keep known_hosts", env.Home, h.UID, h.GID, h.Perm, j.in.Cred.RUID)
		check.Fix = HomeFix(env.Home, "give the user a home in the image")
	default:
		check.Says = fmt.Sprintf("HOME is %s, writable", env.Home)
	}
	j.add(check)
}

// HomeFix is the fix for a home that cannot be used: a tmpfs mounted
// there, where that hides nothing the image needs, else the image's own
// change.
func HomeFix(home, inImage string) string {
	if HidesSystem(home) {
		return inImage + ", or set AGENT_ENTRYPOINT_HOME to a directory below /home"
	}
	return "mount a writable home, e.g. docker run --tmpfs " + home + ", or " + inImage
}

// HidesSystem reports a directory that a tmpfs must not cover: the root,
// a directory the image's system lives in (/etc, /usr, ...), or /var,
// /opt or /srv themselves.
func HidesSystem(dir string) bool {
	dir = filepath.Clean(dir)
	top, _, _ := strings.Cut(strings.TrimPrefix(dir, "/"), "/")
	switch "/" + top {
	case "/", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/root", "/run", "/proc", "/sys", "/dev", "/boot":
		return true
	case "/var", "/opt", "/srv":
		return dir == "/"+top
	}
	return false
}

func (j *judge) sockets() {
	if len(j.in.Sockets) == 0 || !j.in.Sockets[0].Agent {
		check := Check{Name: "agent", Verdict: Problem,
			Says: "no agent socket: SSH_AUTH_SOCK is not set, and " + policy.DockerDesktopSocket + " is not there",
			Fix:  `mount the agent: -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock (Docker Desktop: -v /run/host-services/ssh-auth.sock:/run/host-services/ssh-auth.sock)`}
		if j.in.Record != nil && j.in.Record.AuthSock == "" {
			check.Says = "no agent socket: the start found none to give the command"
		}
		j.add(check)
	}
	for _, s := range j.in.Sockets {
		j.socket(s)
	}
}

// socket checks what is at one socket's path, and, for the agent's, what
// the agent answers.
func (j *judge) socket(s Socket) {
	uid := j.in.Cred.RUID
	check := Check{Name: "socket", Subject: s.Path, Verdict: Problem}
	from := fmt.Sprintf(" (%s)", s.Source)
	switch s.Type {
	case "":
		check.Says = "nothing is there" + from
		check.Fix = `mount the socket there, e.g. -v "$SSH_AUTH_SOCK:` + s.Path + `"`
		j.add(check)
		return
	case "directory":
		if s.Agent && s.Sockets > 0 {
			check.Says = fmt.Sprintf("a directory of %d agent sockets%s: ssh cannot use a directory", s.Sockets, from)
			check.Fix = "start the container through agent-entrypoint with AGENT_ENTRYPOINT_SOCKET_MODE=relay (auto picks it), which serves the command a socket of its newest agent"
		} else {
			check.Says = "an empty directory" + from + ": Docker makes one where -v names a host path that does not exist, as an unset or stale SSH_AUTH_SOCK on the host does"
			check.Fix = "run ssh-add -l on the host first; then remove this container and start a new one"
		}
		j.add(check)
		return
	case "symbolic link":
		check.Says = "a symbolic link" + from + ": agent-entrypoint never follows one, and a link to a host path does not lead out of the container"
		check.Fix = `mount the socket itself at this path, e.g. -v "$SSH_AUTH_SOCK:` + s.Path + `"`
		j.add(check)
		return
	case "socket":
	default:
		check.Says = fmt.Sprintf("a %s, not a socket%s", s.Type, from)
		check.Fix = `mount the agent's socket itself, e.g. -v "$SSH_AUTH_SOCK:` + s.Path + `"`
		j.add(check)
		return
	}
	says := fmt.Sprintf("a socket%s, owner %d:%d, mode %04o", from, s.UID, s.GID, s.Perm)
	if s.MountPoint {
		says += ", bind-mounted from the host (chmod or chown here change the host's socket)"
	}
	if s.ReadOnly {
		says += ", on a read-only mount"
	}
	check.Says, check.Verdict = says, OK
	if errors.Is(s.Connect, unix.EACCES) {
		check.Verdict = Problem
		check.Says += fmt.Sprintf(": uid %d may not connect to it (connecting takes write permission)", uid)
		check.Fix = j.grantFix(s)
	}
	j.add(check)
	switch {
	case errors.Is(s.Connect, unix.EACCES):
	case s.Agent:
		j.agent(s)
	case s.Connect != nil:
		j.add(Check{Name: "socket", Subject: s.Path, Verdict: Problem,
			Says: fmt.Sprintf("connecting fails: %v", s.Connect),
			Fix:  "check that the service behind it runs on the host"})
	}
}

// grantFix is how uid comes to use a socket it may not connect to.
func (j *judge) grantFix(s Socket) string {
	if r := j.in.Record; r != nil {
		for _, rs := range r.Sockets {
			if rs.Path == s.Path && rs.Mode == string(policy.None) {
				return "start with AGENT_ENTRYPOINT_SOCKET_MODE=auto (it is none now)"
			}
		}
	}
	if s.ReadOnly {
		return throughStart + ", with AGENT_ENTRYPOINT_SOCKET_MODE=relay: a socket on a read-only mount cannot change"
	}
	return throughStart + ": auto makes the socket usable by the command's user (chmod, group or relay)"
}

// agent checks what the agent answered.
func (j *judge) agent(s Socket) {
	uid := j.in.Cred.RUID
	a := s.Answer
	check := Check{Name: "agent", Subject: s.Path, Verdict: Problem}
	switch {
	case errors.Is(s.Connect, unix.ECONNREFUSED):
		check.Says = "nothing listens on it (connection refused): the agent it belonged to has exited"
		check.Fix = "the host's agent restarted, or the session reconnected, after the container started: mount the agent's directory rather than its socket and use AGENT_ENTRYPOINT_SOCKET_MODE=relay, or start the container again"
	case s.Connect != nil:
		check.Says = fmt.Sprintf("connecting fails: %v", s.Connect)
		check.Fix = "check that the agent runs on the host (ssh-add -l there)"
	case a.Answers && len(a.Keys) == 0:
		check.Verdict = Warning
		check.Says = fmt.Sprintf("the agent answers uid %d, and holds no key", uid)
		check.Fix = "add a key to the agent on the host: ssh-add"
	case a.Answers:
		check.Verdict = OK
		check.Says = fmt.Sprintf("the agent answers uid %d: %d %s", uid, len(a.Keys), plural(len(a.Keys), "key", "keys"))
		check.Details = a.Keys
	case a.Refused:
		owner := "its own uid"
		if a.Listener > 0 {
			owner = fmt.Sprintf("uid %d, its own", a.Listener)
		}
		check.Says = fmt.Sprintf("the agent closed the connection without an answer: it serves only root and %s, not uid %d", owner, uid)
		check.Fix = "start the container through agent-entrypoint with AGENT_ENTRYPOINT_SOCKET_MODE=relay (auto picks it in a root or setuid start), which serves the command a socket of its own"
	default:
		check.Says = fmt.Sprintf("no answer as an SSH agent: %v", a.Err)
		check.Fix = "point SSH_AUTH_SOCK at the SSH agent's socket"
	}
	j.add(check)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// start checks the start's record: what it did, whether its relay runs,
// and what a docker exec session needs to be like the command.
func (j *judge) start() {
	r := j.in.Record
	if r == nil {
		j.add(Check{Name: "start", Says: "no record of a start: the command was not started through agent-entrypoint, or by a start without root, which leaves none"})
		return
	}
	check := Check{Name: "start"}
	says := fmt.Sprintf("a %s start made uid %d, gid %d", r.Start, r.UID, r.GID)
	if r.User != "" {
		says += fmt.Sprintf(" (%s, home %s)", r.User, r.Home)
	}
	for _, s := range r.Sockets {
		says += fmt.Sprintf("; %s: %s", s.Path, s.Mode)
		if s.Why != "" {
			says += " (" + s.Why + ")"
		}
	}
	check.Says = says
	if len(r.Warnings) > 0 {
		check.Verdict = Warning
		check.Says += "; it warned: " + strings.Join(r.Warnings, "; ")
		check.Fix = "see the start's own hints in the container's log (docker logs CONTAINER)"
	}
	j.add(check)
	if r.RelayPID > 0 {
		relay := Check{Name: "relay", Subject: r.AuthSock,
			Says: fmt.Sprintf("the relay (pid %d) serves the command's agent socket", r.RelayPID)}
		if !j.in.RelayAlive {
			relay.Verdict = Problem
			relay.Says = fmt.Sprintf("the relay (pid %d) has ended", r.RelayPID)
			relay.Fix = "start the container again"
		}
		j.add(relay)
	}
	j.exec(*r)
}

// exec says what a docker exec session needs to be like the command.
func (j *judge) exec(r startrecord.Record) {
	line := fmt.Sprintf("docker exec -it --user %d:%d", r.UID, r.GID)
	if r.AuthSock != "" {
		line += " -e SSH_AUTH_SOCK=" + r.AuthSock
	}
	line += " CONTAINER COMMAND"
	env := j.in.Env
	check := Check{Name: "exec", Says: "a docker exec session is like the command with: " + line}
	if r.AuthSock != "" && (!env.AuthSockSet || env.AuthSock != r.AuthSock) {
		check.Verdict = Warning
		check.Says = "this session's SSH_AUTH_SOCK is not the command's (" + r.AuthSock + ")"
		check.Fix = line
	}
	j.add(check)
}

// runtime checks what the runtime set that a start depends on.
func (j *judge) runtime() {
	c, rt := j.in.Cred, j.in.Runtime
	if c.NoNewPrivs {
		check := Check{Name: "runtime", Subject: "no_new_privs",
			Says: "set (--security-opt no-new-privileges, allowPrivilegeEscalation: false): no setuid program gains root"}
		if c.SetuidBit {
			check.Verdict = Warning
			check.Says += ", agent-entrypoint's setuid install included: a docker run --user start cannot add the user or grant the socket"
			check.Fix = "start as root with AGENT_ENTRYPOINT_UID instead, or leave no-new-privileges off"
		}
		j.add(check)
	}
	if c.SetuidBit && c.NosuidMount {
		j.add(Check{Name: "runtime", Subject: "nosuid", Verdict: Warning,
			Says: "agent-entrypoint is installed setuid-root on a nosuid mount, which voids the bit",
			Fix:  "install it on the image's root file system, or start as root with AGENT_ENTRYPOINT_UID"})
	}
	need := []int{policy.CapChown, policy.CapDACOverride, policy.CapFowner, policy.CapSetgid, policy.CapSetuid}
	caps := Check{Name: "runtime", Subject: "capabilities", Says: "the container's bounding set holds what a start needs"}
	if missing := rt.Bounding.Missing(need...); len(missing) > 0 {
		caps.Verdict = Warning
		caps.Says = fmt.Sprintf("the container may never hold %s: a start cannot %s", strings.Join(missing, ", "), whatCapsDo(missing))
		caps.Fix = "run with " + policy.CapAddFlags(missing) + " (Kubernetes: securityContext.capabilities.add)"
	}
	j.add(caps)
	if rt.ReadOnlyRoot {
		j.add(Check{Name: "runtime", Subject: "read-only root",
			Says: "the root file system is read-only (docker run --read-only): a start adds no user and creates no home there; its record and the relay's socket go to /dev/shm"})
	}
	if j.in.Facts.InUserNS {
		j.add(Check{Name: "runtime", Subject: "user namespace",
			Says: "uid 0 here is not the host's root (rootless Podman, userns-remap): host files owned by others show as uid 65534"})
	}
	pid1 := Check{Name: "runtime", Subject: "pid 1", Says: fmt.Sprintf("pid 1 is %s", rt.PID1)}
	switch r := j.in.Record; {
	case rt.Self == 1:
		pid1.Says = "doctor is pid 1"
	case r != nil && r.RelayPID == 1:
		pid1.Says += ", the relay's supervisor: it forwards signals to the command and reaps orphans"
	case isInit(rt.PID1):
		pid1.Says += ", an init: it forwards signals and reaps orphans"
	default:
		pid1.Says += ", no init: orphans stay zombies unless it reaps them (docker run --init adds an init)"
	}
	j.add(pid1)
}

func isInit(name string) bool {
	return slices.Contains([]string{"docker-init", "tini", "tini-static", "catatonit", "dumb-init", "init", "systemd", "s6-svscan"}, name)
}

// whatCapsDo says what a start cannot do without the capabilities named.
func whatCapsDo(missing []string) string {
	var cannot []string
	for _, m := range missing {
		switch m {
		case "SETUID", "SETGID":
			if !slices.Contains(cannot, "drop to the command's user") {
				cannot = append(cannot, "drop to the command's user")
			}
		case "CHOWN":
			cannot = append(cannot, "hand a home or socket to the user")
		case "DAC_OVERRIDE":
			cannot = append(cannot, "write account files or reach a socket others own")
		case "FOWNER":
			cannot = append(cannot, "change the mode of a socket it does not own")
		}
	}
	return strings.Join(cannot, ", nor ")
}
