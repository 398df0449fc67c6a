package ownership

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"

	"golang.org/x/sys/unix"
)

// ErrSymlink is returned by Walk when the root itself is a symbolic link.
// What it points to was not named by the caller, so it is not walked, and
// the link alone is not worth a silent success.
var ErrSymlink = errors.New("root is a symbolic link")

// ErrRootID is returned by Walk for a Change that moves uid 0 or gid 0 to
// another id: root's files are never the image user's to take along.
var ErrRootID = errors.New("change moves id 0")

// ErrInvalidID is returned by Walk for a Change with an id outside 0 to
// maxID.
var ErrInvalidID = errors.New("invalid id")

// ErrReplaced is reported for a directory that, when its turn came, was no
// longer the one looked at when it was found: it was swapped for a symlink,
// a file, another directory or a mount while the walk ran. Nothing below it
// was changed.
var ErrReplaced = errors.New("directory replaced during the walk")

// maxID is the largest id accepted: 2^32-1 means "leave unchanged" to
// chown(2), and many tools store ids as int32.
const maxID = accounts.MaxID

// maxErrors is how many errors Walk reports one by one; the rest are
// counted.
const maxErrors = 20

// progressEvery is the least time between two progress lines.
const progressEvery = time.Second

// Change maps old ids to new ones. An entry whose uid is OldUID gets NewUID
// and an entry whose gid is OldGID gets NewGID, independently: set
// NewGID = OldGID to leave groups alone. Entries owned by anyone else are
// left alone; entries already right are only looked at.
type Change struct{ OldUID, NewUID, OldGID, NewGID int }

// Stats counts what a Walk did. Changed counts chown calls: an inode with
// two hard links may be counted twice if two workers reach it at once.
type Stats struct {
	Seen, Changed int64
	Elapsed       time.Duration
}

// Options tune a Walk.
type Options struct {
	// Workers is how many directories are visited at once; 0 sizes the
	// pool to the machine (DefaultWorkers).
	Workers int
	// Progress, when not nil, is called at most once a second while the
	// walk runs, and once more at the end if it was called at all. The
	// caller decides whether anyone is watching, and how to say it.
	Progress func(Stats)
}

// DefaultWorkers is the pool size Walk uses when Options.Workers is 0. A
// worker spends most of its time waiting, not computing: on inodes read
// from disk when the cache is cold and, on overlayfs, on the copy-up each
// first chown of an image file causes (a copy of the file into the upper
// layer, synced). So the pool is sized for I/O in flight rather than for
// CPUs (bench/README.md has the copy-up's time by pool size).
func DefaultWorkers() int {
	return min(max(4*runtime.GOMAXPROCS(0), 32), 64)
}

// Test hooks: now is the clock, beforeOpen runs before a queued directory
// is opened.
var (
	now        = time.Now
	beforeOpen func(rel string)
)

// Walk gives the entries of the tree at root that c names their new ids,
// root itself included. It never follows a symlink, never enters or changes
// a mount point below root, and keeps the set-user-ID and set-group-ID bits
// the kernel clears on chown. It goes on after an error: the returned error
// joins the first maxErrors of them and counts the rest. An entry that
// vanishes during the walk is not an error. A directory root needs /proc:
// without /proc/self/mountinfo, Walk changes nothing and says why.
func Walk(root string, c Change, opt Options) (Stats, error) {
	start := now()
	if err := c.check(); err != nil {
		return Stats{}, err
	}
	if root == "" {
		return Stats{}, &os.PathError{Op: "walk", Path: root, Err: unix.ENOENT}
	}
	// A trailing "/" or "/." would make the kernel resolve a symlink root
	// despite O_NOFOLLOW.
	root = filepath.Clean(root)
	// O_PATH: look at the root without opening it for reading, so that a
	// FIFO or device named as the root is never opened; O_NOFOLLOW: a
	// symlink is held as itself, not resolved.
	pfd, err := unix.Open(root, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, &os.PathError{Op: "open", Path: root, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return Stats{}, &os.PathError{Op: "stat", Path: root, Err: err}
	}
	w := &walker{root: root, c: c, rootfd: -1, dev: st.Dev, out: opt.Progress, start: start, last: start}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return Stats{}, &os.PathError{Op: "walk", Path: root, Err: ErrSymlink}
	case unix.S_IFDIR:
		if err := w.openRoot(pfd); err != nil {
			return Stats{}, err
		}
		defer unix.Close(w.rootfd)
	}
	w.seen.Add(1)
	w.chownFD(pfd, &st, root)
	if w.rootfd >= 0 {
		w.run(opt.Workers)
	}
	w.finish()
	return w.stats(), w.errs.err()
}

// check refuses what is never a remap.
func (c Change) check() error {
	for _, id := range []int{c.OldUID, c.NewUID, c.OldGID, c.NewGID} {
		if id < 0 || id > maxID {
			return fmt.Errorf("%w %d: want 0 to %d", ErrInvalidID, id, maxID)
		}
	}
	if (c.OldUID == 0 && c.NewUID != 0) || (c.OldGID == 0 && c.NewGID != 0) {
		return fmt.Errorf("remap %d:%d to %d:%d: %w", c.OldUID, c.OldGID, c.NewUID, c.NewGID, ErrRootID)
	}
	return nil
}

// ids returns the owner to give an entry owned by uid:gid, -1 for an id
// that stays (chown's "leave unchanged"), and whether anything changes.
func (c Change) ids(st *unix.Stat_t) (uid, gid int, change bool) {
	uid, gid = -1, -1
	if int(st.Uid) == c.OldUID && c.NewUID != c.OldUID {
		uid = c.NewUID
	}
	if int(st.Gid) == c.OldGID && c.NewGID != c.OldGID {
		gid = c.NewGID
	}
	return uid, gid, uid >= 0 || gid >= 0
}

// dirItem is a directory waiting to be visited: its path below the root
// ("" for the root) and the identity it had when it was found.
type dirItem struct {
	rel      string
	dev, ino uint64
}

type walker struct {
	root   string // as the caller named it, for messages
	c      Change
	rootfd int    // the root directory, open for reading; -1 for a non-directory root
	dev    uint64 // the root's file system

	// mounts holds the mount points below the root and holders the
	// directories above them, both as paths below the root; holders[""]
	// is set when there is any.
	mounts, holders map[string]bool

	mu    sync.Mutex
	cond  sync.Cond
	stack []dirItem // directories still to visit, last found first
	busy  int       // directories being visited

	seen, changed atomic.Int64
	errs          errList

	out         func(Stats)
	outMu       sync.Mutex
	start, last time.Time
	printed     bool
}

// openRoot opens the root directory for reading through pfd and learns
// which mount points lie below it.
func (w *walker) openRoot(pfd int) error {
	// The kernel's own name for the directory pfd holds: the caller's path
	// may run through symlinks, mountinfo's never does.
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(pfd))
	if err != nil {
		return err
	}
	points, err := readMountPoints()
	if err != nil {
		// Without the list, a bind mount of this same file system would
		// look like any directory: refuse rather than walk into the host.
		return err
	}
	w.indexMounts(real, points)
	// "." relative to the O_PATH descriptor reopens that very directory for
	// reading: no name is looked up again, so nothing can be swapped in.
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: w.root, Err: err}
	}
	w.rootfd = fd
	return nil
}

// indexMounts keeps the mount points below real, the root's canonical path.
// A mount on the root itself does not count: the caller named it.
func (w *walker) indexMounts(real string, points []string) {
	w.mounts, w.holders = map[string]bool{}, map[string]bool{}
	prefix := strings.TrimSuffix(real, "/") + "/"
	for _, p := range points {
		rel, ok := strings.CutPrefix(p, prefix)
		if !ok || rel == "" {
			continue
		}
		w.mounts[rel] = true
		for {
			i := strings.LastIndexByte(rel, '/')
			if i < 0 {
				w.holders[""] = true
				break
			}
			rel = rel[:i]
			w.holders[rel] = true
		}
	}
}

// run visits every directory below the root with a pool of workers and
// returns when all are done.
func (w *walker) run(workers int) {
	if workers <= 0 {
		workers = DefaultWorkers()
	}
	w.cond.L = &w.mu
	w.stack = append(w.stack, dirItem{rel: "", dev: w.dev})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			var names []string
			for {
				it, ok := w.pop()
				if !ok {
					return
				}
				names = w.visit(it, buf, names)
				w.done()
			}
		})
	}
	wg.Wait()
}

func (w *walker) push(it dirItem) {
	w.mu.Lock()
	w.stack = append(w.stack, it)
	w.mu.Unlock()
	w.cond.Signal()
}

// pop takes the next directory, waiting while others may still find some;
// it reports false once the stack is empty and no directory is being
// visited.
func (w *walker) pop() (dirItem, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.stack) == 0 {
		if w.busy == 0 {
			return dirItem{}, false
		}
		w.cond.Wait()
	}
	it := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	w.busy++
	return it, true
}

func (w *walker) done() {
	w.mu.Lock()
	w.busy--
	if w.busy == 0 && len(w.stack) == 0 {
		w.cond.Broadcast()
	}
	w.mu.Unlock()
}

// visit changes the entries of one directory and queues its
// subdirectories. names is scratch space, returned for reuse.
func (w *walker) visit(it dirItem, buf []byte, names []string) []string {
	fd := w.rootfd
	if it.rel != "" {
		var err error
		if fd, err = w.openDir(it); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				w.errs.add(&os.PathError{Op: "open", Path: w.path(it.rel), Err: err})
			}
			return names
		}
		defer unix.Close(fd)
	}
	holdsMounts := w.holders[it.rel]
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			if !errors.Is(err, unix.ENOENT) { // removed while being read
				w.errs.add(&os.PathError{Op: "readdirent", Path: w.path(it.rel), Err: err})
			}
			return names
		}
		if n == 0 {
			return names
		}
		// ParseDirent leaves out "." and "..".
		_, _, names = unix.ParseDirent(buf[:n], -1, names[:0])
		for _, name := range names {
			if w.entry(fd, it.rel, name, holdsMounts) {
				// A change can take long (an overlayfs copy-up).
				w.progress()
			}
		}
		w.progress()
	}
}

// openDir opens a queued directory for reading and checks that it is still
// the one found.
func (w *walker) openDir(it dirItem) (int, error) {
	if beforeOpen != nil {
		beforeOpen(it.rel)
	}
	fd, err := w.openBelow(it.rel)
	switch {
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.EXDEV):
		// A symlink, a non-directory or a mount where a directory was.
		return -1, ErrReplaced
	case err != nil:
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Dev != it.dev || st.Ino != it.ino {
		unix.Close(fd)
		return -1, ErrReplaced
	}
	return fd, nil
}

// openBelow opens the directory at rel below the root for reading, with no
// symlink and no mount crossing in any component. A mount crossed where
// the kernel lacks openat2 is caught by openDir's check of the directory's
// identity.
func (w *walker) openBelow(rel string) (int, error) {
	return safefs.OpenBeneath(w.rootfd, rel, unix.O_RDONLY|unix.O_DIRECTORY, true)
}

// entry changes one directory entry if it needs it, and queues it if it is
// a directory. It reports whether it tried a change.
func (w *walker) entry(dirfd int, rel, name string, holdsMounts bool) (tried bool) {
	var st unix.Stat_t
	// AT_SYMLINK_NOFOLLOW: a symlink is looked at itself, never its target.
	// AT_NO_AUTOMOUNT: looking at an automount point does not mount it.
	err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			w.errs.add(&os.PathError{Op: "stat", Path: w.path(join(rel, name)), Err: err})
		}
		return false
	}
	w.seen.Add(1)
	if holdsMounts && w.mounts[join(rel, name)] {
		// The stat above saw the mounted root, not this directory's entry:
		// it belongs to the other mount.
		return false
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && st.Dev != w.dev {
		// Another file system where mountinfo had no mount: mounted since
		// it was read. Only directories are checked: on overlayfs without
		// a uniform st_dev a file reports its layer's device.
		return false
	}
	uid, gid, change := w.c.ids(&st)
	if change {
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			w.chownSetID(dirfd, rel, name)
		} else {
			// AT_SYMLINK_NOFOLLOW: a symlink is changed itself (lchown),
			// never its target, also if the entry became one since the
			// stat. A hard link planted in between could be changed
			// instead, but it needs write access to this directory and,
			// under fs.protected_hardlinks, a file its planter owns.
			err := unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
			switch {
			case err == nil:
				w.changed.Add(1)
			case !errors.Is(err, unix.ENOENT):
				w.errs.add(&os.PathError{Op: "chown", Path: w.path(join(rel, name)), Err: err})
			}
		}
	}
	if isDir {
		w.push(dirItem{rel: join(rel, name), dev: st.Dev, ino: st.Ino})
	}
	return change
}

// chownSetID changes a set-user-ID or set-group-ID file through a
// descriptor, so that the mode put back afterwards reaches that same inode.
func (w *walker) chownSetID(dirfd int, rel, name string) {
	path := w.path(join(rel, name))
	// O_PATH: hold the inode without opening it for reading or executing.
	// O_NOFOLLOW: a symlink swapped in since the stat is held as a link.
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			w.errs.add(&os.PathError{Op: "open", Path: path, Err: err})
		}
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		w.errs.add(&os.PathError{Op: "stat", Path: path, Err: err})
		return
	}
	// Decide again from what fd holds: the entry may have changed.
	w.chownFD(fd, &st, path)
}

// chownFD changes the inode that fd, an O_PATH descriptor, holds, if c
// names its owner, and puts back the set-user-ID and set-group-ID bits of a
// regular file. chown(2) clears them on a regular file (the set-group-ID
// bit only together with group execute), for root too since Linux 2.2.13,
// so that a file handed to someone else does not keep running with
// privileges its new owner did not give it. Here the same user only changes
// number, so the file keeps the mode the image gave it, except a bit that
// would now run the file as uid 0 or gid 0: a user moved to gid 0
// (--user 1001:0) must not turn its group's setgid file into a setgid-root
// one.
func (w *walker) chownFD(fd int, st *unix.Stat_t, path string) {
	uid, gid, change := w.c.ids(st)
	if !change {
		return
	}
	// AT_EMPTY_PATH: change the inode fd holds, looking up no name; for a
	// symlink that is the link itself.
	if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
		w.errs.add(&os.PathError{Op: "chown", Path: path, Err: err})
		return
	}
	w.changed.Add(1)
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&(unix.S_ISUID|unix.S_ISGID) == 0 {
		return
	}
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil {
		w.errs.add(&os.PathError{Op: "stat", Path: path, Err: err})
		return
	}
	want := keptMode(st.Mode, after.Uid, after.Gid)
	if after.Mode&0o7777 == want {
		return
	}
	if err := safefs.ChmodFD(fd, want); err != nil {
		w.errs.add(&os.PathError{Op: "chmod", Path: path, Err: err})
	}
}

// keptMode is the mode a moved regular file gets back: the image's, less
// a set-user-ID bit on a file now owned by uid 0 and a set-group-ID bit on
// one now owned by gid 0.
func keptMode(mode, uid, gid uint32) uint32 {
	m := mode & 0o7777
	if uid == 0 {
		m &^= unix.S_ISUID
	}
	if gid == 0 {
		m &^= unix.S_ISGID
	}
	return m
}

// progress writes a line if the last one is at least progressEvery old.
func (w *walker) progress() {
	if w.out == nil {
		return
	}
	t := now()
	w.outMu.Lock()
	defer w.outMu.Unlock()
	if t.Sub(w.last) < progressEvery {
		return
	}
	w.last, w.printed = t, true
	w.line(t)
}

// finish writes the last line, if progress wrote any.
func (w *walker) finish() {
	t := now()
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.last = t
	if w.printed {
		w.line(t)
	}
}

func (w *walker) line(t time.Time) {
	w.out(Stats{Seen: w.seen.Load(), Changed: w.changed.Load(), Elapsed: t.Sub(w.start)})
}

func (w *walker) stats() Stats {
	return Stats{Seen: w.seen.Load(), Changed: w.changed.Load(), Elapsed: w.last.Sub(w.start)}
}

// path names an entry below the root for messages.
func (w *walker) path(rel string) string { return filepath.Join(w.root, rel) }

func join(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// errList keeps the first maxErrors errors and counts the others.
type errList struct {
	mu    sync.Mutex
	first []error
	more  int
}

func (e *errList) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.first) < maxErrors {
		e.first = append(e.first, err)
	} else {
		e.more++
	}
}

func (e *errList) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	errs := e.first
	if e.more > 0 {
		errs = append(errs[:len(errs):len(errs)], fmt.Errorf("and %d more errors", e.more))
	}
	return errors.Join(errs...)
}
