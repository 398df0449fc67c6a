package users

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// maxFileSize caps every account file read. 64 MiB holds about a million
// entries, far beyond any image; anything larger is a mistake or an attack.
const maxFileSize = 64 << 20

// ErrNotRegular is returned when an account file is a symlink, directory,
// device or anything else but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned when an account file exceeds maxFileSize.
var ErrTooLarge = errors.New("file too large")

// The account files, in the order Apply commits them: groups before users,
// so that no passwd line ever names a group that is not there yet.
const (
	groupFile   = "group"
	gshadowFile = "gshadow"
	passwdFile  = "passwd"
	shadowFile  = "shadow"
)

var accountFiles = [...]string{groupFile, gshadowFile, passwdFile, shadowFile}

// file is one account file as read: its bytes and what a rewrite must keep.
type file struct {
	exists bool
	data   []byte
	mode   os.FileMode
	uid    int
	gid    int
	stamp  stamp
}

// stamp identifies one version of a file: any write changes the ctime,
// and a rename over it the inode.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func stampOf(st *syscall.Stat_t) stamp {
	return stamp{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// DB is a snapshot of the account files of one directory (normally /etc).
type DB struct {
	Dir    string
	Users  []user.User
	Groups []user.Group
	files  map[string]*file
}

// Load reads the account files in dir. A missing passwd or group file reads
// as empty (Apply then creates it, mode 0644); a missing shadow or gshadow
// file stays missing.
func Load(dir string) (*DB, error) { return load(dir, accountFiles[:]) }

// LoadAccounts reads only passwd and group, enough to tell whether a start
// must write anything: shadow and gshadow lines are only ever added along
// with a passwd or group line. It leaves them out of the DB, as if missing.
func LoadAccounts(dir string) (*DB, error) { return load(dir, []string{passwdFile, groupFile}) }

func load(dir string, names []string) (*DB, error) {
	files := make(map[string]*file, len(accountFiles))
	for _, name := range accountFiles {
		files[name] = &file{mode: 0o644}
	}
	for _, name := range names {
		f, err := readFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrPermission) && (name == shadowFile || name == gshadowFile) {
			// root:shadow 0640 to a start without root: it could not write
			// them either, and a user needs no shadow line to work.
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = f
	}
	return parse(dir, files)
}

// Reload reads the account files of db's directory again, all four of
// them, for a start that is about to write under the lock. passwd and group
// are reused, parsed, when they are the very versions db read, so that a
// large file is not read and parsed twice.
func (db *DB) Reload() (*DB, error) {
	same := func(name string) bool {
		var st syscall.Stat_t
		f := db.files[name]
		return f.exists && syscall.Lstat(filepath.Join(db.Dir, name), &st) == nil && stampOf(&st) == f.stamp
	}
	if !same(passwdFile) || !same(groupFile) {
		return Load(db.Dir)
	}
	fresh, err := load(db.Dir, []string{shadowFile, gshadowFile})
	if err != nil {
		return nil, err
	}
	fresh.files[passwdFile], fresh.files[groupFile] = db.files[passwdFile], db.files[groupFile]
	fresh.Users, fresh.Groups = db.Users, db.Groups
	return fresh, nil
}

// parse builds a DB over files already read.
func parse(dir string, files map[string]*file) (*DB, error) {
	db := &DB{Dir: dir, files: files}
	var err error
	if db.Users, err = user.ParsePasswd(bytes.NewReader(files[passwdFile].data)); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, passwdFile), err)
	}
	if db.Groups, err = user.ParseGroup(bytes.NewReader(files[groupFile].data)); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, groupFile), err)
	}
	return db, nil
}

func readFile(path string) (*file, error) {
	// O_NOFOLLOW: an account file that is a symlink is refused rather than
	// followed, since a rewrite would replace the link, not its target.
	// O_NONBLOCK: opening a FIFO planted there must not hang the start; it
	// has no effect on reading a regular file. Plain syscalls rather than
	// an *os.File, which would set up the runtime's poller for a
	// non-blocking descriptor: four syscalls and a busier scheduler on
	// every start, for two small reads.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return &file{mode: 0o644}, nil
	case err == unix.ELOOP:
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	case err != nil:
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrNotRegular}
	}
	// A buffer of the size fstat gave, plus a byte to see the end: one
	// read in the common case. A file that grew since is read on, up to
	// the cap.
	data := make([]byte, 0, min(st.Size, maxFileSize)+1)
	for len(data) <= maxFileSize {
		if len(data) == cap(data) {
			data = slices.Grow(data, min(cap(data), maxFileSize+1-len(data)))
		}
		n, err := unix.Read(fd, data[len(data):cap(data)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		data = data[:len(data)+n]
	}
	if len(data) > maxFileSize {
		return nil, &os.PathError{Op: "read", Path: path, Err: ErrTooLarge}
	}
	return &file{exists: true, data: data, mode: os.FileMode(st.Mode & 0o777), uid: int(st.Uid), gid: int(st.Gid), stamp: stampOf(&st)}, nil
}

// HasShadow reports whether the shadow file exists, so that new users get a
// locked-password line in it.
func (db *DB) HasShadow() bool { return db.files[shadowFile].exists }

func (db *DB) userByUID(uid int) (user.User, bool) {
	for _, u := range db.Users {
		if u.Uid == uid {
			return u, true
		}
	}
	return user.User{}, false
}

func (db *DB) userByName(name string) (user.User, bool) {
	for _, u := range db.Users {
		if u.Name == name {
			return u, true
		}
	}
	return user.User{}, false
}

func (db *DB) groupByGID(gid int) (user.Group, bool) {
	for _, g := range db.Groups {
		if g.Gid == gid {
			return g, true
		}
	}
	return user.Group{}, false
}

func (db *DB) groupByName(name string) (user.Group, bool) {
	for _, g := range db.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return user.Group{}, false
}

// sharesPrimary reports whether a user other than name has gid as its
// primary group.
func (db *DB) sharesPrimary(gid int, name string) bool {
	for _, u := range db.Users {
		if u.Gid == gid && u.Name != name {
			return true
		}
	}
	return false
}

// renumber returns the entry name of file with its id fields replaced:
// field 3 (uid, or a group's gid) by first, field 4 (a user's gid) by
// second unless it is negative. Every other byte of the line is kept.
func (db *DB) renumber(file, name string, first, second int) (string, error) {
	data := db.files[file].data
	start, end, ok := findEntry(data, name)
	if !ok {
		return "", fmt.Errorf("renumber %s in %s: no such entry", name, file)
	}
	fields := strings.Split(string(data[start:end]), ":")
	if len(fields) < 4 {
		return "", fmt.Errorf("renumber %s in %s: malformed entry", name, file)
	}
	fields[2] = strconv.Itoa(first)
	if second >= 0 {
		fields[3] = strconv.Itoa(second)
	}
	return strings.Join(fields, ":"), nil
}
