package diagnose

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startrecord"
)

// working is what doctor finds as the command of a root start that made
// dev, uid 1000, and granted Docker Desktop's socket by chmod.
func working() Input {
	db := accounts.NewDB(map[string]accounts.Content{
		accounts.Passwd: {Exists: true, Data: []byte("root:x:0:0::/root:/bin/sh\ndev:x:1000:1000::/home/dev:/bin/bash\n")},
		accounts.Group:  {Exists: true, Data: []byte("root:x:0:\ndev:x:1000:\ndocker:x:998:dev\n")},
	})
	rec := startrecord.Record{Start: "root", UID: 1000, GID: 1000, User: "dev", Home: "/home/dev",
		AuthSock: policy.DockerDesktopSocket, Sockets: []startrecord.Socket{{Path: policy.DockerDesktopSocket, Mode: "chmod", Why: "uid 1000 cannot connect"}}}
	return Input{
		Cred:  policy.Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000, Groups: []int{1000, 998}},
		Facts: policy.Facts{Accounts: db},
		Env:   Env{Home: "/home/dev", HomeSet: true, AuthSock: policy.DockerDesktopSocket, AuthSockSet: true},
		Home:  Path{Exists: true, Dir: true, UID: 1000, GID: 1000, Perm: 0o755, Writable: true},
		Sockets: []Socket{{Path: policy.DockerDesktopSocket, Source: FromEnv, Agent: true, Type: "socket", Perm: 0o666, MountPoint: true,
			Answer: Answer{Answers: true, Keys: []string{"ssh-ed25519 me@laptop"}, Listener: 501}}},
		Record: &rec,
		Runtime: Runtime{PID1: "sh", Self: 7,
			Bounding: bounding(policy.CapChown, policy.CapDACOverride, policy.CapFowner, policy.CapSetgid, policy.CapSetuid, policy.CapKill)},
	}
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(in *Input)
		// want is the check that must be there: its name and subject, its
		// verdict, and what its text and fix must hold.
		check, subject string
		verdict        Verdict
		says, fix      string
	}{
		{"everything works", nil, "agent", policy.DockerDesktopSocket, OK, "the agent answers uid 1000: 1 key", ""},
		{"the socket is the host's", nil, "socket", policy.DockerDesktopSocket, OK, "bind-mounted from the host (chmod or chown here change the host's socket)", ""},
		{"identity with group names", nil, "identity", "", OK, "uid 1000 (dev), gid 1000 (dev), groups 1000 (dev), 998 (docker)", ""},

		// Identity.
		{"docker run --user 1000: gid 0", func(in *Input) { in.Cred.RGID = 0 }, "identity", "", Warning,
			`gid 0 is root's group`, `--user "$(id -u):$(id -g)"`},
		{"root asks, the command is uid 1000", func(in *Input) { in.Cred = policy.Cred{} }, "identity", "", Warning,
			"the command runs as uid 1000", "docker exec --user 1000:1000 CONTAINER agent-entrypoint doctor"},
		{"setuid given up", func(in *Input) { in.SetuidDropped = true }, "identity", "", OK, "doctor gave root up before it looked", ""},

		// The passwd entry.
		{"no passwd entry, the start's hint", func(in *Input) {
			in.Cred.RUID = 1234
			in.Decision.Problems = []policy.Problem{{Kind: policy.PasswdReadOnly, UID: 1234, Err: errors.New("no passwd entry")}}
		}, "passwd", "", Problem, `ssh fails with "No user exists for uid 1234"`, ""},
		{"no passwd entry, a start could add it", func(in *Input) { in.Cred.RUID = 1234 }, "passwd", "", Problem,
			`shells say "I have no name!"`, "it adds the entry"},

		// HOME.
		{"HOME unset", func(in *Input) { in.Env.HomeSet, in.Env.Home = false, "" }, "home", "", Warning, "HOME is not set", "it sets HOME"},
		{"HOME missing", func(in *Input) { in.Home = Path{} }, "home", "", Problem, "which does not exist", "docker run --tmpfs /home/dev"},
		{"HOME not writable", func(in *Input) { in.Home.Writable, in.Home.UID = false, 0 }, "home", "", Warning,
			"owned by 0:1000, mode 0755: uid 1000 cannot write it", "docker run --tmpfs /home/dev"},
		{"HOME under /etc: never a tmpfs there", func(in *Input) { in.Env.Home, in.Home.Writable = "/etc/dev", false }, "home", "", Warning,
			"HOME is /etc/dev", "give the user a home in the image, or set AGENT_ENTRYPOINT_HOME to a directory below /home"},

		// Sockets.
		{"no agent socket", func(in *Input) { in.Sockets, in.Record = nil, nil }, "agent", "", Problem,
			"SSH_AUTH_SOCK is not set, and /run/host-services/ssh-auth.sock is not there", `-v "$SSH_AUTH_SOCK:/run/ssh-agent.sock"`},
		{"nothing at SSH_AUTH_SOCK", func(in *Input) { in.Sockets[0].Type = "" }, "socket", policy.DockerDesktopSocket, Problem,
			"nothing is there (SSH_AUTH_SOCK)", "mount the socket there"},
		{"an empty directory from a missing host path", func(in *Input) { in.Sockets[0].Type, in.Sockets[0].Sockets = "directory", 0 }, "socket", policy.DockerDesktopSocket, Problem,
			"an empty directory (SSH_AUTH_SOCK): Docker makes one", "run ssh-add -l on the host first"},
		{"a directory of agent sockets", func(in *Input) { in.Sockets[0].Type, in.Sockets[0].Sockets = "directory", 2 }, "socket", policy.DockerDesktopSocket, Problem,
			"a directory of 2 agent sockets", "AGENT_ENTRYPOINT_SOCKET_MODE=relay"},
		{"a symbolic link", func(in *Input) { in.Sockets[0].Type = "symbolic link" }, "socket", policy.DockerDesktopSocket, Problem,
			"never follows one", "mount the socket itself"},
		{"a regular file", func(in *Input) { in.Sockets[0].Type = "regular file" }, "socket", policy.DockerDesktopSocket, Problem,
			"a regular file, not a socket", "mount the agent's socket itself"},
		{"a root socket, mode 0755", func(in *Input) {
			in.Sockets[0].Perm, in.Sockets[0].Connect = 0o755, syscall.EACCES
		}, "socket", policy.DockerDesktopSocket, Problem, "mode 0755, bind-mounted from the host (chmod or chown here change the host's socket): uid 1000 may not connect", "auto makes the socket usable"},
		{"mode none left it closed", func(in *Input) {
			in.Sockets[0].Perm, in.Sockets[0].Connect = 0o600, syscall.EACCES
			in.Record.Sockets[0].Mode = "none"
		}, "socket", policy.DockerDesktopSocket, Problem, "may not connect", "AGENT_ENTRYPOINT_SOCKET_MODE=auto (it is none now)"},
		// A :ro socket's fix is the relay, never mode none.
		{"a closed socket on a read-only mount", func(in *Input) {
			in.Sockets[0].Perm, in.Sockets[0].Connect, in.Sockets[0].ReadOnly = 0o600, syscall.EACCES, true
		}, "socket", policy.DockerDesktopSocket, Problem, "on a read-only mount: uid 1000 may not connect", "AGENT_ENTRYPOINT_SOCKET_MODE=relay"},

		// The agent.
		{"an agent of another uid", func(in *Input) { in.Sockets[0].Answer = Answer{Refused: true, Listener: 1500} }, "agent", policy.DockerDesktopSocket, Problem,
			"it serves only root and uid 1500, its own, not uid 1000", "AGENT_ENTRYPOINT_SOCKET_MODE=relay"},
		{"a stale socket", func(in *Input) { in.Sockets[0].Connect = syscall.ECONNREFUSED }, "agent", policy.DockerDesktopSocket, Problem,
			"nothing listens on it (connection refused)", "mount the agent's directory rather than its socket"},
		{"an agent with no key", func(in *Input) { in.Sockets[0].Answer.Keys = nil }, "agent", policy.DockerDesktopSocket, Warning,
			"holds no key", "ssh-add"},
		{"not an agent", func(in *Input) { in.Sockets[0].Answer = Answer{Err: errors.New("did not answer as an SSH agent")} }, "agent", policy.DockerDesktopSocket, Problem,
			"no answer as an SSH agent", "point SSH_AUTH_SOCK at the SSH agent's socket"},
		{"docker.sock by group, unreachable", func(in *Input) {
			in.Sockets = append(in.Sockets, Socket{Path: "/var/run/docker.sock", Source: FromSettings, Type: "socket", GID: 998, Perm: 0o660, Connect: syscall.ECONNREFUSED})
		}, "socket", "/var/run/docker.sock", Problem, "connecting fails", "the service behind it"},

		// The start.
		{"no record", func(in *Input) { in.Record = nil }, "start", "", OK, "no record of a start", ""},
		{"the start warned", func(in *Input) { in.Record.Warnings = []string{"create home: read-only file system"} }, "start", "", Warning,
			"it warned: create home: read-only file system", "docker logs CONTAINER"},
		{"the relay runs", func(in *Input) { in.Record.RelayPID, in.RelayAlive = 1, true }, "relay", policy.DockerDesktopSocket, OK,
			"the relay (pid 1) serves the command's agent socket", ""},
		{"the relay ended", func(in *Input) { in.Record.RelayPID = 7 }, "relay", policy.DockerDesktopSocket, Problem, "has ended", "start the container again"},
		{"a docker exec session without SSH_AUTH_SOCK", func(in *Input) { in.Env.AuthSockSet, in.Env.AuthSock = false, "" }, "exec", "", Warning,
			"this session's SSH_AUTH_SOCK is not the command's", "docker exec -it --user 1000:1000 -e SSH_AUTH_SOCK=/run/host-services/ssh-auth.sock CONTAINER COMMAND"},

		// The runtime.
		{"no-new-privileges voids the setuid install", func(in *Input) { in.Cred.NoNewPrivs, in.Cred.SetuidBit = true, true }, "runtime", "no_new_privs", Warning,
			"agent-entrypoint's setuid install included", "start as root with AGENT_ENTRYPOINT_UID"},
		{"a nosuid mount", func(in *Input) { in.Cred.SetuidBit, in.Cred.NosuidMount = true, true }, "runtime", "nosuid", Warning, "voids the bit", ""},
		{"--cap-drop SETUID --cap-drop SETGID", func(in *Input) {
			in.Runtime.Bounding = bounding(policy.CapChown, policy.CapDACOverride, policy.CapFowner)
		}, "runtime", "capabilities", Warning, "may never hold SETGID, SETUID: a start cannot drop to the command's user", "--cap-add SETGID --cap-add SETUID"},
		{"a read-only root", func(in *Input) { in.Runtime.ReadOnlyRoot = true }, "runtime", "read-only root", OK, "go to /dev/shm", ""},
		{"a user namespace", func(in *Input) { in.Facts.InUserNS = true }, "runtime", "user namespace", OK, "uid 65534", ""},
		{"no init", nil, "runtime", "pid 1", OK, "pid 1 is sh, no init", ""},
		{"docker run --init", func(in *Input) { in.Runtime.PID1 = "docker-init" }, "runtime", "pid 1", OK, "an init", ""},
		{"the relay as pid 1", func(in *Input) { in.Record.RelayPID, in.RelayAlive, in.Runtime.PID1 = 1, true, "agent-entrypoint" }, "runtime", "pid 1", OK,
			"the relay's supervisor", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := working()
			if tc.change != nil {
				tc.change(&in)
			}
			checks := Judge(in)
			for _, c := range checks {
				if c.Name != tc.check || c.Subject != tc.subject || c.Verdict != tc.verdict || !strings.Contains(c.Says, tc.says) {
					continue
				}
				fix := c.Fix
				if fix == "" && c.Problem != nil {
					fix = "(the start's hint for " + c.Problem.Err.Error() + ")"
				}
				if tc.fix != "" && !strings.Contains(fix, tc.fix) {
					t.Errorf("fix %q, want one with %q", fix, tc.fix)
				}
				if c.Verdict != OK && fix == "" {
					t.Errorf("a %s without a fix", c.Verdict)
				}
				return
			}
			t.Errorf("no %s check of %q, %s, saying %q; got:\n%s", tc.check, tc.subject, tc.verdict, tc.says, dump(checks))
		})
	}
}

// TestEveryWorkingCheckIsOK: as the command of a start that worked,
// doctor finds nothing to fix.
func TestEveryWorkingCheckIsOK(t *testing.T) {
	checks := Judge(working())
	if w := Worst(checks); w != OK {
		t.Errorf("worst verdict %s:\n%s", w, dump(checks))
	}
}

func TestHidesSystem(t *testing.T) {
	for dir, want := range map[string]bool{
		"/": true, "/etc": true, "/etc/dev": true, "/usr/local/dev": true, "/root": true, "/var": true,
		"/home/dev": false, "/var/lib/dev": false, "/opt/app": false, "/workspaces/me": false, "/tmp": false,
	} {
		if got := HidesSystem(dir); got != want {
			t.Errorf("HidesSystem(%s) = %v, want %v", dir, got, want)
		}
	}
}

func bounding(caps ...int) policy.Caps {
	var c policy.Caps
	for _, n := range caps {
		c |= 1 << n
	}
	return c
}

func dump(checks []Check) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString(c.Verdict.String() + " " + c.Name + " " + c.Subject + ": " + c.Says + " | fix: " + c.Fix + "\n")
	}
	return b.String()
}
