package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accountfiles"
	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"github.com/agent-entrypoint/agent-entrypoint/internal/sockets"
	"golang.org/x/sys/unix"
)

// EtcDir holds the account files.
const EtcDir = "/etc"

// agentTimeout bounds the question a setuid start asks the agent.
const agentTimeout = 3 * time.Second

// Probe holds what a start keeps open between finding and changing: the
// sockets, by path, and the account files as read.
type Probe struct {
	Accounts *accountfiles.Snapshot
	sockets  map[string]*sockets.Socket
	cred     policy.Cred
	kind     policy.Kind
}

// Gather reads the facts of a start with settings e: the account files,
// which of them it may write, and the sockets (the agent's first: the
// SSH_AUTH_SOCK handed in, else Docker Desktop's when it is there).
func Gather(c policy.Cred, e policy.Effective, agentSocket string) (*Probe, policy.Facts, error) {
	p := &Probe{cred: c, kind: policy.KindOf(c), sockets: map[string]*sockets.Socket{}}
	f := policy.Facts{Cred: c, Paths: map[string]policy.PathFact{}}
	f.InUserNS = c.UserNS || (c.EUID == 0 && InUserNS())
	snap, err := accountfiles.Load(EtcDir)
	if err != nil {
		return nil, f, err
	}
	p.Accounts, f.Accounts = snap, snap.DB
	f.Writable = Writable(snap)
	var st unix.Stat_t
	f.HasBash = unix.Stat("/bin/bash", &st) == nil
	agent := agentSocket
	if agent == "" && unix.Lstat(policy.DockerDesktopSocket, &st) == nil {
		agent, f.ExportAgent = policy.DockerDesktopSocket, true
	}
	target := c.RUID
	if p.kind == policy.Root && e.UID != accounts.NoID {
		target = e.UID
	}
	if agent != "" {
		sf, err := p.socket(policy.SocketSpec{Path: agent}, true, e.SocketMode, target)
		if err != nil {
			return nil, f, err
		}
		f.Sockets = append(f.Sockets, sf)
	}
	for _, spec := range e.Sockets {
		sf, _ := p.socket(spec, false, e.SocketMode, target)
		f.Sockets = append(f.Sockets, sf)
	}
	return p, f, nil
}

// Writable says, for each account file, whether this start may write it.
func Writable(snap *accountfiles.Snapshot) map[string]policy.Access {
	out := make(map[string]policy.Access, len(accounts.Files))
	for _, name := range accounts.Files {
		err := snap.Writable(name)
		out[name] = policy.Access{Err: err, ReadOnly: errors.Is(err, unix.EROFS)}
	}
	return out
}

// Reload reads the account files again under the lock, for a start about
// to write, and gives f the new facts.
func (p *Probe) Reload(f *policy.Facts) error {
	snap, err := p.Accounts.Reload()
	if err != nil {
		return err
	}
	p.Accounts, f.Accounts = snap, snap.DB
	return nil
}

// Socket returns the open socket at path, nil when it is not open.
func (p *Probe) Socket(path string) *sockets.Socket { return p.sockets[path] }

// Close releases the sockets.
func (p *Probe) Close() {
	for _, s := range p.sockets {
		s.Close()
	}
}

// socket opens the socket of spec and reads its facts. The agent's socket
// of a setuid start, named by the caller, is looked up with the caller's
// file system ids. The agent is asked for its keys where the decision
// depends on its answer: as root by a start that holds root (a setuid
// start opens up only an agent, and the relay reaches it as root), and as
// the target uid where the mode is auto (OpenSSH's agent serves only root
// and its own uid). An error is returned only when the start must stop.
func (p *Probe) socket(spec policy.SocketSpec, agent bool, mode policy.Mode, target int) (policy.SocketFact, error) {
	path := spec.Path
	f := policy.SocketFact{Path: path, Agent: agent, Mode: spec.Mode, Listener: -1}
	if spec.Mode != "" {
		mode = spec.Mode
	}
	if !filepath.IsAbs(path) {
		f.Err = errors.New("not an absolute path")
		return f, nil
	}
	var s *sockets.Socket
	var err error
	p.asCaller(agent, func() { s, err = sockets.Open(path) })
	if agent && errors.Is(err, sockets.ErrNotSocket) && isDir(path) {
		return p.agentDir(f), nil
	}
	if err != nil {
		f.Err, f.NotSocket = err, errors.Is(err, sockets.ErrNotSocket)
		return f, nil
	}
	p.sockets[path] = s
	f.UID, f.GID, f.Perm, f.ReadOnly, f.MountPoint = s.UID, s.GID, s.Perm, s.ReadOnly, s.MountPoint
	p.asCaller(agent, func() { f.Dirs = dirsAbove(path) })
	if !agent {
		return f, nil
	}
	privileged := p.kind != policy.Unprivileged
	if privileged && (p.kind == policy.Setuid || mode == policy.Auto || mode == policy.Relay) {
		a, err := s.AskAgent(agentTimeout)
		f.AsRoot, f.Listener = probed(a, err), a.Listener
	}
	if mode == policy.Auto {
		var a sockets.Answer
		var err error
		if privileged {
			a, err = s.AskAgentAs(target, target, agentTimeout)
			if errors.Is(err, sockets.ErrLostIDs) {
				return f, err
			}
			if errors.Is(err, sockets.ErrCannotAsk) {
				return f, nil
			}
		} else {
			a, err = s.AskAgent(agentTimeout)
		}
		f.AsTarget = probed(a, err)
		if f.Listener < 0 {
			f.Listener = a.Listener
		}
	}
	return f, nil
}

// agentDir reads the facts of a directory of agent sockets, which the
// relay serves: whether it is a mount point, and whether its newest live
// socket answers root.
func (p *Probe) agentDir(f policy.SocketFact) policy.SocketFact {
	f.Dir = true
	p.asCaller(true, func() { f.MountPoint = sockets.IsMountPoint(f.Path) })
	if p.kind == policy.Unprivileged {
		return f
	}
	var list []string
	var err error
	p.asCaller(true, func() { list, err = sockets.Candidates(f.Path) })
	f.AsRoot = policy.AgentProbe{Tried: true, Err: err}
	if err == nil && len(list) == 0 {
		f.AsRoot.Err = errors.New("no socket in it")
	}
	for _, sock := range list {
		a, err := sockets.AskAgentPath(sock, agentTimeout)
		if f.AsRoot = probed(a, err); f.AsRoot.Answers {
			f.Listener = a.Listener
			break
		}
	}
	return f
}

func probed(a sockets.Answer, err error) policy.AgentProbe {
	return policy.AgentProbe{Tried: true, Answers: err == nil, Refused: a.Refused, Denied: errors.Is(err, unix.EACCES), Err: err}
}

func isDir(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// asCaller runs fn with the real ids as the thread's file system ids when
// on is set in a setuid start: a lookup of a path the caller named then
// sees only what the caller may see. The effective ids, and with them the
// right to change what is found, stay root's.
func (p *Probe) asCaller(on bool, fn func()) {
	if !on || p.kind != policy.Setuid {
		fn()
		return
	}
	// setfsuid and setfsgid act on the calling thread, the one the start
	// runs on until it execs (cmd/agent-entrypoint locks it).
	unix.Setfsgid(p.cred.RGID)
	unix.Setfsuid(p.cred.RUID)
	defer func() {
		unix.Setfsuid(p.cred.EUID)
		unix.Setfsgid(p.cred.EGID)
	}()
	fn()
}

// dirsAbove stats the directories above path that exist, nearest first.
func dirsAbove(path string) []policy.DirFact {
	var out []policy.DirFact
	for _, dir := range safefs.Ancestors(path) {
		var st unix.Stat_t
		if unix.Stat(dir, &st) != nil {
			continue
		}
		out = append(out, policy.DirFact{Path: dir, UID: int(st.Uid), GID: int(st.Gid), Perm: st.Mode & 0o7777})
	}
	return out
}

// Paths reads what is at each path into f.Paths. base and rootOnly are the
// home's rules (policy.HomeDecision): they decide which directories
// between base and a path must be trusted. In a setuid start the caller's
// file system ids look the paths up.
func (p *Probe) Paths(f *policy.Facts, paths []string, base string, rootOnly bool) {
	for _, path := range paths {
		var pf policy.PathFact
		p.asCaller(true, func() { pf = lookPath(path, base, rootOnly) })
		if !pf.Exists && pf.Err == nil && pf.Parent != "" {
			// The effective ids create, so they are the ones to check.
			pf.Create = createAccess(pf.Parent)
		}
		f.Paths[path] = pf
	}
}

func lookPath(path, base string, rootOnly bool) policy.PathFact {
	var pf policy.PathFact
	var st unix.Stat_t
	// stat, not lstat: the command reaches its HOME through any link.
	switch err := unix.Stat(path, &st); {
	case err == nil:
		pf.Exists = true
		pf.Dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
		pf.UID, pf.GID, pf.Perm = int(st.Uid), int(st.Gid), st.Mode&0o7777
		pf.ReadOnly = safefs.ReadOnlyPath(path)
	case err == unix.ENOENT:
		pf.Parent = nearestExisting(path)
		pf.Untrusted = untrusted(base, pf.Parent, rootOnly)
	default:
		pf.Err = &os.PathError{Op: "stat", Path: path, Err: err}
	}
	pf.Dirs = dirsAbove(path)
	return pf
}

// nearestExisting returns the nearest ancestor of path that exists.
func nearestExisting(path string) string {
	for _, dir := range safefs.Ancestors(path) {
		var st unix.Stat_t
		if unix.Lstat(dir, &st) == nil {
			return dir
		}
	}
	return "/"
}

// untrusted names the first existing directory between base and parent
// (both included) that a home must not be created through: a symlink,
// anything but a directory, or with rootOnly one that is not root's alone.
// Without rootOnly, a link anywhere from / counts.
func untrusted(base, parent string, rootOnly bool) error {
	base = filepath.Clean(base)
	rel, err := filepath.Rel(base, parent)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil // not below the base: Decide says so
	}
	dirs := []string{base}
	if !rootOnly {
		dirs = append(safefs.Ancestors(base), base)
	}
	if rel != "." {
		dir := base
		for _, name := range strings.Split(rel, "/") {
			dir = filepath.Join(dir, name)
			dirs = append(dirs, dir)
		}
	}
	for _, dir := range dirs {
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil {
			return &os.PathError{Op: "stat", Path: dir, Err: err}
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
			return fmt.Errorf("%s is a symbolic link", dir)
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return fmt.Errorf("%s is not a directory", dir)
		case rootOnly && (st.Uid != 0 || st.Mode&0o022 != 0):
			return fmt.Errorf("%s is not root's alone (owner %d, mode %04o)", dir, st.Uid, st.Mode&0o7777)
		}
	}
	return nil
}

// createAccess says whether the effective ids may create in dir.
func createAccess(dir string) policy.Access {
	// AT_EACCESS: the effective ids, which a setuid start creates with.
	err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS)
	if err == nil {
		return policy.Access{}
	}
	return policy.Access{Err: &os.PathError{Op: "write", Path: dir, Err: err}, ReadOnly: err == unix.EROFS}
}

// Exists reports whether anything is at path, a symlink included.
func Exists(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil
}
