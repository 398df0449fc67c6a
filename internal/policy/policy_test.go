package policy

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// TestPure is the package's promise: no system call, no file opened. No
// package of this module that policy is built from may import syscall,
// golang.org/x/sys/unix, os or net, and none outside the standard library
// may be linked in at all.
func TestPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/agent-entrypoint/agent-entrypoint/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, std, imports := f[0], f[1] == "true", f[2:]
		if !std && !strings.HasPrefix(pkg, module) {
			t.Errorf("package policy links %s", pkg)
		}
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range imports {
			switch imp {
			case "syscall", "golang.org/x/sys/unix", "os", "os/exec", "net", "io/fs":
				t.Errorf("%s, which policy is built from, imports %s", pkg, imp)
			}
		}
	}
}

// dockerDefault is Docker's default capability set.
const dockerDefault = Caps(0xa80425fb)

func caps(names ...int) Caps {
	var c Caps
	for _, n := range names {
		c |= 1 << n
	}
	return c
}

const (
	imagePasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n" +
		"ircd:x:39:39:ircd:/run/ircd:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	imageGroup = "root:x:0:\nwww-data:x:33:\nshadow:x:42:\nusers:x:100:\ndocker:x:999:alice,user\nnogroup:x:65534:\n"
	devPasswd  = "dev:x:1000:1000:Dev:/home/dev:/bin/sh\n"
	devGroup   = "devs:x:1000:\n"
)

func db(passwd, group string) *accounts.DB {
	return accounts.NewDB(map[string]accounts.Content{
		accounts.Passwd: {Data: []byte(passwd), Exists: true},
		accounts.Group:  {Data: []byte(group), Exists: true},
	})
}

func rootDir(path string) DirFact { return DirFact{Path: path, Perm: 0o755} }

// rootCred is a root start with Docker's default capabilities.
var rootCred = Cred{CapEff: dockerDefault}

// setuidCred is docker run --user 1000:1000 of the setuid install: the
// runtime gives the gid as a supplementary group too.
var setuidCred = Cred{RUID: 1000, RGID: 1000, SUID: 0, Groups: []int{1000}, CapEff: dockerDefault, SetuidBit: true}

// agentSocket is Docker Desktop's: root's, mode 0755, bind-mounted, and
// an SSH agent.
func agentSocket() SocketFact {
	return SocketFact{
		Path: DockerDesktopSocket, Agent: true, Perm: 0o755, MountPoint: true, Listener: 1000,
		AsRoot: AgentProbe{Tried: true, Answers: true},
		Dirs:   []DirFact{rootDir("/run/host-services"), rootDir("/run"), rootDir("/")},
	}
}

// baseFacts are a Debian image's: /home and a writable /tmp, the account
// files writable, no home yet.
func baseFacts(c Cred) Facts {
	writable := map[string]Access{}
	for _, f := range accounts.Files {
		writable[f] = Access{}
	}
	missingHome := func() PathFact {
		return PathFact{Parent: "/home", Dirs: []DirFact{rootDir("/home"), rootDir("/")}}
	}
	return Facts{
		Cred: c, Accounts: db(imagePasswd, imageGroup), Writable: writable, HasBash: true,
		ExportAgent: true, Sockets: []SocketFact{agentSocket()},
		Paths: map[string]PathFact{
			"/home/alice": missingHome(), "/home/user": missingHome(),
			"/tmp":      {Exists: true, Dir: true, Perm: 0o1777, Dirs: []DirFact{rootDir("/")}},
			"/home/dev": {Exists: true, Dir: true, UID: 1000, GID: 1000, Perm: 0o755, Dirs: []DirFact{rootDir("/home"), rootDir("/")}},
			"/var/www":  {Parent: "/var", Dirs: []DirFact{rootDir("/var"), rootDir("/")}},
			"/run/ircd": {Parent: "/run", Dirs: []DirFact{rootDir("/run"), rootDir("/")}},
		},
	}
}

// rootTarget are the settings of a root start with AGENT_ENTRYPOINT_UID,
// GID and USER.
func rootTarget() Effective {
	e, _ := Settle(Root, rootCred, Input{Caller: with(Unset(), func(s *Settings) { s.UID, s.GID, s.Name = 1000, 1000, "alice" }), Image: Unset()})
	return e
}

func setuidStart() Effective {
	e, _ := Settle(Setuid, setuidCred, Input{Caller: Unset(), Image: Unset()})
	return e
}

func with(s Settings, f func(*Settings)) Settings {
	f(&s)
	return s
}

// want is what a row of TestDecide checks. Problems must be exactly those
// kinds in that order; of the rest, a zero value is not checked, and yes
// and no are the answers of a yes/no check.
type want struct {
	name     string
	home     string // HOME the command gets
	create   yesNo  // the home is created
	lines    int    // account lines written; -1 none
	grant    yesNo  // a socket is changed or relayed
	mode     Mode   // the mode of the first socket action
	relay    yesNo  // the start relays a socket
	groups   []int  // the groups of the drop
	drop     yesNo  // the start drops to the target
	problems []ProblemKind
	caps     []string // the capabilities the problems name, in order
	fatal    bool
}

type yesNo int

const (
	yes yesNo = iota + 1
	no
)

func (y yesNo) is(b bool) bool { return y == 0 || (y == yes) == b }

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name string
		cred Cred
		e    Effective
		f    func(f *Facts)
		want want
	}{
		// The rows of README's runtime restrictions table.
		{"root start, Docker's default capabilities", rootCred, rootTarget(), nil,
			want{name: "alice", home: "/home/alice", create: yes, lines: 2, grant: yes, drop: yes}},
		{"--cap-drop ALL, root start", rootCred, rootTarget(), func(f *Facts) { f.Cred.CapEff = 0 },
			want{problems: []ProblemKind{MissingCaps, MissingCaps, HomeUnusable}, fatal: true}},
		{"--cap-drop ALL + the minimum", rootCred, rootTarget(), func(f *Facts) { f.Cred.CapEff = caps(CapChown, CapSetuid, CapSetgid) },
			want{name: "alice", home: "/home/alice", create: yes, lines: 2, grant: yes, drop: yes}},
		// No mode of the socket would let uid 1000 in: OpenSSH's agent
		// serves only root and its owner. Without DAC_OVERRIDE root cannot
		// reach it either, and without KILL the relay could not pass
		// signals on: the fix is those two, never FOWNER.
		{"the minimum, socket of another uid: relay's capabilities, not FOWNER", rootCred, rootTarget(), func(f *Facts) {
			f.Cred.CapEff = caps(CapChown, CapSetuid, CapSetgid)
			f.Sockets[0].UID = 1001
			f.Sockets[0].AsRoot = AgentProbe{Tried: true, Denied: true, Err: errors.New("permission denied")}
		}, want{name: "alice", create: yes, problems: []ProblemKind{MissingCaps}, caps: []string{"DAC_OVERRIDE", "KILL"}}},
		{"--read-only, root start", rootCred, rootTarget(), func(f *Facts) {
			for k := range f.Writable {
				f.Writable[k] = Access{Err: errors.New("read-only file system"), ReadOnly: true}
			}
			f.Paths["/home/alice"] = PathFact{Parent: "/home", Create: Access{Err: errors.New("read-only file system"), ReadOnly: true}}
			f.Paths["/tmp"] = PathFact{Exists: true, Dir: true, Perm: 0o1777, ReadOnly: true}
		}, want{name: "alice", home: "/home/alice", lines: -1, grant: yes, drop: yes,
			problems: []ProblemKind{PasswdReadOnly, HomeReadOnly, HomeUnusable}}},
		{"--read-only --tmpfs /tmp: HOME falls back", rootCred, rootTarget(), func(f *Facts) {
			f.Writable[accounts.Passwd] = Access{Err: errors.New("read-only file system"), ReadOnly: true}
			f.Paths["/home/alice"] = PathFact{Parent: "/home", Create: Access{Err: errors.New("read-only file system"), ReadOnly: true}}
		}, want{home: "/tmp", problems: []ProblemKind{PasswdReadOnly, HomeReadOnly, HomeUnusable}}},
		{"no-new-privileges with the setuid install: runs unprivileged", rootCred, Effective{Settings: Unset(), Move: ""}, func(f *Facts) {
			f.Cred = Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000, SetuidBit: true, NoNewPrivs: true}
			for k := range f.Writable {
				f.Writable[k] = Access{Err: errors.New("permission denied")}
			}
			f.Paths["/home/user"] = PathFact{Parent: "/home", Create: Access{Err: errors.New("permission denied")}}
		}, want{name: "user", home: "/tmp", lines: -1, drop: no,
			problems: []ProblemKind{SetuidVoided, PasswdDenied, HomeDenied, HomeUnusable, SocketNoPrivilege}}},
		{"OpenShift: arbitrary uid, gid 0, group-writable passwd", rootCred, Effective{Settings: with(Unset(), func(s *Settings) { s.SocketMode = Chmod })}, func(f *Facts) {
			f.Cred = Cred{RUID: 1000680000, EUID: 1000680000, SUID: 1000680000}
			for _, k := range []string{accounts.Group, accounts.Shadow, accounts.Gshadow} {
				f.Writable[k] = Access{Err: errors.New("permission denied")}
			}
			f.Paths["/home/user"] = PathFact{Parent: "/home", Create: Access{Err: errors.New("permission denied")}}
			f.Sockets[0].Perm = 0o666
		}, want{name: "user", home: "/tmp", lines: 1, problems: []ProblemKind{HomeDenied, HomeUnusable}}},
		{"setuid install under --cap-drop ALL", setuidCred, setuidStart(), func(f *Facts) { f.Cred.CapEff = 0 },
			want{name: "user", home: "/tmp", lines: 2, grant: yes, drop: yes, create: no, problems: []ProblemKind{MissingCaps, HomeUnusable}}},
		{"agent socket mounted :ro: relayed", rootCred, rootTarget(), func(f *Facts) { f.Sockets[0].ReadOnly = true },
			want{create: yes, relay: yes, mode: Relay}},
		{"agent socket mounted :ro, chmod", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Chmod }), func(f *Facts) { f.Sockets[0].ReadOnly = true },
			want{create: yes, relay: no, problems: []ProblemKind{SocketReadOnly}}},
		{"rootless Podman: socket owner outside the namespace", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0].UID, f.InUserNS = 65534, true
			f.Sockets[0].AsRoot = AgentProbe{Tried: true, Err: errors.New("permission denied")}
		}, want{problems: []ProblemKind{SocketForeignOwner}}},
		{"socket mode none", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = None }), nil,
			want{problems: []ProblemKind{SocketNoConnect}}},
		{"socket the target can use already", rootCred, rootTarget(), func(f *Facts) { f.Sockets[0].Perm = 0o777 },
			want{grant: no}},
		{"socket in a directory the target cannot search: relayed", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0].Dirs[0].Perm = 0o700
		}, want{relay: yes}},
		{"socket in a directory the target cannot search, chmod", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Chmod }), func(f *Facts) {
			f.Sockets[0].Dirs[0].Perm = 0o700
		}, want{problems: []ProblemKind{SocketUnreachable}}},

		// Socket modes.
		{"auto: the agent serves the target, who can connect: nothing", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0].Perm, f.Sockets[0].AsTarget = 0o777, AgentProbe{Tried: true, Answers: true}
		}, want{grant: no, relay: no}},
		{"auto: the agent serves the target once it can connect: chmod", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0].AsTarget = AgentProbe{Tried: true, Answers: true}
		}, want{mode: Chmod, relay: no}},
		{"auto: the agent refuses the target: relay, the socket untouched", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0].UID, f.Sockets[0].Perm, f.Sockets[0].Listener = 1500, 0o600, 1500
			f.Sockets[0].AsTarget = AgentProbe{Tried: true, Refused: true}
		}, want{mode: Relay, relay: yes}},
		{"auto, setuid: the agent refuses the target: relay", setuidCred, setuidStart(), func(f *Facts) {
			f.Sockets[0].AsTarget = AgentProbe{Tried: true, Refused: true}
		}, want{mode: Relay, relay: yes}},
		{"relay, setuid: not mounted", setuidCred, with2(setuidStart(), func(e *Effective) { e.SocketMode = Relay }), func(f *Facts) {
			f.Sockets[0].MountPoint = false
		}, want{relay: no, problems: []ProblemKind{SocketNotMounted}}},
		{"relay: no agent answers root", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Relay }), func(f *Facts) {
			f.Sockets[0].AsRoot = AgentProbe{Tried: true, Err: errors.New("connection refused")}
		}, want{relay: no, problems: []ProblemKind{SocketNotAgent}}},
		{"relay without KILL: the command could not be signalled", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Relay }), func(f *Facts) {
			f.Cred.CapEff = caps(CapChown, CapSetuid, CapSetgid, CapDACOverride)
		}, want{relay: no, problems: []ProblemKind{MissingCaps}}},
		{"relay: a start without root cannot", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Relay }), func(f *Facts) {
			f.Cred = Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000}
		}, want{relay: no, problems: []ProblemKind{SocketNoPrivilege}}},
		{"sign access: relayed", rootCred, with2(rootTarget(), func(e *Effective) { e.AgentAccess = SignAccess }), func(f *Facts) {
			f.Sockets[0].Perm = 0o777
		}, want{mode: Relay, relay: yes}},
		{"sign access with chmod", rootCred, with2(rootTarget(), func(e *Effective) { e.AgentAccess, e.SocketMode = SignAccess, Chmod }), nil,
			want{problems: []ProblemKind{AccessNeedsRelay}}},
		{"a directory of agent sockets: relayed", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0] = SocketFact{Path: "/run/agents", Agent: true, Dir: true, MountPoint: true,
				AsRoot: AgentProbe{Tried: true, Answers: true}, Listener: -1}
		}, want{relay: yes}},
		{"a directory of agent sockets, chmod", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Chmod }), func(f *Facts) {
			f.Sockets[0] = SocketFact{Path: "/run/agents", Agent: true, Dir: true}
		}, want{problems: []ProblemKind{DirNeedsRelay}}},
		{"chown: the socket is the target's", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Chown }), nil,
			want{mode: Chown}},
		{"chown without CHOWN", rootCred, with2(rootTarget(), func(e *Effective) { e.SocketMode = Chown }), func(f *Facts) {
			f.Cred.CapEff = caps(CapSetuid, CapSetgid)
			f.Paths["/home/alice"] = PathFact{Exists: true, Dir: true, UID: 1000, GID: 1000, Perm: 0o700}
		}, want{problems: []ProblemKind{MissingCaps}}},
		{"docker.sock by group: the target joins gid 998, named", rootCred, withSocket(rootTarget(), "/var/run/docker.sock", Group), func(f *Facts) {
			f.Sockets = append(f.Sockets, dockerSock(Group, 998, 0o660))
		}, want{name: "alice", lines: 3, grant: yes, groups: []int{998, 1000}}},
		{"docker.sock by auto: group", rootCred, withSocket(rootTarget(), "/var/run/docker.sock", ""), func(f *Facts) {
			f.Sockets = append(f.Sockets[:0], dockerSock("", 998, 0o660))
		}, want{mode: Group, groups: []int{998, 1000}}},
		{"docker.sock of group 0: never joined", rootCred, withSocket(rootTarget(), "/var/run/docker.sock", Group), func(f *Facts) {
			f.Sockets = append(f.Sockets[:0], dockerSock(Group, 0, 0o660))
		}, want{problems: []ProblemKind{GroupZero}, groups: []int{1000}}},
		{"docker.sock its group may not use", rootCred, withSocket(rootTarget(), "/var/run/docker.sock", Group), func(f *Facts) {
			f.Sockets = append(f.Sockets[:0], dockerSock(Group, 998, 0o600))
		}, want{problems: []ProblemKind{GroupNotWritable}}},
		{"docker.sock relayed by a root start: ungated", rootCred, withSocket(rootTarget(), "/var/run/docker.sock", Relay), func(f *Facts) {
			f.Sockets = append(f.Sockets[:0], dockerSock(Relay, 998, 0o600))
		}, want{relay: yes}},
		{"docker.sock relayed by a setuid start: refused", setuidCred, withSocket(setuidStart(), "/var/run/docker.sock", Relay), func(f *Facts) {
			f.Sockets = append(f.Sockets[:0], dockerSock(Relay, 998, 0o600))
		}, want{relay: no, problems: []ProblemKind{RelayUngated}}},
		{"not a socket", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0] = SocketFact{Path: "/fixtures/file", Agent: true, Err: errors.New("not a socket"), NotSocket: true}
		}, want{problems: []ProblemKind{SocketNotSocket}}},
		{"no socket there", rootCred, rootTarget(), func(f *Facts) {
			f.Sockets[0] = SocketFact{Path: "/run/none.sock", Agent: true, Err: errors.New("no such file")}
		}, want{problems: []ProblemKind{SocketMissing}}},

		// The setuid rules.
		{"setuid: the seed's case", setuidCred, setuidStart(), nil,
			want{name: "user", home: "/home/user", create: yes, lines: 2, grant: yes, drop: yes}},
		{"setuid: a socket made in the container is not opened up", setuidCred, setuidStart(), func(f *Facts) { f.Sockets[0].MountPoint = false },
			want{problems: []ProblemKind{SocketNotMounted}}},
		{"setuid: a socket that is no SSH agent is not opened up", setuidCred, setuidStart(), func(f *Facts) {
			f.Sockets[0].AsRoot = AgentProbe{Tried: true, Err: errors.New("did not answer as an SSH agent")}
		}, want{problems: []ProblemKind{SocketNotAgent}}},
		{"setuid: the image's config names a socket: no agent check", setuidCred, setuidStart(), func(f *Facts) {
			f.Sockets = append(f.Sockets, SocketFact{Path: "/var/run/docker.sock", Perm: 0o660, GID: 999,
				Dirs: []DirFact{rootDir("/var/run"), rootDir("/var"), rootDir("/")}})
		}, want{grant: yes}},
		{"setuid: the caller names an image user", setuidCred, with2(setuidStart(), func(e *Effective) { e.Name = "dev" }), func(f *Facts) {
			f.Accounts = db(imagePasswd+"dev:x:1001:1001::/home/dev:/bin/sh\n", imageGroup)
		}, want{problems: []ProblemKind{RefuseMove}, fatal: true}},
		{"setuid: the image's config names the user to move", setuidCred, with2(setuidStart(), func(e *Effective) { e.Name, e.Move = "dev", "dev" }), func(f *Facts) {
			f.Accounts = db(imagePasswd+"dev:x:1001:1001::/home/dev:/bin/sh\n", imageGroup+"dev:x:1001:\n")
		}, want{name: "dev", home: "/home/dev", lines: 2, drop: yes, grant: yes}},
		{"setuid: a home outside /home is not created", setuidCred, with2(setuidStart(), func(e *Effective) { e.Home = "/home/../etc/x" }), func(f *Facts) {
			f.Paths["/home/../etc/x"] = PathFact{Parent: "/etc"}
		}, want{create: no, problems: []ProblemKind{HomeOutsideBase, HomeUnusable}}},
		{"setuid: an image home outside /home is not created (uid 33)", setuidCred, setuidStart(), func(f *Facts) {
			f.Cred.RUID, f.Cred.RGID = 33, 33
		}, want{name: "www-data", create: no, problems: []ProblemKind{HomeOutsideBase, HomeUnusable}}},
		{"setuid: nor is /run/ircd (uid 39)", setuidCred, setuidStart(), func(f *Facts) {
			f.Cred.RUID, f.Cred.RGID = 39, 39
		}, want{name: "ircd", create: no, problems: []ProblemKind{HomeOutsideBase, HomeUnusable}}},
		{"setuid: a link or a user's directory on the way", setuidCred, with2(setuidStart(), func(e *Effective) { e.Home = "/home/dev/l/x" }), func(f *Facts) {
			f.Paths["/home/dev/l/x"] = PathFact{Parent: "/home/dev", Untrusted: errors.New("/home/dev is not root's alone")}
		}, want{create: no, problems: []ProblemKind{HomeUntrusted, HomeUnusable}}},
		{"setuid: a home base from the image's config", setuidCred, with2(setuidStart(), func(e *Effective) { e.HomeBase, e.Home = "/workspaces", "/workspaces/me" }), func(f *Facts) {
			f.Paths["/workspaces/me"] = PathFact{Parent: "/workspaces"}
		}, want{home: "/workspaces/me", create: yes}},
		{"setuid without SETGID keeps the runtime's groups", setuidCred, setuidStart(), func(f *Facts) {
			f.Cred.CapEff = caps(CapChown)
			f.Cred.Groups = []int{4242}
			f.Accounts = db(imagePasswd+devPasswd, imageGroup+devGroup+"extra:x:5000:dev\n")
			f.Cred.RUID = 1000
		}, want{name: "dev", problems: []ProblemKind{MissingCaps}}},

		// Identity.
		{"an unreadable line for the target uid stops the start", rootCred, rootTarget(), func(f *Facts) {
			f.Accounts = db(imagePasswd+"alice:x:1000::/home/alice:/bin/sh\n", imageGroup)
		}, want{problems: []ProblemKind{ResolveFailed}, fatal: true}},
		{"unprivileged asking for another uid", rootCred, with2(rootTarget(), func(e *Effective) { e.UID = 2000 }), func(f *Facts) {
			f.Cred = Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000}
			f.Accounts = db(imagePasswd+devPasswd, imageGroup+devGroup)
			f.Sockets = nil
		}, want{name: "dev", home: "/home/dev", drop: no, problems: []ProblemKind{CannotSwitch}}},
		{"existing user: nothing to write", rootCred, with2(rootTarget(), func(e *Effective) { e.Name = "" }), func(f *Facts) {
			f.Accounts = db(imagePasswd+devPasswd, imageGroup+devGroup)
		}, want{name: "dev", home: "/home/dev", lines: -1, drop: yes, grant: yes}},
		{"the target's uid held by another image user", rootCred, rootTarget(), func(f *Facts) {
			f.Accounts = db(imagePasswd+devPasswd+"alice:x:2000:2000::/home/alice:/bin/sh\n", imageGroup+devGroup)
		}, want{name: "dev", problems: []ProblemKind{MoveConflict}}},
		{"a move whose passwd line cannot be written", rootCred, with2(rootTarget(), func(e *Effective) { e.Name, e.Move, e.UID = "dev", "dev", 2000 }), func(f *Facts) {
			f.Accounts = db(imagePasswd+devPasswd, imageGroup+devGroup)
			f.Writable[accounts.Passwd] = Access{Err: errors.New("read-only file system"), ReadOnly: true}
			f.Paths["/tmp"] = PathFact{Exists: true, Dir: true, Perm: 0o1777}
		}, want{name: "dev", problems: []ProblemKind{PasswdReadOnly, MoveNoPasswd, HomeUnusable}}},
		{"a move without CHOWN", rootCred, with2(rootTarget(), func(e *Effective) { e.Name, e.Move, e.UID = "dev", "dev", 2000 }), func(f *Facts) {
			f.Accounts = db(imagePasswd+devPasswd, imageGroup+devGroup)
			f.Cred.CapEff = caps(CapSetuid, CapSetgid)
		}, want{problems: []ProblemKind{MissingCaps}, fatal: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := baseFacts(tc.cred)
			if tc.f != nil {
				tc.f(&f)
			}
			d := Decide(tc.e, "", f)
			check(t, d, tc.want)
		})
	}
}

// withSocket is e with one more socket of AGENT_ENTRYPOINT_SOCKETS.
func withSocket(e Effective, path string, mode Mode) Effective {
	e.Sockets = append(e.Sockets, SocketSpec{Path: path, Mode: mode})
	return e
}

// dockerSock is a socket of group gid with perm, made for AGENT_ENTRYPOINT_SOCKETS.
func dockerSock(mode Mode, gid int, perm uint32) SocketFact {
	return SocketFact{Path: "/var/run/docker.sock", Mode: mode, GID: gid, Perm: perm, Listener: -1,
		Dirs: []DirFact{rootDir("/var/run"), rootDir("/var"), rootDir("/")}}
}

func with2(e Effective, f func(*Effective)) Effective {
	f(&e)
	return e
}

func check(t *testing.T, d Decision, w want) {
	t.Helper()
	var kinds []ProblemKind
	for _, p := range d.Problems {
		kinds = append(kinds, p.Kind)
	}
	if !slices.Equal(kinds, w.problems) {
		t.Errorf("problems %v, want kinds %v", d.Problems, w.problems)
	}
	var caps []string
	for _, p := range d.Problems {
		caps = append(caps, p.Caps...)
	}
	if w.caps != nil && !slices.Equal(caps, w.caps) {
		t.Errorf("problems name capabilities %v, want %v", caps, w.caps)
	}
	if (d.Fatal() != nil) != w.fatal {
		t.Errorf("fatal = %v, want %v", d.Fatal(), w.fatal)
	}
	if w.fatal {
		return
	}
	if len(d.Missing) > 0 {
		t.Fatalf("facts missing for %v", d.Missing)
	}
	if w.name != "" && d.Identity.Name != w.name {
		t.Errorf("name %q, want %q", d.Identity.Name, w.name)
	}
	if w.home != "" && !slices.Contains(d.Env, "HOME="+w.home) {
		t.Errorf("env %v, want HOME=%s", d.Env, w.home)
	}
	if !w.create.is(d.Home.Create) {
		t.Errorf("create home %v, want %v", d.Home.Create, w.create == yes)
	}
	switch {
	case w.lines > 0 && len(d.Plan.Lines) != w.lines:
		t.Errorf("lines %v, want %d", d.Plan.Lines, w.lines)
	case w.lines < 0 && len(d.Plan.Lines) != 0:
		t.Errorf("lines %v, want none", d.Plan.Lines)
	}
	if !w.grant.is(len(d.Sockets) > 0) {
		t.Errorf("socket actions %v, want some: %v", d.Sockets, w.grant == yes)
	}
	if w.mode != "" && (len(d.Sockets) == 0 || d.Sockets[0].Mode != w.mode) {
		t.Errorf("socket actions %v, want the first %s", d.Sockets, w.mode)
	}
	if !w.relay.is(len(d.Relays) > 0) {
		t.Errorf("relays %v, want some: %v", d.Relays, w.relay == yes)
	}
	if w.groups != nil && !slices.Equal(d.Groups, w.groups) {
		t.Errorf("groups %v, want %v", d.Groups, w.groups)
	}
	if !w.drop.is(d.Drop) {
		t.Errorf("drop %v, want %v", d.Drop, w.drop == yes)
	}
}
