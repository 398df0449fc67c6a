package policy

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// SocketAction is what a start does with one socket.
type SocketAction struct {
	Path string
	Mode Mode   // the mode chosen: none, chmod, chown, group or relay
	Perm uint32 // chmod: the permission bits to set
	GID  int    // group: the group the target joins
	Why  string // why this mode, for -v
}

// Upstream is a socket the start relays: it serves the target a socket
// of its own and passes each connection on to this one.
type Upstream struct {
	Path string
	// Agent: the SSH agent's, gated to agent frames; any other socket's
	// bytes pass ungated (a root start only).
	Agent bool
	// Dir: Path is a directory; each connection goes to its newest
	// live socket.
	Dir    bool
	Access AgentAccess
}

// checkSockets decides, for each socket, what makes it usable by the
// target, and reports each one that stays unusable.
func (d *decider) checkSockets() {
	who := Who{UID: d.Identity.UID, Groups: d.Groups}
	for _, s := range d.f.Sockets {
		mode := s.Mode
		if mode == "" {
			mode = d.e.SocketMode
		}
		if mode == "" {
			mode = Auto
		}
		var why string
		switch {
		case s.Agent && d.e.AgentAccess == SignAccess && mode == Auto:
			mode, why = Relay, "the agent's access is sign, which only the relay can keep"
		case s.Agent && d.e.AgentAccess == SignAccess && mode != Relay && mode != None:
			d.problem(Problem{Kind: AccessNeedsRelay, Path: s.Path,
				Err: fmt.Errorf("socket %s: agent access sign needs socket mode relay, not %s", s.Path, mode)})
			continue
		case s.Dir && mode == Auto:
			mode, why = Relay, "a directory of agent sockets is served by the relay"
		case s.Dir && mode != Relay:
			d.problem(Problem{Kind: DirNeedsRelay, Path: s.Path,
				Err: fmt.Errorf("socket %s: a directory of agent sockets needs socket mode relay, not %s", s.Path, mode)})
			continue
		case s.Err != nil:
			d.socketMissing(s)
			continue
		}
		blocked := ""
		if !s.Dir {
			blocked = who.blockedAt(s.Dirs)
		}
		connect := !s.Dir && blocked == "" && who.CanConnect(s)
		if mode == Auto {
			mode, why = d.auto(s, who, connect, blocked)
		}
		a := SocketAction{Path: s.Path, Mode: mode, Why: why}
		var p *Problem
		switch mode {
		case None:
			p = d.unusable(s, who, connect, blocked, SocketNoConnect, "")
		case Chmod:
			a.Perm = s.Perm&^0o777 | 0o666
			p = d.changeProblem(s, who, connect, blocked, CapFowner, "chmod")
		case Chown:
			p = d.changeProblem(s, who, connect, blocked, CapChown, "chown")
		case Group:
			a.GID = s.GID
			p = d.groupProblem(s, who, connect)
		case Relay:
			p = d.relayProblem(s)
		}
		if p != nil {
			d.problem(*p)
			continue
		}
		if a.Why != "" {
			d.note("socket %s: %s: %s", s.Path, a.Mode, a.Why)
		}
		switch {
		case mode == None:
			continue
		case mode == Group:
			d.joinGroup(s)
		case mode == Relay:
			d.Relays = append(d.Relays, Upstream{Path: s.Path, Agent: s.Agent, Dir: s.Dir, Access: d.e.AgentAccess})
		case connect:
			// chmod or chown of a socket the target can use already.
			continue
		}
		d.Sockets = append(d.Sockets, a)
	}
}

// auto picks the least that works: nothing when the target can use the
// socket, chmod where that makes it usable, group for a socket whose
// group may use it, the relay where nothing else can work. It never picks
// a mode that widens a socket when that would not help.
func (d *decider) auto(s SocketFact, who Who, connect bool, blocked string) (Mode, string) {
	uid := who.UID
	switch {
	case s.Agent && s.AsTarget.Refused:
		return Relay, fmt.Sprintf("the agent does not serve uid %d%s", uid, listener(s))
	case s.Agent && !s.AsTarget.Tried && s.UID != 0 && s.UID != uid && !(s.UID == overflowUID && d.f.InUserNS):
		// Not asked (the start could not take the target's uid for a
		// moment): OpenSSH's agent serves only root and its own uid, so no
		// mode of a socket another uid owns would let the target in.
		return Relay, fmt.Sprintf("the socket belongs to uid %d, and an agent serves only root and its own uid", s.UID)
	case connect:
		return None, fmt.Sprintf("uid %d can use it already", uid)
	case blocked != "":
		return d.fallback(s, Relay, fmt.Sprintf("directory %s is not searchable by uid %d", blocked, uid))
	case !s.Agent && s.GID != 0 && s.Perm&0o020 != 0 && d.groupProblem(s, who, false) == nil:
		return Group, fmt.Sprintf("its group %d may use it", s.GID)
	}
	if p := d.changeProblem(s, who, false, "", CapFowner, "chmod"); p != nil {
		return d.fallback(s, Chmod, "its mode cannot change: "+p.Err.Error())
	}
	if s.AsTarget.Answers {
		return Chmod, fmt.Sprintf("uid %d cannot connect, and the agent serves it", uid)
	}
	return Chmod, fmt.Sprintf("uid %d cannot connect", uid)
}

// fallback is the relay when it can serve s, else mode, whose problem
// then says why the socket stays unusable.
func (d *decider) fallback(s SocketFact, mode Mode, why string) (Mode, string) {
	if d.relayProblem(s) == nil {
		return Relay, why
	}
	return mode, why
}

func listener(s SocketFact) string {
	if s.Listener >= 0 && s.Listener != 0 {
		return fmt.Sprintf(": it belongs to uid %d", s.Listener)
	}
	return ""
}

// unusable reports a socket the target cannot connect to, or nil.
func (d *decider) unusable(s SocketFact, who Who, connect bool, blocked string, kind ProblemKind, why string) *Problem {
	if connect {
		return nil
	}
	if blocked != "" {
		return &Problem{Kind: SocketUnreachable, Path: s.Path,
			Err: fmt.Errorf("uid %d cannot reach %s: directory %s is not searchable", who.UID, s.Path, blocked)}
	}
	err := fmt.Errorf("uid %d cannot connect to %s (owner %d:%d, mode %04o)", who.UID, s.Path, s.UID, s.GID, s.Perm)
	if why != "" {
		err = fmt.Errorf("%w: %s", err, why)
	}
	return &Problem{Kind: kind, Path: s.Path, UID: who.UID, Err: err}
}

// changeProblem says why the start cannot chmod (or chown) the socket,
// needing capability c for it, or nil when it can.
func (d *decider) changeProblem(s SocketFact, who Who, connect bool, blocked string, c int, verb string) *Problem {
	if blocked != "" {
		return d.unusable(s, who, false, blocked, 0, "")
	}
	if connect && verb == "chmod" {
		return nil
	}
	no := func(kind ProblemKind, why string) *Problem { return d.unusable(s, who, false, "", kind, why) }
	switch {
	case !d.Drop:
		return no(SocketNoPrivilege, "a start without root cannot change it")
	case s.ReadOnly:
		return no(SocketReadOnly, "it is on a read-only mount")
	case s.UID == overflowUID && d.f.InUserNS:
		// Root of a user namespace (rootless Podman) may not change an
		// inode whose owner it cannot map, whatever its capabilities.
		return no(SocketForeignOwner, "its owner is outside this user namespace")
	}
	if p := d.setuidAgent(s, who, "opens up"); p != nil {
		return p
	}
	if c == CapFowner && s.UID == d.f.Cred.EUID {
		return nil
	}
	if missing := d.missingCaps(c); len(missing) > 0 {
		p := no(MissingCaps, fmt.Sprintf("%s to %s it", missingPhrase(missing), verb))
		p.Caps = missing
		return p
	}
	return nil
}

// setuidAgent is the setuid start's rule for the agent's socket, which its
// caller named: only a socket mounted into the container that answers as
// an SSH agent.
func (d *decider) setuidAgent(s SocketFact, who Who, verb string) *Problem {
	if d.Kind != Setuid || !s.Agent {
		return nil
	}
	switch {
	case !s.MountPoint:
		// A socket made inside the container is no host's agent.
		return d.unusable(s, who, false, "", SocketNotMounted,
			fmt.Sprintf("a setuid start %s only a socket mounted into the container", verb))
	case !s.AsRoot.Answers:
		why := "was not asked"
		if s.AsRoot.Err != nil {
			why = s.AsRoot.Err.Error()
		}
		return d.unusable(s, who, false, "", SocketNotAgent,
			fmt.Sprintf("a setuid start %s only an SSH agent, and it %s", verb, why))
	}
	return nil
}

// groupProblem says why the target cannot join the socket's group to use
// it, or nil.
func (d *decider) groupProblem(s SocketFact, who Who, connect bool) *Problem {
	no := func(kind ProblemKind, why string) *Problem { return d.unusable(s, who, false, "", kind, why) }
	switch {
	case !d.Drop:
		return no(SocketNoPrivilege, "a start without root cannot add groups")
	case s.GID == 0:
		return no(GroupZero, "its group is root's, which the command never joins")
	case s.Perm&0o020 == 0:
		return no(GroupNotWritable, fmt.Sprintf("its group %d may not use it", s.GID))
	}
	if p := d.setuidAgent(s, who, "shares"); p != nil {
		return p
	}
	if missing := d.missingCaps(CapSetgid); len(missing) > 0 {
		p := no(MissingCaps, "missing capability SETGID to join its group")
		p.Caps = missing
		return p
	}
	return nil
}

// relayProblem says why the start cannot relay the socket, or nil.
func (d *decider) relayProblem(s SocketFact) *Problem {
	no := func(kind ProblemKind, err error) *Problem { return &Problem{Kind: kind, Path: s.Path, Err: err} }
	switch {
	case !d.Drop:
		return no(SocketNoPrivilege, fmt.Errorf("cannot relay %s: a start without root cannot", s.Path))
	case !s.Agent && d.Kind != Root:
		return no(RelayUngated, fmt.Errorf("cannot relay %s: a setuid start relays only the SSH agent", s.Path))
	case s.Agent && d.Kind == Setuid && !s.MountPoint:
		return no(SocketNotMounted, fmt.Errorf("cannot relay %s: a setuid start relays only an agent mounted into the container", s.Path))
	case s.Agent && !s.AsRoot.Answers && s.AsRoot.Denied && len(d.missingCaps(CapDACOverride)) > 0:
		// Root could not connect for want of the capability that passes a
		// socket's mode: the socket may well be an agent's.
		missing := d.missingCaps(CapDACOverride, CapKill)
		p := no(MissingCaps, fmt.Errorf("cannot relay %s: %s to reach the agent and forward signals to the command", s.Path, missingPhrase(missing)))
		p.Caps = missing
		return p
	case s.Agent && !s.AsRoot.Answers:
		why := "it was not asked"
		if s.AsRoot.Err != nil {
			why = s.AsRoot.Err.Error()
		}
		return no(SocketNotAgent, fmt.Errorf("cannot relay %s: it does not answer as an SSH agent: %s", s.Path, why))
	}
	if missing := d.missingCaps(CapKill); len(missing) > 0 {
		// The supervisor would stay, unable to pass docker stop's SIGTERM
		// on to the command.
		p := no(MissingCaps, fmt.Errorf("cannot relay %s: missing capability KILL to forward signals to the command", s.Path))
		p.Caps = missing
		return p
	}
	return nil
}

// joinGroup adds the socket's group to the drop's, and a line for it
// when /etc/group has no name for the gid, so that id shows one.
func (d *decider) joinGroup(s SocketFact) {
	d.Groups = accounts.SortedIDs(append(d.Groups, s.GID))
	if _, ok := d.f.Accounts.GroupByGID(s.GID); ok {
		return
	}
	if a := d.f.Writable[accounts.Group]; a.Err != nil {
		d.note("not written: a group line for gid %d (%v)", s.GID, a.Err)
		return
	}
	name := strings.TrimSuffix(filepath.Base(s.Path), filepath.Ext(s.Path))
	d.Plan.AddGroup(d.f.Accounts, name, s.GID)
}

// socketMissing reports a socket that could not be opened as one.
func (d *decider) socketMissing(s SocketFact) {
	p := Problem{Kind: SocketMissing, Path: s.Path, Err: fmt.Errorf("skip socket: %w", s.Err)}
	switch {
	case !strings.HasPrefix(s.Path, "/"):
		p.Kind, p.Err = SocketBadPath, fmt.Errorf("skip socket %q: not an absolute path", s.Path)
	case s.NotSocket:
		p.Kind = SocketNotSocket
	}
	d.problem(p)
}
