package integration

// agent-entrypoint doctor in real containers: one test per diagnosis,
// each with the exact verdict line, its fix and the exit status, and with
// nothing changed (the image's /etc, the host's socket).

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// doctorAlone runs doctor as the container's first process, as uid:gid,
// with args before the image.
func doctorAlone(user string, args ...string) []string {
	return append([]string{"--user", user, "--entrypoint", shimPath}, args...)
}

// requireDoctorLines fails unless out has each of lines, whole.
func requireDoctorLines(t *testing.T, res harness.Result, lines ...string) {
	t.Helper()
	have := strings.Split(res.Stdout, "\n")
	for _, l := range lines {
		if !slices.Contains(have, l) {
			t.Errorf("no line\n%s\nin doctor's report:\n%s", l, res)
		}
	}
}

// staleSocket leaves a socket on the host that nothing listens on, as an
// agent that exited without removing it does.
func staleSocket(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "agent.sock")
	deadSocket(t, path)
	os.Chmod(path, 0o666)
	return path
}

func TestDoctor(t *testing.T) {
	f := getFlavor(t, "debian")
	const fixAgentToRelay = "         fix: start the container through agent-entrypoint with AGENT_ENTRYPOINT_SOCKET_MODE=relay (auto picks it in a root or setuid start), which serves the command a socket of its own"
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (args []string, a *harness.Agent, p socketPreset)
		cmd   []string // after the image; doctor when nil
		exit  int
		lines []string
	}{
		{"no socket", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			return doctorAlone("1000:1000"), nil, socketPreset{}
		}, nil, 1, []string{
			"problem  agent: no agent socket: SSH_AUTH_SOCK is not set, and /run/host-services/ssh-auth.sock is not there",
			`         fix: mount the agent: -v "$SSH_AUTH_SOCK:/run/ssh-agent.sock" -e SSH_AUTH_SOCK=/run/ssh-agent.sock (Docker Desktop: -v /run/host-services/ssh-auth.sock:/run/host-services/ssh-auth.sock)`,
		}},
		{"a directory where the socket should be", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			// Docker makes the missing host path a directory.
			missing := filepath.Join(t.TempDir(), "no-agent.sock")
			return doctorAlone("1000:1000", "-v", missing+":/run/ssh-agent.sock", "-e", "SSH_AUTH_SOCK=/run/ssh-agent.sock"), nil, socketPreset{}
		}, nil, 1, []string{
			"problem  socket /run/ssh-agent.sock: an empty directory (SSH_AUTH_SOCK): Docker makes one where -v names a host path that does not exist, as an unset or stale SSH_AUTH_SOCK on the host does",
			"         fix: run ssh-add -l on the host first; then remove this container and start a new one",
		}},
		{"a symbolic link", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			a := testAgent(t)
			return []string{"--user", "1000:1000", "-v", a.Socket + ":" + agentMount, "--entrypoint", "/bin/sh"}, a, rootOnly
		}, []string{"-c", "ln -s " + agentMount + " /tmp/agent.sock && SSH_AUTH_SOCK=/tmp/agent.sock exec " + shimPath + " doctor"}, 1, []string{
			"problem  socket /tmp/agent.sock: a symbolic link (SSH_AUTH_SOCK): agent-entrypoint never follows one, and a link to a host path does not lead out of the container",
			`         fix: mount the socket itself at this path, e.g. -v "$SSH_AUTH_SOCK:/tmp/agent.sock"`,
		}},
		{"a stale socket", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			return doctorAlone("1000:1000", "-v", staleSocket(t)+":"+agentMount), nil, socketPreset{}
		}, nil, 1, []string{
			"ok       socket /run/host-services/ssh-auth.sock: a socket (Docker Desktop's socket), owner 0:0, mode 0666, bind-mounted from the host (chmod or chown here change the host's socket)",
			"problem  agent /run/host-services/ssh-auth.sock: nothing listens on it (connection refused): the agent it belonged to has exited",
			"         fix: the host's agent restarted, or the session reconnected, after the container started: mount the agent's directory rather than its socket and use AGENT_ENTRYPOINT_SOCKET_MODE=relay, or start the container again",
		}},
		{"the agent of another uid", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			a := otherAgent(t)
			p := socketPreset{1500, 1500, 0o666}
			p.apply(t, a)
			return doctorAlone("1000:1000", "-v", a.Socket+":"+agentMount), a, p
		}, nil, 1, []string{
			"ok       socket /run/host-services/ssh-auth.sock: a socket (Docker Desktop's socket), owner 1500:1500, mode 0666, bind-mounted from the host (chmod or chown here change the host's socket)",
			"problem  agent /run/host-services/ssh-auth.sock: the agent closed the connection without an answer: it serves only root and uid 1500, its own, not uid 1000",
			fixAgentToRelay,
		}},
		{"Docker Desktop's root socket, mode 0755", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			a := testAgent(t)
			return doctorAlone("1000:1000", "-v", a.Socket+":"+agentMount), a, rootOnly
		}, nil, 1, []string{
			"problem  socket /run/host-services/ssh-auth.sock: a socket (Docker Desktop's socket), owner 0:0, mode 0755, bind-mounted from the host (chmod or chown here change the host's socket): uid 1000 may not connect to it (connecting takes write permission)",
			`         fix: start the container through agent-entrypoint (ENTRYPOINT ["agent-entrypoint", "--"]) as root with AGENT_ENTRYPOINT_UID, or installed setuid-root with docker run --user: auto makes the socket usable by the command's user (chmod, group or relay)`,
		}},
		{"no passwd entry", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			return doctorAlone("1000:1000"), nil, socketPreset{}
		}, nil, 1, []string{
			`problem  passwd: no entry for uid 1000: ssh fails with "No user exists for uid 1000", and shells say "I have no name!"`,
			`         fix: ssh needs one (it fails with "No user exists for uid 1000"): make /etc/passwd group-writable in the image (chgrp 0 /etc/passwd && chmod g=u /etc/passwd, as OpenShift images do), or start as root`,
		}},
		{"a read-only root", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			return doctorAlone("1000:1000", "--read-only"), nil, socketPreset{}
		}, nil, 1, []string{
			`         fix: the root file system is read-only (docker run --read-only); ssh needs one (it fails with "No user exists for uid 1000"): add the user in the image, or mount a writable /etc/passwd`,
			"ok       runtime read-only root: the root file system is read-only (docker run --read-only): a start adds no user and creates no home there; its record and the relay's socket go to /dev/shm",
		}},
		{"docker run --user 1000: gid 0", func(t *testing.T) ([]string, *harness.Agent, socketPreset) {
			return doctorAlone("1000"), nil, socketPreset{}
		}, nil, 1, []string{
			`warning  identity: uid 1000, gid 0 (root), groups 0 (root): gid 0 is root's group, what docker run --user UID gives without ":GID"; installed setuid-root, doctor gave root up before it looked`,
			`         fix: run with --user "$(id -u):$(id -g)" (Kubernetes: runAsGroup)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireEngine(t)
			args, a, preset := tc.setup(t)
			if tc.cmd == nil {
				tc.cmd = []string{"doctor"}
			}
			args = append(append(args, f.image), tc.cmd...)
			id, res := runKept(t, args...)
			if res.ExitCode != tc.exit {
				t.Errorf("exit %d, want %d: %s", res.ExitCode, tc.exit, res)
			}
			requireDoctorLines(t, res, tc.lines...)
			requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
			if a != nil {
				requireSocket(t, a, preset, preset.perm)
			}
		})
	}
}

// TestDoctorAfterStart: as the command of a start that worked, doctor
// finds nothing to fix; the start's record says what it did, and the
// agent's key is listed.
func TestDoctorAfterStart(t *testing.T) {
	f := getFlavor(t, "debian")
	a := testAgent(t)
	res := run(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, f.image, shimPath, "doctor", "-v")
	if res.ExitCode != 0 {
		t.Errorf("exit %d, want 0: %s", res.ExitCode, res)
	}
	requireDoctorLines(t, res,
		"ok       agent /run/host-services/ssh-auth.sock: the agent answers uid 1000: 1 key",
		"ok       start: a setuid start made uid 1000, gid 1000 (user, home /home/user); /run/host-services/ssh-auth.sock: chmod (uid 1000 cannot connect, and the agent serves it)",
		"doctor: everything the command needs works")
	if !strings.Contains(res.Stdout, " "+harness.KeyComment+"\n") {
		t.Errorf("-v lists no key with the comment %q: %s", harness.KeyComment, res)
	}
}

// TestDoctorExecSession: docker exec --user 1000 CONTAINER agent-entrypoint
// doctor in a running container of a setuid start: the setuid binary gives
// root up, changes nothing, and says which SSH_AUTH_SOCK makes the session
// like the command; with it, everything works.
func TestDoctorExecSession(t *testing.T) {
	f := getFlavor(t, "debian")
	a := testAgent(t)
	id := runDetached(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, f.image, "sleep", "300")
	waitForCommand(t, id, "sleep 300")
	before := snapshotOf(t, id, "/etc")
	sock, _ := harness.StatOwner(a.Socket)

	res := docker(t, "exec", "--user", "1000:1000", id, shimPath, "doctor")
	if res.ExitCode != 0 {
		t.Errorf("exit %d, want 0: %s", res.ExitCode, res)
	}
	requireDoctorLines(t, res,
		"ok       identity: uid 1000 (user), gid 1000 (user), groups 1000 (user); installed setuid-root, doctor gave root up before it looked",
		"warning  exec: this session's SSH_AUTH_SOCK is not the command's (/run/host-services/ssh-auth.sock)",
		"         fix: docker exec -it --user 1000:1000 -e SSH_AUTH_SOCK=/run/host-services/ssh-auth.sock CONTAINER COMMAND")
	requireUnchanged(t, "/etc", before, snapshotOf(t, id, "/etc"))
	if after, _ := harness.StatOwner(a.Socket); after != sock {
		t.Errorf("the host's socket changed: %v, was %v", after, sock)
	}

	// The fix as doctor gave it: with it, the session is like the command.
	res = docker(t, "exec", "--user", "1000:1000", "-e", "SSH_AUTH_SOCK="+agentMount, id, shimPath, "doctor")
	requireDoctorLines(t, res, "doctor: everything the command needs works")
}

// TestDoctorRelay: as the command of a relaying start, doctor sees the
// relay alive as PID 1 and the agent through it.
func TestDoctorRelay(t *testing.T) {
	f := getFlavor(t, "debian")
	a := otherAgent(t)
	res := run(t, append(slices.Clone(rootTarget.args), "-v", a.Socket+":"+agentMount, f.image, shimPath, "doctor")...)
	if res.ExitCode != 0 {
		t.Errorf("exit %d, want 0: %s", res.ExitCode, res)
	}
	for _, prefix := range []string{
		"ok       relay /run/agent-entrypoint/relay-",
		"ok       agent /run/agent-entrypoint/relay-",
		"ok       runtime pid 1: pid 1 is agent-entrypoint, the relay's supervisor: it forwards signals to the command and reaps orphans",
		"ok       start: a root start made uid 1000, gid 1000 (alice, home /home/alice); /run/host-services/ssh-auth.sock: relay (the agent does not serve uid 1000",
	} {
		requireLine(t, res.Stdout, prefix)
	}
	requireSocket(t, a, socketPreset{1500, 1500, 0o600}, 0o600)
}
