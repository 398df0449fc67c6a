package relay

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The relay works on unix sockets of its own making rather than the net
// package's, which would link the C library's resolver into a binary
// built with cgo. A client's socket is non-blocking and waited on by the
// runtime's poller, as os.File waits on a pipe, so that an idle client
// holds no thread; the upstream's is blocking, so that the answer to a
// request wakes the thread that waits for it.

// stream is one end of a connection.
type stream interface {
	io.Reader
	io.Writer
	Close() error
	// CloseWrite ends the writing half, as shutdown(SHUT_WR).
	CloseWrite() error
}

// conn is a connected unix stream socket.
type conn struct{ f *os.File }

// newConn takes over the socket fd.
func newConn(fd int) *conn { return &conn{os.NewFile(uintptr(fd), "unix")} }

func (c *conn) Read(p []byte) (int, error) { return c.f.Read(p) }

func (c *conn) Write(p []byte) (int, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	written := 0
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for written < len(p) {
			// MSG_NOSIGNAL: a peer that hung up is an error here, not a
			// SIGPIPE to the supervisor.
			n, err := unix.SendmsgN(int(fd), p[written:], nil, nil, unix.MSG_NOSIGNAL)
			switch err {
			case nil:
				written += n
			case unix.EINTR:
			case unix.EAGAIN:
				return false // non-blocking: wait until it can take more
			default:
				werr = os.NewSyscallError("sendmsg", err)
				return true
			}
		}
		return true
	})
	if werr != nil {
		err = werr
	}
	return written, err
}

func (c *conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR) }

func (c *conn) shutdown(how int) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), how) }); err != nil {
		return err
	}
	return serr
}

// Close shuts the socket down first, which wakes a goroutine blocked
// reading it (closing a blocking socket alone would not), then closes it.
func (c *conn) Close() error {
	c.shutdown(unix.SHUT_RDWR)
	return c.f.Close()
}

// dialUnix connects to the unix socket at path.
func dialUnix(path string) (*conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// A full backlog makes connect wait: SO_SNDTIMEO bounds it.
	tv := unix.NsecToTimeval(dialTimeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	var zero unix.Timeval
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &zero)
	return newConn(fd), nil
}

// listenUnix binds a non-blocking unix stream socket at path and listens
// on it.
func listenUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// accept waits for a connection on the listening socket l; it fails
// once l is closed.
func accept(l *os.File) (*conn, error) {
	rc, err := l.SyscallConn()
	if err != nil {
		return nil, err
	}
	for {
		var nfd int
		var aerr error
		err := rc.Read(func(fd uintptr) bool {
			nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			return aerr != unix.EAGAIN
		})
		if err != nil {
			return nil, err
		}
		switch aerr {
		case nil:
			return newConn(nfd), nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or memory: wait, then serve on.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return nil, os.NewSyscallError("accept4", aerr)
	}
}
