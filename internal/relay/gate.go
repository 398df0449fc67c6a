package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxMessage is the longest agent message the relay passes, the limit of
// the agent protocol (draft-ietf-sshm-ssh-agent, OpenSSH's PROTOCOL.agent).
const MaxMessage = 256 << 10

// Message types of the agent protocol that a client sends, and the one
// failure answer.
const (
	agentFailure               = 5
	requestIdentities          = 11
	signRequest                = 13
	addIdentity                = 17
	removeIdentity             = 18
	removeAllIdentities        = 19
	addSmartcardKey            = 20
	removeSmartcardKey         = 21
	lock                       = 22
	unlock                     = 23
	addIDConstrained           = 25
	addSmartcardKeyConstrained = 26
	extension                  = 27
	extensionSessionBind       = "session-bind@openssh.com"
	extensionQuery             = "query"
)

// Access is what the command may ask of the agent.
type Access int

const (
	// Full passes every agent request.
	Full Access = iota
	// Sign passes listing keys, signing, and the session-bind and query
	// extensions; the requests that change the agent are refused.
	Sign
)

// Verdict is what the gate does with one message.
type Verdict int

const (
	// Pass: send it to the agent.
	Pass Verdict = iota
	// Refuse: answer SSH_AGENT_FAILURE, send nothing to the agent.
	Refuse
	// Close: not an agent request; end the connection.
	Close
)

// Judge is the gate: what to do with one message (its type byte and
// body, without the length) from a client.
func Judge(msg []byte, access Access) Verdict {
	if len(msg) == 0 {
		return Close
	}
	switch msg[0] {
	case requestIdentities, signRequest:
		return Pass
	case addIdentity, removeIdentity, removeAllIdentities, addSmartcardKey, removeSmartcardKey,
		lock, unlock, addIDConstrained, addSmartcardKeyConstrained:
		if access == Sign {
			return Refuse
		}
		return Pass
	case extension:
		name, ok := extensionName(msg[1:])
		switch {
		case !ok:
			return Close
		case access == Full, name == extensionSessionBind, name == extensionQuery:
			return Pass
		}
		return Refuse
	}
	return Close
}

// extensionName reads the string an extension message starts with.
func extensionName(body []byte) (string, bool) {
	if len(body) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(body)
	if uint64(n) > uint64(len(body)-4) {
		return "", false
	}
	return string(body[4 : 4+n]), true
}

// errTooLong is a length beyond the protocol's limit, or an empty message.
var errTooLong = errors.New("agent message length out of range")

// readFrame reads one length-prefixed message, its length checked before
// a byte of it is read.
func readFrame(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n == 0 || n > MaxMessage {
		return nil, fmt.Errorf("%w: %d bytes", errTooLong, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// frame prefixes msg with its length.
func frame(msg []byte) []byte {
	out := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(out, uint32(len(msg)))
	copy(out[4:], msg)
	return out
}

// failure is the answer to a refused request.
var failure = frame([]byte{agentFailure})
