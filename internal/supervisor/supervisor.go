// Package supervisor does what an init does for a container's command
// while the start stays to relay a socket: it starts the command as its
// child, forwards the signals the container gets, reaps every zombie
// (orphans reparented to it included), and when the command ends, ends
// with its status, 128+N for a command killed by signal N, as tini and a
// shell report it.
//
// It deliberately does not: restart the command, wait for the command's
// children once the command has ended, or forward the signals a process
// gets for its own faults (SIGSEGV and the like), as tini does not.
package supervisor

import (
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwarded are the signals passed to the command: every signal a
// process can catch, but SIGCHLD (which reaps), SIGURG (the Go runtime's
// own), SIGPIPE (which a closed relay connection raises here), the fault
// signals, and SIGTTIN and SIGTTOU (which a terminal sends this process,
// now in the background, and which it ignores).
var forwarded = func() []os.Signal {
	sigs := []os.Signal{
		unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGUSR1, unix.SIGUSR2,
		unix.SIGALRM, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP, unix.SIGVTALRM, unix.SIGPROF,
		unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO, unix.SIGPWR, unix.SIGSTKFLT,
	}
	for n := 34; n <= 64; n++ { // the real-time signals
		sigs = append(sigs, syscall.Signal(n))
	}
	return sigs
}()

// Child is the command, started.
type Child struct {
	Pid     int
	signals chan os.Signal
}

// Start starts the program at path with argv and env, as root in every
// id with no supplementary group, in a process group of its own that is
// the terminal's foreground group when stdin is a terminal, so that a
// key's signal (Ctrl-C) reaches it once, from the terminal, and not a
// second time from here. The signals this process gets are caught from
// before the child exists.
func Start(path string, argv, env []string) (*Child, error) {
	c := &Child{signals: make(chan os.Signal, 64)}
	signal.Notify(c.signals, append(forwarded, unix.SIGCHLD)...)
	signal.Ignore(unix.SIGTTIN, unix.SIGTTOU)
	attr := &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}}
	if isTerminal(0) {
		attr.Foreground, attr.Ctty = true, 0
	}
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		Sys:   attr,
	})
	if err != nil {
		signal.Stop(c.signals)
		return nil, &os.PathError{Op: "start", Path: path, Err: err}
	}
	c.Pid = pid
	return c, nil
}

// Subreaper makes this process the one orphans of its descendants are
// reparented to, when it is not PID 1 (docker run --init).
func Subreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	return os.NewSyscallError("prctl", unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
}

// Wait forwards signals to the child and reaps every child of this
// process until the command ends, and returns its exit status.
func (c *Child) Wait() int {
	defer signal.Stop(c.signals)
	// SIGCHLD may come before Notify is read, or be merged: look every
	// second too.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if status, done := c.reap(); done {
			return status
		}
		select {
		case sig := <-c.signals:
			if sig == unix.SIGCHLD {
				continue
			}
			// ESRCH: the child is gone, and reaping will tell.
			_ = unix.Kill(c.Pid, sig.(syscall.Signal))
		case <-tick.C:
		}
	}
}

// reap collects every child that has ended; done reports that the
// command was one of them, with its status.
func (c *Child) reap() (status int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return status, done
		}
		if pid == c.Pid {
			status, done = ExitStatus(ws), true
		}
	}
}

// ExitStatus is the status a shell reports for a process that ended with
// ws: its exit code, or 128+N when signal N killed it.
func ExitStatus(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 1
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}
