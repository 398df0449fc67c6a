package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// Answer is what an agent answered one request for its keys.
type Answer struct {
	Keys int
	// Refused: the agent accepted the connection and closed it without an
	// answer, as OpenSSH's agent does to a uid it does not serve.
	Refused bool
	// Listener is the uid of the process that listens on the socket
	// (SO_PEERCRED), -1 when not known.
	Listener int
	// List is each key's type and comment, from ListKeys only.
	List []string
}

// AskAgent connects to the socket (through the handle, so that the very
// inode Open checked answers) with the caller's effective ids, asks for the
// agent's keys and returns what it answered. It gives up after timeout.
func (s *Socket) AskAgent(timeout time.Duration) (Answer, error) {
	return askAgent("/proc/self/fd/"+strconv.Itoa(s.fd), s.Path, timeout, false)
}

// AskAgentPath is AskAgent for a socket known by path only, such as one
// found in a directory of agent sockets.
func AskAgentPath(path string, timeout time.Duration) (Answer, error) {
	return askAgent(path, path, timeout, false)
}

// ListKeys is AskAgentPath that reads the whole answer: each key's type
// and comment. A failure to connect is an *os.PathError of Op "connect".
func ListKeys(path string, timeout time.Duration) (Answer, error) {
	return askAgent(path, path, timeout, true)
}

// ErrCannotAsk is returned by AskAgentAs when this start cannot take
// another uid for a moment (it lacks CAP_SETPCAP, or is not root).
var ErrCannotAsk = errors.New("cannot ask as another uid")

// secbitNoSetuidFixup keeps a thread's capabilities when its effective uid
// leaves 0 (linux/securebits.h).
const secbitNoSetuidFixup = 1 << 2

// AskAgentAs asks the agent for its keys with uid and gid as the calling
// thread's effective ids, keeping the thread's capabilities: the socket's
// mode is passed (CAP_DAC_OVERRIDE), and the agent sees uid as its peer,
// so its answer tells whether it serves uid at all, whatever the mode. The
// thread's ids and securebits are restored before it returns; the other
// threads of the process never change.
func (s *Socket) AskAgentAs(uid, gid int, timeout time.Duration) (Answer, error) {
	bits, err := unix.PrctlRetInt(unix.PR_GET_SECUREBITS, 0, 0, 0, 0)
	if err != nil {
		return Answer{Listener: -1}, ErrCannotAsk
	}
	// PR_SET_SECUREBITS needs CAP_SETPCAP, which a start under
	// --cap-drop ALL lacks.
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits|secbitNoSetuidFixup), 0, 0, 0); err != nil {
		return Answer{Listener: -1}, ErrCannotAsk
	}
	_, egid, _ := unix.Getresgid()
	_, euid, _ := unix.Getresuid()
	restore := func() error {
		// The saved ids are still the start's, so it may return to them.
		err := errors.Join(
			rawSetres(unix.SYS_SETRESUID, -1, euid, -1),
			rawSetres(unix.SYS_SETRESGID, -1, egid, -1),
			unix.Prctl(unix.PR_SET_SECUREBITS, uintptr(bits), 0, 0, 0))
		if _, e, _ := unix.Getresuid(); e != euid {
			err = errors.Join(err, fmt.Errorf("effective uid %d, want %d", e, euid))
		}
		return err
	}
	if err := errors.Join(rawSetres(unix.SYS_SETRESGID, -1, gid, -1), rawSetres(unix.SYS_SETRESUID, -1, uid, -1)); err != nil {
		return Answer{Listener: -1}, errors.Join(ErrCannotAsk, err, restore())
	}
	a, askErr := s.AskAgent(timeout)
	if err := restore(); err != nil {
		// The thread could not take its ids back: nothing may go on.
		return a, fmt.Errorf("%w: %w", ErrLostIDs, err)
	}
	return a, askErr
}

// ErrLostIDs is returned by AskAgentAs when the thread could not take its
// own ids back: the start must stop.
var ErrLostIDs = errors.New("restore the start's ids after asking the agent")

// rawSetres sets the real, effective and saved id (-1 keeps one) of the
// calling thread only.
func rawSetres(trap uintptr, r, e, s int) error {
	if _, _, errno := unix.RawSyscall(trap, uintptr(r), uintptr(e), uintptr(s)); errno != 0 {
		return errno
	}
	return nil
}

func askAgent(addr, path string, timeout time.Duration, list bool) (Answer, error) {
	a := Answer{Listener: -1}
	// Plain blocking syscalls with socket timeouts, rather than the
	// net package, whose poller a start that asks once does not need.
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return a, os.NewSyscallError("socket", err)
	}
	defer unix.Close(c)
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(c, unix.SOL_SOCKET, opt, &tv); err != nil {
			return a, os.NewSyscallError("setsockopt", err)
		}
	}
	if err := retry(func() error { return unix.Connect(c, &unix.SockaddrUnix{Name: addr}) }); err != nil {
		return a, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	if cred, err := unix.GetsockoptUcred(c, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
		a.Listener = int(cred.Uid)
	}
	req := []byte{0, 0, 0, 1, agentRequestIdentities}
	// MSG_NOSIGNAL: an agent that hung up is an error, not a SIGPIPE.
	if err := retry(func() error { _, err := unix.SendmsgN(c, req, nil, nil, unix.MSG_NOSIGNAL); return err }); err != nil {
		// OpenSSH's agent hangs up on a uid it does not serve as soon as
		// it accepts: the request may meet the closed connection.
		a.Refused = err == unix.EPIPE || err == unix.ECONNRESET
		return a, &os.PathError{Op: "write", Path: path, Err: err}
	}
	var head [9]byte // length, type, key count
	for n := 0; n < len(head); {
		var m int
		err := retry(func() (err error) { m, err = unix.Read(c, head[n:]); return err })
		if err == unix.ECONNRESET && n == 0 {
			m, err = 0, nil
		}
		if err != nil {
			return a, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			a.Refused = n == 0
			return a, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: connection closed", ErrNotAgent)}
		}
		n += m
	}
	length := binary.BigEndian.Uint32(head[0:4])
	if head[4] != agentIdentitiesAnswer || length < 5 || length > agentMaxMessage {
		return a, &os.PathError{Op: "read", Path: path, Err: ErrNotAgent}
	}
	a.Keys = int(binary.BigEndian.Uint32(head[5:9]))
	if !list {
		return a, nil
	}
	body := make([]byte, length-5)
	for n := 0; n < len(body); {
		var m int
		err := retry(func() (err error) { m, err = unix.Read(c, body[n:]); return err })
		if err == nil && m == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return a, &os.PathError{Op: "read", Path: path, Err: err}
		}
		n += m
	}
	keys, err := keyList(body, a.Keys)
	a.List = keys
	if err != nil {
		return a, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %w", ErrNotAgent, err)}
	}
	return a, nil
}

// keyList reads n keys of an identities answer, each a key blob (whose
// first string is its type) and a comment.
func keyList(b []byte, n int) ([]string, error) {
	str := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(l) > uint64(len(b)-4) {
			return nil, false
		}
		s := b[4 : 4+l]
		b = b[4+l:]
		return s, true
	}
	var out []string
	for range n {
		blob, ok1 := str()
		comment, ok2 := str()
		if !ok1 || !ok2 {
			return out, errors.New("a key list cut short")
		}
		typ := "unknown"
		if len(blob) >= 4 {
			if l := binary.BigEndian.Uint32(blob); uint64(l) <= uint64(len(blob)-4) {
				typ = string(blob[4 : 4+l])
			}
		}
		// Quoted: a comment is the agent's to choose, and is printed.
		q := strconv.Quote(typ + " " + string(comment))
		out = append(out, q[1:len(q)-1])
	}
	return out, nil
}

// Candidates lists the sockets of a directory of agent sockets, newest
// first (an agent restarted, or a session reconnected, makes a new one):
// only sockets, never through a symlink.
func Candidates(dir string) ([]string, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	type entry struct {
		name  string
		mtime unix.Timespec
	}
	var socks []entry
	buf := make([]byte, 8<<10)
	var names []string
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: dir, Err: err}
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			var st unix.Stat_t
			// AT_SYMLINK_NOFOLLOW: a link is looked at, never followed.
			if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
				socks = append(socks, entry{name, st.Mtim})
			}
		}
	}
	slices.SortFunc(socks, func(a, b entry) int {
		if c := cmpTime(b.mtime, a.mtime); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, len(socks))
	for i, e := range socks {
		out[i] = filepath.Join(dir, e.name)
	}
	return out, nil
}

func cmpTime(a, b unix.Timespec) int {
	switch {
	case a.Sec != b.Sec:
		return cmp(int64(a.Sec), int64(b.Sec))
	default:
		return cmp(int64(a.Nsec), int64(b.Nsec))
	}
}

func cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Chown hands the socket to uid (its group stays) through the handle.
func (s *Socket) Chown(uid int) error {
	// AT_EMPTY_PATH: the inode the handle holds, looking up no name.
	if err := unix.Fchownat(s.fd, "", uid, -1, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "chown", Path: s.Path, Err: err}
	}
	s.UID = uid
	return nil
}

// IsMountPoint reports whether the directory at path is itself a mount
// point, as a directory bind-mounted from the host is.
func IsMountPoint(path string) bool {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return isMountPoint(fd, path)
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
