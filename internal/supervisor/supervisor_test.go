package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests run the supervisor in a child of the test binary, so that
// its signal handling and its role as a subreaper stay out of the test
// process; the supervised command is the test binary again.
const (
	roleEnv = "SUPERVISOR_TEST_ROLE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "supervisor":
		supervise()
	case "command":
		command()
	}
	os.Exit(m.Run())
}

// supervise starts the command (the test binary, role command, with the
// arguments given), signals itself as the test asks, and prints the status.
func supervise() {
	if err := Subreaper(); err != nil {
		fmt.Println("subreaper:", err)
		os.Exit(1)
	}
	self, _ := os.Executable()
	env := []string{roleEnv + "=command", "PATH=" + os.Getenv("PATH")}
	c, err := Start(self, append([]string{"command"}, os.Args[1:]...), env)
	if err != nil {
		fmt.Println("start:", err)
		os.Exit(1)
	}
	if sig := os.Getenv("SUPERVISOR_TEST_SIGNAL"); sig != "" {
		go func() {
			time.Sleep(300 * time.Millisecond)
			var n int
			fmt.Sscan(sig, &n)
			unix.Kill(os.Getpid(), syscall.Signal(n))
		}()
	}
	status := c.Wait()
	time.Sleep(200 * time.Millisecond)
	c.reap()
	fmt.Printf("status %d zombies %d\n", status, zombies())
	os.Exit(0)
}

// zombies counts this process's children that are zombies.
func zombies() int {
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), os.Getpid()))
	n := 0
	for _, pid := range strings.Fields(string(children)) {
		stat, _ := os.ReadFile("/proc/" + pid + "/stat")
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+2:]), "Z") {
			n++
		}
	}
	return n
}

// command does what its arguments say: "exit N", "signal N" (kill itself
// with signal N), "trap N M" (exit M once signal N comes), "orphans N"
// (leave N short-lived orphans, then exit 0).
func command() {
	args := os.Args[1:]
	n := 0
	if len(args) > 1 {
		fmt.Sscan(args[1], &n)
	}
	switch args[0] {
	case "exit":
		os.Exit(n)
	case "signal":
		signal.Reset()
		unix.Kill(os.Getpid(), syscall.Signal(n))
		time.Sleep(5 * time.Second)
	case "trap":
		var code int
		fmt.Sscan(args[2], &code)
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.Signal(n))
		select {
		case <-ch:
			os.Exit(code)
		case <-time.After(10 * time.Second):
			os.Exit(99)
		}
	case "orphans":
		for range n {
			// sh forks sleep and exits: sleep's parent is gone.
			exec.Command("sh", "-c", "sleep 0.1 &").Run()
		}
		os.Exit(0)
	}
	os.Exit(98)
}

func runSupervisor(t *testing.T, signal int, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{roleEnv + "=supervisor", "PATH=" + os.Getenv("PATH")}
	if signal != 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("SUPERVISOR_TEST_SIGNAL=%d", signal))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("supervisor: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal int
		args   []string
		want   string
	}{
		{"exit status passes", 0, []string{"exit", "42"}, "status 42 zombies 0"},
		{"killed by a signal: 128+N", 0, []string{"signal", "9"}, "status 137 zombies 0"},
		{"SIGTERM to the supervisor reaches the command", int(unix.SIGTERM), []string{"trap", "15", "43"}, "status 43 zombies 0"},
		{"SIGUSR1 too", int(unix.SIGUSR1), []string{"trap", "10", "44"}, "status 44 zombies 0"},
		{"a real-time signal too", 40, []string{"trap", "40", "45"}, "status 45 zombies 0"},
		{"orphans are reaped", 0, []string{"orphans", "20"}, "status 0 zombies 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runSupervisor(t, tc.signal, tc.args...); got != tc.want {
				t.Errorf("supervisor printed %q, want %q", got, tc.want)
			}
		})
	}
}
