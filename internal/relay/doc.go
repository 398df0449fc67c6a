// Package relay serves the target a socket of its own in place of one it
// cannot use, and passes each connection on to that socket: the SSH agent
// that serves only root and its own uid, a socket on a read-only mount, a
// host's socket the start must not change.
//
// Every client connection gets a connection of its own to the upstream,
// dialed anew (OpenSSH binds sessions to one connection, and an agent
// restarted at the same path is picked up by the next request); an
// upstream that is a directory gets its newest socket that answers. For
// the agent, only agent frames pass: each message's length within the
// protocol's limit and its type one a client sends. Anything else closes
// the connection before a byte reaches the upstream, so that a relay that
// dials as root can never carry another protocol (HTTP to a root-only
// docker.sock) to the socket it serves. With sign access, the requests
// that change the agent (add, remove, lock, unlock) are answered
// SSH_AGENT_FAILURE and never passed.
//
// It deliberately does not: pool upstream connections, parse more of a
// message than its type (and an extension's name), or relay any socket
// but the agent's with a gate (others pass bytes as they come, which only
// a root start may ask for).
package relay
