package accountfiles

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
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

// file is one account file as read: what a rewrite must keep.
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

// Snapshot is the account files of one directory (normally /etc) as read
// at one moment, with what a rewrite of each must keep.
type Snapshot struct {
	Dir   string
	DB    *accounts.DB
	files map[string]*file
}

// Load reads passwd and group, enough to tell whether a start must write
// anything: shadow and gshadow lines are only ever added along with a
// passwd or group line. It leaves them out, as if missing; LoadAll (or
// Reload under the lock) reads them. A missing passwd or group file reads
// as empty.
func Load(dir string) (*Snapshot, error) {
	return load(dir, []string{accounts.Passwd, accounts.Group})
}

// LoadAll reads all four account files. A missing shadow or gshadow file
// stays missing.
func LoadAll(dir string) (*Snapshot, error) { return load(dir, accounts.Files[:]) }

func load(dir string, names []string) (*Snapshot, error) {
	files := make(map[string]*file, len(accounts.Files))
	for _, name := range accounts.Files {
		files[name] = &file{mode: 0o644}
	}
	for _, name := range names {
		f, err := readFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrPermission) && (name == accounts.Shadow || name == accounts.Gshadow) {
			// root:shadow 0640 to a start without root: it could not write
			// them either, and a user needs no shadow line to work.
			continue
		}
		if err != nil {
			return nil, err
		}
		files[name] = f
	}
	return newSnapshot(dir, files), nil
}

func newSnapshot(dir string, files map[string]*file) *Snapshot {
	return &Snapshot{Dir: dir, DB: accounts.NewDB(contentsOf(files)), files: files}
}

func contentsOf(files map[string]*file) map[string]accounts.Content {
	contents := make(map[string]accounts.Content, len(files))
	for name, f := range files {
		contents[name] = accounts.Content{Data: f.data, Exists: f.exists}
	}
	return contents
}

// Reload reads all four account files again, for a start that is about to
// write under the lock. passwd and group are reused when they are the very
// versions s read, so that a large file is not read twice.
func (s *Snapshot) Reload() (*Snapshot, error) {
	same := func(name string) bool {
		var st syscall.Stat_t
		f := s.files[name]
		return f.exists && syscall.Lstat(filepath.Join(s.Dir, name), &st) == nil && stampOf(&st) == f.stamp
	}
	if !same(accounts.Passwd) || !same(accounts.Group) {
		return LoadAll(s.Dir)
	}
	fresh, err := load(s.Dir, []string{accounts.Shadow, accounts.Gshadow})
	if err != nil {
		return nil, err
	}
	fresh.files[accounts.Passwd], fresh.files[accounts.Group] = s.files[accounts.Passwd], s.files[accounts.Group]
	// The same bytes of passwd and group: what was looked up in them
	// stands.
	return &Snapshot{Dir: s.Dir, DB: s.DB.With(contentsOf(fresh.files)), files: fresh.files}, nil
}

func readFile(path string) (*file, error) {
	// O_NOFOLLOW: an account file that is a symlink is refused rather than
	// followed, since a rewrite would replace the link, not its target.
	// O_NONBLOCK: opening a FIFO planted there must not hang the start; it
	// has no effect on reading a regular file. Plain syscalls rather than
	// an *os.File, which would set up the runtime's poller for a
	// non-blocking descriptor, for two small reads.
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
	data, err := safefs.ReadFD(fd, maxFileSize, int(st.Size))
	if errors.Is(err, safefs.ErrTooLarge) {
		err = ErrTooLarge
	}
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return &file{exists: true, data: data, mode: os.FileMode(st.Mode & 0o777), uid: int(st.Uid), gid: int(st.Gid), stamp: stampOf(&st)}, nil
}
