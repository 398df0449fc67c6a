package relay

import (
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The relay works on plain file descriptors with blocking system calls,
// one goroutine (and so one thread) per direction of each connection: a
// handful of agent connections need no poller, and the net package would
// link the C library's resolver into a binary built with cgo.

// stream is one end of a connection.
type stream interface {
	io.Reader
	io.Writer
	Close() error
	// CloseWrite ends the writing half, as shutdown(SHUT_WR).
	CloseWrite() error
}

// conn is a connected unix stream socket.
type conn int

func (c conn) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(c), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c conn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		// MSG_NOSIGNAL: a peer that hung up is an error here, not a
		// SIGPIPE to the supervisor, which would forward it.
		n, err := unix.SendmsgN(int(c), p[written:], nil, nil, unix.MSG_NOSIGNAL)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

func (c conn) CloseWrite() error { return unix.Shutdown(int(c), unix.SHUT_WR) }

// Close shuts the socket down first, so that a goroutine blocked reading
// it wakes, then closes it.
func (c conn) Close() error {
	unix.Shutdown(int(c), unix.SHUT_RDWR)
	return unix.Close(int(c))
}

// dialUnix connects to the unix socket at path.
func dialUnix(path string) (conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
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
		return -1, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	var zero unix.Timeval
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &zero)
	return conn(fd), nil
}

// listenUnix binds a unix stream socket at path and listens on it.
func listenUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// accept waits for a connection on the listening socket fd; it fails
// once the socket is shut down.
func accept(fd int) (conn, error) {
	for {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		switch err {
		case nil:
			return conn(nfd), nil
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of descriptors or memory: wait, then serve on.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		return -1, err
	}
}
