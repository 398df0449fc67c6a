// Command agentprobe asks the SSH agent at $SSH_AUTH_SOCK (or at the path
// given as its only argument) for its identities and prints one line per
// key, much as ssh-add -l does:
//
//	SHA256:<base64 fingerprint> <comment> (<key type>)
//
// preceded by a line "identities: N". It exits 1 with the errno's text
// (e.g. "permission denied") when the agent cannot be reached or answers
// something else, and 2 on bad usage. It exists because images such as
// busybox, alpine or debian:bookworm-slim have no ssh-add; it is built
// static and copied into the test images.
package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Message numbers of the agent protocol (draft-miller-ssh-agent).
const (
	agentcRequestIdentities = 11
	agentIdentitiesAnswer   = 12
)

// maxReply bounds what we read from the agent: a few keys need a few KiB.
const maxReply = 256 << 10

func main() {
	path := os.Getenv("SSH_AUTH_SOCK")
	switch len(os.Args) {
	case 1:
	case 2:
		path = os.Args[1]
	default:
		fmt.Fprintln(os.Stderr, "usage: agentprobe [SOCKET]")
		os.Exit(2)
	}
	if path == "" {
		fmt.Fprintln(os.Stderr, "agentprobe: error: SSH_AUTH_SOCK is not set")
		os.Exit(2)
	}
	if err := probe(os.Stdout, path); err != nil {
		fmt.Fprintf(os.Stderr, "agentprobe: error: %v\n", err)
		os.Exit(1)
	}
}

func probe(w io.Writer, path string) error {
	conn, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to agent %s: %s", path, errnoText(err))
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	// A message is a uint32 length followed by that many bytes, the first
	// of which is the message number.
	if _, err := conn.Write([]byte{0, 0, 0, 1, agentcRequestIdentities}); err != nil {
		return fmt.Errorf("send request to agent: %s", errnoText(err))
	}
	var lenBuf [4]byte
	if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
		if errors.Is(err, io.EOF) {
			// OpenSSH's agent hangs up on peers whose uid it does not serve.
			return errors.New("agent closed the connection without answering (does it serve this uid?)")
		}
		return fmt.Errorf("read agent reply: %s", errnoText(err))
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	if n == 0 || n > maxReply {
		return fmt.Errorf("agent reply has bad length %d", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(conn, msg); err != nil {
		return fmt.Errorf("read agent reply: %s", errnoText(err))
	}
	if msg[0] != agentIdentitiesAnswer {
		return fmt.Errorf("agent answered message %d, want %d", msg[0], agentIdentitiesAnswer)
	}
	r := reader{b: msg[1:]}
	count := r.uint32()
	if r.err == nil && uint64(count) > uint64(len(r.b))/8 {
		return fmt.Errorf("agent reply claims %d keys in %d bytes", count, len(r.b))
	}
	lines := make([]string, 0, count)
	for i := uint32(0); i < count && r.err == nil; i++ {
		blob := r.str()
		comment := r.str()
		typ := (&reader{b: blob}).str()
		sum := sha256.Sum256(blob)
		lines = append(lines, fmt.Sprintf("SHA256:%s %s (%s)", base64.RawStdEncoding.EncodeToString(sum[:]), comment, typ))
	}
	if r.err != nil {
		return fmt.Errorf("parse agent reply: %w", r.err)
	}
	fmt.Fprintf(w, "identities: %d\n", count)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// errnoText reduces a network error to its errno's text when there is one:
// "permission denied" rather than "dial unix /x: connect: permission denied".
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}

// reader decodes the protocol's uint32 and string (uint32 length + bytes).
type reader struct {
	b   []byte
	err error
}

func (r *reader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 4 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) str() []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
