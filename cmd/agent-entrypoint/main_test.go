package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/sockets"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// TestMain lets the test binary be the commands the scripts run:
// agent-entrypoint itself, and ids, a stand-in for the container's command
// that prints who it runs as.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"agent-entrypoint": shim,
		"gosu":             shim,
		"su-exec":          shim,
		"ids":              ids,
		"envexec":          envexec,
		"nsinit":           nsinit,
	})
}

// shim is agent-entrypoint as the scripts run it, by any of its names.
func shim() {
	execCommand = forkCommand
	main()
}

// nsinit ROOT UID:GID GROUPS PROGRAM [ARG...] is what a runtime does in a
// new container's first process, run as PID 1 of a new PID and mount
// namespace: keep its mounts to itself, mount a /proc of the new PID
// namespace in ROOT, chroot there, become UID:GID with GROUPS (a comma
// list, maybe empty) and exec PROGRAM, which stays PID 1.
func nsinit() {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "nsinit:", err)
		os.Exit(126)
	}
	root, user, groups, argv := os.Args[1], os.Args[2], os.Args[3], os.Args[4:]
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fail(fmt.Errorf("make / private: %w", err))
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		fail(fmt.Errorf("mount proc: %w", err))
	}
	if err := syscall.Chroot(root); err != nil {
		fail(fmt.Errorf("chroot: %w", err))
	}
	if err := os.Chdir("/"); err != nil {
		fail(err)
	}
	var uid, gid int
	if _, err := fmt.Sscanf(user, "%d:%d", &uid, &gid); err != nil {
		fail(err)
	}
	gids := []int{}
	for _, g := range strings.FieldsFunc(groups, func(r rune) bool { return r == ',' }) {
		n, err := strconv.Atoi(g)
		if err != nil {
			fail(err)
		}
		gids = append(gids, n)
	}
	if err := syscall.Setgroups(gids); err != nil {
		fail(err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		fail(err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		fail(err)
	}
	// ETXTBSY: a script beside this one forked while it held its copy of
	// the binary open for writing; the fork lets go when it execs.
	for range 50 {
		if err := syscall.Exec(argv[0], argv, os.Environ()); err != syscall.ETXTBSY {
			fail(fmt.Errorf("exec %s: %w", argv[0], err))
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail(syscall.ETXTBSY)
}

// envexec K=V... PROGRAM [ARG...] execs PROGRAM with K=V added to the
// environment, in place, as a command that execs the shim again would.
func envexec() {
	args, env := os.Args[1:], os.Environ()
	for len(args) > 0 && strings.Contains(args[0], "=") {
		env, args = append(env, args[0]), args[1:]
	}
	fmt.Fprintln(os.Stderr, syscall.Exec(args[0], args, env))
	os.Exit(127)
}

// forkCommand stands in for execas.Exec where the test binary is the
// shim: it looks the command up the same way, runs it as a child from this
// very thread (the one the drop changed), and exits with its status, so
// that the coverage counters are written at exit.
func forkCommand(argv, env []string) error {
	path, err := execas.LookPath(argv[0], lookPathDirs(env))
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Env: env, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	err = cmd.Run()
	var exit *exec.ExitError
	var pe *os.PathError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(exit.ExitCode())
	case errors.As(err, &pe):
		return &os.PathError{Op: "exec", Path: argv[0], Err: pe.Err}
	}
	return err
}

func lookPathDirs(env []string) string {
	if v, ok := lookupIn(env)("PATH"); ok {
		return v
	}
	return execas.DefaultPath
}

// ids prints, as key=value lines, the ids and environment the command got;
// "ids exit N" exits with N after printing.
func ids() {
	groups, _ := unix.Getgroups()
	slices.Sort(groups)
	ruid, euid, suid := unix.Getresuid()
	fmt.Printf("uid=%d\neuid=%d\nsuid=%d\ngid=%d\ngroups=%s\n", ruid, euid, suid, unix.Getgid(), strings.Trim(fmt.Sprint(groups), "[]"))
	for _, k := range []string{"HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK"} {
		fmt.Printf("%s=%s\n", k, os.Getenv(k))
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if a, err := sockets.AskAgentPath(sock, 5*time.Second); err != nil {
			fmt.Printf("agent=%v\n", err)
		} else {
			fmt.Printf("agent=%d keys\n", a.Keys)
		}
	}
	if len(os.Args) == 3 && os.Args[1] == "exit" {
		n, _ := strconv.Atoi(os.Args[2])
		os.Exit(n)
	}
	os.Exit(0)
}
