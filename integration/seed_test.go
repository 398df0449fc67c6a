package integration

import (
	"archive/tar"
	"os"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// agentCheck is the command that lists the agent's keys in f's images:
// the real ssh-add where the image has it, else agentprobe.
func (f *flavor) agentCheck() []string {
	if f.hasSSHAdd {
		return []string{"ssh-add", "-l"}
	}
	return []string{"agentprobe"}
}

// TestSeedUserStart is the seed article's case: the container runs with
// --user 1000:1000, the host's agent socket is root-owned 0755, and
// ssh-add -l inside must list the key. The control runs the same image
// without the shim and must hit "Permission denied".
func TestSeedUserStart(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			t.Run("control-without-shim", func(t *testing.T) {
				a := testAgent(t)
				res := run(t, "--entrypoint", "", "--user", "1000:1000",
					"-v", a.Socket+":"+agentMount, "-e", "SSH_AUTH_SOCK="+agentMount,
					f.image, "agentprobe")
				if res.ExitCode == 0 || !strings.Contains(res.Stderr, "permission denied") {
					t.Errorf("agentprobe without the shim: want failure with permission denied, got %s", res)
				}
				if f.hasSSHAdd {
					res := run(t, "--entrypoint", "", "--user", "1000:1000",
						"-v", a.Socket+":"+agentMount, "-e", "SSH_AUTH_SOCK="+agentMount,
						f.image, "ssh-add", "-l")
					if res.ExitCode == 0 || !strings.Contains(res.Stderr, "Permission denied") {
						t.Errorf("ssh-add -l without the shim: want failure with Permission denied, got %s", res)
					}
				}
				requireAgentSocketMode(t, a, 0o755)
			})

			cases := []struct {
				name string
				args []string
			}{
				// Docker Desktop's path, SSH_AUTH_SOCK unset: the shim must
				// find the socket there and export SSH_AUTH_SOCK.
				{"docker-desktop-path", []string{"-v", "{sock}:" + agentMount}},
				{"ssh-auth-sock", []string{"-v", "{sock}:/tmp/agent.sock", "-e", "SSH_AUTH_SOCK=/tmp/agent.sock"}},
				// docker run --init: the shim is the child of docker-init.
				{"docker-init", []string{"--init", "-v", "{sock}:" + agentMount}},
			}
			for _, tc := range cases {
				checks := [][]string{f.agentCheck()}
				if f.hasSSHAdd && tc.name == "docker-desktop-path" {
					// agentprobe too, so that both images run the same check once.
					checks = append(checks, []string{"agentprobe"})
				}
				for _, check := range checks {
					t.Run(tc.name+"/"+check[0], func(t *testing.T) {
						a := testAgent(t)
						args := []string{"--user", "1000:1000"}
						for _, arg := range tc.args {
							args = append(args, strings.ReplaceAll(arg, "{sock}", a.Socket))
						}
						args = append(append(args, f.image), check...)
						res := run(t, args...)
						if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
							t.Errorf("%s with the shim: want the key %s listed, got %s", strings.Join(check, " "), a.Fingerprint, res)
						}
						requireVoice(t, res.Stderr)
						// The default socket mode "chmod" opens the socket up
						// for everyone: the seed's chmod 666, on the host's inode.
						requireAgentSocketMode(t, a, 0o666)
					})
				}
			}
		})
	}
}

// TestDockerfileExample builds Dockerfile.example on the Debian base (every
// flavor's images are built from it too) and runs the seed's scenario on
// it exactly: docker run --user 1000:1000 -v SOCK:… IMAGE ssh-add -l
// (agentprobe, bind-mounted, where the base image has no ssh-add).
func TestDockerfileExample(t *testing.T) {
	f := getFlavor(t, "debian")
	cfg := dockerOK(t, "image", "inspect", "--format", "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", f.example)
	if want := `["/usr/local/bin/agent-entrypoint","--"] ["/bin/sh"]`; cfg != want {
		t.Errorf("example image ENTRYPOINT and CMD: got %s, want %s", cfg, want)
	}
	id := create(t, f.example)
	bin := snapshotOf(t, id, shimPath).entries["agent-entrypoint"]
	if bin.typ != tar.TypeReg || bin.mode != 0o4755 || bin.uid != 0 || bin.gid != 0 {
		t.Errorf("%s in the example image: %v, want a regular file, mode 4755, owner 0:0", shimPath, bin)
	}

	a := testAgent(t)
	args := []string{"--user", "1000:1000", "-v", a.Socket + ":" + agentMount}
	if !f.hasSSHAdd {
		args = append(args, "-v", suite.probe+":/usr/local/bin/agentprobe:ro")
	}
	res := run(t, append(append(args, f.example), f.agentCheck()...)...)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint) {
		t.Errorf("%v in the example image: want the key %s listed, got %s", f.agentCheck(), a.Fingerprint, res)
	}
	requireVoice(t, res.Stderr)
}

// TestSocketLeftAlone covers the cases where the shim must not change the
// agent socket: the target can already connect (here it owns the socket,
// mode 0600), or the socket mode is "none".
func TestSocketLeftAlone(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name+"/already-usable", func(t *testing.T) {
			a := testAgent(t)
			if err := os.Lchown(a.Socket, testUID, testUID); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(a.Socket, 0o600); err != nil {
				t.Fatal(err)
			}
			res := run(t, append([]string{"--user", "1000:1000", "-v", a.Socket + ":" + agentMount, f.image}, f.agentCheck()...)...)
			if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("want the key %s listed, got %s", a.Fingerprint, res)
			}
			requireVoice(t, res.Stderr)
			o, err := harness.StatOwner(a.Socket)
			if err != nil {
				t.Fatal(err)
			}
			if o.Mode.Perm() != 0o600 || o.UID != testUID || o.GID != testUID {
				t.Errorf("host agent socket is now %v, want it left at 0600 %d:%d", o, testUID, testUID)
			}
		})
		t.Run(f.name+"/socket-mode-none", func(t *testing.T) {
			a := testAgent(t)
			res := run(t, "--user", "1000:1000", "-e", "AGENT_ENTRYPOINT_SOCKET_MODE=none",
				"-v", a.Socket+":"+agentMount, f.image, "agentprobe", agentMount)
			if res.ExitCode != 1 || !strings.Contains(res.Stderr, "agentprobe: error: connect to agent "+agentMount+": permission denied") {
				t.Errorf("want agentprobe to fail with permission denied (socket not granted), got %s", res)
			}
			requireAgentSocketMode(t, a, 0o755)
		})
	}
}

// TestDebugVoice runs the seed's case with AGENT_ENTRYPOINT_DEBUG=1: the
// steps are logged, every line in the shim's voice.
func TestDebugVoice(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			a := testAgent(t)
			res := run(t, append([]string{"--user", "1000:1000", "-e", "AGENT_ENTRYPOINT_DEBUG=1",
				"-v", a.Socket + ":" + agentMount, f.image}, f.agentCheck()...)...)
			if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("want the key %s listed, got %s", a.Fingerprint, res)
			}
			requireVoice(t, res.Stderr)
			requireLine(t, res.Stderr, "agent-entrypoint: debug: ")
		})
	}
}
