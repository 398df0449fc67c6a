package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/ownership"
	"github.com/agent-entrypoint/agent-entrypoint/internal/perms"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startup"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
	"golang.org/x/sys/unix"
)

// etcDir holds the account files.
const etcDir = "/etc"

// dockerDesktopSocket is where Docker Desktop mounts the host's agent.
const dockerDesktopSocket = "/run/host-services/ssh-auth.sock"

// fallbackHome is HOME when the target's home cannot be used.
const fallbackHome = "/tmp"

// overflowUID is the owner the kernel shows for a file whose owner has no
// id in this user namespace (/proc/sys/kernel/overflowuid, 65534 unless
// changed).
const overflowUID = 65534

// A setuid start moves only users in login.defs' UID_MIN..UID_MAX, the
// range of ordinary users on Debian and Alpine: not system accounts below,
// nor nobody (65534) above.
const (
	loginUIDMin = 1000
	loginUIDMax = 60000
)

// start is one container start: what prepare decided and apply carries out.
type start struct {
	cfg  config
	cond startup.Conditions
	log  *logger

	unlock  func() // releases the account files' lock; nil when not held
	lockErr error  // why the lock could not be taken
	db      *users.DB
	plan    users.Plan
	sockets []*perms.Socket
	// exportSock is set when the agent socket was found at Docker
	// Desktop's path rather than in SSH_AUTH_SOCK.
	exportSock string

	makeHome bool          // create the home directory
	grants   []socketGrant // sockets to chmod
	groups   []int         // supplementary groups of the drop
	problems []problem     // steps that cannot be done
}

type socketGrant struct {
	sock *perms.Socket
	perm uint32
}

// problem is a step that cannot be done, and the capabilities that would
// make it possible.
type problem struct {
	err   error
	caps  []string
	fatal bool // the command must not run: it would run as the wrong user
}

// privileged reports a start with root in effect, root start or setuid.
func (s *start) privileged() bool { return s.cond.EUID == 0 }

// missingCaps returns those of caps this start lacks; none when the start
// is not privileged, since capabilities are not what it lacks then.
func (s *start) missingCaps(caps ...int) []string {
	if !s.privileged() {
		return nil
	}
	return s.cond.CapEff.Missing(caps...)
}

func (s *start) report(err error, caps ...string) {
	s.problems = append(s.problems, problem{err: err, caps: caps})
}

// warn reports a step that cannot be done. Under --strict it is an error
// and the start fails.
func (s *start) warn(err error) error {
	if s.cfg.Strict {
		return err
	}
	s.log.warn(err)
	return nil
}

// prepare decides everything and changes nothing: the target identity, the
// account lines to add, whether to create the home, which sockets to
// grant, and every step that cannot be done and why. Under --strict any
// such step fails the start here, before anything was changed.
func (s *start) prepare() error {
	defer s.log.step("prepare")()
	req := s.request()
	db, err := users.LoadAccounts(etcDir)
	if err != nil {
		return err
	}
	if err := s.resolve(req, db); err != nil {
		return err
	}
	if len(s.plan.Lines) > 0 {
		// Only a start that writes takes the lock, and then reads every
		// account file and decides again under it, so that an edit made
		// meanwhile is kept.
		if s.plan.NewUser {
			req.Shell = loginShell()
		}
		unlock, err := users.Lock(etcDir)
		if err != nil {
			s.lockErr = err
		} else {
			s.unlock = unlock
			db, err := s.db.Reload()
			if err != nil {
				return err
			}
			if err := s.resolve(req, db); err != nil {
				return err
			}
		}
	}
	id := s.plan.Identity
	s.log.debugf("target %s uid=%d gid=%d home=%s groups=%v", id.Name, id.UID, id.GID, id.Home, id.Groups)
	s.openSockets()
	s.checkDrop()
	s.checkAccounts()
	s.checkMove()
	s.checkHome()
	s.checkSockets()
	return s.reportProblems()
}

// reportProblems prints each problem, with one hint listing every missing
// capability. A fatal problem, or any under --strict, fails the start.
func (s *start) reportProblems() error {
	var missing []string
	for _, p := range s.problems {
		for _, c := range p.caps {
			if !slices.Contains(missing, c) {
				missing = append(missing, c)
			}
		}
	}
	slices.Sort(missing)
	for _, p := range s.problems {
		err := p.err
		if len(p.caps) > 0 {
			err = hint(err, "the start lacks capabilities: run with "+startup.CapAddFlags(missing)+
				" (Kubernetes: securityContext.capabilities.add)")
		}
		if p.fatal {
			return err
		}
		if err := s.warn(err); err != nil {
			return err
		}
	}
	return nil
}

// resolve decides the identity and its lines against db.
func (s *start) resolve(req users.Request, db *users.DB) error {
	var err error
	s.db = db
	s.plan, err = users.Resolve(req, db)
	s.groups = s.plan.Identity.Groups
	return err
}

// request turns the config and the start conditions into what users.Resolve
// needs. A setuid start serves the real ids only.
func (s *start) request() users.Request {
	req := users.Request{UID: s.cond.RUID, GID: s.cond.RGID, Home: s.cfg.Home}
	switch {
	case s.cond.Root():
		req.UID, req.GID, req.Groups = s.cfg.UID, s.cfg.GID, s.cfg.Groups
	case s.cond.Setuid():
		req.KeepGroups = s.cond.Groups
	default:
		if s.cfg.UID != users.NoID && s.cfg.UID != s.cond.RUID {
			s.report(hint(fmt.Errorf("cannot switch to uid %d: running as uid %d without privileges", s.cfg.UID, s.cond.RUID),
				"start the container as root with AGENT_ENTRYPOINT_UID, or install the binary setuid-root and use docker run --user"))
		}
	}
	if s.cfg.Name != "" {
		req.Names = []string{s.cfg.Name}
		if s.privileged() {
			req.Move = s.cfg.Name
		}
		if s.cond.Setuid() {
			// Whoever starts a setuid shim may take over an image user,
			// as fixuid does, but no system account, nor nobody.
			req.MoveMinUID, req.MoveMaxUID = loginUIDMin, loginUIDMax
		}
	}
	if s.cfg.Name == "" || !s.privileged() {
		if u := os.Getenv("USER"); users.CheckName(u) == nil {
			req.Names = append(req.Names, u)
		}
		req.Names = append(req.Names, "user", "user"+strconv.Itoa(req.UID))
	}
	return req
}

// loginShell is the shell of a created user: bash where the image has it,
// as the seed's useradd -s /bin/bash, else the POSIX shell.
func loginShell() string {
	if _, err := os.Stat("/bin/bash"); err == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}

// checkSetuidRequest refuses what a setuid start must not do for whoever
// exec'd it: become another uid or gid, or join groups the runtime did not
// give.
func checkSetuidRequest(cfg config, cond startup.Conditions) error {
	const why = "a setuid start only serves the ids it was started with"
	if cfg.UID != users.NoID && cfg.UID != cond.RUID {
		return hint(fmt.Errorf("refuse uid %d: %s (uid %d)", cfg.UID, why, cond.RUID),
			"pick the uid with docker run --user, or start as root with AGENT_ENTRYPOINT_UID")
	}
	if cfg.GID != users.NoID && cfg.GID != cond.RGID {
		return hint(fmt.Errorf("refuse gid %d: %s (gid %d)", cfg.GID, why, cond.RGID),
			"pick the gid with docker run --user UID:GID, or start as root with AGENT_ENTRYPOINT_GID")
	}
	if len(cfg.Groups) > 0 {
		return hint(fmt.Errorf("refuse groups %s: %s", strings.Join(cfg.Groups, ","), why),
			"add groups with docker run --group-add, or start as root with AGENT_ENTRYPOINT_GROUPS")
	}
	return nil
}

// realCreds are the ids the process was started with, all of them real.
func realCreds(cond startup.Conditions) execas.Creds {
	return execas.Creds{UID: cond.RUID, GID: cond.RGID, Groups: cond.Groups}
}

// agentSocket returns the agent socket: SSH_AUTH_SOCK, or when it is unset,
// Docker Desktop's socket if present, which the command then needs
// exported.
func agentSocket() (path string, export bool) {
	if p := os.Getenv("SSH_AUTH_SOCK"); p != "" {
		return p, false
	}
	if _, err := os.Lstat(dockerDesktopSocket); err == nil {
		return dockerDesktopSocket, true
	}
	return "", false
}

// openSockets opens and checks every socket; what is not a socket, or not
// there, is reported and left alone.
func (s *start) openSockets() {
	paths := s.cfg.Sockets
	if p, export := agentSocket(); p != "" {
		paths = append([]string{p}, paths...)
		if export {
			s.exportSock = p
		}
	}
	for _, path := range paths {
		if !filepath.IsAbs(path) {
			s.report(fmt.Errorf("skip socket %q: not an absolute path", path))
			continue
		}
		sock, err := perms.Open(path)
		if err != nil {
			s.report(socketHint(fmt.Errorf("skip socket: %w", err)))
			continue
		}
		s.sockets = append(s.sockets, sock)
	}
}

// checkDrop makes sure the process can become the target. A root start
// that cannot is fatal: the command would run as root. A setuid start can
// always return to its real ids, but may be unable to set the groups.
func (s *start) checkDrop() {
	if !s.privileged() {
		return
	}
	id := s.plan.Identity
	if s.cond.Setuid() {
		if missing := s.missingCaps(startup.CapSetgid); len(missing) > 0 && !slices.Equal(id.Groups, sortedCopy(s.cond.Groups)) {
			s.report(fmt.Errorf("cannot set supplementary groups %v: missing capability %s; keeping %v", id.Groups, missing[0], s.cond.Groups), missing...)
			s.groups = s.cond.Groups
		}
		return
	}
	if missing := s.missingCaps(startup.CapSetuid, startup.CapSetgid); len(missing) > 0 {
		s.problems = append(s.problems, problem{
			err:   fmt.Errorf("cannot switch to uid %d: missing capability %s", id.UID, strings.Join(missing, ", ")),
			caps:  missing,
			fatal: true,
		})
	}
}

// checkAccounts keeps in the plan only the lines of files this start may
// write, and reports what that leaves out.
func (s *start) checkAccounts() {
	if len(s.plan.Lines) == 0 {
		return
	}
	id := s.plan.Identity
	var skip []string
	for _, file := range s.plan.Files() {
		err := s.lockErr
		if err == nil {
			err = s.db.Writable(file)
		}
		if err == nil {
			continue
		}
		skip = append(skip, file)
		if file != "passwd" {
			// A missing group, shadow or gshadow line costs nothing the
			// command notices, and it is the rule for arbitrary uids.
			s.log.debugf("not written: %s line (%v)", file, err)
			continue
		}
		msg := fmt.Errorf("no passwd entry for uid %d: %w", id.UID, err)
		const ssh = `ssh needs one (it fails with "No user exists for uid %d")`
		switch {
		case errors.Is(err, users.ErrReadOnly):
			s.report(hint(msg, fmt.Sprintf("the root file system is read-only (docker run --read-only); "+ssh+
				": add the user in the image, or mount a writable /etc/passwd", id.UID)))
		case !s.privileged():
			s.report(hint(msg, fmt.Sprintf(ssh+": make /etc/passwd group-writable in the image"+
				" (chgrp 0 /etc/passwd && chmod g=u /etc/passwd, as OpenShift images do), or start as root", id.UID)))
		default:
			s.report(msg, s.missingCaps(startup.CapDACOverride)...)
		}
	}
	s.plan = s.plan.Without(skip...)
}

// checkMove reports a named user that keeps its uid, and refuses a move
// that could not take the user's files along.
func (s *start) checkMove() {
	if s.plan.Conflict != nil {
		s.report(hint(s.plan.Conflict, "leave AGENT_ENTRYPOINT_USER unset, or pick a uid no other image user has"))
	}
	m := s.plan.Move
	if m == nil {
		return
	}
	if !slices.Contains(s.plan.Files(), "passwd") {
		// checkAccounts said why passwd cannot be written; the command
		// still runs as the target uid, without the user's files.
		s.report(fmt.Errorf("cannot move %s to uid %d: its passwd line cannot be written", m.Name, m.NewUID))
		s.plan.Move = nil
		return
	}
	// Reading the user's private directories takes DAC_READ_SEARCH, or
	// DAC_OVERRIDE, which Docker grants by default and implies it.
	missing := s.missingCaps(startup.CapChown)
	if len(s.missingCaps(startup.CapDACOverride)) > 0 {
		missing = append(missing, s.missingCaps(startup.CapDACRead)...)
	}
	if len(missing) > 0 {
		s.problems = append(s.problems, problem{
			err:   fmt.Errorf("cannot move %s to uid %d: its files need missing capability %s", m.Name, m.NewUID, strings.Join(missing, ", ")),
			caps:  missing,
			fatal: true,
		})
	}
}

// checkHome decides whether to create the home directory.
func (s *start) checkHome() {
	id := s.plan.Identity
	if _, err := os.Lstat(id.Home); !errors.Is(err, os.ErrNotExist) || id.Home == users.NoHome {
		return
	}
	if s.cond.Setuid() && s.cfg.Home != "" && !strings.HasPrefix(id.Home, "/home/") {
		// Whoever starts a setuid shim must not get a directory of theirs
		// created anywhere they like, such as under /etc.
		s.report(hint(fmt.Errorf("not creating home %s: a setuid start creates homes under /home only", id.Home),
			"create the directory in the image, or start as root with AGENT_ENTRYPOINT_HOME"))
		return
	}
	parent := existingParent(id.Home)
	// AT_EACCESS: the effective ids create the directory.
	if err := unix.Faccessat(unix.AT_FDCWD, parent, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		err := fmt.Errorf("cannot create home %s: %w", id.Home, &os.PathError{Op: "write", Path: parent, Err: err})
		switch {
		case errors.Is(err, unix.EROFS):
			s.report(hint(err, "mount a writable home, e.g. docker run --tmpfs /home; HOME falls back to "+fallbackHome+" where writable"))
		case !s.privileged():
			s.report(hint(err, "create the home in the image, or mount a volume there; HOME falls back to "+fallbackHome+" where writable"))
		default:
			s.report(err, s.missingCaps(startup.CapDACOverride)...)
		}
		return
	}
	if id.UID != s.cond.EUID {
		if missing := s.missingCaps(startup.CapChown); len(missing) > 0 {
			s.report(fmt.Errorf("cannot hand home %s to uid %d: missing capability %s", id.Home, id.UID, missing[0]), missing...)
			return
		}
	}
	s.makeHome = true
}

// existingParent returns the nearest ancestor of path that exists.
func existingParent(path string) string {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		if _, err := os.Lstat(dir); err == nil || dir == "/" {
			return dir
		}
	}
}

// checkSockets decides which sockets to chmod, and reports each socket the
// target will not be able to connect to.
func (s *start) checkSockets() {
	id := s.plan.Identity
	who := perms.Who{UID: id.UID, Groups: s.groups}
	for _, sock := range s.sockets {
		if dir := perms.Unreachable(sock.Path, who); dir != "" {
			s.report(hint(fmt.Errorf("uid %d cannot reach %s: directory %s is not searchable", who.UID, sock.Path, dir),
				"mount the socket into a directory others may search, such as /run/host-services"))
			continue
		}
		change, perm := perms.Need(sock, who, s.cfg.SocketMode)
		if !change {
			if !sock.CanConnect(who) {
				s.report(hint(s.cannotConnect(sock, who), "set AGENT_ENTRYPOINT_SOCKET_MODE=chmod"))
			}
			continue
		}
		switch {
		case !s.privileged():
			s.report(hint(fmt.Errorf("%w: a start without root cannot change it", s.cannotConnect(sock, who)),
				"start the container as root with AGENT_ENTRYPOINT_UID, or make the socket usable on the host"))
		case sock.ReadOnly:
			s.report(hint(fmt.Errorf("%w: it is on a read-only mount", s.cannotConnect(sock, who)),
				"mount the socket without :ro, or set AGENT_ENTRYPOINT_SOCKET_MODE=none"))
		case sock.UID == overflowUID && startup.InUserNS():
			// Root of a user namespace (rootless Podman) may not change an
			// inode whose owner it cannot map, whatever its capabilities.
			s.report(hint(fmt.Errorf("%w: its owner is outside this user namespace", s.cannotConnect(sock, who)),
				"make the socket usable on the host (for rootless Podman, use an agent socket you own), or set AGENT_ENTRYPOINT_SOCKET_MODE=none"))
		case sock.UID != s.cond.EUID && len(s.missingCaps(startup.CapFowner)) > 0:
			s.report(fmt.Errorf("%w: missing capability FOWNER to chmod it", s.cannotConnect(sock, who)), "FOWNER")
		default:
			s.grants = append(s.grants, socketGrant{sock, perm})
		}
	}
}

func (s *start) cannotConnect(sock *perms.Socket, who perms.Who) error {
	return fmt.Errorf("uid %d cannot connect to %s (owner %d:%d, mode %04o)", who.UID, sock.Path, sock.UID, sock.GID, sock.Perm)
}

// apply makes the changes prepare decided on. A step that fails anyway is
// reported and the next one still runs; under --strict the start fails.
func (s *start) apply() error {
	defer s.log.step("apply")()
	id := s.plan.Identity
	if s.unlock != nil {
		err := users.Apply(s.plan, s.db)
		s.unlock()
		if err != nil {
			if err := s.warn(fmt.Errorf("add user %s: %w", id.Name, err)); err != nil {
				return err
			}
		} else {
			for _, l := range s.plan.Lines {
				s.log.debugf("wrote to %s: %s", l.File, l.Text)
			}
			if s.plan.Move != nil {
				if err := s.moveFiles(*s.plan.Move); err != nil {
					return err
				}
			}
		}
	}
	if s.makeHome {
		if _, err := users.CreateHome(id.Home, id.UID, id.GID); err != nil {
			if err := s.warn(fmt.Errorf("create home: %w", err)); err != nil {
				return err
			}
		} else {
			s.log.debugf("created home %s", id.Home)
		}
	}
	for _, g := range s.grants {
		old := g.sock.Perm
		if err := g.sock.SetPerm(g.perm); err != nil {
			err = hint(fmt.Errorf("grant socket: %w", err), "make the socket usable on the host, or set AGENT_ENTRYPOINT_SOCKET_MODE=none")
			if err := s.warn(err); err != nil {
				return err
			}
			continue
		}
		s.log.debugf("chmod %s %04o -> %04o", g.sock.Path, old, g.perm)
	}
	for _, sock := range s.sockets {
		sock.Close()
	}
	return nil
}

// moveFiles hands what the moved user owned under its home and the
// AGENT_ENTRYPOINT_CHOWN paths to its new ids.
func (s *start) moveFiles(m users.Move) error {
	done := s.log.step("move files of " + m.Name)
	defer done()
	change := ownership.Change{OldUID: m.OldUID, NewUID: m.NewUID, OldGID: m.OldGID, NewGID: m.NewGID}
	if m.OldGID == 0 {
		// A primary group of root (OpenShift-style images) stays: files of
		// group 0 are never handed over.
		change.NewGID = 0
	}
	roots := s.cfg.Chown
	if m.Home != "/" && m.Home != users.NoHome {
		roots = append([]string{m.Home}, roots...)
	}
	showProgress := s.cfg.Debug || isTerminal(os.Stderr)
	for _, root := range roots {
		var opt ownership.Options
		if showProgress {
			opt.Progress = func(st ownership.Stats) {
				s.log.print("debug", "moving files under %s: %d entries seen, %d changed, %v", root, st.Seen, st.Changed, st.Elapsed.Round(100*time.Millisecond))
			}
		}
		st, err := ownership.Walk(root, change, opt)
		s.log.debugf("moved %s: %d entries seen, %d changed", root, st.Seen, st.Changed)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			if err := s.warn(fmt.Errorf("move files of %s: %w", m.Name, err)); err != nil {
				return err
			}
		}
	}
	return nil
}

// isTerminal reports whether f is a terminal, where progress lines help.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// creds are the ids the command runs with.
func (s *start) creds() execas.Creds {
	id := s.plan.Identity
	return execas.Creds{UID: id.UID, GID: id.GID, Groups: s.groups}
}

// environment is the command's: the shim's own, with HOME, USER and LOGNAME
// of the target, and SSH_AUTH_SOCK when it was found at Docker Desktop's
// path. It runs after the drop, so that it checks the home as the target.
func (s *start) environment() ([]string, error) {
	id := s.plan.Identity
	home, err := s.usableHome()
	set := []string{"HOME=" + home, "USER=" + id.Name, "LOGNAME=" + id.Name}
	if s.exportSock != "" {
		set = append(set, "SSH_AUTH_SOCK="+s.exportSock)
	}
	return setEnv(os.Environ(), set...), err
}

// usableHome returns the target's home when it may write there, else
// fallbackHome when it may write that, with a warning.
func (s *start) usableHome() (string, error) {
	home := s.plan.Identity.Home
	// access(2) checks the real ids: after the drop, the target's.
	err := unix.Access(home, unix.W_OK|unix.X_OK)
	if err == nil {
		return home, nil
	}
	fix := "mount a writable home, e.g. docker run --tmpfs " + home + ", or create it in the image"
	if home == "/" {
		fix = "give the user a home in the image, or set AGENT_ENTRYPOINT_HOME"
	}
	if unix.Access(fallbackHome, unix.W_OK|unix.X_OK) != nil {
		return home, s.warn(hint(fmt.Errorf("home %s is not usable (%w), nor is %s", home, err, fallbackHome), fix))
	}
	return fallbackHome, s.warn(hint(fmt.Errorf("home %s is not usable (%w): HOME=%s", home, err, fallbackHome), fix))
}

func sortedCopy(a []int) []int {
	a = slices.Clone(a)
	slices.Sort(a)
	return slices.Compact(a)
}

// setEnv returns env with each KEY=value of set in place of any earlier
// value of KEY.
func setEnv(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, k+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}
