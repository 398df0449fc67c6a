package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

// ErrNotSocket is returned by Open for a path that is not a unix socket.
var ErrNotSocket = errors.New("not a socket")

// ErrNotAgent is returned by AskAgent when the socket answered, but not as
// an SSH agent answers a request for its keys.
var ErrNotAgent = errors.New("did not answer as an SSH agent")

// Socket is an open handle on a unix socket's inode.
type Socket struct {
	Path string
	fd   int
	UID  int
	GID  int
	Perm uint32 // permission bits, set-id and sticky bits included
	// ReadOnly is set for a socket on a read-only mount (-v SOCK:PATH:ro):
	// its mode cannot change.
	ReadOnly bool
	// MountPoint is set for a socket that is itself a mount point, as one
	// bind-mounted from the host is (-v "$SSH_AUTH_SOCK:/run/agent.sock").
	MountPoint bool
}

// Open opens path without following a symlink and checks that it is a
// socket. The caller must Close it.
func Open(path string) (*Socket, error) {
	// O_PATH opens the inode without connecting to or reading it; with
	// O_NOFOLLOW a symlink is opened itself rather than its target, so a
	// link to /etc/shadow is seen as a link.
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is a %s", ErrNotSocket, Kind(st.Mode))}
	}
	sock := &Socket{Path: path, fd: fd, UID: int(st.Uid), GID: int(st.Gid), Perm: st.Mode & 0o7777}
	sock.ReadOnly = safefs.ReadOnly(fd)
	sock.MountPoint = isMountPoint(fd, path)
	return sock, nil
}

// isMountPoint reports whether the inode fd holds is the root of a mount
// other than its directory's: its mount id differs from the directory's.
// Where statx cannot tell mount ids (before Linux 5.8), it reports false:
// a socket the start cannot vouch for is not granted in a setuid start.
func isMountPoint(fd int, path string) bool {
	var sock, dir unix.Statx_t
	// AT_EMPTY_PATH: the inode fd holds, looking up no name.
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &sock) != nil ||
		sock.Mask&unix.STATX_MNT_ID == 0 {
		return false
	}
	if unix.Statx(unix.AT_FDCWD, filepath.Dir(path), 0, unix.STATX_MNT_ID, &dir) != nil ||
		dir.Mask&unix.STATX_MNT_ID == 0 {
		return false
	}
	return sock.Mnt_id != dir.Mnt_id
}

// Close releases the handle.
func (s *Socket) Close() error { return unix.Close(s.fd) }

// SetPerm sets the socket's permission bits through the handle.
func (s *Socket) SetPerm(perm uint32) error {
	if err := safefs.ChmodFD(s.fd, perm); err != nil {
		return &os.PathError{Op: "chmod", Path: s.Path, Err: err}
	}
	s.Perm = perm
	return nil
}

// The SSH agent protocol's key list request and its answer
// (draft-ietf-sshm-ssh-agent, OpenSSH's PROTOCOL.agent), and the longest
// message an agent may send.
const (
	agentRequestIdentities = 11
	agentIdentitiesAnswer  = 12
	agentMaxMessage        = 256 << 10
)

// AskAgent connects to the socket (through the handle, so that the very
// inode Open checked answers) with the caller's effective ids, asks for the
// agent's keys and returns how many it holds. It gives up after timeout.
func (s *Socket) AskAgent(timeout time.Duration) (keys int, err error) {
	// Plain blocking syscalls with socket timeouts, rather than the
	// net package, whose poller a start that asks once does not need.
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(c)
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(c, unix.SOL_SOCKET, opt, &tv); err != nil {
			return 0, os.NewSyscallError("setsockopt", err)
		}
	}
	// The /proc magic link resolves to the inode the handle holds, not to
	// whatever the path names now.
	proc := "/proc/self/fd/" + strconv.Itoa(s.fd)
	if err := retry(func() error { return unix.Connect(c, &unix.SockaddrUnix{Name: proc}) }); err != nil {
		return 0, &os.PathError{Op: "connect", Path: s.Path, Err: err}
	}
	req := []byte{0, 0, 0, 1, agentRequestIdentities}
	if err := retry(func() error { _, err := unix.Write(c, req); return err }); err != nil {
		return 0, &os.PathError{Op: "write", Path: s.Path, Err: err}
	}
	var head [9]byte // length, type, key count
	for n := 0; n < len(head); {
		var m int
		err := retry(func() (err error) { m, err = unix.Read(c, head[n:]); return err })
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: s.Path, Err: err}
		}
		if m == 0 {
			return 0, &os.PathError{Op: "read", Path: s.Path, Err: fmt.Errorf("%w: connection closed", ErrNotAgent)}
		}
		n += m
	}
	length := binary.BigEndian.Uint32(head[0:4])
	if head[4] != agentIdentitiesAnswer || length < 5 || length > agentMaxMessage {
		return 0, &os.PathError{Op: "read", Path: s.Path, Err: ErrNotAgent}
	}
	return int(binary.BigEndian.Uint32(head[5:9])), nil
}

// retry runs a system call again while a signal interrupts it.
func retry(call func() error) error {
	for {
		if err := call(); err != unix.EINTR {
			return err
		}
	}
}

// Kind names a file type for messages.
func Kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "file of unknown type"
}
