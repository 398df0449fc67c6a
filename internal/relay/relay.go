package relay

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/sockets"
)

// dialTimeout bounds the dial of one upstream.
const dialTimeout = 10 * time.Second

// Upstream is the socket a relay passes its connections on to.
type Upstream struct {
	Path string
	// Dir: Path is a directory of agent sockets; each connection goes to
	// the newest that accepts one.
	Dir bool
}

// Dial connects to the upstream, anew for each call.
func (u Upstream) Dial() (stream, error) {
	if !u.Dir {
		return dialUnix(u.Path)
	}
	socks, err := sockets.Candidates(u.Path)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, s := range socks {
		c, err := dialUnix(s)
		if err == nil {
			return c, nil
		}
		// A dead socket, left by an agent that exited: try the next.
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no socket in " + u.Path)
	}
	return nil, errors.Join(errs...)
}

// Serve accepts connections on l until it is closed and passes each to a
// connection of its own to up: gated to agent frames with access, or
// ungated (gate false) for a socket that is not the agent's.
func Serve(l *Listener, up Upstream, gate bool, access Access) error {
	for {
		c, err := accept(l.fd)
		if err != nil {
			return err
		}
		if gate {
			go serveAgent(c, up.Dial, access)
		} else {
			go servePlain(c, up)
		}
	}
}

// serveAgent passes one client's agent requests, each through the gate,
// and the agent's answers back. The upstream is dialed at the first
// request that passes, so that a client whose first bytes are no agent
// request never reaches it.
func serveAgent(client stream, dial func() (stream, error), access Access) {
	defer client.Close()
	var (
		mu       sync.Mutex // whole frames to the client, from either side
		upstream stream
		drained  chan struct{} // closed when the agent's answers end
	)
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := client.Write(b)
		return err
	}
	defer func() {
		if upstream != nil {
			upstream.Close()
		}
	}()
	for {
		msg, err := readFrame(client)
		if errors.Is(err, io.EOF) && upstream != nil {
			// The client is done asking: let the agent answer what it
			// asked, then end both.
			upstream.CloseWrite()
			<-drained
			return
		}
		if err != nil {
			return
		}
		switch Judge(msg, access) {
		case Close:
			return
		case Refuse:
			if write(failure) != nil {
				return
			}
			continue
		}
		if upstream == nil {
			if upstream, err = dial(); err != nil {
				upstream = nil
				return
			}
			drained = make(chan struct{})
			go func() { answers(upstream, write); close(drained) }()
		}
		if _, err := upstream.Write(frame(msg)); err != nil {
			return
		}
	}
}

// answers passes the agent's answers to the client, whole frames at a
// time, until the agent ends its connection.
func answers(upstream stream, write func([]byte) error) {
	for {
		msg, err := readFrame(upstream)
		if err != nil || write(frame(msg)) != nil {
			return
		}
	}
}

// servePlain passes bytes both ways, as they come.
func servePlain(client stream, up Upstream) {
	defer client.Close()
	upstream, err := up.Dial()
	if err != nil {
		return
	}
	defer upstream.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(client, upstream)
		client.CloseWrite()
		close(done)
	}()
	io.Copy(upstream, client)
	upstream.CloseWrite()
	<-done
}
