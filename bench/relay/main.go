// Command relay measures agent-entrypoint's relay next to the agent it
// relays, in one interleaved run:
//
//   - per-request latency of listing the keys and of a signature, each
//     over a new connection as ssh-add and ssh make them, through the
//     relay and directly on the agent's socket;
//   - the memory of the relay's supervisor next to tini's;
//   - a relaying start next to a chmod start: until the command runs,
//     and until the start has ended.
//
// It starts a real ssh-agent with a fresh key, and runs the real binary
// as PID 1 of a new PID and mount namespace chrooted into a scratch root
// (the host's static busybox for the command), as a container runtime
// would. Usage, as root:
//
//	go run ./bench/relay [-n 1000] [-bin path/to/agent-entrypoint] [-tini /usr/bin/tini-static]
//
// It prints a Markdown table. Nothing here asserts on time.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 1000, "requests of each kind, each path")
	bin := flag.String("bin", "", "agent-entrypoint binary (default: build ./cmd/agent-entrypoint)")
	tini := flag.String("tini", "/usr/bin/tini-static", "static tini, for the memory row (skipped when missing)")
	starts := flag.Int("starts", 200, "starts of each kind for the start row")
	flag.Parse()
	if os.Geteuid() != 0 {
		fail(fmt.Errorf("run as root: it starts containers' first processes"))
	}
	work, err := os.MkdirTemp("", "agent-entrypoint-relay-bench-")
	check(err)
	defer os.RemoveAll(work)
	if *bin == "" {
		*bin = filepath.Join(work, "agent-entrypoint")
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-w -buildid=", "-o", *bin, "./cmd/agent-entrypoint")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		check(build.Run())
	}

	dockerBounding()
	agentSock, pub, stop := startAgent(work)
	defer stop()
	root := makeRoot(work, *bin)
	defer unix.Unmount(filepath.Join(root, "proc"), unix.MNT_DETACH)
	mounted := filepath.Join(root, "run/host-services/ssh-auth.sock")
	check(os.MkdirAll(filepath.Dir(mounted), 0o755))
	check(os.WriteFile(mounted, nil, 0o644))
	check(unix.Mount(agentSock, mounted, "", unix.MS_BIND, ""))
	defer unix.Unmount(mounted, unix.MNT_DETACH)

	// A relaying start whose command waits: its relay is what is timed.
	super := startInRoot(root, []string{"AGENT_ENTRYPOINT_SOCKET_MODE=relay"}, "/usr/local/bin/agent-entrypoint", "--uid", "1000", "--", "/bin/sleep", "600")
	defer func() { super.Process.Signal(syscall.SIGTERM); super.Wait() }()
	relaySock := waitForRelay(root)
	idle := memory(super.Process.Pid)

	list := func(path string) func() time.Duration {
		return func() time.Duration {
			return timeRequest(path, func(c agent.ExtendedAgent) error { _, err := c.List(); return err })
		}
	}
	data := make([]byte, 32)
	rand.Read(data)
	sign := func(path string) func() time.Duration {
		return func() time.Duration {
			return timeRequest(path, func(c agent.ExtendedAgent) error { _, err := c.Sign(pub, data); return err })
		}
	}
	fmt.Printf("# agent-entrypoint's relay, %d requests of each kind per path, interleaved\n\n", *n)
	fmt.Println("| request | direct, median | through the relay, median | added, median | direct p90 | relay p90 |")
	fmt.Println("|---|--:|--:|--:|--:|--:|")
	for _, req := range []struct {
		name string
		make func(string) func() time.Duration
	}{{"list keys (ssh-add -l)", list}, {"sign (ssh -T, one signature)", sign}} {
		t := interleave(*n, req.make(agentSock), req.make(relaySock))
		d, r := t[0], t[1]
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", req.name, us(median(d)), us(median(r)), us(median(r)-median(d)),
			us(pct(d, 90)), us(pct(r, 90)))
	}

	fmt.Println()
	fmt.Println("| process | resident (VmRSS) | of it, private (RssAnon) |")
	fmt.Println("|---|--:|--:|")
	fmt.Printf("| agent-entrypoint's relay supervisor, started | %s |\n", idle)
	fmt.Printf("| the same, after relaying the requests above | %s |\n", memory(super.Process.Pid))
	if _, err := os.Stat(*tini); err == nil {
		check(copyFile(*tini, filepath.Join(root, "usr/local/bin/tini"), 0o755))
		t := startInRoot(root, nil, "/usr/local/bin/tini", "--", "/bin/sleep", "600")
		time.Sleep(500 * time.Millisecond)
		fmt.Printf("| tini (static), waiting for its command | %s |\n", memory(t.Process.Pid))
		t.Process.Signal(syscall.SIGTERM)
		t.Wait()
	} else {
		fmt.Printf("| tini | not found at %s (apt-get install tini) | |\n", *tini)
	}

	// Starts: the user exists (a restarted container), so each start does
	// only its socket step, the drop and the command.
	check(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nbench:x:1000:1000::/tmp:/bin/sh\n"), 0o644))
	// A start is timed twice: until its command runs (its first byte
	// of output) and until the start has ended.
	timed := func(env []string, argv ...string) func() [2]time.Duration {
		return func() [2]time.Duration {
			os.Chmod(agentSock, 0o600)
			r, w, err := os.Pipe()
			check(err)
			defer r.Close()
			t0 := time.Now()
			c := inRoot(root, env, argv...)
			c.Stdout = w
			c = startCmd(c)
			w.Close()
			if _, err := r.Read(make([]byte, 1)); err != nil {
				fail(fmt.Errorf("%v %q: no output: %v", env, argv, err))
			}
			runs := time.Since(t0)
			if err := c.Wait(); err != nil {
				fail(fmt.Errorf("%v %q: %v", env, argv, err))
			}
			return [2]time.Duration{runs, time.Since(t0)}
		}
	}
	start := func(mode string) func() [2]time.Duration {
		return timed([]string{"AGENT_ENTRYPOINT_SOCKET_MODE=" + mode}, "/usr/local/bin/agent-entrypoint", "--uid", "1000", "--", "/bin/echo", "ran")
	}
	t := interleave(*starts, timed(nil, "/bin/echo", "ran"), start("chmod"), start("relay"))
	fmt.Println()
	fmt.Printf("| start as PID 1, %d each, interleaved, medians | the command runs | net of the floor | the start has ended | net of the floor |\n", *starts)
	fmt.Println("|---|--:|--:|--:|--:|")
	net := [2][]time.Duration{}
	for i, name := range []string{
		"floor: the command alone (namespaces, chroot, exec)",
		"chmod start: the socket opened up, drop, exec",
		"relay start: the relay set up, the command a child",
	} {
		fmt.Printf("| %s |", name)
		for k := range 2 {
			d := median(column(t[i], k))
			floor := median(column(t[0], k))
			if i == 0 {
				fmt.Printf(" %s | |", ms(d))
				continue
			}
			net[k] = append(net[k], d-floor)
			fmt.Printf(" %s | %s |", ms(d), ms(d-floor))
		}
		fmt.Println()
	}
	fmt.Printf("\nrelay ÷ chmod start, net of the floor: %.2f× until the command runs, %.2f× until the start has ended\n",
		float64(net[0][1])/float64(net[0][0]), float64(net[1][1])/float64(net[1][0]))
}

func column(t [][2]time.Duration, k int) []time.Duration {
	c := make([]time.Duration, len(t))
	for i := range t {
		c[i] = t[i][k]
	}
	return c
}

func init() {
	// Every start forks from the main thread, whose bounding set
	// dockerBounding narrows.
	runtime.LockOSThread()
}

// dockerBounding narrows the main thread's bounding set to Docker's
// default capabilities, as runc does for a container's first process: the
// relay's supervisor drops what of it it does not keep, one stop of
// every thread for each.
func dockerBounding() {
	keep := []int{unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FSETID, unix.CAP_FOWNER, unix.CAP_MKNOD,
		unix.CAP_NET_RAW, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETFCAP, unix.CAP_SETPCAP,
		unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_KILL, unix.CAP_AUDIT_WRITE}
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if !slices.Contains(keep, c) {
			check(unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0))
		}
	}
}

// interleave runs each of fs n times, in a new random order every round.
func interleave[T any](n int, fs ...func() T) [][]T {
	t := make([][]T, len(fs))
	for range n {
		for _, i := range mrand.Perm(len(fs)) {
			t[i] = append(t[i], fs[i]())
		}
	}
	return t
}

// timeRequest connects to path, makes one request and closes, as one
// ssh-add or ssh does.
func timeRequest(path string, req func(agent.ExtendedAgent) error) time.Duration {
	t0 := time.Now()
	c, err := net.Dial("unix", path)
	check(err)
	err = req(agent.NewClient(c))
	c.Close()
	check(err)
	return time.Since(t0)
}

func startAgent(work string) (sock string, pub ssh.PublicKey, stop func()) {
	key := filepath.Join(work, "id_ed25519")
	run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", key)
	sock = filepath.Join(work, "agent.sock")
	a := exec.Command("ssh-agent", "-D", "-a", sock)
	check(a.Start())
	for range 100 {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	add := exec.Command("ssh-add", "-q", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	check(add.Run())
	b, err := os.ReadFile(key + ".pub")
	check(err)
	pub, _, _, _, err = ssh.ParseAuthorizedKey(b)
	check(err)
	return sock, pub, func() { a.Process.Kill(); a.Wait() }
}

// makeRoot lays out a container root: the binary, the host's static
// busybox as /bin/sleep and /bin/true, the directories a start uses, and
// the host's /proc bound in.
func makeRoot(work, bin string) string {
	root := filepath.Join(work, "root")
	for _, d := range []string{"bin", "etc", "home", "run", "tmp", "dev/shm", "proc", "usr/local/bin"} {
		check(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky)
	os.Chmod(filepath.Join(root, "dev/shm"), 0o777|os.ModeSticky)
	check(copyFile(bin, filepath.Join(root, "usr/local/bin/agent-entrypoint"), 0o755))
	busybox, err := exec.LookPath("busybox")
	check(err)
	check(copyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755))
	for _, a := range []string{"sleep", "true", "echo", "sh"} {
		check(os.Symlink("busybox", filepath.Join(root, "bin", a)))
	}
	check(os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644))
	check(os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"), 0o644))
	check(unix.Mount("/proc", filepath.Join(root, "proc"), "", unix.MS_BIND|unix.MS_REC, ""))
	return root
}

// startInRoot starts argv as PID 1 of new PID and mount namespaces,
// chrooted into root.
func startInRoot(root string, env []string, argv ...string) *exec.Cmd {
	return startCmd(inRoot(root, env, argv...))
}

func inRoot(root string, env []string, argv ...string) *exec.Cmd {
	c := &exec.Cmd{Path: argv[0], Args: argv, Dir: "/", Env: append([]string{"PATH=/bin:/usr/local/bin"}, env...)}
	c.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Cloneflags: syscall.CLONE_NEWPID, Unshareflags: syscall.CLONE_NEWNS}
	c.Stderr = os.Stderr
	return c
}

func startCmd(c *exec.Cmd) *exec.Cmd {
	check(c.Start())
	return c
}

func waitForRelay(root string) string {
	for range 200 {
		socks, _ := filepath.Glob(filepath.Join(root, "run/agent-entrypoint/relay-*/agent.sock"))
		if len(socks) == 1 {
			return socks[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	fail(fmt.Errorf("the relay's socket did not appear"))
	return ""
}

// memory is a process's VmRSS and RssAnon, as table cells.
func memory(pid int) string {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	var rss, anon string
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon = strings.TrimSpace(v)
		}
	}
	return rss + " | " + anon
}

func median(d []time.Duration) time.Duration { return pct(d, 50) }

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(math.Ceil(float64(p)/100*float64(len(s))))-1]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func run(name string, args ...string) {
	c := exec.Command(name, args...)
	c.Stderr = os.Stderr
	check(c.Run())
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "relay bench:", err)
	os.Exit(1)
}
