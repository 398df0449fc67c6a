package integration

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// Rootless Podman with --userns=keep-id: the command runs with the host
// user's uid inside a user namespace, where the image's root is one of the
// user's subordinate uids, so the setuid binary gets root over the
// container's files but not over anything the namespace does not map, such
// as a socket owned by the host's root.
//
// Podman runs as an unprivileged host user: $AGENT_ENTRYPOINT_TEST_PODMAN_USER,
// or under CI=true the user agent-entrypoint-podman, created when missing.
// The tests need the Debian packages podman and uidmap; without them they
// skip, and fail under CI=true. Podman's images live in that user's storage:
// the test images are copied there from Docker (docker save | podman load)
// once per image version.

// requirePodman returns rootless podman for the user the tests run it as,
// or skips the test (fails it under CI=true) when that is not possible.
func requirePodman(t *testing.T) *harness.Podman {
	t.Helper()
	requireEngine(t)
	ci := os.Getenv("CI") == "true"
	skip := func(err error) {
		t.Helper()
		if ci {
			t.Fatalf("rootless podman test cannot run (CI=true, so this is a failure): %v", err)
		}
		t.Skipf("rootless podman test skipped: %v (with CI=true this fails instead)", err)
	}
	if err := harness.PodmanTools(); err != nil {
		skip(err)
	}
	name := os.Getenv(harness.EnvPodmanUser)
	if name == "" {
		name = harness.DefaultPodmanUser
		if ci {
			ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
			defer cancel()
			if err := harness.EnsurePodmanUser(ctx, name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := user.Lookup(name); err != nil {
			skip(fmt.Errorf("%w: set %s to a user with /etc/subuid and /etc/subgid ranges (with CI=true the tests create %s)",
				harness.ErrNoPodman, harness.EnvPodmanUser, name))
		}
	}
	p, err := harness.NewPodman(name)
	if err != nil {
		skip(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("clean up rootless podman: %v", err)
		}
	})
	return p
}

// podman runs podman as the user; only a failure to run it fails the test.
func podman(t *testing.T, p *harness.Podman, args ...string) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	res, err := p.Run(ctx, nil, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	return res
}

// podmanRunKept is podman run with args, keeping the container until the
// test ends. The exit code is the container's as podman recorded it:
// podman run itself uses 125 for its own failures, which are not the shim's.
func podmanRunKept(t *testing.T, p *harness.Podman, args ...string) (string, harness.Result) {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "agent-entrypoint-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		_, _ = p.Run(ctx, nil, "rm", "-f", name)
	})
	res := podman(t, p, append([]string{"run", "--name", name}, args...)...)
	state := podman(t, p, "inspect", "--format", "{{.State.ExitCode}}", name)
	if state.ExitCode != 0 {
		t.Fatalf("podman run %s: the container was not created: %s", strings.Join(args, " "), res)
	}
	if _, err := fmt.Sscan(state.Stdout, &res.ExitCode); err != nil {
		t.Fatalf("parse exit code %q: %v", state.Stdout, err)
	}
	return name, res
}

// podmanContents returns the text of the small files under dir in the
// container, by path as docker cp names them ("etc/passwd"). Owners are not
// compared: podman 4.3's cp reports them shifted by one under keep-id.
func podmanContents(t *testing.T, p *harness.Podman, name, dir string) snapshot {
	t.Helper()
	res := podman(t, p, "cp", name+":"+dir, "-")
	if res.ExitCode != 0 {
		t.Fatalf("podman cp %s:%s: %s", name, dir, res)
	}
	s := snapshot{entries: map[string]entry{}, contents: map[string]string{}}
	tr := tar.NewReader(strings.NewReader(res.Stdout))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return s
		}
		if err != nil {
			t.Fatalf("read podman cp archive of %s: %v", dir, err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		s.entries[name] = entry{typ: h.Typeflag, mode: h.Mode & 0o7777}
		if h.Typeflag == tar.TypeReg && h.Size < 64<<10 {
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			s.contents[name] = string(body)
		}
	}
}

// requirePodmanUnchanged fails if podman diff lists anything under /etc
// or /home, except (as withoutNewLock allows) a new /etc/.pwd.lock. Podman's
// own --passwd would write /etc too: the tests that use this pass
// --passwd=false.
func requirePodmanUnchanged(t *testing.T, p *harness.Podman, name string) {
	t.Helper()
	res := podman(t, p, "diff", name)
	if res.ExitCode != 0 {
		t.Fatalf("podman diff %s: %s", name, res)
	}
	var changed []string
	for _, line := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || volatile[strings.TrimPrefix(f[1], "/")] || line == "A /"+lockFile {
			continue
		}
		for _, dir := range []string{"/etc", "/home"} {
			if f[1] == dir || strings.HasPrefix(f[1], dir+"/") {
				changed = append(changed, line)
			}
		}
	}
	if slices.Equal(changed, []string{"C /etc"}) {
		return // the directory of the new lock file
	}
	for _, line := range changed {
		t.Errorf("changed in the container: %s", line)
	}
}

// TestRootlessPodman runs the shim under rootless podman with
// --userns=keep-id, over both flavors:
//
//   - the user's own agent (socket owned by the user, mode 0600), with
//     podman's passwd entry for the user: it is used as it is, the key is
//     listed, and HOME is one the command can write;
//   - the same with --passwd=false: the shim adds the user itself (podman's
//     keep-id starts the setuid binary with root over the container's files);
//   - an agent socket owned by the host's root (mode 0755): the shim cannot
//     change it (its owner is not mapped), must say so with a hint, start the
//     command anyway, and under --strict fail before changing anything.
func TestRootlessPodman(t *testing.T) {
	p := requirePodman(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	a, err := harness.StartAgent(ctx, p.UID, p.GID)
	if err != nil {
		t.Fatalf("start an ssh-agent as %s: %v", p.User, err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("stop the ssh-agent of %s: %v", p.User, err)
		}
	})
	own := socketPreset{p.UID, p.GID, 0o600} // what ssh-agent makes of its socket
	uid, gid := int(p.UID), int(p.GID)

	for _, f := range flavors(t) {
		image, err := p.Load(ctx, f.image)
		if err != nil {
			t.Fatalf("copy %s into podman: %v", f.image, err)
		}
		base := []string{"--userns=keep-id", "--network", "none", "-v", a.Socket + ":" + agentMount}
		script := []string{"sh", "-c", f.restrictScript()}

		t.Run(f.name+"/keep-id/own-agent", func(t *testing.T) {
			own.apply(t, a)
			_, res := podmanRunKept(t, p, append(append(slices.Clone(base), image), script...)...)
			if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "ran\n") {
				t.Fatalf("want the command to run (exit 0), got %s", res)
			}
			requireVoice(t, res.Stderr)
			kv := keyValues(res.Stdout)
			// Podman's entry for the user has the user's name; its home is
			// podman's choice (4.3: "/"), so only require one the command
			// can use: the shim falls back to /tmp, with a warning.
			want := map[string]string{"uid": fmt.Sprint(uid), "gid": fmt.Sprint(gid), "user": p.User, "agent_status": "0"}
			if f.hasSSHAdd {
				want["ssh_user"] = "ok"
			}
			requireKeyValues(t, kv, want, res)
			if !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("%v does not list the key %s:\n%s", f.agentCheck(), a.Fingerprint, res)
			}
			var msgs []message
			if kv["HOME"] == "/tmp" {
				// The fallback's hint must not suggest a tmpfs over /.
				msgs = append(msgs, message{cause: []string{"is not usable", "HOME=/tmp"}, hint: anyHint, notInHint: []string{"--tmpfs /,", "--tmpfs / "}})
			} else if !strings.HasPrefix(kv["home"], fmt.Sprintf("%d:", uid)) {
				t.Errorf("HOME=%s is not the user's (owner:group:mode %s)", kv["HOME"], kv["home"])
			}
			requireMessages(t, res.Stderr, prefixWarning, msgs)
			requireSocket(t, a, own, own.perm)
		})

		t.Run(f.name+"/keep-id/passwd=false/own-agent", func(t *testing.T) {
			own.apply(t, a)
			name, res := podmanRunKept(t, p, append(append(append(slices.Clone(base), "--passwd=false"), image), script...)...)
			if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "ran\n") {
				t.Fatalf("want the command to run (exit 0), got %s", res)
			}
			requireVoice(t, res.Stderr)
			requireMessages(t, res.Stderr, prefixWarning, nil)
			kv := keyValues(res.Stdout)
			want := map[string]string{
				"uid": fmt.Sprint(uid), "gid": fmt.Sprint(gid), "user": "user", "HOME": "/home/user",
				"home": fmt.Sprintf("%d:%d:700", uid, gid), "agent_status": "0",
			}
			if f.hasSSHAdd {
				want["ssh_user"] = "ok"
			}
			requireKeyValues(t, kv, want, res)
			if !strings.Contains(res.Stdout, a.Fingerprint) {
				t.Errorf("%v does not list the key %s:\n%s", f.agentCheck(), a.Fingerprint, res)
			}
			before, after := pristineOf(t, f.image).under("etc"), podmanContents(t, p, name, "/etc")
			requireAdded(t, before, after, "etc/passwd", fmt.Sprintf("user:x:%d:%d:", uid, gid))
			requireAddedField(t, before, after, "etc/group", 2, fmt.Sprint(gid))
			requireSocket(t, a, own, own.perm)
		})

		for _, strict := range []bool{false, true} {
			name := f.name + "/keep-id/passwd=false/socket-of-host-root"
			if strict {
				name += "/strict"
			}
			t.Run(name, func(t *testing.T) {
				rootOnly.apply(t, a)
				args := append(slices.Clone(base), "--passwd=false")
				if strict {
					args = append(args, "-e", "AGENT_ENTRYPOINT_STRICT=1")
				}
				ctr, res := podmanRunKept(t, p, append(append(args, image), script...)...)
				defer func() {
					if t.Failed() {
						t.Logf("podman run %s\n%s", strings.Join(args, " "), res)
					}
				}()
				requireVoice(t, res.Stderr)
				// Inside, the socket's owner is the overflow uid: the
				// user namespace does not map the host's root.
				msgs := []message{{cause: []string{agentMount}, hint: anyHint}}
				if strict {
					if res.ExitCode != 125 || res.Stdout != "" {
						t.Errorf("want exit 125 before the command runs, got %s", res)
					}
					requireOneError(t, res.Stderr, msgs)
					requirePodmanUnchanged(t, p, ctr)
				} else {
					if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, "ran\n") {
						t.Fatalf("want the command to run (exit 0), got %s", res)
					}
					requireMessages(t, res.Stderr, prefixWarning, msgs)
					kv := keyValues(res.Stdout)
					if kv["uid"] != fmt.Sprint(uid) || kv["user"] != "user" {
						t.Errorf("uid=%s user=%s, want %d and user", kv["uid"], kv["user"], uid)
					}
					if kv["agent_status"] == "0" {
						t.Errorf("the agent check succeeded through a socket the user cannot use:\n%s", res)
					}
				}
				requireSocket(t, a, rootOnly, rootOnly.perm)
			})
		}
	}
}
