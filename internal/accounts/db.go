package accounts

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// The account files, by their names in /etc.
const (
	Passwd  = "passwd"
	Group   = "group"
	Shadow  = "shadow"
	Gshadow = "gshadow"
)

// Files are the account files in the order a writer commits them: the
// shadow lines first, then the group, then the passwd line. A start killed
// between two renames then leaves lines that nothing reads without the
// line committed after them (a shadow line without its passwd line, a group
// without a user), and the next start, finding no passwd line, adds what is
// missing and keeps what is there.
var Files = [...]string{Gshadow, Shadow, Group, Passwd}

// ErrMalformed is returned for a line that glibc would skip but that names
// the uid or gid being resolved: using the identity without it, or adding
// another line for the id, would be a guess.
var ErrMalformed = errors.New("malformed entry")

// Content is one account file as read.
type Content struct {
	Data   []byte
	Exists bool
}

// DB is the account files of one directory, read the way glibc's files
// backend (nss_files) reads them. It keeps their bytes and parses a line
// only when a lookup reaches it, and it remembers each lookup's answer, so
// that a large file costs one scan per question however often a start
// decides again. A DB is used by one goroutine at a time.
type DB struct {
	files map[string]Content
	// answers are the lookups made, by file and question.
	answers map[answerKey]any
}

// answerKey is one lookup: the file it scans and the question asked.
type answerKey struct {
	file, question string
}

// NewDB returns a DB over the given contents; a file missing from files
// does not exist.
func NewDB(files map[string]Content) *DB {
	db := &DB{files: map[string]Content{}, answers: map[answerKey]any{}}
	for _, name := range Files {
		db.files[name] = files[name]
	}
	return db
}

// With returns a DB over files that keeps db's answers about every file
// whose bytes are the very ones db holds: a reload that found passwd
// unchanged asks nothing of it twice.
func (db *DB) With(files map[string]Content) *DB {
	fresh := NewDB(files)
	for k, v := range db.answers {
		if sameBytes(db.files[k.file].Data, fresh.files[k.file].Data) {
			fresh.answers[k] = v
		}
	}
	return fresh
}

func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// answer returns what ask answers about file, asking only the first time.
func answer[T any](db *DB, file, question string, ask func() T) T {
	k := answerKey{file, question}
	if v, ok := db.answers[k]; ok {
		t, _ := v.(T) // a nil error is kept as a nil any
		return t
	}
	v := ask()
	db.answers[k] = v
	return v
}

// Content returns what db holds of file name.
func (db *DB) Content(name string) Content { return db.files[name] }

// Exists reports whether the account file name exists.
func (db *DB) Exists(name string) bool { return db.files[name].Exists }

// User is a passwd entry.
type User struct {
	Name     string
	UID, GID int
	Home     string
	Shell    string
}

// GroupEntry is a group entry.
type GroupEntry struct {
	Name    string
	GID     int
	Members []string
}

// line is one line of an account file as glibc sees it: leading white space
// skipped, the text up to a NUL or the newline.
type line struct {
	text       []byte
	start, end int // byte range of text in the file, for edits
	n          int // line number, from 1
}

// eachLine calls fn for every line of data that glibc's reader passes on to
// its parser: leading white space is skipped, and blank lines and lines
// starting with '#' are not lines at all. fn returns false to stop.
func eachLine(data []byte, fn func(l line) bool) {
	n := 0
	for start := 0; start < len(data); {
		n++
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += start
		}
		next := end + 1
		s := start
		for s < end && isSpace(data[s]) {
			s++
		}
		text := data[s:end]
		// C strings end at a NUL byte: glibc's parser never sees past it.
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		if len(text) > 0 && text[0] != '#' {
			if !fn(line{text: text, start: s, end: end, n: n}) {
				return
			}
		}
		start = next
	}
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// field cuts the text up to the next ':' (or the end) off s: glibc's
// STRING_FIELD.
func field(s []byte) (f, rest []byte) {
	if i := bytes.IndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, nil
}

// idField parses a uid or gid field the way glibc's INT_FIELD does: strtoul
// in base 10 (leading white space and a sign allowed), clamped to 32 bits,
// at least one digit, and then a ':' or the end of the line. ok is false
// when glibc rejects the line there.
func idField(s []byte) (id uint32, rest []byte, ok bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	digits := i
	var v uint64
	overflow := false
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if v > (1<<64-1-d)/10 {
			overflow = true
		}
		v = v*10 + d
		i++
	}
	if i == digits {
		return 0, nil, false
	}
	if overflow {
		v = 1<<64 - 1
	}
	if neg {
		v = -v
	}
	if v > 1<<32-1 {
		v = 1<<32 - 1
	}
	switch {
	case i == len(s):
		return uint32(v), nil, true
	case s[i] == ':':
		return uint32(v), s[i+1:], true
	}
	return 0, nil, false
}

// leadingID returns the number a malformed id field starts with, as strtoul
// would read it, so that a line glibc skips can still be matched to the id
// it was meant for.
func leadingID(s []byte) (int, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && '0' <= s[j] && s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseUint(string(s[i:j]), 10, 31)
	return int(n), err == nil
}

// compat reports a name of nss_compat's +/- entries, which glibc's files
// backend never returns for a lookup by name or id.
func compat(name []byte) bool {
	return len(name) > 0 && (name[0] == '+' || name[0] == '-')
}

// rawUser is a passwd line parsed without copying.
type rawUser struct {
	name, home, shell []byte
	uid, gid          uint32
}

// parseUser parses a passwd line as glibc does, or reports it malformed
// together with the id its uid field starts with.
func parseUser(text []byte) (u rawUser, ok bool) {
	var rest []byte
	u.name, rest = field(text)
	_, rest = field(rest) // password
	if u.uid, rest, ok = idField(rest); !ok {
		return u, false
	}
	if u.gid, rest, ok = idField(rest); !ok {
		return u, false
	}
	_, rest = field(rest) // gecos
	u.home, rest = field(rest)
	u.shell = rest // the rest of the line, colons included
	return u, true
}

func (u rawUser) user() User {
	return User{Name: string(u.name), UID: int(u.uid), GID: int(u.gid), Home: string(u.home), Shell: string(u.shell)}
}

// rawGroup is a group line parsed without copying.
type rawGroup struct {
	name, members []byte
	gid           uint32
}

func parseGroup(text []byte) (g rawGroup, ok bool) {
	var rest []byte
	g.name, rest = field(text)
	_, rest = field(rest) // password
	if g.gid, g.members, ok = idField(rest); !ok {
		return g, false
	}
	return g, true
}

// eachMember calls fn for every member of a group's member list: glibc
// splits it at commas, skips white space before each name and drops empty
// ones.
func eachMember(list []byte, fn func(name []byte) bool) {
	for len(list) > 0 {
		i := 0
		for i < len(list) && isSpace(list[i]) {
			i++
		}
		list = list[i:]
		end := bytes.IndexByte(list, ',')
		if end < 0 {
			end = len(list)
		}
		if end > 0 && !fn(list[:end]) {
			return
		}
		if end == len(list) {
			return
		}
		list = list[end+1:]
	}
}

func (g rawGroup) entry() GroupEntry {
	e := GroupEntry{Name: string(g.name), GID: int(g.gid)}
	eachMember(g.members, func(m []byte) bool {
		e.Members = append(e.Members, string(m))
		return true
	})
	return e
}

// userWhere returns the first passwd entry for which match holds, as
// getpwuid and getpwnam return the first matching line.
func (db *DB) userWhere(match func(u rawUser) bool) (User, bool) {
	var found User
	ok := false
	eachLine(db.files[Passwd].Data, func(l line) bool {
		u, valid := parseUser(l.text)
		if valid && !compat(u.name) && match(u) {
			found, ok = u.user(), true
			return false
		}
		return true
	})
	return found, ok
}

// found is a lookup's answer: the entry, and whether there is one.
type found[E any] struct {
	e  E
	ok bool
}

// UserByUID returns the entry getpwuid(uid) would.
func (db *DB) UserByUID(uid int) (User, bool) {
	f := answer(db, Passwd, "uid "+strconv.Itoa(uid), func() found[User] {
		u, ok := db.userWhere(func(u rawUser) bool { return int(u.uid) == uid })
		return found[User]{u, ok}
	})
	return f.e, f.ok
}

// UserByName returns the entry getpwnam(name) would.
func (db *DB) UserByName(name string) (User, bool) {
	f := answer(db, Passwd, "name "+name, func() found[User] {
		u, ok := db.userWhere(func(u rawUser) bool { return string(u.name) == name })
		return found[User]{u, ok}
	})
	return f.e, f.ok
}

func (db *DB) groupWhere(match func(g rawGroup) bool) (GroupEntry, bool) {
	var found GroupEntry
	ok := false
	eachLine(db.files[Group].Data, func(l line) bool {
		g, valid := parseGroup(l.text)
		if valid && !compat(g.name) && match(g) {
			found, ok = g.entry(), true
			return false
		}
		return true
	})
	return found, ok
}

// GroupByGID returns the entry getgrgid(gid) would.
func (db *DB) GroupByGID(gid int) (GroupEntry, bool) {
	f := answer(db, Group, "gid "+strconv.Itoa(gid), func() found[GroupEntry] {
		g, ok := db.groupWhere(func(g rawGroup) bool { return int(g.gid) == gid })
		return found[GroupEntry]{g, ok}
	})
	return f.e, f.ok
}

// GroupByName returns the entry getgrnam(name) would.
func (db *DB) GroupByName(name string) (GroupEntry, bool) {
	f := answer(db, Group, "name "+name, func() found[GroupEntry] {
		g, ok := db.groupWhere(func(g rawGroup) bool { return string(g.name) == name })
		return found[GroupEntry]{g, ok}
	})
	return f.e, f.ok
}

// nameTaken reports whether any line of file, well-formed or not, carries
// name in its name field: a new entry must not share a name with a line a
// later edit of that name would find.
func (db *DB) nameTaken(file, name string) bool {
	return answer(db, file, "taken "+name, func() bool {
		_, _, ok := findEntry(db.files[file].Data, name)
		return ok
	})
}

// sharesPrimary reports whether a user other than name has gid as its
// primary group.
func (db *DB) sharesPrimary(gid int, name string) bool {
	return answer(db, Passwd, "primary "+strconv.Itoa(gid)+" "+name, func() bool {
		_, ok := db.userWhere(func(u rawUser) bool { return int(u.gid) == gid && string(u.name) != name })
		return ok
	})
}

// memberOf returns the gids of the groups that list name as a member, as
// initgroups(3) collects them.
func (db *DB) memberOf(name string) []int {
	gids := answer(db, Group, "member "+name, func() []int {
		var gids []int
		eachLine(db.files[Group].Data, func(l line) bool {
			g, valid := parseGroup(l.text)
			if valid && !compat(g.name) && isMember(g.members, name) {
				gids = append(gids, int(g.gid))
			}
			return true
		})
		return gids
	})
	return slices.Clone(gids)
}

// isMember reports whether a group's member list names name.
func isMember(list []byte, name string) bool {
	member := false
	eachMember(list, func(m []byte) bool {
		member = string(m) == name
		return !member
	})
	return member
}

// checkMalformed returns ErrMalformed for the first line of file that
// glibc would skip but whose id field (field 3) starts with id: such a line
// was meant for id, and no entry would be found for it.
func (db *DB) checkMalformed(file string, id int) error {
	return answer(db, file, "malformed "+strconv.Itoa(id), func() error { return db.malformed(file, id) })
}

func (db *DB) malformed(file string, id int) error {
	var err error
	eachLine(db.files[file].Data, func(l line) bool {
		var valid bool
		if file == Passwd {
			_, valid = parseUser(l.text)
		} else {
			_, valid = parseGroup(l.text)
		}
		if valid {
			return true
		}
		name, rest := field(l.text)
		_, rest = field(rest)
		if compat(name) {
			return true
		}
		if n, ok := leadingID(rest); ok && n == id {
			err = fmt.Errorf("%w: %s line %d names id %d but glibc cannot read it: %q", ErrMalformed, file, l.n, id, truncate(l.text))
			return false
		}
		return true
	})
	return err
}

func truncate(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// renumber returns the entry name of file with its id fields replaced:
// field 3 (uid, or a group's gid) by first, field 4 (a user's gid) by
// second unless it is negative. Every other byte of the line is kept.
func (db *DB) renumber(file, name string, first, second int) (string, error) {
	data := db.files[file].Data
	start, end, ok := findEntry(data, name)
	if !ok {
		return "", fmt.Errorf("renumber %s in %s: no such entry", name, file)
	}
	fields := bytes.Split(data[start:end], []byte(":"))
	if len(fields) < 4 {
		return "", fmt.Errorf("renumber %s in %s: %w", name, file, ErrMalformed)
	}
	fields[2] = strconv.AppendInt(nil, int64(first), 10)
	if second >= 0 {
		fields[3] = strconv.AppendInt(nil, int64(second), 10)
	}
	return string(bytes.Join(fields, []byte(":"))), nil
}
