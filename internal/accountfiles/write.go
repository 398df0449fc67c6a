package accountfiles

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"

	"golang.org/x/sys/unix"
)

// ErrReadOnly is EROFS, which Lock and Apply return when the account files
// live on a read-only file system, as under `docker run --read-only`.
var ErrReadOnly error = unix.EROFS

// lockWait is how long Lock waits for another holder, as glibc's lckpwdf.
var lockWait = 15 * time.Second

// Lock takes the account files' lock, <dir>/.pwd.lock, the one glibc's
// lckpwdf(3) and so useradd, passwd and friends take. Load, Resolve and
// Apply must all happen while it is held, so that no concurrent edit is
// lost between reading and writing. The returned function releases it.
func Lock(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, ".pwd.lock")
	// O_NOFOLLOW: never create or truncate the target of a planted symlink.
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err == unix.EACCES || err == unix.EPERM {
		// A user who may write /etc/passwd but not /etc (OpenShift's
		// group-writable passwd) locks the file itself; shadow-utils cannot
		// run as that user, so only other shims can contend.
		path = filepath.Join(dir, accounts.Passwd)
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	}
	if err != nil {
		if safefs.ReadOnlyPath(dir) {
			// A read-only /etc is the cause worth naming, whatever the
			// permissions said first.
			err = unix.EROFS
		}
		return nil, fileErr("lock", path, err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	deadline := time.Now().Add(lockWait)
	for {
		// An open-file-description lock conflicts with the classic fcntl
		// lock lckpwdf takes, and unlike it does not depend on which
		// thread of this process asks.
		err = unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err == nil {
			return func() { unix.Close(fd) }, nil
		}
		if (err != unix.EAGAIN && err != unix.EACCES) || time.Now().After(deadline) {
			unix.Close(fd)
			return nil, fileErr("lock", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Writable returns nil when this process may write the account file name
// (with its effective ids and capabilities), else why not.
func (s *Snapshot) Writable(name string) error {
	path := filepath.Join(s.Dir, name)
	if !s.files[name].exists {
		path = s.Dir // it will be created there
	}
	if safefs.ReadOnlyPath(path) {
		return fileErr("write", path, unix.EROFS)
	}
	// AT_EACCESS: check with the effective ids, which a setuid start
	// writes with, not the real ones.
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS); err != nil {
		return fileErr("write", path, err)
	}
	return nil
}

// Apply writes the plan's lines into the account files of s.Dir, in
// accounts.Files order. The caller holds Lock and read s under it. Temp
// files a killed start left behind are removed first. On error every file
// is left byte-identical to what s holds, as far as the file system lets a
// rollback write it back.
func Apply(p accounts.Plan, s *Snapshot) error {
	if len(p.Lines) == 0 {
		return nil
	}
	if err := removeDebris(s.Dir); err != nil {
		return err
	}
	names := p.Files()
	contents := accounts.Render(p, s.DB)
	var staged []*staging
	cleanup := func() {
		for _, st := range staged {
			st.discard()
		}
	}
	for i, name := range names {
		st, err := stage(filepath.Join(s.Dir, name), s.files[name], contents[i])
		if err != nil {
			cleanup()
			return err
		}
		staged = append(staged, st)
		afterStep()
	}
	if err := syncStaged(staged); err != nil {
		cleanup()
		return err
	}
	for i, st := range staged {
		if err := st.commit(); err != nil {
			errs := []error{err}
			for _, done := range staged[:i] {
				errs = append(errs, done.rollback())
			}
			cleanup()
			return errors.Join(errs...)
		}
		afterStep()
	}
	// The directory is not fsynced: a rename lost to a crash leaves the
	// old file, whole, and the next start adds the lines again.
	return nil
}

// afterStep is a test hook: it runs after each temp file is staged and
// after each rename, where a killed start leaves a state of its own.
var afterStep = func() {}

// staging is one account file's new content, written to a temp file beside
// it and not yet renamed over it.
type staging struct {
	path string
	old  *file
	data accounts.Rendered
	tmp  string   // "" when the file must be rewritten in place
	f    *os.File // the open temp file until it is synced
}

func stage(path string, old *file, data accounts.Rendered) (*staging, error) {
	s := &staging{path: path, old: old, data: data}
	tmp, err := createTemp(path)
	if errors.Is(err, unix.EACCES) && old.exists {
		// A user who may write the file but not the directory (OpenShift's
		// group-writable /etc/passwd): only an in-place rewrite is possible.
		return s, nil
	}
	if err != nil {
		return nil, fileErr("write", path, err)
	}
	s.tmp, s.f = tmp.Name(), tmp
	err = writeAt(tmp, data, 0)
	if err == nil && old.exists {
		// The temp file replaces the original: it must keep its owner
		// (shadow is root:shadow on Debian) and its mode.
		err = tmp.Chown(old.uid, old.gid)
		if errors.Is(err, unix.EPERM) {
			// No CAP_CHOWN (--cap-drop ALL): an in-place rewrite keeps
			// the owner without changing it.
			s.discard()
			return s, nil
		}
	}
	if err == nil {
		err = tmp.Chmod(old.mode)
	}
	if err != nil {
		s.discard()
		return nil, fileErr("write", path, err)
	}
	return s, nil
}

// createTemp creates an empty file beside path, named after it, mode 0600.
// Unlike os.CreateTemp it opens a blocking descriptor that os.NewFile
// leaves out of the runtime's poller: a regular file gains nothing there,
// and the first registration would set up the poller and its thread.
func createTemp(path string) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), tempPrefix(filepath.Base(path)))
	for range 100 {
		name := prefix + strconv.FormatUint(rand.Uint64(), 36)
		fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.NewFile(uintptr(fd), name), nil
	}
	return nil, &os.PathError{Op: "open", Path: prefix + "*", Err: unix.EEXIST}
}

// syncStaged flushes every temp file to disk before any is renamed, so
// that a crash never leaves an empty or partial account file. Writeback of
// all of them starts first, so that their blocks are allocated in the same
// journal transaction, and the fsyncs then run at once: the file system can
// commit them together instead of one each, which is most of a first
// start's time. sync_file_range is only that hint; where a file system
// ignores or refuses it (overlayfs passes it nowhere), fsync does it all.
func syncStaged(staged []*staging) error {
	for _, s := range staged {
		if s.f != nil {
			_ = unix.SyncFileRange(int(s.f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		}
	}
	errs := make([]error, len(staged))
	var wg sync.WaitGroup
	for i, s := range staged {
		if s.f == nil {
			continue
		}
		wg.Go(func() {
			if err := s.f.Sync(); err != nil {
				errs[i] = fileErr("sync", s.tmp, err)
			}
		})
	}
	wg.Wait()
	for _, s := range staged {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
	return errors.Join(errs...)
}

func (s *staging) commit() error {
	if s.tmp != "" {
		err := os.Rename(s.tmp, s.path)
		if err == nil {
			s.tmp = ""
			return nil
		}
		// EBUSY: the file is a bind mount (a host's /etc/passwd mounted
		// into the container) and cannot be replaced, only rewritten.
		if !errors.Is(err, unix.EBUSY) {
			return fileErr("write", s.path, err)
		}
	}
	return rewriteInPlace(s.path, accounts.Rendered{s.old.data}, s.data)
}

// rollback puts the original content back after a later file failed.
func (s *staging) rollback() error {
	return rewriteInPlace(s.path, s.data, accounts.Rendered{s.old.data})
}

func (s *staging) discard() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		os.Remove(s.tmp)
		s.tmp = ""
	}
}

// rewriteInPlace turns a file holding old into one holding data without
// replacing its inode. When data only appends to old, just the tail is
// written, so a reader or a crash sees the old file or the new one.
func rewriteInPlace(path string, old, data accounts.Rendered) error {
	// A blocking descriptor, as createTemp's: os.NewFile leaves it out of
	// the runtime's poller.
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fileErr("write", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	off := 0
	if tail, ok := appendsTo(data, old); ok {
		data, off = tail, old.Len()
	}
	if err := writeAt(f, data, int64(off)); err != nil {
		return fileErr("write", path, err)
	}
	if err := f.Truncate(int64(off + data.Len())); err != nil {
		return fileErr("write", path, err)
	}
	if err := f.Sync(); err != nil {
		return fileErr("write", path, err)
	}
	return nil
}

// appendsTo returns what data adds after old when it starts with old's
// very bytes, as Render's output for an added line does.
func appendsTo(data, old accounts.Rendered) (accounts.Rendered, bool) {
	if len(old) != 1 || len(data) == 0 || len(data[0]) != len(old[0]) ||
		(len(old[0]) > 0 && &data[0][0] != &old[0][0]) {
		return nil, false
	}
	return data[1:], true
}

// writeAt writes the pieces of data to f from off on.
func writeAt(f *os.File, data accounts.Rendered, off int64) error {
	for _, p := range data {
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
		off += int64(len(p))
	}
	return nil
}

// fileErr names the operation and the account file in err, once.
func fileErr(op, path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}
