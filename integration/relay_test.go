package integration

// The socket modes in real containers, with real agents: relay and auto
// for an agent that serves another uid, the relay's gate and sign access,
// a directory of agent sockets across agent restarts, the relay's PID 1
// duties, and group for a docker.sock stand-in.

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// otherAgent starts a real ssh-agent as uid 1500, its socket 1500's with
// mode 0600, as ssh-agent leaves it: OpenSSH's agent serves only root and
// its own uid, so no mode of that socket lets uid 1000 use it.
func otherAgent(t *testing.T) *harness.Agent {
	t.Helper()
	requireEngine(t)
	a, err := harness.StartAgent(t.Context(), 1500, 1500)
	if err != nil {
		t.Fatalf("start an ssh-agent as uid 1500: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	socketPreset{1500, 1500, 0o600}.apply(t, a)
	return a
}

// listsKey reports whether the agent check's output lists a's key.
func listsKey(res harness.Result, a *harness.Agent) bool {
	return res.ExitCode == 0 && strings.Contains(res.Stdout, a.Fingerprint)
}

// TestRelayOtherUID is the relay's first case: an agent owned by another
// uid. chmod cannot help (the control: the host's socket is opened to all
// and the agent still refuses); relay and auto list the key and leave the
// host's socket as it was.
func TestRelayOtherUID(t *testing.T) {
	for _, f := range flavors(t) {
		for _, m := range []startMode{setuidUser, rootTarget} {
			for _, mode := range []string{"chmod", "relay", "auto"} {
				t.Run(f.name+"/"+m.name+"/"+mode, func(t *testing.T) {
					a := otherAgent(t)
					args := append(slices.Clone(m.args), "-v", a.Socket+":"+agentMount)
					if mode != "auto" {
						args = append(args, "-e", "AGENT_ENTRYPOINT_SOCKET_MODE="+mode)
					}
					check := `echo "sock=$SSH_AUTH_SOCK"; ` + strings.Join(f.agentCheck(), " ") + " 2>&1"
					res := run(t, append(args, f.image, "sh", "-c", check)...)
					requireVoice(t, res.Stderr)
					if mode == "chmod" && m.name == setuidUser.name {
						// Its caller may not widen a socket: the image's
						// config file would have to ask for chmod.
						if res.ExitCode != 125 {
							t.Errorf("setuid start with chmod asked by its caller: %s", res)
						}
						requireSocket(t, a, socketPreset{1500, 1500, 0}, 0o600)
						return
					}
					if mode == "chmod" {
						if listsKey(res, a) {
							t.Errorf("chmod made the agent of uid 1500 serve uid 1000: %s", res)
						}
						requireSocket(t, a, socketPreset{1500, 1500, 0}, 0o666)
						return
					}
					if !listsKey(res, a) {
						t.Errorf("%s: want the key %s listed: %s", mode, a.Fingerprint, res)
					}
					if !strings.Contains(res.Stdout, "sock=/run/agent-entrypoint/relay-") {
						t.Errorf("SSH_AUTH_SOCK is not the relay's: %s", res)
					}
					requireSocket(t, a, socketPreset{1500, 1500, 0}, 0o600)
				})
			}
		}
	}
}

// TestAutoDockerDesktopModes: the socket root's, in the modes seen from
// Docker Desktop, OrbStack and Apple's container; the agent serves uid
// 1000. auto makes the key listable in each, for setuid and root starts.
func TestAutoDockerDesktopModes(t *testing.T) {
	for _, f := range flavors(t) {
		for _, m := range []startMode{setuidUser, rootTarget} {
			for _, perm := range []os.FileMode{0o755, 0o660, 0o600, 0o000} {
				t.Run(fmt.Sprintf("%s/%s/%04o", f.name, m.name, perm), func(t *testing.T) {
					a := testAgent(t)
					socketPreset{0, 0, perm}.apply(t, a)
					args := append(slices.Clone(m.args), "-v", a.Socket+":"+agentMount)
					res := run(t, append(append(args, f.image), f.agentCheck()...)...)
					if !listsKey(res, a) {
						t.Errorf("want the key %s listed: %s", a.Fingerprint, res)
					}
					requireVoice(t, res.Stderr)
				})
			}
		}
	}
}

// gateUpstream is a host socket, root's with mode 0600, that answers the
// agent protocol's request for keys (so that a start takes it for an
// agent) and records every byte it gets: a docker.sock behind an agent's
// face.
type gateUpstream struct {
	path string
	mu   sync.Mutex
	got  [][]byte // what each connection sent
}

func newGateUpstream(t *testing.T) *gateUpstream {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	u := &gateUpstream{path: filepath.Join(dir, "secret.sock")}
	serveUnix(t, u.path, 30*time.Second, func(c net.Conn) {
		var buf bytes.Buffer
		chunk := make([]byte, 4096)
		for {
			n, err := c.Read(chunk)
			buf.Write(chunk[:n])
			if n > 0 && bytes.HasSuffix(buf.Bytes(), []byte{0, 0, 0, 1, 11}) {
				c.Write([]byte{0, 0, 0, 5, 12, 0, 0, 0, 0})
			}
			if err != nil {
				break
			}
		}
		u.mu.Lock()
		u.got = append(u.got, buf.Bytes())
		u.mu.Unlock()
	})
	os.Chmod(u.path, 0o600)
	return u
}

// serveUnix listens on a unix socket at path until the test ends and hands
// every connection to handle, which has timeout to finish with it; the
// connection is closed after handle returns.
func serveUnix(t *testing.T, path string, timeout time.Duration, handle func(net.Conn)) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(timeout))
				handle(c)
			}()
		}
	}()
}

// foreign returns what the upstream got that is not a request for keys.
func (u *gateUpstream) foreign() [][]byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out [][]byte
	for _, b := range u.got {
		if rest := bytes.ReplaceAll(b, []byte{0, 0, 0, 1, 11}, nil); len(rest) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// TestRelayGate: an HTTP request sent through the relay to a root-only
// socket named as the agent reaches nothing, in a root start and in a
// setuid one (whose caller names the socket). Sign access lists keys and
// signs, and refuses to remove them.
func TestRelayGate(t *testing.T) {
	const http = "GET /v1.43/containers/json HTTP/1.1\r\nHost: docker\r\n\r\n"
	for _, f := range flavors(t) {
		for _, m := range []startMode{setuidUser, rootTarget} {
			t.Run(f.name+"/"+m.name+"/http", func(t *testing.T) {
				u := newGateUpstream(t)
				args := append(slices.Clone(m.args), "-v", u.path+":"+secretMount,
					"-e", "SSH_AUTH_SOCK="+secretMount, "-e", "AGENT_ENTRYPOINT_SOCKET_MODE=relay")
				res := run(t, append(append(args, "-e", "REQ="+http), f.image, "sh", "-c", `echo "sock=$SSH_AUTH_SOCK"; agentprobe -send "$REQ"`)...)
				if !strings.Contains(res.Stdout, "sock=/run/agent-entrypoint/relay-") || !strings.Contains(res.Stdout, "(0 bytes back)") {
					t.Errorf("want the request sent through the relay and nothing back: %s", res)
				}
				time.Sleep(100 * time.Millisecond)
				if got := u.foreign(); len(got) > 0 {
					t.Errorf("the upstream got %q through the relay", got)
				}
				o, _ := harness.StatOwner(u.path)
				if o.Mode.Perm() != 0o600 || o.UID != 0 {
					t.Errorf("the upstream socket is now %v", o)
				}
			})
		}
	}
	f := getFlavor(t, "debian")
	t.Run("debian/sign-access", func(t *testing.T) {
		a := otherAgent(t)
		args := []string{"-v", a.Socket + ":" + agentMount, "-v", a.PublicKey + ":/tmp/key.pub:ro",
			"--user", "1000:1000", "-e", "AGENT_ENTRYPOINT_AGENT_ACCESS=sign"}
		const script = `ssh-add -l; echo "list=$?"
echo data > /tmp/data && ssh-keygen -Y sign -f /tmp/key.pub -n file /tmp/data >/dev/null 2>&1; echo "sign=$?"
test -s /tmp/data.sig && echo signature=made
ssh-add -D; echo "delete=$?"
ssh-add -l; echo "after=$?"`
		res := run(t, append(args, f.image, "sh", "-c", script)...)
		requireKeyValues(t, keyValues(res.Stdout), map[string]string{
			"list": "0", "sign": "0", "signature": "made", "delete": "1", "after": "0",
		}, res)
		if strings.Count(res.Stdout, a.Fingerprint) != 2 {
			t.Errorf("want the key listed before and after the refused delete: %s", res)
		}
	})
}

// TestRelayDirectory mounts a directory of agent sockets: the agent is
// killed and another started in it while the container runs, and a dead
// socket newer than the live one is left there; each time the next
// request reaches the live agent.
func TestRelayDirectory(t *testing.T) {
	for _, f := range flavors(t) {
		for _, m := range []startMode{setuidUser, rootTarget} {
			t.Run(f.name+"/"+m.name, func(t *testing.T) {
				dir := t.TempDir()
				os.Chmod(dir, 0o755)
				first := movedAgent(t, dir, "agent.1")
				// The command lists the keys each time /tmp/go appears.
				loop := `while :; do if [ -e /tmp/go ]; then rm /tmp/go; ` + strings.Join(f.agentCheck(), " ") +
					` > /tmp/out 2>&1; echo "status=$?" >> /tmp/out; touch /tmp/done; fi; sleep 0.1; done`
				args := append(slices.Clone(m.args), "-v", dir+":/run/ssh-agents", "-e", "SSH_AUTH_SOCK=/run/ssh-agents")
				id := runDetached(t, append(args, f.image, "sh", "-c", loop)...)
				list := func() string {
					dockerOK(t, "exec", id, "sh", "-c", "rm -f /tmp/done; touch /tmp/go")
					waitFor(t, "the listing", func() bool { return docker(t, "exec", id, "test", "-e", "/tmp/done").ExitCode == 0 })
					// A short docker exec now and then comes back without its
					// output: ask again.
					var out string
					for range 5 {
						if out = dockerOK(t, "exec", id, "cat", "/tmp/out"); strings.Contains(out, "status=") {
							break
						}
						time.Sleep(200 * time.Millisecond)
					}
					return out
				}
				if out := list(); !strings.Contains(out, first.Fingerprint) {
					t.Fatalf("the first agent's key is not listed:\n%s\n%s", out, docker(t, "logs", id))
				}
				first.Close() // its socket stays, dead
				second := movedAgent(t, dir, "agent.2")
				if out := list(); !strings.Contains(out, second.Fingerprint) {
					t.Errorf("after the agent restarted, its key is not listed:\n%s", out)
				}
				deadSocket(t, filepath.Join(dir, "agent.3"))
				if out := list(); !strings.Contains(out, second.Fingerprint) {
					t.Errorf("with a dead socket newer than the live one, the key is not listed:\n%s", out)
				}
			})
		}
	}
}

// movedAgent starts a real ssh-agent as uid 1000 and moves its socket into
// dir as name: a socket is reached by its inode, wherever it is named.
func movedAgent(t *testing.T, dir, name string) *harness.Agent {
	t.Helper()
	a, err := harness.StartAgent(t.Context(), testUID, testUID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	to := filepath.Join(dir, name)
	if err := os.Rename(a.Socket, to); err != nil {
		t.Fatal(err)
	}
	a.Socket = to
	now := time.Now()
	os.Chtimes(to, now, now)
	return a
}

// deadSocket leaves a socket at path that nobody listens on.
func deadSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	later := time.Now().Add(time.Minute)
	os.Chtimes(path, later, later)
}

// relayStart are docker run arguments that make the start relay the
// suite's agent.
func relayStart(a *harness.Agent) []string {
	return []string{"-v", a.Socket + ":" + agentMount, "-e", "AGENT_ENTRYPOINT_SOCKET_MODE=relay"}
}

// TestRelayPID1 checks the duties a relaying start takes on as the
// container's PID 1, as tini does them.
func TestRelayPID1(t *testing.T) {
	eachStart(t, []startMode{setuidUser, rootTarget}, func(t *testing.T, f *flavor, m startMode, init bool, args []string) {
		a := testAgent(t)
		args = append(args, relayStart(a)...)
		t.Run("exit-status", func(t *testing.T) {
			if res := run(t, append(args, f.image, "sh", "-c", "exit 42")...); res.ExitCode != 42 {
				t.Errorf("exit %d, want 42: %s", res.ExitCode, res)
			}
		})
		t.Run("stop", func(t *testing.T) {
			// Had SIGTERM not reached the command, docker stop would kill
			// it after its 30 s and the status would be 137.
			id := runDetached(t, append(args, f.image, "sleep", "300")...)
			waitForCommand(t, id, "sleep 300")
			dockerOK(t, "stop", "-t", "30", id)
			if code := dockerOK(t, "inspect", "--format", "{{.State.ExitCode}}", id); code != "143" {
				t.Errorf("exit code after docker stop: %s, want 143", code)
			}
		})
		t.Run("signals-orphans-top", func(t *testing.T) {
			const script = `trap 'echo usr1 > /tmp/usr1' USR1
for i in $(seq 100); do (sleep 0.2 &); done
echo $PPID > /tmp/ready
while :; do sleep 0.1; done`
			id := runDetached(t, append(args, f.image, "sh", "-c", script)...)
			waitFor(t, "the command", func() bool { return docker(t, "exec", id, "test", "-e", "/tmp/ready").ExitCode == 0 })
			dockerOK(t, "kill", "-s", "USR1", id)
			waitFor(t, "USR1 to reach the command", func() bool {
				return docker(t, "exec", id, "test", "-e", "/tmp/usr1").ExitCode == 0
			})
			time.Sleep(time.Second)
			zombies := dockerOK(t, "exec", id, "sh", "-c", `grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l`)
			if strings.TrimSpace(zombies) != "0" {
				t.Errorf("%s zombies left", zombies)
			}
			super := dockerOK(t, "exec", id, "cat", "/tmp/ready")
			// The command's uid may not signal the supervisor, root in
			// every id as PID 1. (Under --init in a setuid start it keeps
			// the caller's real uid, so that docker-init, which runs as
			// that uid, may forward the container's signals to it.)
			if !(init && m.name == setuidUser.name) {
				res := docker(t, "exec", "--user", "1000", id, "kill", "-TERM", super)
				if res.ExitCode == 0 {
					t.Errorf("uid 1000 signalled the supervisor: %s", res)
				}
				if state := dockerOK(t, "inspect", "--format", "{{.State.Status}}", id); state != "running" {
					t.Errorf("container %s after uid 1000's kill", state)
				}
			}
			var sup, command []string
			for _, p := range topUsers(t, id) {
				switch {
				case strings.HasPrefix(p[1], "/usr/local/bin/agent-entrypoint"):
					sup = p[:]
				case strings.Contains(p[1], "while"):
					command = p[:]
				}
			}
			if sup == nil || sup[0] != "0" || command == nil || command[0] != "1000" {
				t.Errorf("docker top: supervisor %v, command %v; want uid 0 and the target's", sup, command)
			}
			// The supervisor, the command's parent: under --init docker-init's
			// child (and a subreaper, or the orphans above would have been
			// docker-init's), confined to DAC_OVERRIDE and KILL (of the three
			// it may keep, Docker grants no DAC_READ_SEARCH), with
			// no_new_privs.
			status := dockerOK(t, "exec", id, "cat", "/proc/"+super+"/status")
			want := map[string]string{"CapEff": "0000000000000022", "CapPrm": "0000000000000022", "CapBnd": "0000000000000022", "NoNewPrivs": "1", "PPid": "0"}
			if init {
				want["PPid"] = "1"
			}
			requireKeyValues(t, keyValues(strings.ReplaceAll(status, ":\t", "=")), want, status)
		})
	})
}

// topUsers lists the container's processes as user and args.
func topUsers(t *testing.T, id string) [][2]string {
	t.Helper()
	out := dockerOK(t, "top", id, "-o", "pid,uid,args")
	var ps [][2]string
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 3 {
			continue
		}
		ps = append(ps, [2]string{f[1], strings.Join(f[2:], " ")})
	}
	return ps
}

// dockerSocket listens on a host socket owned by root and group gid with
// perm, answering "pong" to anything, until the test ends.
func dockerSocket(t *testing.T, gid int, perm os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "docker.sock")
	serveUnix(t, path, 10*time.Second, func(c net.Conn) {
		io.ReadAll(c) // the request, up to the client's half-close
		c.Write([]byte("pong"))
	})
	if err := os.Chown(path, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGroupSocket is the docker.sock case: a socket its group 998 may use
// is shared by group; the command reaches it, id names the group, and the
// socket is unchanged. A socket of group 0 is never shared by group.
func TestGroupSocket(t *testing.T) {
	for _, f := range flavors(t) {
		conf := derivedImage(t, f.image, f.name+"-docker-conf",
			"echo 'AGENT_ENTRYPOINT_SOCKETS=/var/run/docker.sock=group' > /etc/agent-entrypoint.conf")
		for _, tc := range []struct {
			name  string
			image string
			args  []string
		}{
			{"root-start", f.image, append(slices.Clone(rootTarget.args), "-e", "AGENT_ENTRYPOINT_SOCKETS=/var/run/docker.sock=group")},
			{"root-start-auto", f.image, append(slices.Clone(rootTarget.args), "-e", "AGENT_ENTRYPOINT_SOCKETS=/var/run/docker.sock")},
			{"setuid-start-config", conf, slices.Clone(setuidUser.args)},
		} {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				sock := dockerSocket(t, 998, 0o660)
				const script = `echo "groups=$(id -Gn)"; agentprobe -send ping /var/run/docker.sock`
				res := run(t, append(append(tc.args, "-v", sock+":/var/run/docker.sock"), tc.image, "sh", "-c", script)...)
				if res.ExitCode != 0 || !strings.Contains(res.Stdout, "pong") || !strings.Contains(keyValues(res.Stdout)["groups"], "docker") {
					t.Errorf("want the socket reached and the group docker: %s", res)
				}
				o, _ := harness.StatOwner(sock)
				if o.Mode.Perm() != 0o660 || o.UID != 0 || o.GID != 998 {
					t.Errorf("the socket is now %v", o)
				}
			})
		}
		t.Run(f.name+"/group-0", func(t *testing.T) {
			sock := dockerSocket(t, 0, 0o660)
			for _, strict := range []bool{false, true} {
				args := append(slices.Clone(rootTarget.args), "-e", "AGENT_ENTRYPOINT_SOCKETS=/var/run/docker.sock=group", "-v", sock+":/var/run/docker.sock")
				if strict {
					args = append(args, "-e", "AGENT_ENTRYPOINT_STRICT=1")
				}
				id, res := runKept(t, append(args, f.image, "id", "-G")...)
				kind := prefixWarning
				if strict {
					kind = prefixError
					if res.ExitCode != 125 {
						t.Errorf("strict: exit %d, want 125: %s", res.ExitCode, res)
					}
					requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
				} else if strings.Contains(" "+res.Stdout, " 0") {
					t.Errorf("the command joined group 0: %s", res)
				}
				requireMessages(t, res.Stderr, kind, []message{{
					cause: []string{"/var/run/docker.sock", "its group is root's"},
					hint:  []string{"relay"},
				}})
			}
		})
	}
}
