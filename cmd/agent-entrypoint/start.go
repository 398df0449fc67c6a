package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/execas"
	"github.com/agent-entrypoint/agent-entrypoint/internal/perms"
	"github.com/agent-entrypoint/agent-entrypoint/internal/startup"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
)

// etcDir holds the account files.
const etcDir = "/etc"

// dockerDesktopSocket is where Docker Desktop mounts the host's agent.
const dockerDesktopSocket = "/run/host-services/ssh-auth.sock"

// start is one container start: what prepare found out and apply changes.
type start struct {
	cfg  config
	cond startup.Conditions
	log  *logger

	unlock  func() // releases the account files' lock; nil when not held
	db      *users.DB
	plan    users.Plan
	sockets []*perms.Socket
	// exportSock is set when the agent socket was found at Docker
	// Desktop's path rather than in SSH_AUTH_SOCK.
	exportSock string
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
// account lines to add, the sockets to grant. It holds the account files'
// lock from reading them until apply has written them.
func (s *start) prepare() error {
	defer s.log.step("prepare")()
	req, err := s.request()
	if err != nil {
		return err
	}
	if err := s.resolve(req); err != nil {
		return err
	}
	if len(s.plan.Lines) > 0 {
		// Only a start that writes takes the lock, and then reads and
		// decides again under it, so that an edit made meanwhile is kept.
		unlock, err := users.Lock(etcDir)
		if err != nil {
			err = fmt.Errorf("cannot add user %s: %w", s.plan.Identity.Name, err)
			if errors.Is(err, users.ErrReadOnly) {
				err = hint(err, "the root file system is read-only (docker run --read-only): add the user in the image, or mount a writable /etc")
			}
			if err := s.warn(err); err != nil {
				return err
			}
		} else {
			s.unlock = unlock
			if err := s.resolve(req); err != nil {
				return err
			}
		}
	}
	id := s.plan.Identity
	s.log.debugf("target %s uid=%d gid=%d home=%s groups=%v", id.Name, id.UID, id.GID, id.Home, id.Groups)
	return s.openSockets()
}

// resolve reads the account files and decides the identity and its lines.
func (s *start) resolve(req users.Request) error {
	var err error
	if s.db, err = users.Load(etcDir); err != nil {
		return err
	}
	s.plan, err = users.Resolve(req, s.db)
	return err
}

// request turns the config and the start conditions into what users.Resolve
// needs. A setuid start serves the real ids only.
func (s *start) request() (users.Request, error) {
	req := users.Request{UID: s.cond.RUID, GID: s.cond.RGID, Home: s.cfg.Home, Shell: loginShell()}
	switch {
	case s.cond.Root():
		req.UID, req.GID, req.Groups = s.cfg.UID, s.cfg.GID, s.cfg.Groups
	case s.cond.Setuid():
		req.KeepGroups = s.cond.Groups
	default:
		if s.cfg.UID != users.NoID && s.cfg.UID != s.cond.RUID {
			err := hint(fmt.Errorf("cannot switch to uid %d: running as uid %d without privileges", s.cfg.UID, s.cond.RUID),
				"start the container as root with AGENT_ENTRYPOINT_UID, or install the binary setuid-root and use docker run --user")
			if err := s.warn(err); err != nil {
				return req, err
			}
		}
	}
	if s.cfg.Name != "" {
		req.Names = []string{s.cfg.Name}
	} else {
		if u := os.Getenv("USER"); users.CheckName(u) == nil {
			req.Names = append(req.Names, u)
		}
		req.Names = append(req.Names, "user", "user"+strconv.Itoa(req.UID))
	}
	return req, nil
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

// socketPaths lists the sockets to grant: the agent's, then the
// configured ones.
func (s *start) socketPaths() []string {
	var paths []string
	if p, export := agentSocket(); p != "" {
		paths = append(paths, p)
		if export {
			s.exportSock = p
		}
	}
	return append(paths, s.cfg.Sockets...)
}

// openSockets opens and checks every socket; what is not a socket, or not
// there, is reported and left alone.
func (s *start) openSockets() error {
	for _, path := range s.socketPaths() {
		if !filepath.IsAbs(path) {
			if err := s.warn(fmt.Errorf("skip socket %q: not an absolute path", path)); err != nil {
				return err
			}
			continue
		}
		sock, err := perms.Open(path)
		if err != nil {
			if err := s.warn(socketHint(fmt.Errorf("skip socket: %w", err))); err != nil {
				return err
			}
			continue
		}
		s.sockets = append(s.sockets, sock)
	}
	return nil
}

// apply makes the changes prepare decided on. A step that fails is reported
// and the next one still runs; under --strict the start fails instead.
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
		}
		for _, l := range s.plan.Lines {
			s.log.debugf("added to %s: %s", l.File, l.Text)
		}
	}
	if err := s.createHome(); err != nil {
		return err
	}
	who := perms.Who{UID: id.UID, Groups: id.Groups}
	for _, sock := range s.sockets {
		if err := s.grant(sock, who); err != nil {
			return err
		}
		sock.Close()
	}
	return nil
}

func (s *start) createHome() error {
	id := s.plan.Identity
	if s.cond.Setuid() && s.cfg.Home != "" && !strings.HasPrefix(id.Home, "/home/") {
		// Whoever starts a setuid shim must not get a directory of theirs
		// created anywhere they like, such as under /etc.
		return s.warn(hint(fmt.Errorf("not creating home %s: a setuid start creates homes under /home only", id.Home),
			"create the directory in the image, or start as root with AGENT_ENTRYPOINT_HOME"))
	}
	created, err := users.CreateHome(id.Home, id.UID, id.GID)
	if err != nil {
		return s.warn(fmt.Errorf("create home: %w", err))
	}
	if created {
		s.log.debugf("created home %s", id.Home)
	}
	return nil
}

// grant makes one socket connectable for who, as the socket mode says.
func (s *start) grant(sock *perms.Socket, who perms.Who) error {
	if change, perm := perms.Need(sock, who, s.cfg.SocketMode); change {
		old := sock.Perm
		if err := sock.SetPerm(perm); err != nil {
			return s.warn(fmt.Errorf("grant socket: %w", err))
		}
		s.log.debugf("chmod %s %04o -> %04o", sock.Path, old, perm)
	}
	if !sock.CanConnect(who) {
		return s.warn(hint(fmt.Errorf("uid %d cannot connect to %s (owner %d:%d, mode %04o)", who.UID, sock.Path, sock.UID, sock.GID, sock.Perm),
			"set AGENT_ENTRYPOINT_SOCKET_MODE=chmod, or start as root"))
	}
	if dir := perms.Unreachable(sock.Path, who); dir != "" {
		return s.warn(hint(fmt.Errorf("uid %d cannot reach %s: directory %s is not searchable", who.UID, sock.Path, dir),
			"mount the socket into a directory others may search, such as /run/host-services"))
	}
	return nil
}

// creds are the ids the command runs with.
func (s *start) creds() execas.Creds {
	id := s.plan.Identity
	return execas.Creds{UID: id.UID, GID: id.GID, Groups: id.Groups}
}

// environment is the command's: the shim's own, with HOME, USER and LOGNAME
// of the target, and SSH_AUTH_SOCK when it was found at Docker Desktop's
// path.
func (s *start) environment() []string {
	id := s.plan.Identity
	set := []string{"HOME=" + id.Home, "USER=" + id.Name, "LOGNAME=" + id.Name}
	if s.exportSock != "" {
		set = append(set, "SSH_AUTH_SOCK="+s.exportSock)
	}
	return setEnv(os.Environ(), set...)
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
