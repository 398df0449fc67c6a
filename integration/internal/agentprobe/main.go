// Command agentprobe asks the SSH agent at $SSH_AUTH_SOCK (or at the path
// given as its only argument) for its identities, with
// golang.org/x/crypto/ssh/agent, and prints one line per key, as ssh-add -l
// does:
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
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	path := os.Getenv("SSH_AUTH_SOCK")
	args := os.Args[1:]
	if len(args) >= 2 && args[0] == "-send" {
		// agentprobe -send TEXT [SOCKET]: send TEXT as it is (an HTTP
		// request, say) and print whatever comes back, for the relay's
		// gate to be tried.
		text := args[1]
		if len(args) == 3 {
			path = args[2]
		}
		if err := send(os.Stdout, path, text); err != nil {
			fmt.Fprintf(os.Stderr, "agentprobe: error: %v\n", err)
			os.Exit(1)
		}
		return
	}
	switch len(args) {
	case 0:
	case 1:
		path = args[0]
	default:
		fmt.Fprintln(os.Stderr, "usage: agentprobe [SOCKET] | agentprobe -send TEXT [SOCKET]")
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
	keys, err := agent.NewClient(conn).List()
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// OpenSSH's agent hangs up on peers whose uid it does not serve.
		return errors.New("agent closed the connection without answering (does it serve this uid?)")
	}
	if err != nil {
		return fmt.Errorf("list the agent's keys: %s", errnoText(err))
	}
	fmt.Fprintf(w, "identities: %d\n", len(keys))
	for _, k := range keys {
		pub, err := ssh.ParsePublicKey(k.Blob)
		if err != nil {
			return fmt.Errorf("parse the agent's key %q: %w", k.Comment, err)
		}
		fmt.Fprintf(w, "%s %s (%s)\n", ssh.FingerprintSHA256(pub), k.Comment, keyType(k.Format))
	}
	return nil
}

// send writes text to the socket at path, closes its writing half, and
// copies what comes back to w.
func send(w io.Writer, path, text string) error {
	conn, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to %s: %s", path, errnoText(err))
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, text); err != nil {
		return fmt.Errorf("send to %s: %s", path, errnoText(err))
	}
	conn.(*net.UnixConn).CloseWrite()
	n, err := io.Copy(w, conn)
	fmt.Fprintf(w, "\n(%d bytes back)\n", n)
	if err != nil {
		return fmt.Errorf("read from %s: %s", path, errnoText(err))
	}
	return nil
}

// keyType names a key type as ssh-add -l does: ED25519, RSA, ECDSA.
func keyType(format string) string {
	switch format {
	case ssh.KeyAlgoED25519:
		return "ED25519"
	case ssh.KeyAlgoRSA:
		return "RSA"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return "ECDSA"
	}
	return format
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
