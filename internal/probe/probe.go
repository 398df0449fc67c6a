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
	if agent != "" {
		f.Sockets = append(f.Sockets, p.socket(agent, true))
	}
	for _, path := range e.Sockets {
		f.Sockets = append(f.Sockets, p.socket(path, false))
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

// socket opens the socket at path and reads its facts. The agent's socket
// of a setuid start, named by the caller, is looked up with the caller's
// file system ids, and asked for its keys, as root, when it is a mount
// point.
func (p *Probe) socket(path string, agent bool) policy.SocketFact {
	f := policy.SocketFact{Path: path, Agent: agent}
	if !filepath.IsAbs(path) {
		f.Err = errors.New("not an absolute path")
		return f
	}
	var s *sockets.Socket
	var err error
	p.asCaller(agent, func() { s, err = sockets.Open(path) })
	if err != nil {
		f.Err, f.NotSocket = err, errors.Is(err, sockets.ErrNotSocket)
		return f
	}
	p.sockets[path] = s
	f.UID, f.GID, f.Perm, f.ReadOnly, f.MountPoint = s.UID, s.GID, s.Perm, s.ReadOnly, s.MountPoint
	p.asCaller(agent, func() { f.Dirs = dirsAbove(path) })
	if agent && p.kind == policy.Setuid && s.MountPoint {
		_, f.AgentErr = s.AskAgent(agentTimeout)
		f.Asked = true
	}
	return f
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
