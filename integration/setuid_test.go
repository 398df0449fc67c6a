package integration

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

const secretMount = "/run/secret.sock"

// secretSocket listens on a host unix socket that only root may use (root
// owned, mode 0600) until the test ends, and returns its path.
func secretSocket(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secret.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	requireSecretIntact(t, path)
	return path
}

// requireSecretIntact fails unless the secret socket is still root's 0600.
func requireSecretIntact(t *testing.T, path string) {
	t.Helper()
	o, err := harness.StatOwner(path)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode.Type() != os.ModeSocket || o.Mode.Perm() != 0o600 || o.UID != 0 || o.GID != 0 {
		t.Errorf("secret socket is now %v, want a socket with mode 0600 owned by 0:0", o)
	}
}

// statusScript prints the caller's credentials as the kernel sees them.
const statusScript = `grep -E '^(Uid|Gid|Groups):' /proc/self/status`

// requireNoRoot fails if any uid, gid or supplementary group is 0.
func requireNoRoot(t *testing.T, status string) {
	t.Helper()
	uids, gids, groups := procStatus(t, status)
	if slices.Contains(uids, "0") || slices.Contains(gids, "0") || slices.Contains(groups, "0") {
		t.Errorf("credentials include root:\n%s", status)
	}
}

// TestSetuidGuard checks the security model of the setuid install: once
// the container has started, running the setuid binary again (docker exec
// --user 1000 … agent-entrypoint …) drops to the real ids at once and
// touches nothing, whatever the environment or flags ask for; asking for
// other ids fails with 125. Afterwards a root-only socket mounted into the
// container is still root's 0600 and /etc is as it was right after start.
func TestSetuidGuard(t *testing.T) {
	eachStart(t, []startMode{setuidUser}, func(t *testing.T, f *flavor, _ startMode, _ bool, args []string) {
		secret := secretSocket(t)
		args = append(args, "-v", secret+":"+secretMount)
		id := runDetached(t, append(args, f.image, "sleep", "300")...)
		waitForCommand(t, id, "sleep 300")
		afterStart := snapshotOf(t, id, "/etc")
		requireSecretIntact(t, secret)

		execs := []struct {
			name string
			env  []string
			args []string // after the binary
			want int      // -1: any status, as long as nothing changes
		}{
			{"plain", nil, []string{"--", "sh", "-c", statusScript}, 0},
			{"env-uid-0", []string{"AGENT_ENTRYPOINT_UID=0"}, []string{"--", "id"}, 125},
			{"env-gid-0", []string{"AGENT_ENTRYPOINT_GID=0"}, []string{"--", "id"}, 125},
			{"flag-uid-0", nil, []string{"--uid", "0", "--", "id"}, 125},
			{"flag-gid-0", nil, []string{"--gid", "0", "--", "id"}, 125},
			{"env-uid-other", []string{"AGENT_ENTRYPOINT_UID=1001"}, []string{"--", "id"}, 125},
			{"secret-socket", []string{"SSH_AUTH_SOCK=" + secretMount, "AGENT_ENTRYPOINT_SOCKETS=" + secretMount},
				[]string{"--", "sh", "-c", statusScript}, -1},
			{"secret-socket-flag", nil, []string{"--socket", secretMount, "--", "sh", "-c", statusScript}, -1},
			{"new-user-root-group", []string{
				"AGENT_ENTRYPOINT_USER=mallory", "AGENT_ENTRYPOINT_HOME=/etc", "AGENT_ENTRYPOINT_GROUPS=0,root",
			}, []string{"--", "sh", "-c", statusScript}, -1},
		}
		for _, e := range execs {
			t.Run(e.name, func(t *testing.T) {
				args := []string{"exec", "--user", "1000"}
				for _, kv := range e.env {
					args = append(args, "-e", kv)
				}
				res := docker(t, append(append(args, id, shimPath), e.args...)...)
				if e.want >= 0 && res.ExitCode != e.want {
					t.Errorf("exit %d, want %d: %s", res.ExitCode, e.want, res)
				}
				requireVoice(t, res.Stderr)
				if res.ExitCode == 125 {
					requireLine(t, res.Stderr, prefixError)
				}
				if strings.Contains(res.Stdout, "Uid:") {
					requireNoRoot(t, res.Stdout)
					uids, _, _ := procStatus(t, res.Stdout)
					requireAll(t, "Uid", uids, testUID)
				} else if res.ExitCode == 0 && e.args[len(e.args)-1] == statusScript {
					t.Errorf("the command did not print its credentials: %s", res)
				}
				requireSecretIntact(t, secret)
			})
		}
		requireUnchanged(t, "/etc after the docker execs", afterStart, snapshotOf(t, id, "/etc"))
		requireSecretIntact(t, secret)
	})
}

// TestSetuidOncePerStart checks "once per container start": the command
// that the shim exec'd as PID 1 (or as docker-init's child) execs the setuid
// binary again, in the same process, asking for a root-only socket. The
// binary is again PID 1 (or docker-init's child), but the privileged phase
// has already run: it must drop at once and leave the socket alone.
func TestSetuidOncePerStart(t *testing.T) {
	const reexec = `export SSH_AUTH_SOCK=` + secretMount + ` AGENT_ENTRYPOINT_SOCKETS=` + secretMount + `
exec ` + shimPath + ` -- sh -c "` + statusScript + `"`
	eachStart(t, []startMode{setuidUser}, func(t *testing.T, f *flavor, _ startMode, _ bool, args []string) {
		secret := secretSocket(t)
		args = append(args, "-v", secret+":"+secretMount)
		res := run(t, append(args, f.image, "sh", "-c", reexec)...)
		requireVoice(t, res.Stderr)
		if strings.Contains(res.Stdout, "Uid:") {
			requireNoRoot(t, res.Stdout)
		}
		requireSecretIntact(t, secret)
	})
}

// TestSetuidRestart checks the other half of "once per container start":
// a restarted container is a new start, so the privileged phase runs again
// and grants the agent socket again (here reset on the host in between).
func TestSetuidRestart(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			a := testAgent(t)
			id := runDetached(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, f.image, "sleep", "300")
			waitForCommand(t, id, "sleep 300")
			requireAgentSocketMode(t, a, 0o666)

			dockerOK(t, "kill", id)
			dockerOK(t, "wait", id)
			if err := a.Reset(); err != nil {
				t.Fatal(err)
			}
			dockerOK(t, "start", id)
			waitForCommand(t, id, "sleep 300")
			requireAgentSocketMode(t, a, 0o666)
			res := docker(t, "exec", "--user", "1000:1000", id, "agentprobe", agentMount)
			if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("after the restart, agentprobe as uid 1000 does not list the key: %s", res)
			}
		})
	}
}
