package integration

// The tests in this file attack the setuid install the way a user inside
// a container would, one test per way found to take root from it, and
// check that each now fails and changes nothing.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
	"golang.org/x/sys/unix"
)

// derivedImage builds (or reuses) an image FROM base with the RUN lines of
// script.
func derivedImage(t *testing.T, base, repo, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	logf := harness.Logf(func(format string, args ...any) { t.Logf(format, args...) })
	df := "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN " + script + "\n"
	img, err := harness.Build{Repo: "agent-entrypoint-test/" + repo, Dockerfile: []byte(df), Base: base}.Image(ctx, logf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// rootAgentMount is where the tests mount rootAgent's socket.
const rootAgentMount = "/run/root-agent.sock"

// rootAgent starts a real ssh-agent as root, its socket root's with mode
// 0600: root's own agent, forwarded for root's use. A setuid start that
// opened it up to the container's user would hand over root's keys.
func rootAgent(t *testing.T) *harness.Agent {
	t.Helper()
	requireEngine(t)
	a, err := harness.StartAgent(t.Context(), 0, 0)
	if err != nil {
		t.Fatalf("start a root ssh-agent: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	if err := os.Chmod(a.Socket, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// requireRootAgentIntact fails unless root's agent socket is still 0600.
func requireRootAgentIntact(t *testing.T, a *harness.Agent) {
	t.Helper()
	o, err := harness.StatOwner(a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode.Type() != os.ModeSocket || o.Mode.Perm() != 0o600 || o.UID != 0 || o.GID != 0 {
		t.Errorf("root's agent socket is now %v, want a socket with mode 0600 owned by 0:0", o)
	}
}

// reenter is a shell line that execs the setuid binary again with what a
// user would ask of it: root's agent as SSH_AUTH_SOCK, and a home that a
// link in the user's own home points into /usr/lib (python's zip path),
// then runs the command given.
func reenter(cmd string) string {
	return `ln -s /usr/lib "$HOME/l" 2>/dev/null; ` +
		`SSH_AUTH_SOCK=` + rootAgentMount + ` AGENT_ENTRYPOINT_HOME="$HOME/l/python311.zip" exec ` + shimPath + ` -- sh -c '` + cmd + `'`
}

// afterReentry is what the re-entered command prints: its uid, and
// whether the home was created through the link. (Whether root's agent was
// opened up is seen on the host: its socket's mode.)
const afterReentry = `echo "uid=$(id -u)"; ` +
	`if [ -e /usr/lib/python311.zip ]; then echo zip=made; else echo zip=none; fi`

// requireNothingGained checks what afterReentry printed.
func requireNothingGained(t *testing.T, out string, uid int) {
	t.Helper()
	requireKeyValues(t, keyValues(out), map[string]string{"uid": strconv.Itoa(uid), "zip": "none"}, out)
}

// TestReentryAfterRootStart is finding 1: a root start of the setuid image
// must claim the container start too, so that nothing that runs later (the
// command itself as PID 1, an app an init or gosu/setpriv started, an
// orphan reparented to the init) gets a privileged phase.
func TestReentryAfterRootStart(t *testing.T) {
	for _, f := range flavors(t) {
		for _, init := range []bool{false, true} {
			name := f.name + "/command-execs-it"
			args := slices.Clone(rootTarget.args)
			if init {
				name, args = f.name+"/docker-init-child-execs-it", append(args, "--init")
			}
			t.Run(name, func(t *testing.T) {
				a := rootAgent(t)
				res := run(t, append(args, "-v", a.Socket+":"+rootAgentMount, f.image, "sh", "-c", reenter(afterReentry))...)
				if res.ExitCode != 0 {
					t.Fatalf("re-entry: %s", res)
				}
				requireNothingGained(t, res.Stdout, testUID)
				requireRootAgentIntact(t, a)
			})
		}
		t.Run(f.name+"/orphan-under-init", func(t *testing.T) {
			a := rootAgent(t)
			// The inner shell's parent exits at once, so it is reparented
			// to docker-init, PID 1, before it execs the setuid binary.
			orphan := `(sh -c 'sleep 1; echo "ppid=$(cut -d" " -f4 /proc/$$/stat)" > /tmp/out; ` +
				`export SSH_AUTH_SOCK=` + rootAgentMount + `; exec ` + shimPath + ` -- sh -c "` + strings.ReplaceAll(afterReentry, `"`, `\"`) + ` >> /tmp/out"' &); ` +
				`sleep 4; cat /tmp/out`
			res := run(t, append(slices.Clone(rootTarget.args), "--init", "-v", a.Socket+":"+rootAgentMount, f.image, "sh", "-c", orphan)...)
			if res.ExitCode != 0 {
				t.Fatalf("orphan: %s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"ppid": "1", "uid": "1000", "zip": "none"}, res)
			requireRootAgentIntact(t, a)
		})
	}
	// An app a transparent root start runs drops itself (setpriv, as gosu
	// would) to a uid with no passwd entry, then execs the setuid binary
	// as PID 1: a privileged phase would add that uid's passwd line.
	f := getFlavor(t, "debian")
	t.Run("debian/transparent-start-app-dropped-by-setpriv", func(t *testing.T) {
		a := rootAgent(t)
		// The app's own script comes in $APP, so that no shell on the way
		// expands it early.
		const app = `exec setpriv --reuid 1001 --regid 1001 --clear-groups sh -c 'SSH_AUTH_SOCK=` + rootAgentMount + ` exec ` + shimPath + ` -- sh -c "$APP"'`
		script := nameOrDash + "; " + afterReentry
		id, res := runKept(t, "-v", a.Socket+":"+rootAgentMount, "-e", "APP="+script, f.image, "sh", "-c", app)
		if res.ExitCode != 0 {
			t.Fatalf("%s", res)
		}
		requireKeyValues(t, keyValues(res.Stdout), map[string]string{"user": "-"}, res)
		requireNothingGained(t, res.Stdout, 1001)
		requireRootAgentIntact(t, a)
		requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
	})
}

// nameOrDash prints the command's user name, "-" when its uid has none.
const nameOrDash = `if n=$(id -un 2>/dev/null); then echo "user=$n"; else echo "user=-"; fi`

// TestClaimSurvivesAFullRun is finding 2a: /run cannot take the marker
// (full), so it goes to /dev/shm; once /run has room again, the claim in
// /dev/shm must still count.
func TestClaimSurvivesAFullRun(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			a := rootAgent(t)
			run := t.TempDir()
			// Room for the directory itself and one file, which the filler
			// takes: creating the marker fails with ENOSPC.
			if err := syscall.Mount("tmpfs", run, "tmpfs", 0, "nr_inodes=2,mode=0755"); err != nil {
				t.Skipf("cannot mount a tmpfs: %v", err)
			}
			t.Cleanup(func() { syscall.Unmount(run, syscall.MNT_DETACH) })
			filler := filepath.Join(run, "filler")
			if err := os.WriteFile(filler, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			wait := `while [ ! -e /tmp/go ]; do sleep 0.1; done; `
			id := runDetached(t, "--user", "1000:1000", "-v", run+":/run", "-v", a.Socket+":/srv/root-agent.sock",
				f.image, "sh", "-c", wait+strings.ReplaceAll(reenter(afterReentry+"; sleep 300"), rootAgentMount, "/srv/root-agent.sock"))
			waitFor(t, "the start", func() bool { return docker(t, "exec", id, "test", "-d", "/home/user").ExitCode == 0 })
			if shm := dockerOK(t, "exec", id, "ls", "-a", "/dev/shm"); !strings.Contains(shm, ".agent-entrypoint-started-") {
				t.Fatalf("no marker in /dev/shm:\n%s", shm)
			}
			// Room again in /run, then the command execs the binary again.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			dockerOK(t, "exec", id, "touch", "/tmp/go")
			waitForCommand(t, id, "sleep 300")
			logs := docker(t, "logs", id)
			requireKeyValues(t, keyValues(logs.Stdout), map[string]string{"uid": "1000", "zip": "none"}, logs)
			if entries, _ := os.ReadDir(run); len(entries) != 0 {
				t.Errorf("the re-entry recorded a claim in /run: %v", entries)
			}
			o, _ := harness.StatOwner(a.Socket)
			if o.Mode.Perm() != 0o600 {
				t.Errorf("root's agent socket is now %v", o)
			}
		})
	}
}

// TestClaimFailsClosed is finding 2b: with too few file descriptors left
// to record the claim, a setuid start must not run the command (which could
// free them and exec the binary again): exit 125, or run with the claim
// recorded, never without. The first process lowers its limit and takes
// descriptors before it execs the binary as PID 1 (runc itself needs more
// than the shim to start a container).
func TestClaimFailsClosed(t *testing.T) {
	f := getFlavor(t, "debian")
	const command = `echo ran; ls -a /run /dev/shm | grep -c agent-entrypoint-started`
	failed := false
	for free := 0; free <= 5; free++ {
		t.Run(fmt.Sprint("free=", free), func(t *testing.T) {
			var open []string
			for fd := 3; fd < 9-free; fd++ {
				open = append(open, fmt.Sprintf("%d</dev/null", fd))
			}
			script := "ulimit -n 9 && exec " + strings.Join(open, " ") + " && exec " + shimPath + ` -- sh -c "$CMD"`
			res := run(t, "--user", "1000:1000", "-e", "CMD="+command, "--entrypoint", "/bin/sh", f.image, "-c", script)
			ran := strings.HasPrefix(res.Stdout, "ran\n")
			switch {
			case ran && strings.TrimSpace(strings.TrimPrefix(res.Stdout, "ran\n")) == "0":
				t.Errorf("the command ran with no claim recorded: %s", res)
			case !ran && res.ExitCode == 125 && strings.Contains(res.Stderr, prefixError+"cannot record the container start"):
				failed = true
			case !ran:
				t.Logf("the command did not run: %s", res)
			}
		})
	}
	if !failed {
		t.Error("no descriptor limit made the claim fail: the fail-closed path was not reached")
	}
}

// TestUserOwnedRun is finding 3: an image that hands /run to its user.
// The marker must not go where the user can remove it, and removing what
// the user can remove must not reopen the privileged phase.
func TestUserOwnedRun(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			img := derivedImage(t, f.image, f.name+"-user-run", "chown 1000:1000 /run")
			a := rootAgent(t)
			wipe := `rm -f /run/.agent-entrypoint-started-* /dev/shm/.agent-entrypoint-started-* 2>/dev/null; ` +
				`echo "in_run=$(ls -a /run | grep -c agent-entrypoint-started)"; ` +
				`echo "in_shm=$(ls -a /dev/shm | grep -c agent-entrypoint-started)"; `
			res := run(t, "--user", "1000:1000", "-v", a.Socket+":/srv/root-agent.sock", img, "sh", "-c",
				wipe+strings.ReplaceAll(reenter(afterReentry), rootAgentMount, "/srv/root-agent.sock"))
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"in_run": "0", "in_shm": "1", "uid": "1000", "zip": "none"}, res)
			requireRootAgentIntact(t, a)
		})
	}
}

// TestHomeThroughLinks is finding 4: a home is created through no symlink
// (here the user's own, in its own home), and a setuid start creates or
// hands over no home outside /home, not even the image's passwd homes.
func TestHomeThroughLinks(t *testing.T) {
	for _, f := range flavors(t) {
		img := derivedImage(t, f.dev, f.name+"-dev-links",
			"ln -s /etc /home/dev/l && ln -s /usr /home/dev/u && chown -h 1000:1000 /home/dev/l /home/dev/u")
		cases := []struct {
			name, home, made string
			args             []string
		}{
			{"setuid/etc", "/home/dev/l/sudoers.d", "/etc/sudoers.d", setuidUser.args},
			{"setuid/usr", "/home/dev/u/python311.zip", "/usr/python311.zip", setuidUser.args},
			{"root/etc", "/home/dev/l/sudoers.d", "/etc/sudoers.d", rootTarget.args},
		}
		for _, tc := range cases {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				args := append(slices.Clone(tc.args), "-e", "AGENT_ENTRYPOINT_HOME="+tc.home)
				res := run(t, append(args, img, "sh", "-c", "if [ -e "+tc.made+" ]; then echo made=yes; else echo made=no; fi; echo HOME=$HOME")...)
				if res.ExitCode != 0 {
					t.Fatalf("%s", res)
				}
				requireKeyValues(t, keyValues(res.Stdout), map[string]string{"made": "no", "HOME": "/tmp"}, res)
				requireLine(t, res.Stderr, prefixWarning+"not creating home "+tc.home)
			})
		}
	}
	f := getFlavor(t, "debian")
	for _, who := range []struct{ user, home string }{{"39:39", "/run/ircd"}, {"33:33", "/var/www"}} {
		t.Run("debian/image-home-"+who.home, func(t *testing.T) {
			res := run(t, "--user", who.user, f.image, "sh", "-c", "if [ -e "+who.home+" ]; then echo made=yes; else echo made=no; fi")
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"made": "no"}, res)
			requireLine(t, res.Stderr, prefixWarning+"not creating home "+who.home+": a setuid start creates homes under /home only")
		})
	}
}

// capCat returns a copy of the host's static busybox named cat that
// carries the file capability cap_dac_override+ei, as setcap would give it:
// whoever execs it with CAP_DAC_OVERRIDE inheritable reads any file.
func capCat(t *testing.T) string {
	t.Helper()
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no static busybox on the host: %v", err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cat := filepath.Join(dir, "cat")
	if err := os.WriteFile(cat, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// struct vfs_cap_data, revision 2, with the effective flag: permitted
	// and inheritable bits of capabilities 0-31, then 32-63.
	var data [20]byte
	binary.LittleEndian.PutUint32(data[0:], 0x02000000|0x000001) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(data[8:], 1<<unix.CAP_DAC_OVERRIDE)
	if err := unix.Setxattr(cat, "security.capability", data[:], 0); err != nil {
		t.Skipf("cannot set a file capability here: %v", err)
	}
	return dir
}

// rootOnlyFile is a host file root alone may read.
func rootOnlyFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("root's secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestInheritableCaps is finding 5: a runtime (or a wrapper) that leaves
// CAP_DAC_OVERRIDE in the inheritable and ambient sets; the command gets
// neither, so a file carrying cap_dac_override+ei reads nothing it should
// not. The control shows the same file does read it when they are kept.
func TestInheritableCaps(t *testing.T) {
	capDir, secret := capCat(t), rootOnlyFile(t)
	mounts := []string{"-v", capDir + ":/opt/cap:ro", "-v", secret + ":/secret:ro"}
	const read = `grep -E "^Cap(Inh|Amb):" /proc/self/status; if /opt/cap/cat /secret >/dev/null 2>&1; then echo secret=read; else echo secret=denied; fi`
	f := getFlavor(t, "debian")
	t.Run("control-without-shim", func(t *testing.T) {
		res := run(t, append(mounts, "--entrypoint", "setpriv", f.image, "--inh-caps", "+dac_override", "--ambient-caps", "+dac_override",
			"--reuid", "1000", "--regid", "1000", "--clear-groups", "sh", "-c", read)...)
		if !strings.Contains(res.Stdout, "secret=read") {
			t.Fatalf("the control cannot read the file with inheritable capabilities: the test would prove nothing: %s", res)
		}
	})
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			args := append(slices.Clone(mounts), rootTarget.args...)
			res := run(t, append(args, "--entrypoint", "setpriv", f.image, "--inh-caps", "+dac_override", "--ambient-caps", "+dac_override",
				shimPath, "--", "sh", "-c", read)...)
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(strings.ReplaceAll(res.Stdout, ":\t", "=")), map[string]string{
				"CapInh": "0000000000000000", "CapAmb": "0000000000000000", "secret": "denied",
			}, res)
		})
	}
}

// TestNoGroupsByName is finding 6: group lines that name a user before it
// exists (shadow, docker) do not let a created user of that name join them;
// a root start that asks for one with AGENT_ENTRYPOINT_GROUPS gets it.
func TestNoGroupsByName(t *testing.T) {
	for _, f := range flavors(t) {
		img := derivedImage(t, f.image, f.name+"-named-members",
			"echo 'docker:x:998:alice,user' >> /etc/group && echo 'staff2:x:50:alice,user' >> /etc/group")
		for _, tc := range []struct {
			name   string
			args   []string
			groups string
		}{
			{"root-start", rootTarget.args, "1000"},
			{"setuid-start", setuidUser.args, "1000"},
			{"root-start-asked", append(slices.Clone(rootTarget.args), "-e", "AGENT_ENTRYPOINT_GROUPS=docker"), "1000 998"},
		} {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				res := run(t, append(slices.Clone(tc.args), img, "sh", "-c", `echo "groups=$(id -G | tr ' ' '\n' | sort -rn | tr '\n' ' ' | sed 's/ $//')"`)...)
				if res.ExitCode != 0 {
					t.Fatalf("%s", res)
				}
				requireKeyValues(t, keyValues(res.Stdout), map[string]string{"groups": tc.groups}, res)
			})
		}
	}
}

// TestPasswdAsGlibcReadsIt is finding 7: a line glibc cannot read that
// names the target uid stops the start (exit 125, nothing changed), while
// a commented-out entry is no entry.
func TestPasswdAsGlibcReadsIt(t *testing.T) {
	for _, f := range flavors(t) {
		bad := derivedImage(t, f.image, f.name+"-passwd-bad",
			"echo '#alice:x:1000:1000::/home/alice:/bin/sh' >> /etc/passwd && echo 'bob:x:1000::/home/bob:/bin/sh' >> /etc/passwd")
		for _, m := range []startMode{rootTarget, setuidUser} {
			t.Run(f.name+"/malformed/"+m.name, func(t *testing.T) {
				id, res := runKept(t, append(slices.Clone(m.args), bad, "echo", "ran")...)
				if res.ExitCode != 125 || strings.Contains(res.Stdout, "ran") {
					t.Fatalf("want exit 125 before the command: %s", res)
				}
				requireLine(t, res.Stderr, prefixError+"malformed entry: passwd line")
				requireUnchanged(t, "/etc", pristineOf(t, bad).under("etc"), snapshotOf(t, id, "/etc"))
			})
		}
		// (A line over 64 KiB is read too, see package accounts: Docker
		// itself cannot start a container whose passwd has one.)
		comment := derivedImage(t, f.image, f.name+"-passwd-comment", "echo '#alice:x:1000:1000::/home/alice:/bin/sh' >> /etc/passwd")
		t.Run(f.name+"/comment", func(t *testing.T) {
			res := run(t, append(slices.Clone(rootTarget.args), comment, "sh", "-c", nameOrDash)...)
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"user": "alice"}, res)
		})
	}
}

// TestMoveToGIDZero is finding 8: a setuid start with --user 1001:0 takes
// over the image user its config file names; the user's setgid file must
// not become setgid root.
func TestMoveToGIDZero(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			img := derivedImage(t, f.image, f.name+"-setgid-tool",
				"echo 'AGENT_ENTRYPOINT_USER=dev' > /etc/agent-entrypoint.conf"+
					" && echo 'dev:x:1000:1000::/home/dev:/bin/sh' >> /etc/passwd && echo 'dev:x:1000:' >> /etc/group"+
					" && mkdir -p /home/dev && cp /bin/sh /home/dev/tool && cp /bin/sh /home/dev/tool-u"+
					" && chown -R 1000:1000 /home/dev && chmod 2755 /home/dev/tool && chmod 4755 /home/dev/tool-u")
			res := run(t, "--user", "1001:0", img, "sh", "-c", `echo "tool=$(stat -c %u:%g:%a /home/dev/tool)"; echo "toolu=$(stat -c %u:%g:%a /home/dev/tool-u)"`)
			if res.ExitCode != 0 {
				t.Fatalf("%s", res)
			}
			requireKeyValues(t, keyValues(res.Stdout), map[string]string{"tool": "1001:0:755", "toolu": "1001:0:4755"}, res)
		})
	}
}

// TestMarkerOfAnotherBoot is finding 9: a marker named for another boot
// (same PID namespace and PID 1 start time, as after a reboot) must not
// refuse the start; one named for this very start must.
func TestMarkerOfAnotherBoot(t *testing.T) {
	const plant = `boot=$(cat /proc/sys/kernel/random/boot_id); ` +
		`ns=$(readlink /proc/self/ns/pid | tr -dc 0-9); start=$(cut -d" " -f22 /proc/1/stat); `
	for _, f := range flavors(t) {
		for _, tc := range []struct {
			name, boot, user string
		}{
			{"another-boot", `$(echo $boot | tr 0-9a-f f-f0-9)`, "user"},
			{"this-start", `$boot`, "-"},
		} {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				a := testAgent(t)
				script := plant + `touch /dev/shm/.agent-entrypoint-started-` + tc.boot + `-$ns-$start; exec ` + shimPath + ` -- sh -c "$CMD"`
				res := run(t, "--user", "1000:1000", "-v", a.Socket+":"+agentMount, "-e", "CMD="+nameOrDash, "--entrypoint", "/bin/sh", f.image, "-c", script)
				if res.ExitCode != 0 {
					t.Fatalf("%s", res)
				}
				requireKeyValues(t, keyValues(res.Stdout), map[string]string{"user": tc.user}, res)
			})
		}
	}
}

// TestStrictDecidesHomeFirst is finding 11: under --strict a home that
// cannot be used fails the start before any account file is written.
func TestStrictDecidesHomeFirst(t *testing.T) {
	for _, f := range flavors(t) {
		t.Run(f.name, func(t *testing.T) {
			args := append(slices.Clone(rootTarget.args), "-e", "AGENT_ENTRYPOINT_HOME=/bin/sh/home", "-e", "AGENT_ENTRYPOINT_STRICT=1")
			id, res := runKept(t, append(args, f.image, "echo", "ran")...)
			if res.ExitCode != 125 || strings.Contains(res.Stdout, "ran") {
				t.Fatalf("want exit 125 before the command: %s", res)
			}
			requireLine(t, res.Stderr, prefixError+"home /bin/sh/home is not usable")
			requireUnchanged(t, "/etc", pristineOf(t, f.image).under("etc"), snapshotOf(t, id, "/etc"))
		})
	}
}
