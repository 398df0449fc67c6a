package policy

// Kind is how the shim was started, which decides what it may do.
type Kind int

const (
	// Root: started as root (docker run as root, Kubernetes runAsUser 0);
	// it does what its environment asks.
	Root Kind = iota + 1
	// Setuid: started by another uid through the setuid-root bit
	// (docker run --user); it serves that uid, with settings from the
	// image's config file.
	Setuid
	// Unprivileged: no root in effect (no setuid bit, or one voided by
	// no-new-privileges, a nosuid mount or a user namespace); it does what
	// the files let it.
	Unprivileged
)

func (k Kind) String() string {
	switch k {
	case Root:
		return "root"
	case Setuid:
		return "setuid"
	case Unprivileged:
		return "unprivileged"
	}
	return "unknown"
}

// Cred is what the process was started with, read once.
type Cred struct {
	RUID, EUID, SUID int
	RGID, EGID, SGID int
	// Groups are the supplementary groups the runtime gave, such as those
	// of `docker run --group-add`.
	Groups []int
	// CapEff is the effective capability set.
	CapEff Caps
	// NoNewPrivs is set by `--security-opt no-new-privileges` and by
	// Kubernetes' allowPrivilegeEscalation: false; it voids setuid bits.
	NoNewPrivs bool
	// SetuidBit reports that the executable is owned by root and carries
	// the setuid bit, whether or not it took effect.
	SetuidBit bool
	// NosuidMount reports that the executable lives on a nosuid mount.
	NosuidMount bool
	// UserNS reports a user namespace: uid 0 is not the host's root.
	UserNS bool
	// SecureExec is the kernel's AT_SECURE: the exec gave this process
	// privilege its caller did not hold (a setuid or setgid bit, file
	// capabilities, a security module's transition).
	SecureExec bool
}

// Elevated reports a start that holds privilege its caller did not: ids
// that differ (a setuid or setgid bit that took effect), or AT_SECURE in
// a start whose real uid is not root, which is how file capabilities
// show. With its ids all equal, a root caller's AT_SECURE can only come
// from a security module's transition, which hands it no id it did not
// have.
func (c Cred) Elevated() bool {
	return c.RUID != c.EUID || c.RUID != c.SUID || c.RGID != c.EGID || c.RGID != c.SGID ||
		(c.SecureExec && c.RUID != 0)
}

// KindOf tells the start's kind from its ids: the one place that decides
// whether a start is privileged.
func KindOf(c Cred) Kind {
	switch {
	case c.EUID != 0:
		return Unprivileged
	case c.RUID != 0:
		return Setuid
	}
	return Root
}

// SetuidVoided names why a setuid-root executable runs without root, or ""
// when it did not (or is not setuid).
func (c Cred) SetuidVoided() string {
	switch {
	case !c.SetuidBit || c.EUID == 0:
		return ""
	case c.NoNewPrivs:
		return "no-new-privileges is set"
	case c.NosuidMount:
		return "the binary is on a nosuid mount"
	case c.UserNS:
		return "the binary's owner is not root in this user namespace"
	}
	return "the setuid bit did not take effect"
}

// Claim is what claiming the container start found.
type Claim int

const (
	// Claimed: this process recorded the claim, as the start's first.
	Claimed Claim = iota + 1
	// Taken: the start had been claimed before.
	Taken
	// NotFirst: the process is not the container's first; nothing recorded.
	NotFirst
	// Unrecorded: the claim could not be recorded anywhere.
	Unrecorded
	// Unclaimed: no claim was tried (a start without root cannot write a
	// root-owned marker, and gains nothing to guard).
	Unclaimed
)

// Verdict is what a start does after its claim.
type Verdict int

const (
	// GoOn: run the start's privileged phase (or, unprivileged, its
	// best effort).
	GoOn Verdict = iota + 1
	// DropAtOnce: a setuid start that is not the container start's first:
	// return to the real ids and exec the command, changing nothing.
	DropAtOnce
	// FailClosed: the claim could not be recorded, and going on would let
	// a later process of the container take a privileged phase.
	FailClosed
)

// AfterClaim is the rule of the once-per-start claim:
//
//	start        claim                  verdict
//	setuid       claimed                go on: the privileged phase
//	setuid       taken, not first       drop at once, change nothing
//	setuid       unrecorded             fail closed (exit 125)
//	root         claimed, taken         go on
//	root         unrecorded             fail closed if the binary is setuid, else go on
//	unprivileged (not tried)            go on: it has no privilege to guard
func AfterClaim(k Kind, c Claim, setuidBit bool) Verdict {
	switch k {
	case Setuid:
		switch c {
		case Claimed:
			return GoOn
		case Taken, NotFirst:
			return DropAtOnce
		}
		return FailClosed
	case Root:
		if c == Unrecorded && setuidBit {
			return FailClosed
		}
		return GoOn
	}
	return GoOn
}
