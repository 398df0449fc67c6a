package execas

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNotFound is returned by Exec when the command is in no PATH directory.
var ErrNotFound = errors.New("executable file not found in $PATH")

// DefaultPath is searched when the environment has no PATH, as Docker and
// runc do.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Exec replaces the process with argv, looked up in env's PATH. It runs
// after the drop, so that the lookup sees what the target may execute. It
// only returns on failure, as an *os.PathError or ErrNotFound.
func Exec(argv, env []string) error {
	path, err := LookPath(argv[0], pathOf(env))
	if err != nil {
		return err
	}
	err = syscall.Exec(path, argv, env)
	return &os.PathError{Op: "exec", Path: argv[0], Err: err}
}

// ExitCode maps an Exec failure to the exit status of env(1), chroot(1) and
// docker run: 127 when the command does not exist, 126 when it exists but
// cannot be executed.
func ExitCode(err error) int {
	if errors.Is(err, ErrNotFound) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return 127
	}
	return 126
}

// LookPath finds file in the colon list dirs the way execvp(3) does: a name
// with a slash is used as it is; otherwise the first executable regular file
// wins, and a match that is not executable is reported (126) only when no
// other directory has an executable one.
func LookPath(file, dirs string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	if file == "" {
		return "", &os.PathError{Op: "exec", Path: file, Err: ErrNotFound}
	}
	var denied error
	for _, dir := range filepath.SplitList(dirs) {
		if dir == "" {
			// An empty PATH element means the working directory.
			dir = "."
		}
		path := filepath.Join(dir, file)
		fi, err := os.Stat(path)
		if err != nil || fi.IsDir() {
			continue
		}
		// access(2) with X_OK checks the real ids, which after the drop
		// are the target's.
		if err := unix.Access(path, unix.X_OK); err != nil {
			if denied == nil {
				denied = &os.PathError{Op: "exec", Path: path, Err: err}
			}
			continue
		}
		return path, nil
	}
	if denied != nil {
		return "", denied
	}
	return "", &os.PathError{Op: "exec", Path: file, Err: ErrNotFound}
}

func pathOf(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "PATH="); ok {
			return v
		}
	}
	return DefaultPath
}
