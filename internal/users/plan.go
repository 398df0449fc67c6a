package users

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrNameTaken is returned when every candidate name for a new user belongs
// to another uid.
var ErrNameTaken = errors.New("name taken by another user")

// ErrUnknownGroup is returned for a supplementary group name that no line
// of the group file has.
var ErrUnknownGroup = errors.New("no such group")

// NoID marks an id the request leaves to Resolve.
const NoID = -1

// Request is what the caller asks for, already validated field by field.
type Request struct {
	UID int
	GID int // NoID: the existing user's primary gid, else UID
	// Names are the candidates for a new user's name, first free one wins.
	Names []string
	Home  string // "": the existing entry's, else /home/<name>
	Shell string // login shell of a new user
	// Groups are extra supplementary groups, names or decimal gids.
	Groups []string
	// KeepGroups are gids to keep whatever the group file says, such as the
	// groups a container runtime gave with --group-add.
	KeepGroups []int
}

// Identity is who the command runs as.
type Identity struct {
	UID, GID int
	Name     string
	Home     string
	Shell    string
	// Groups is the supplementary group list, sorted: the primary gid (as
	// initgroups(3) adds it), every group listing Name as a member, and the
	// requested extra groups.
	Groups []int
}

// Line is one whole entry to put into an account file.
type Line struct {
	File string // "passwd", "group", "shadow" or "gshadow"
	Name string // the entry's name field
	Text string // the entry, without newline
}

// Plan is what Resolve decided.
type Plan struct {
	Identity Identity
	// Lines to add, in commit order. Empty when the identity already exists.
	Lines []Line
	// NewUser is set when the passwd line is added by this plan.
	NewUser bool
}

// Resolve works out the identity for req against db and the lines that must
// be added for it to exist. Existing entries win: a passwd line with the uid
// is used as it is, a group with the gid whatever its name.
func Resolve(req Request, db *DB) (Plan, error) {
	var p Plan
	id := &p.Identity
	id.UID = req.UID

	u, exists := db.userByUID(req.UID)
	if exists {
		id.Name, id.Home, id.Shell = u.Name, u.Home, u.Shell
		id.GID = u.Gid
	} else {
		name, err := freeUserName(req.Names, db)
		if err != nil {
			return Plan{}, err
		}
		id.Name, id.Shell, id.GID = name, req.Shell, req.UID
		id.Home = "/home/" + name
	}
	if req.GID != NoID {
		id.GID = req.GID
	}
	if req.Home != "" {
		id.Home = req.Home
	}
	if id.Home == "" {
		id.Home = "/"
	}

	if _, ok := db.groupByGID(id.GID); !ok {
		gname := freeGroupName(id.Name, id.GID, db)
		p.add(groupFile, gname, fmt.Sprintf("%s:x:%d:", gname, id.GID))
		if db.files[gshadowFile].exists {
			p.addIfMissing(db, gshadowFile, gname, gname+":!::")
		}
	}
	if !exists {
		p.NewUser = true
		p.add(passwdFile, id.Name, fmt.Sprintf("%s:x:%d:%d::%s:%s", id.Name, id.UID, id.GID, id.Home, id.Shell))
		if db.HasShadow() {
			// "!" locks the password; the empty change date turns ageing off.
			p.addIfMissing(db, shadowFile, id.Name, id.Name+":!::0:99999:7:::")
		}
	}

	groups, err := supplementaryGroups(id, req, db)
	if err != nil {
		return Plan{}, err
	}
	id.Groups = groups
	return p, nil
}

func (p *Plan) add(file, name, text string) {
	p.Lines = append(p.Lines, Line{File: file, Name: name, Text: text})
}

// addIfMissing keeps a stale shadow line of the same name rather than
// replace it, so that a password someone set is never lost.
func (p *Plan) addIfMissing(db *DB, file, name, text string) {
	if _, _, ok := findEntry(db.files[file].data, name); !ok {
		p.add(file, name, text)
	}
}

func freeUserName(candidates []string, db *DB) (string, error) {
	for _, name := range candidates {
		if _, taken := db.userByName(name); !taken {
			return name, nil
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("add user: no name given")
	}
	u, _ := db.userByName(candidates[0])
	return "", fmt.Errorf("add user %q: %w (uid %d)", candidates[0], ErrNameTaken, u.Uid)
}

// freeGroupName prefers the user's name, as useradd's user private groups
// do; when another gid holds that name it falls back to "group<gid>".
func freeGroupName(userName string, gid int, db *DB) string {
	for _, name := range []string{userName, "group" + strconv.Itoa(gid)} {
		if _, taken := db.groupByName(name); !taken {
			return name
		}
	}
	for i := 1; ; i++ {
		name := fmt.Sprintf("group%d_%d", gid, i)
		if _, taken := db.groupByName(name); !taken {
			return name
		}
	}
}

func supplementaryGroups(id *Identity, req Request, db *DB) ([]int, error) {
	gids := []int{id.GID}
	for _, g := range db.Groups {
		if slices.Contains(g.List, id.Name) {
			gids = append(gids, g.Gid)
		}
	}
	for _, g := range req.Groups {
		gid, err := groupID(g, db)
		if err != nil {
			return nil, err
		}
		gids = append(gids, gid)
	}
	gids = append(gids, req.KeepGroups...)
	slices.Sort(gids)
	return slices.Compact(gids), nil
}

// groupID resolves a group given by name or gid. A gid needs no line in the
// group file: the kernel does not care, and `docker run --group-add` allows
// the same.
func groupID(g string, db *DB) (int, error) {
	if g != "" && g[0] >= '0' && g[0] <= '9' {
		return ParseID(g)
	}
	if err := CheckName(g); err != nil {
		return 0, err
	}
	grp, ok := db.groupByName(g)
	if !ok {
		return 0, fmt.Errorf("group %q: %w", g, ErrUnknownGroup)
	}
	return grp.Gid, nil
}
