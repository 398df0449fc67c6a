package accounts

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// ErrNameTaken is returned when every candidate name for a new user belongs
// to another uid.
var ErrNameTaken = errors.New("name taken by another user")

// ErrMoveRefused is returned when the user to move is one that must never
// change its uid: root, or a system user where the request forbids it.
var ErrMoveRefused = errors.New("refuse to move user")

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
	// Move names an image user to move to UID when it has another uid:
	// its passwd line, and its primary group where free, are renumbered.
	Move string
	// MoveMinUID and MoveMaxUID bound the uids Move may take from, when
	// MoveMaxUID is set: system users below, and nobody (65534) above,
	// keep theirs. Root is never moved.
	MoveMinUID int
	MoveMaxUID int
	Home       string // "": the existing entry's, else /home/<name>
	Shell      string // login shell of a new user
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
	// initgroups(3) adds it), every group listing Name as a member when the
	// user already existed, and the requested extra groups.
	Groups []int
}

// Line is one whole entry to put into an account file.
type Line struct {
	File string // Passwd, Group, Shadow or Gshadow
	Name string // the entry's name field
	Text string // the entry, without newline
}

// Plan is what Resolve decided.
type Plan struct {
	Identity Identity
	// Lines to add or replace, in commit order. Empty when the identity
	// already exists.
	Lines []Line
	// NewUser is set when the passwd line is added by this plan.
	NewUser bool
	// Move is set when an image user is renumbered to the target.
	Move *Move
	// Conflict says why Request.Move was not honoured: the uid belongs to
	// another user, whose identity the plan uses instead.
	Conflict error
}

// Move is an image user's renumbering: the files it owned follow.
type Move struct {
	Name           string
	OldUID, NewUID int
	OldGID, NewGID int
	Home           string
}

// Resolve works out the identity for req against db and the lines that must
// be added for it to exist. Existing entries win: a passwd line with the uid
// is used as it is, a group with the gid whatever its name.
func Resolve(req Request, db *DB) (Plan, error) {
	var p Plan
	id := &p.Identity
	id.UID = req.UID

	u, exists := db.UserByUID(req.UID)
	if !exists {
		if err := db.checkMalformed(Passwd, req.UID); err != nil {
			return Plan{}, err
		}
	}
	var moving User
	var move bool
	if req.Move != "" {
		moving, move = db.UserByName(req.Move)
	}
	move = move && !exists
	switch {
	case exists:
		id.Name, id.Home, id.Shell, id.GID = u.Name, u.Home, u.Shell, u.GID
		if _, named := db.UserByName(req.Move); named && req.Move != "" && req.Move != u.Name {
			p.Conflict = fmt.Errorf("uid %d already belongs to %s: %s was not moved", req.UID, u.Name, req.Move)
		}
	case move:
		if moving.UID == 0 || moving.UID < req.MoveMinUID || (req.MoveMaxUID > 0 && moving.UID > req.MoveMaxUID) {
			return Plan{}, fmt.Errorf("%w %s: uid %d is a system account", ErrMoveRefused, moving.Name, moving.UID)
		}
		id.Name, id.Home, id.Shell, id.GID = moving.Name, moving.Home, moving.Shell, moving.GID
	default:
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

	if move {
		if err := p.move(moving.UID, moving.GID, db); err != nil {
			return Plan{}, err
		}
	} else if _, ok := db.GroupByGID(id.GID); !ok {
		if err := db.checkMalformed(Group, id.GID); err != nil {
			return Plan{}, err
		}
		p.addGroup(id.Name, id.GID, db)
	}
	if !exists && !move {
		p.NewUser = true
		p.add(Passwd, id.Name, fmt.Sprintf("%s:x:%d:%d::%s:%s", id.Name, id.UID, id.GID, id.Home, id.Shell))
		if db.Exists(Shadow) {
			// "!" locks the password; the empty change date turns ageing off.
			p.addIfMissing(db, Shadow, id.Name, id.Name+":!::0:99999:7:::")
		}
	}

	groups, err := supplementaryGroups(&p, req, db)
	if err != nil {
		return Plan{}, err
	}
	id.Groups = groups
	return p, nil
}

// move renumbers the identity's existing passwd line from oldUID:oldGID.
// Its primary group follows to the new gid when no group holds that gid
// and no other user shares the group as primary; otherwise a held gid is
// joined as it is, and a shared group is left to its other users while a
// new one is added. Shadow lines are keyed by name and need no change.
func (p *Plan) move(oldUID, oldGID int, db *DB) error {
	id := &p.Identity
	p.Move = &Move{Name: id.Name, OldUID: oldUID, NewUID: id.UID, OldGID: oldGID, NewGID: id.GID, Home: id.Home}
	if id.GID != oldGID {
		_, held := db.GroupByGID(id.GID)
		old, oldExists := db.GroupByGID(oldGID)
		switch {
		case held:
		case oldExists && oldGID != 0 && !db.sharesPrimary(oldGID, id.Name):
			line, err := db.renumber(Group, old.Name, id.GID, -1)
			if err != nil {
				return err
			}
			p.add(Group, old.Name, line)
		default:
			p.addGroup(id.Name, id.GID, db)
		}
	}
	line, err := db.renumber(Passwd, id.Name, id.UID, id.GID)
	if err != nil {
		return err
	}
	p.add(Passwd, id.Name, line)
	return nil
}

// addGroup adds a group with gid for the user name.
func (p *Plan) addGroup(user string, gid int, db *DB) {
	name := freeGroupName(user, gid, db)
	p.add(Group, name, fmt.Sprintf("%s:x:%d:", name, gid))
	if db.Exists(Gshadow) {
		p.addIfMissing(db, Gshadow, name, name+":!::")
	}
}

func (p *Plan) add(file, name, text string) {
	p.Lines = append(p.Lines, Line{File: file, Name: name, Text: text})
}

// addIfMissing keeps a stale shadow line of the same name rather than
// replace it, so that a password someone set is never lost.
func (p *Plan) addIfMissing(db *DB, file, name, text string) {
	if !db.nameTaken(file, name) {
		p.add(file, name, text)
	}
}

func freeUserName(candidates []string, db *DB) (string, error) {
	for _, name := range candidates {
		if !db.nameTaken(Passwd, name) {
			return name, nil
		}
	}
	if len(candidates) == 0 {
		return "", fmt.Errorf("add user: no name given")
	}
	if u, ok := db.UserByName(candidates[0]); ok {
		return "", fmt.Errorf("add user %q: %w (uid %d)", candidates[0], ErrNameTaken, u.UID)
	}
	return "", fmt.Errorf("add user %q: %w", candidates[0], ErrNameTaken)
}

// freeGroupName prefers the user's name, as useradd's user private groups
// do; when another gid holds that name it falls back to "group<gid>".
func freeGroupName(userName string, gid int, db *DB) string {
	for _, name := range []string{userName, "group" + strconv.Itoa(gid)} {
		if !db.nameTaken(Group, name) {
			return name
		}
	}
	for i := 1; ; i++ {
		name := fmt.Sprintf("group%d_%d", gid, i)
		if !db.nameTaken(Group, name) {
			return name
		}
	}
}

// supplementaryGroups lists the groups the command runs with. A user
// this plan creates joins no group merely because a member list already
// names it: such a line was written for someone else of that name, or
// planted for whoever would take it.
func supplementaryGroups(p *Plan, req Request, db *DB) ([]int, error) {
	id := &p.Identity
	gids := []int{id.GID}
	if !p.NewUser {
		gids = append(gids, db.memberOf(id.Name)...)
	}
	for _, g := range req.Groups {
		gid, err := groupID(g, db)
		if err != nil {
			return nil, err
		}
		gids = append(gids, gid)
	}
	gids = append(gids, req.KeepGroups...)
	return SortedIDs(gids), nil
}

// SortedIDs returns ids sorted, without duplicates, as a new slice.
func SortedIDs(ids []int) []int {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// groupID resolves a group given by name or gid. A gid needs no line in the
// group file: the kernel does not care, and `docker run --group-add` allows
// the same.
func groupID(g string, db *DB) (int, error) {
	gid, name, err := ParseGroupRef(g)
	if err != nil || name == "" {
		return gid, err
	}
	grp, ok := db.GroupByName(name)
	if !ok {
		return 0, fmt.Errorf("group %q: %w", name, ErrUnknownGroup)
	}
	return grp.GID, nil
}

// Without returns p without its lines for the named files.
func (p Plan) Without(files ...string) Plan {
	out := p
	out.Lines = nil
	for _, l := range p.Lines {
		if !slices.Contains(files, l.File) {
			out.Lines = append(out.Lines, l)
		}
	}
	return out
}

// Files lists the files p writes, in commit order (Files).
func (p Plan) Files() []string {
	var out []string
	for _, name := range Files {
		if slices.ContainsFunc(p.Lines, func(l Line) bool { return l.File == name }) {
			out = append(out, name)
		}
	}
	return out
}

// Render returns the new content of every file p changes, in commit
// order: db's bytes with p's lines put in as putEntry puts each, every
// other byte kept. The content is pieces of db's bytes and the new lines,
// so that a large file is written out with no copy of it in memory.
func Render(p Plan, db *DB) []Rendered {
	var out []Rendered
	for _, name := range p.Files() {
		var lines []Line
		for _, l := range p.Lines {
			if l.File == name {
				lines = append(lines, l)
			}
		}
		out = append(out, render(db.Content(name).Data, lines))
	}
	return out
}

// Rendered is a file's new content, in pieces.
type Rendered [][]byte

// Len is the content's length.
func (r Rendered) Len() int {
	n := 0
	for _, p := range r {
		n += len(p)
	}
	return n
}

// Bytes is the content in one piece.
func (r Rendered) Bytes() []byte {
	out := make([]byte, 0, r.Len())
	for _, p := range r {
		out = append(out, p...)
	}
	return out
}

// render puts lines into data: each replaces the first line of the same
// name, or is appended; a line added before is replaced in its turn.
func render(data []byte, lines []Line) Rendered {
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	var appended []Line
	for _, l := range lines {
		if i := slices.IndexFunc(appended, func(a Line) bool { return a.Name == l.Name }); i >= 0 {
			appended[i].Text = l.Text
			continue
		}
		start, end, ok := findEntry(data, l.Name)
		if !ok {
			appended = append(appended, l)
			continue
		}
		if i := slices.IndexFunc(edits, func(e edit) bool { return e.start == start }); i >= 0 {
			edits[i].text = l.Text
			continue
		}
		edits = append(edits, edit{start, end, l.Text})
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out Rendered
	at := 0
	for _, e := range edits {
		out = append(out, data[at:e.start], []byte(e.text))
		at = e.end
	}
	out = append(out, data[at:])
	if len(appended) > 0 && len(data) > 0 && data[len(data)-1] != '\n' {
		out = append(out, []byte{'\n'})
	}
	for _, a := range appended {
		out = append(out, []byte(a.Text+"\n"))
	}
	return out
}

// AddGroup adds to p a group with gid, named name when that is a valid
// name no group has, else group<gid>.
func (p *Plan) AddGroup(db *DB, name string, gid int) {
	if CheckName(name) != nil {
		name = "group" + strconv.Itoa(gid)
	}
	p.addGroup(name, gid, db)
}
