package relay

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ext(name string, rest ...byte) []byte {
	b := []byte{extension, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(name)))
	return append(append(b, name...), rest...)
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name       string
		msg        []byte
		full, sign Verdict
	}{
		{"list keys", []byte{requestIdentities}, Pass, Pass},
		{"sign", []byte{signRequest, 1, 2, 3}, Pass, Pass},
		{"add a key", []byte{addIdentity, 0}, Pass, Refuse},
		{"add a constrained key", []byte{addIDConstrained}, Pass, Refuse},
		{"remove a key", []byte{removeIdentity}, Pass, Refuse},
		{"remove all keys", []byte{removeAllIdentities}, Pass, Refuse},
		{"smartcard add and remove", []byte{addSmartcardKey}, Pass, Refuse},
		{"lock", []byte{lock}, Pass, Refuse},
		{"unlock", []byte{unlock}, Pass, Refuse},
		{"session-bind", ext(extensionSessionBind, 1, 2), Pass, Pass},
		{"query", ext(extensionQuery), Pass, Pass},
		{"another extension", ext("restrict-destination-v00@openssh.com"), Pass, Refuse},
		{"extension with a short name field", []byte{extension, 0, 0}, Close, Close},
		{"extension name past the end", []byte{extension, 0, 0, 0, 9, 'a'}, Close, Close},
		{"empty", nil, Close, Close},
		{"an agent's answer type", []byte{12}, Close, Close},
		{"SSH1 request", []byte{1}, Close, Close},
		{"HTTP", []byte("GET /containers/json HTTP/1.1\r\n"), Close, Close},
	} {
		if got := Judge(tc.msg, Full); got != tc.full {
			t.Errorf("%s, full: %v, want %v", tc.name, got, tc.full)
		}
		if got := Judge(tc.msg, Sign); got != tc.sign {
			t.Errorf("%s, sign: %v, want %v", tc.name, got, tc.sign)
		}
	}
}

// upstream records what reaches it and answers each frame with an
// identities answer.
type upstream struct {
	mu    sync.Mutex
	got   bytes.Buffer
	dials int
}

// pair is a connected pair of unix sockets, which close their halves as
// a client and an agent do.
func pair() (*conn, *conn) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	return newConn(fds[0]), newConn(fds[1])
}

func (u *upstream) dial() (stream, error) {
	a, b := pair()
	u.mu.Lock()
	u.dials++
	u.mu.Unlock()
	go func() {
		defer b.Close()
		for {
			msg, err := readFrame(b)
			if err != nil {
				return
			}
			u.mu.Lock()
			u.got.Write(frame(msg))
			u.mu.Unlock()
			if _, err := b.Write(frame([]byte{12, 0, 0, 0, 0})); err != nil {
				return
			}
		}
	}()
	return a, nil
}

func (u *upstream) bytes() []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	return bytes.Clone(u.got.Bytes())
}

// run passes in through a gated relay and returns what the client read
// back, once the relay ended the connection.
func run(t testing.TB, u *upstream, in []byte, access Access) []byte {
	client, relayEnd := pair()
	defer client.Close()
	done := make(chan struct{})
	go func() { serveAgent(relayEnd, u.dial, access); close(done) }()
	var out bytes.Buffer
	readDone := make(chan struct{})
	go func() { io.Copy(&out, client); close(readDone) }()
	client.Write(in)
	client.CloseWrite()
	<-done
	<-readDone
	return out.Bytes()
}

func TestServeAgent(t *testing.T) {
	list := frame([]byte{requestIdentities})
	answer := frame([]byte{12, 0, 0, 0, 0})
	for _, tc := range []struct {
		name       string
		in         []byte
		access     Access
		upstream   []byte
		client     []byte
		wantDialed bool
	}{
		{"two requests, one connection", append(append([]byte{}, list...), list...), Full, append(append([]byte{}, list...), list...), append(append([]byte{}, answer...), answer...), true},
		{"HTTP first: nothing reaches the upstream", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Full, nil, []byte{}, false},
		{"a valid request, then garbage: answered, then closed", append(append([]byte{}, list...), 0, 0, 0, 1, 99), Full, list, answer, true},
		{"sign access: remove-all refused, list passed", append(frame([]byte{removeAllIdentities}), list...), Sign, list, append(append([]byte{}, failure...), answer...), true},
		{"sign access: list, then remove-all: answers in order", append(append([]byte{}, list...), frame([]byte{removeAllIdentities})...), Sign, list, append(append([]byte{}, answer...), failure...), true},
		{"sign access: only refused requests: no dial", frame([]byte{lock}), Sign, nil, failure, false},
		{"length beyond the limit", []byte{0, 0x10, 0, 0, requestIdentities}, Full, nil, []byte{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &upstream{}
			client := run(t, u, tc.in, tc.access)
			if got := u.bytes(); !bytes.Equal(got, tc.upstream) {
				t.Errorf("upstream got %q, want %q", got, tc.upstream)
			}
			if tc.client != nil && !bytes.Equal(client, tc.client) {
				t.Errorf("client got %q, want %q", client, tc.client)
			}
			if (u.dials > 0) != tc.wantDialed {
				t.Errorf("dialed %d times, want dialed: %v", u.dials, tc.wantDialed)
			}
		})
	}
}

// FuzzGate: whatever bytes a client sends, only whole frames the gate
// passes reach the upstream.
func FuzzGate(f *testing.F) {
	f.Add([]byte("GET /v1.43/containers/json HTTP/1.1\r\n\r\n"), false)
	f.Add(append(frame([]byte{requestIdentities}), frame(ext("query"))...), true)
	f.Add(frame([]byte{addIdentity, 1, 2, 3}), true)
	f.Fuzz(func(t *testing.T, in []byte, sign bool) {
		access := Full
		if sign {
			access = Sign
		}
		u := &upstream{}
		run(t, u, in, access)
		got := u.bytes()
		for r := bytes.NewReader(got); r.Len() > 0; {
			msg, err := readFrame(r)
			if err != nil {
				t.Fatalf("the upstream got a broken frame: %v in %q", err, got)
			}
			if Judge(msg, access) != Pass {
				t.Fatalf("the upstream got a message the gate does not pass: %q", msg)
			}
		}
	})
}

// TestDirUpstream: a directory of agent sockets, the newest dead: the
// next live one answers.
func TestDirUpstream(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok"))
			c.Close()
		}
	}()
	past := time.Now().Add(-time.Minute)
	os.Chtimes(live, past, past)
	// A dead socket, newer: its listener is gone.
	dead := filepath.Join(dir, "dead.sock")
	dl, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	dl.(*net.UnixListener).SetUnlinkOnClose(false)
	dl.Close()
	c, err := Upstream{Path: dir, Dir: true}.Dial()
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	defer c.Close()
	if b, _ := io.ReadAll(c); string(b) != "ok" {
		t.Errorf("dialed the wrong socket: %q", b)
	}
}

func TestListen(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to hand the socket over")
	}
	base := t.TempDir()
	os.Chmod(base, 0o777|os.ModeSticky)
	old := Bases
	Bases = []string{base}
	t.Cleanup(func() { Bases = old })
	l, err := Listen("agent.sock", 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Remove()
	for path, perm := range map[string]os.FileMode{l.Path: 0o600 | os.ModeSocket, filepath.Dir(l.Path): 0o700 | os.ModeDir} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != perm || st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s: mode %v owner %d:%d, want %v 1000:1000", path, fi.Mode(), st.Uid, st.Gid, perm)
		}
	}
}
