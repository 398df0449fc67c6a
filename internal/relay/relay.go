package relay

import (
	"errors"
	"io"
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
		c, err := dialUnix(u.Path)
		if err != nil {
			return nil, err
		}
		return c, nil
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
		c, err := accept(l.f)
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
// and the agent's answers back, one request and its answer at a time, as
// the protocol goes: so a refused request's failure comes back in its
// turn among the agent's answers. The upstream is dialed at the first
// request that passes, so that a client whose first bytes are no agent
// request never reaches it.
func serveAgent(client stream, dial func() (stream, error), access Access) {
	defer client.Close()
	var upstream stream
	defer func() {
		if upstream != nil {
			upstream.Close()
		}
	}()
	for {
		msg, err := readFrame(client)
		if err != nil {
			return
		}
		answer := failure
		switch Judge(msg, access) {
		case Close:
			return
		case Pass:
			if upstream == nil {
				if upstream, err = dial(); err != nil {
					upstream = nil
					return
				}
			}
			if answer, err = ask(upstream, msg); err != nil {
				return
			}
		}
		if _, err := client.Write(answer); err != nil {
			return
		}
	}
}

// ask sends the agent one request and reads its answer, framed.
func ask(upstream stream, msg []byte) ([]byte, error) {
	if _, err := upstream.Write(frame(msg)); err != nil {
		return nil, err
	}
	answer, err := readFrame(upstream)
	if err != nil {
		return nil, err
	}
	return frame(answer), nil
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
