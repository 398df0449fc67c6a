package policy

import "slices"

// Who is an identity that must reach a file.
type Who struct {
	UID    int
	Groups []int // every gid it holds, primary included
}

// Permission bits a check asks for.
const (
	permSearch = 0o1
	permWrite  = 0o2
)

// can applies the kernel's owner, then group, then other check to the
// permission bits in want; uid 0 passes every check here, as it does with
// the capabilities a root start holds.
func (w Who) can(owner, group int, perm, want uint32) bool {
	switch {
	case w.UID == 0:
		return true
	case w.UID == owner:
		return perm&(want<<6) == want<<6
	case slices.Contains(w.Groups, group):
		return perm&(want<<3) == want<<3
	}
	return perm&want == want
}

// CanConnect reports whether who may connect to the socket: connecting
// to a unix socket needs write permission on its inode.
func (w Who) CanConnect(s SocketFact) bool { return w.can(s.UID, s.GID, s.Perm, permWrite) }

// blockedAt returns the first of dirs who cannot search, or "".
func (w Who) blockedAt(dirs []DirFact) string {
	for _, d := range dirs {
		if !w.can(d.UID, d.GID, d.Perm, permSearch) {
			return d.Path
		}
	}
	return ""
}

// canUse reports whether who can write and search the directory at p.
func (w Who) canUse(p PathFact) bool {
	return p.Exists && p.Dir && !p.ReadOnly && w.can(p.UID, p.GID, p.Perm, permWrite|permSearch) && w.blockedAt(p.Dirs) == ""
}
