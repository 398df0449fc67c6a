package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// FallbackHome is HOME when the target's home cannot be used.
const FallbackHome = "/tmp"

// noHome is the home Debian gives accounts that have none; never created.
const noHome = "/nonexistent"

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

// Decision is what a start does, decided before anything changes.
type Decision struct {
	Kind     Kind
	Identity accounts.Identity
	// Plan holds the account lines to write, only those of files this
	// start may write, and the image user to move, if any.
	Plan accounts.Plan
	// ChownRoots are the trees whose files follow a moved user.
	ChownRoots []string
	Home       HomeDecision
	// HomeFallback is HOME should the home turn out unusable after all
	// (its creation failing): FallbackHome where the target may use it.
	HomeFallback string
	// Drop: the start holds root and drops to Identity with Groups.
	Drop   bool
	Groups []int
	// Sockets say what the start does with each socket, Relays which of
	// them it serves the target in their place (it then stays, as PID 1).
	Sockets []SocketAction
	Relays  []Upstream
	// Env are the variables the command gets on top of the start's own.
	Env []string
	// Problems are the steps that cannot be done, in the order found.
	Problems []Problem
	// Notes are what -v shows of the decision.
	Notes []string
	// Missing are paths Decide needs facts about; probe them and decide
	// again.
	Missing []string
}

// HomeDecision says whether the start creates the home, and where.
type HomeDecision struct {
	Path   string
	Create bool
	// Base is the directory it is created below; RootOnly requires every
	// directory from there down to be root's alone (a setuid start).
	Base     string
	RootOnly bool
}

// Fatal returns the first problem that stops the start, if any.
func (d Decision) Fatal() *Problem {
	for i := range d.Problems {
		if d.Problems[i].Fatal {
			return &d.Problems[i]
		}
	}
	return nil
}

// Transparent reports a root start with no target: the command runs as
// root, unchanged.
func Transparent(k Kind, e Effective) bool { return k == Root && e.UID == accounts.NoID }

// decider carries one Decide call.
type decider struct {
	Decision
	e Effective
	f Facts
}

// Decide works out everything a start does from its settings and the
// facts: pure, so that what it says is what a start would do.
func Decide(e Effective, user string, f Facts) Decision {
	d := &decider{e: e, f: f}
	d.Kind = KindOf(f.Cred)
	d.Drop = d.Kind != Unprivileged
	if why := f.Cred.SetuidVoided(); why != "" {
		d.problem(Problem{Kind: SetuidVoided, Err: fmt.Errorf("started without root although installed setuid: %s", why)})
	}
	req := d.request(user)
	if d.refuseMove() {
		return d.Decision
	}
	plan, err := accounts.Resolve(req, f.Accounts)
	if err != nil {
		d.problem(Problem{Kind: ResolveFailed, Err: err, Fatal: true})
		return d.Decision
	}
	d.Plan, d.Identity = plan, plan.Identity
	d.Groups = plan.Identity.Groups
	id := d.Identity
	d.note("target %s uid=%d gid=%d home=%s groups=%v", id.Name, id.UID, id.GID, id.Home, id.Groups)
	d.checkDrop()
	d.checkAccounts()
	d.checkMove()
	d.checkHome()
	d.checkSockets()
	d.environment()
	return d.Decision
}

func (d *decider) problem(p Problem) { d.Problems = append(d.Problems, p) }

func (d *decider) note(format string, args ...any) {
	d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
}

// missingCaps returns those of caps the start lacks; none when it holds
// no root, since capabilities are not what it lacks then.
func (d *decider) missingCaps(caps ...int) []string {
	if !d.Drop {
		return nil
	}
	return d.f.Cred.CapEff.Missing(caps...)
}

// request turns the settings and the start's ids into what
// accounts.Resolve needs. A setuid start serves the real ids only.
func (d *decider) request(user string) accounts.Request {
	c, e := d.f.Cred, d.e
	req := accounts.Request{UID: c.RUID, GID: c.RGID, Home: e.Home}
	switch d.Kind {
	case Root:
		req.UID, req.GID, req.Groups = e.UID, e.GID, e.Groups
	case Setuid:
		req.Groups, req.KeepGroups = e.Groups, c.Groups
		req.MoveMinUID, req.MoveMaxUID = loginUIDMin, loginUIDMax
	case Unprivileged:
		if e.UID != accounts.NoID && e.UID != c.RUID {
			d.problem(Problem{Kind: CannotSwitch, UID: e.UID,
				Err: fmt.Errorf("cannot switch to uid %d: running as uid %d without privileges", e.UID, c.RUID)})
		}
	}
	if d.Drop {
		req.Move = e.Move
	}
	if e.Name != "" {
		req.Names = []string{e.Name}
	}
	if e.Name == "" || !d.Drop {
		if accounts.CheckName(user) == nil {
			req.Names = append(req.Names, user)
		}
		req.Names = append(req.Names, "user", fmt.Sprintf("user%d", req.UID))
	}
	req.Shell = "/bin/sh"
	if d.f.HasBash {
		// As the seed's useradd -s /bin/bash, where the image has it.
		req.Shell = "/bin/bash"
	}
	return req
}

// refuseMove refuses, in a setuid start, a name from the caller that
// belongs to an image user with another uid: only the image's config file
// may hand an image user over to whoever starts the container.
func (d *decider) refuseMove() bool {
	e := d.e
	if d.Kind != Setuid || e.Name == "" || e.Name == e.Move {
		return false
	}
	u, ok := d.f.Accounts.UserByName(e.Name)
	if !ok || u.UID == d.f.Cred.RUID {
		return false
	}
	d.problem(Problem{Kind: RefuseMove, Fatal: true, UID: d.f.Cred.RUID,
		Err: fmt.Errorf("refuse to move image user %s (uid %d): a setuid start moves an image user only when %s names it", e.Name, u.UID, ConfigFile)})
	return true
}

// checkDrop makes sure the process can become the target. A root start
// that cannot is fatal: the command would run as root. A setuid start can
// always return to its real ids, but may be unable to set the groups.
func (d *decider) checkDrop() {
	id := d.Identity
	switch d.Kind {
	case Setuid:
		if missing := d.missingCaps(CapSetgid); len(missing) > 0 && !slices.Equal(id.Groups, accounts.SortedIDs(d.f.Cred.Groups)) {
			d.problem(Problem{Kind: MissingCaps, Caps: missing,
				Err: fmt.Errorf("cannot set supplementary groups %v: %s; keeping %v", id.Groups, missingPhrase(missing), d.f.Cred.Groups)})
			d.Groups = d.f.Cred.Groups
		}
	case Root:
		if missing := d.missingCaps(CapSetuid, CapSetgid); len(missing) > 0 {
			d.problem(Problem{Kind: MissingCaps, Caps: missing, Fatal: true,
				Err: fmt.Errorf("cannot switch to uid %d: %s", id.UID, missingPhrase(missing))})
		}
	case Unprivileged:
		d.Groups = accounts.SortedIDs(append([]int{d.f.Cred.RGID}, d.f.Cred.Groups...))
	}
}

// checkAccounts keeps in the plan only the lines of files this start may
// write, and reports what that leaves out.
func (d *decider) checkAccounts() {
	id := d.Identity
	var skip []string
	for _, file := range d.Plan.Files() {
		a := d.f.Writable[file]
		if a.Err == nil {
			continue
		}
		skip = append(skip, file)
		if file != accounts.Passwd {
			// A missing group, shadow or gshadow line costs nothing the
			// command notices, and it is the rule for arbitrary uids.
			d.note("not written: %s line (%v)", file, a.Err)
			continue
		}
		err := fmt.Errorf("no passwd entry for uid %d: %w", id.UID, a.Err)
		switch {
		case a.ReadOnly:
			d.problem(Problem{Kind: PasswdReadOnly, Err: err, UID: id.UID})
		case !d.Drop:
			d.problem(Problem{Kind: PasswdDenied, Err: err, UID: id.UID})
		default:
			d.problem(Problem{Kind: MissingCaps, Err: err, Caps: d.missingCaps(CapDACOverride)})
		}
	}
	d.Plan = d.Plan.Without(skip...)
}

// checkMove reports a named user that keeps its uid, and refuses a move
// that could not take the user's files along.
func (d *decider) checkMove() {
	if d.Plan.Conflict != nil {
		d.problem(Problem{Kind: MoveConflict, Err: d.Plan.Conflict})
	}
	m := d.Plan.Move
	if m == nil {
		return
	}
	if !slices.Contains(d.Plan.Files(), accounts.Passwd) {
		// checkAccounts said why passwd cannot be written; the command
		// still runs as the target uid, without the user's files.
		d.problem(Problem{Kind: MoveNoPasswd, Err: fmt.Errorf("cannot move %s to uid %d: its passwd line cannot be written", m.Name, m.NewUID)})
		d.Plan.Move = nil
		return
	}
	// Reading the user's private directories takes DAC_READ_SEARCH, or
	// DAC_OVERRIDE, which Docker grants by default and implies it.
	missing := d.missingCaps(CapChown)
	if len(d.missingCaps(CapDACOverride)) > 0 {
		missing = append(missing, d.missingCaps(CapDACRead)...)
	}
	if len(missing) > 0 {
		d.problem(Problem{Kind: MissingCaps, Caps: missing, Fatal: true,
			Err: fmt.Errorf("cannot move %s to uid %d: its files need %s", m.Name, m.NewUID, missingPhrase(missing))})
		return
	}
	if m.Home != "/" && m.Home != noHome {
		d.ChownRoots = append(d.ChownRoots, m.Home)
	}
	d.ChownRoots = append(d.ChownRoots, d.e.Chown...)
}

// checkHome decides whether to create the home, and which HOME the
// command gets. It needs the facts of the home and of FallbackHome.
func (d *decider) checkHome() {
	id := d.Identity
	h := &d.Home
	h.Path, h.Base = id.Home, "/"
	if d.Kind == Setuid {
		h.Base, h.RootOnly = d.e.HomeBase, true
	}
	home, ok := d.f.Paths[id.Home]
	tmp, tok := d.f.Paths[FallbackHome]
	if !ok || !tok {
		for p, have := range map[string]bool{id.Home: ok, FallbackHome: tok} {
			if !have {
				d.Missing = append(d.Missing, p)
			}
		}
		slices.Sort(d.Missing)
		return
	}
	if !home.Exists && home.Err == nil && id.Home != noHome && id.Home != "/" {
		h.Create = d.mayCreateHome(home)
	}
	if m := d.Plan.Move; m != nil && home.Exists {
		// The walk hands the moved user's home over before the command runs.
		if home.UID == m.OldUID {
			home.UID = m.NewUID
		}
		if home.GID == m.OldGID {
			home.GID = m.NewGID
		}
	}
	who := Who{UID: id.UID, Groups: d.Groups}
	if who.canUse(tmp) {
		d.HomeFallback = FallbackHome
	}
	if h.Create || who.canUse(home) {
		return
	}
	why := "not found"
	switch {
	case home.Err != nil:
		why = home.Err.Error()
	case home.Exists && home.ReadOnly:
		why = "read-only file system"
	case home.Exists:
		why = "permission denied"
	}
	p := Problem{Kind: HomeUnusable, Path: id.Home, UID: id.UID}
	if d.HomeFallback != "" {
		p.Err = fmt.Errorf("home %s is not usable (%s): HOME=%s", id.Home, why, FallbackHome)
		d.problem(p)
		d.Env = append(d.Env, "HOME="+FallbackHome)
		return
	}
	p.Err = fmt.Errorf("home %s is not usable (%s), nor is %s", id.Home, why, FallbackHome)
	d.problem(p)
}

// mayCreateHome reports whether the start can and may create the missing
// home, and reports why not.
func (d *decider) mayCreateHome(home PathFact) bool {
	id := d.Identity
	if d.Kind == Setuid && !below(id.Home, d.e.HomeBase) {
		// Whoever starts a setuid shim must not get a directory of theirs
		// created anywhere they like, such as under /etc.
		d.problem(Problem{Kind: HomeOutsideBase, Path: id.Home,
			Err: fmt.Errorf("not creating home %s: a setuid start creates homes under %s only", id.Home, d.e.HomeBase)})
		return false
	}
	if home.Untrusted != nil {
		d.problem(Problem{Kind: HomeUntrusted, Path: id.Home, Err: fmt.Errorf("not creating home %s: %w", id.Home, home.Untrusted)})
		return false
	}
	if a := home.Create; a.Err != nil {
		err := fmt.Errorf("cannot create home %s: %w", id.Home, a.Err)
		switch {
		case a.ReadOnly:
			d.problem(Problem{Kind: HomeReadOnly, Err: err, Path: id.Home})
		case !d.Drop:
			d.problem(Problem{Kind: HomeDenied, Err: err, Path: id.Home})
		default:
			d.problem(Problem{Kind: MissingCaps, Err: err, Caps: d.missingCaps(CapDACOverride)})
		}
		return false
	}
	if id.UID != d.f.Cred.EUID {
		if missing := d.missingCaps(CapChown); len(missing) > 0 {
			d.problem(Problem{Kind: MissingCaps, Caps: missing,
				Err: fmt.Errorf("cannot hand home %s to uid %d: %s", id.Home, id.UID, missingPhrase(missing))})
			return false
		}
	}
	return true
}

// below reports whether path is strictly below base.
func below(path, base string) bool {
	base = strings.TrimSuffix(base, "/")
	return strings.HasPrefix(path, base+"/") && !slices.Contains(strings.Split(path, "/"), "..")
}

// environment is what the command gets on top of the start's own
// environment: HOME, USER and LOGNAME of the target, and SSH_AUTH_SOCK
// when the agent was found at Docker Desktop's path. (A relayed agent's
// SSH_AUTH_SOCK is the relay's, which only the start that serves it
// knows.)
func (d *decider) environment() {
	id := d.Identity
	if !slices.ContainsFunc(d.Env, func(kv string) bool { return strings.HasPrefix(kv, "HOME=") }) {
		d.Env = append(d.Env, "HOME="+id.Home)
	}
	d.Env = append(d.Env, "USER="+id.Name, "LOGNAME="+id.Name)
	if d.f.ExportAgent && !slices.ContainsFunc(d.Relays, func(r Upstream) bool { return r.Agent }) {
		d.Env = append(d.Env, "SSH_AUTH_SOCK="+DockerDesktopSocket)
	}
}
