package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

// maxConfigSize caps the image's config file.
const maxConfigSize = 64 << 10

// ErrUntrustedConfig is returned for a config file that someone other than
// root could have written.
var ErrUntrustedConfig = errors.New("not trusted")

// ReadImageConfig returns the image's config file, or nil when there is
// none. The file and the directory holding it must be owned by root and
// writable by no one else, the file must be a regular file, and no
// component of its path may be a symlink: a setuid start takes its
// settings from this file and from nowhere else.
func ReadImageConfig(path string) ([]byte, error) {
	dir, err := safefs.OpenRoot(filepath.Dir(path))
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	var st unix.Stat_t
	if err := unix.Fstat(dir, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: filepath.Dir(path), Err: err}
	}
	if err := checkTrust(st); err != nil {
		return nil, &os.PathError{Op: "read config in", Path: filepath.Dir(path), Err: err}
	}
	// O_NOFOLLOW: a link is refused, not followed. O_NONBLOCK: a FIFO
	// planted there must not hang the start.
	fd, err := unix.Openat(dir, filepath.Base(path), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return nil, nil
	}
	if err == unix.ELOOP {
		return nil, &os.PathError{Op: "read config", Path: path, Err: fmt.Errorf("%w: a symbolic link", ErrUntrustedConfig)}
	}
	if err != nil {
		return nil, &os.PathError{Op: "read config", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "read config", Path: path, Err: fmt.Errorf("%w: not a regular file", ErrUntrustedConfig)}
	}
	if err := checkTrust(st); err != nil {
		return nil, &os.PathError{Op: "read config", Path: path, Err: err}
	}
	data, err := safefs.ReadFD(fd, maxConfigSize, int(st.Size))
	if err != nil {
		return nil, &os.PathError{Op: "read config", Path: path, Err: err}
	}
	return data, nil
}

// checkTrust is the config file's rule, for it and its directory: owned by
// root, writable by no one else.
func checkTrust(st unix.Stat_t) error {
	switch {
	case st.Uid != 0:
		return fmt.Errorf("%w: owned by uid %d, not root", ErrUntrustedConfig, st.Uid)
	case st.Mode&0o022 != 0:
		return fmt.Errorf("%w: mode %04o lets others write it", ErrUntrustedConfig, st.Mode&0o7777)
	}
	return nil
}
