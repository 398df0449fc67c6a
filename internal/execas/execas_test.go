package execas

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/testcover"

	"golang.org/x/sys/unix"
)

// A test that drops credentials re-execs the test binary, so that the
// parent keeps its ids. The child runs TestMain's branch and exits, or
// execs the command named in execChildEnv.
const (
	childEnv     = "EXECAS_TEST_CHILD"
	execChildEnv = "EXECAS_TEST_EXEC"
	keepChildEnv = "EXECAS_TEST_KEEP"
)

// keepOnlyChild confines itself, then prints every thread's capability
// sets and no_new_privs, as /proc shows them.
func keepOnlyChild() int {
	// Threads of its own, to see that they are confined too.
	for range 4 {
		go func() {
			runtime.LockOSThread()
			select {}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := KeepOnly(1<<unix.CAP_KILL | 1<<unix.CAP_DAC_OVERRIDE); err != nil {
		fmt.Println("keep:", err)
		return 1
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	seen := map[string]bool{}
	for _, task := range tasks {
		status, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		var sets []string
		for line := range strings.Lines(string(status)) {
			if strings.HasPrefix(line, "Cap") || strings.HasPrefix(line, "NoNewPrivs") {
				sets = append(sets, strings.Join(strings.Fields(line), " "))
			}
		}
		seen[strings.Join(sets, ", ")] = true
	}
	for s := range seen {
		fmt.Println(s)
	}
	return 0
}

// TestKeepOnly confines a process with several threads to KILL and
// DAC_OVERRIDE: every thread shows just those, and no_new_privs.
func TestKeepOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root's capabilities to drop")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(testcover.Environ(t), keepChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := "CapInh: 0000000000000000, CapPrm: 0000000000000022, CapEff: 0000000000000022, CapBnd: 0000000000000022, CapAmb: 0000000000000000, NoNewPrivs: 1\n"
	if string(out) != want {
		t.Errorf("threads show\n%swant every one\n%s", out, want)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(keepChildEnv) != "" {
		os.Exit(keepOnlyChild())
	}
	if os.Getenv(execChildEnv) != "" {
		runtime.LockOSThread()
		os.Exit(dropAndExecChild())
	}
	if os.Getenv(childEnv) != "" {
		runtime.LockOSThread()
		os.Exit(dropChild())
	}
	os.Exit(m.Run())
}

// dropAndExecChild keeps other threads of its own busy, as a runtime's
// threads may be, puts CAP_DAC_OVERRIDE in its inheritable and ambient
// sets, as a runtime may leave them, then drops only its own thread and
// execs.
func dropAndExecChild() int {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		fmt.Println("capget:", err)
		return 1
	}
	data[0].Inheritable |= 1 << unix.CAP_DAC_OVERRIDE
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		fmt.Println("capset:", err)
		return 1
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_DAC_OVERRIDE, 0, 0); err != nil {
		fmt.Println("raise ambient:", err)
		return 1
	}
	for range 4 {
		go func() {
			runtime.LockOSThread()
			for {
				runtime.Gosched()
			}
		}()
	}
	if err := Drop(Creds{UID: 1000, GID: 1000, Groups: []int{100, 1000}}); err != nil {
		fmt.Println("drop:", err)
		return 1
	}
	err := Exec(strings.Fields(os.Getenv(execChildEnv)), os.Environ())
	fmt.Println(err)
	return ExitCode(err)
}

func dropChild() int {
	c := Creds{UID: 1000, GID: 1000, Groups: []int{100, 1000}}
	if err := Drop(c); err != nil {
		fmt.Println("drop:", err)
		return 1
	}
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	groups, _ := unix.Getgroups()
	fmt.Printf("uids %d %d %d gids %d %d %d groups %v\n", ruid, euid, suid, rgid, egid, sgid, groups)
	if err := unix.Setuid(0); err == nil {
		fmt.Println("setuid(0) succeeded")
	}
	if _, err := os.ReadFile(os.Getenv(childEnv)); err == nil {
		fmt.Println("read the root-only file")
	}
	return 0
}

func TestDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(testcover.Environ(t), childEnv+"="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := "uids 1000 1000 1000 gids 1000 1000 1000 groups [100 1000]\n"
	if string(out) != want {
		t.Errorf("child printed %q, want %q", out, want)
	}
}

// The drop changes only the calling thread; what matters is the command
// exec starts: one thread, every id and group the target's, no capability.
func TestDropThenExec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop privileges")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat in PATH")
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(testcover.Environ(t), execChildEnv+"="+cat+" /proc/self/status")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	status := map[string]string{}
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		status[k] = strings.Join(strings.Fields(v), " ")
	}
	for k, want := range map[string]string{
		"Uid": "1000 1000 1000 1000", "Gid": "1000 1000 1000 1000", "Groups": "100 1000",
		"CapPrm": "0000000000000000", "CapEff": "0000000000000000", "Threads": "1",
		"CapInh": "0000000000000000", "CapAmb": "0000000000000000",
	} {
		if status[k] != want {
			t.Errorf("command's %s = %q, want %q", k, status[k], want)
		}
	}
}

func TestVerifyRefusesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	groups, _ := unix.Getgroups()
	// The test runs as root, so verifying a non-root target must fail.
	err := Verify(Creds{UID: 1000, GID: 1000, Groups: groups})
	if !errors.Is(err, ErrReversible) {
		t.Errorf("Verify as root = %v, want ErrReversible", err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	write := func(path string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(a, "tool"), 0o644) // found first, not executable
	write(filepath.Join(b, "tool"), 0o755)
	write(filepath.Join(a, "data"), 0o644)
	os.Mkdir(filepath.Join(a, "dir"), 0o755)
	path := a + ":" + b

	if got, err := LookPath("tool", path); err != nil || got != filepath.Join(b, "tool") {
		t.Errorf("LookPath(tool) = %q, %v; want the executable one in b", got, err)
	}
	if os.Geteuid() != 0 { // root may execute anything with an x bit only
		if _, err := LookPath("data", path); err == nil || ExitCode(err) != 126 {
			t.Errorf("LookPath(data) = %v, want exit 126", err)
		}
	}
	for _, name := range []string{"missing", "dir", ""} {
		if _, err := LookPath(name, path); !errors.Is(err, ErrNotFound) || ExitCode(err) != 127 {
			t.Errorf("LookPath(%q) = %v, want ErrNotFound, exit 127", name, err)
		}
	}
	if got, _ := LookPath("./x/y", path); got != "./x/y" {
		t.Errorf("a name with a slash is used as is, got %q", got)
	}
}

func TestExecExitCodes(t *testing.T) {
	dir := t.TempDir()
	noexec := filepath.Join(dir, "noexec")
	os.WriteFile(noexec, []byte("x"), 0o644)
	for _, tc := range []struct {
		argv []string
		want int
	}{
		{[]string{"agent-entrypoint-no-such-command"}, 127},
		{[]string{filepath.Join(dir, "missing")}, 127},
		{[]string{noexec}, 126},
		{[]string{dir}, 126},
	} {
		err := Exec(tc.argv, []string{"PATH=" + dir})
		if got := ExitCode(err); got != tc.want {
			t.Errorf("Exec(%q) = %v, exit %d; want %d", tc.argv, err, got, tc.want)
		}
		if !strings.Contains(err.Error(), tc.argv[0]) {
			t.Errorf("error %q does not name %q", err, tc.argv[0])
		}
	}
}
