package ownership

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"

	"golang.org/x/sys/unix"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it changes file owners or mounts")
	}
}

// dev2000 is the remap of issue 5: the image's dev, 1000:1000, becomes the
// host user's 2000:2000.
var dev2000 = Change{OldUID: 1000, NewUID: 2000, OldGID: 1000, NewGID: 2000}

// bothOpens runs f once with openat2 and once the way kernels before 5.6
// walk.
func bothOpens(t *testing.T, f func(t *testing.T)) {
	for _, components := range []bool{false, true} {
		name := "openat2"
		if components {
			name = "components"
		}
		t.Run(name, func(t *testing.T) {
			safefs.DisableOpenat2(components)
			t.Cleanup(func() { safefs.DisableOpenat2(false) })
			f(t)
		})
	}
}

func setHook(t *testing.T, hook func(rel string)) {
	beforeOpen = hook
	t.Cleanup(func() { beforeOpen = nil })
}

type owner struct {
	uid, gid int
	perm     uint32 // mode & 07777
}

func ownerOf(t *testing.T, path string) owner {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return owner{int(st.Uid), int(st.Gid), st.Mode & 0o7777}
}

func mkdir(t testing.TB, path string, uid, gid int) {
	t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func mkfile(t testing.TB, path string, uid, gid int, perm uint32) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	// unix.Chmod: os.Chmod would read 04000 as a permission bit.
	if err := unix.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// mktree makes width^depth directories below dir, files regular files in
// each leaf, all owned by uid:gid, and returns how many entries it made.
func mktree(t testing.TB, dir string, width, depth, files, uid, gid int) int {
	t.Helper()
	if depth == 0 {
		for i := range files {
			mkfile(t, filepath.Join(dir, "f"+strconv.Itoa(i)), uid, gid, 0o644)
		}
		return files
	}
	n := 0
	for i := range width {
		sub := filepath.Join(dir, "d"+strconv.Itoa(i))
		mkdir(t, sub, uid, gid)
		n += 1 + mktree(t, sub, width, depth-1, files, uid, gid)
	}
	return n
}

// outsideTree makes a directory beside the walked tree, as a symlink target:
// a root-owned secret and a subdirectory with a file owned by the old ids.
func outsideTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outside")
	mkdir(t, dir, 1000, 1000)
	mkfile(t, filepath.Join(dir, "secret"), 0, 0, 0o600)
	mkfile(t, filepath.Join(dir, "owned"), 1000, 1000, 0o644)
	return dir
}

func checkOutside(t *testing.T, dir string) {
	t.Helper()
	for name, want := range map[string]owner{
		"":       {1000, 1000, 0o755},
		"secret": {0, 0, 0o600},
		"owned":  {1000, 1000, 0o644},
	} {
		if got := ownerOf(t, filepath.Join(dir, name)); got != want {
			t.Errorf("outside %q is %v, want %v untouched", name, got, want)
		}
	}
}

func TestWalk(t *testing.T) {
	requireRoot(t)
	bothOpens(t, func(t *testing.T) {
		outside := outsideTree(t)
		home := filepath.Join(t.TempDir(), "home")
		mkdir(t, home, 1000, 1000)
		// About a thousand files in nested directories.
		n := mktree(t, home, 4, 3, 15, 1000, 1000)

		mkfile(t, filepath.Join(home, "rootfile"), 0, 0, 0o644)
		mkfile(t, filepath.Join(home, "uid-only"), 1000, 0, 0o644)
		mkfile(t, filepath.Join(home, "gid-only"), 1234, 1000, 0o644)
		mkfile(t, filepath.Join(home, "setuid"), 1000, 1000, 0o4755)
		mkfile(t, filepath.Join(home, "setgid"), 1000, 1000, 0o2755)
		mkfile(t, filepath.Join(home, "setuid-root"), 0, 1000, 0o4755)
		mkdir(t, filepath.Join(home, "rootdir"), 0, 0)
		mkfile(t, filepath.Join(home, "rootdir", "inside"), 1000, 1000, 0o644)
		if err := os.Link(filepath.Join(home, "d0", "d0", "d0", "f0"), filepath.Join(home, "hardlink")); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mkfifo(filepath.Join(home, "fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(home, "fifo"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		for name, target := range map[string]string{
			"link-to-secret": filepath.Join(outside, "secret"),
			"link-to-owned":  filepath.Join(outside, "owned"),
			"link-to-dir":    outside,
			"dangling":       filepath.Join(outside, "missing"),
		} {
			link := filepath.Join(home, name)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(link, 1000, 1000); err != nil {
				t.Fatal(err)
			}
		}
		n += 15 // the 14 entries above and home itself

		stats, err := Walk(home, dev2000, Options{Workers: 4})
		if err != nil {
			t.Fatal(err)
		}
		checkOutside(t, outside)
		want := map[string]owner{
			"":             {2000, 2000, 0o755},
			"d3/d3/d3/f14": {2000, 2000, 0o644},
			"rootfile":     {0, 0, 0o644},
			"uid-only":     {2000, 0, 0o644},
			"gid-only":     {1234, 2000, 0o644},
			"setuid":       {2000, 2000, 0o4755},
			"setgid":       {2000, 2000, 0o2755},
			// Its group moved, and it now runs as root for a group the
			// image never gave it to: the bit is not put back.
			"setuid-root":    {0, 2000, 0o0755},
			"rootdir":        {0, 0, 0o755},
			"rootdir/inside": {2000, 2000, 0o644},
			"hardlink":       {2000, 2000, 0o644},
			"fifo":           {2000, 2000, 0o644},
			"link-to-secret": {2000, 2000, 0o777},
			"link-to-owned":  {2000, 2000, 0o777},
			"link-to-dir":    {2000, 2000, 0o777},
			"dangling":       {2000, 2000, 0o777},
		}
		for rel, w := range want {
			if got := ownerOf(t, filepath.Join(home, rel)); got != w {
				t.Errorf("%q is %v, want %v", rel, got, w)
			}
		}
		filepath.WalkDir(home, func(path string, d os.DirEntry, err error) error {
			rel, _ := filepath.Rel(home, path)
			if _, ok := want[rel]; !ok && !strings.HasPrefix(rel, "rootdir") {
				if got := ownerOf(t, path); got.uid != 2000 || got.gid != 2000 {
					t.Errorf("%q is %v, want 2000:2000", rel, got)
				}
			}
			return err
		})
		// Everything but rootfile and rootdir changes; the hard-linked
		// inode is changed once or, if two workers met it at once, twice.
		if stats.Seen != int64(n) || stats.Changed < int64(n-3) || stats.Changed > int64(n-2) {
			t.Errorf("Walk = %+v, want %d seen and %d changed", stats, n, n-3)
		}

		again, err := Walk(home, dev2000, Options{})
		if err != nil || again.Seen != stats.Seen || again.Changed != 0 {
			t.Errorf("second Walk = %+v, %v; want %d seen, 0 changed", again, err, stats.Seen)
		}
	})
}

func TestWalkRootIsSymlink(t *testing.T) {
	requireRoot(t)
	outside := outsideTree(t)
	link := filepath.Join(t.TempDir(), "home")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	// A trailing slash or dot would have the kernel resolve the link.
	for _, root := range []string{link, link + "/", link + "/."} {
		if stats, err := Walk(root, dev2000, Options{}); !errors.Is(err, ErrSymlink) {
			t.Errorf("Walk(%q) = %+v, %v; want ErrSymlink", root, stats, err)
		}
	}
	checkOutside(t, outside)
	if got := ownerOf(t, link); got.uid != 1000 {
		t.Errorf("link changed to %v", got)
	}
}

func TestWalkRootIsFile(t *testing.T) {
	requireRoot(t)
	path := filepath.Join(t.TempDir(), "tool")
	mkfile(t, path, 1000, 1000, 0o6755)
	stats, err := Walk(path, dev2000, Options{})
	if err != nil || stats.Seen != 1 || stats.Changed != 1 {
		t.Errorf("Walk = %+v, %v; want 1 seen, 1 changed", stats, err)
	}
	if got, want := ownerOf(t, path), (owner{2000, 2000, 0o6755}); got != want {
		t.Errorf("file is %v, want %v", got, want)
	}
}

// bindMount mounts src on dst for the test's duration, or skips the test
// where mounting is not permitted.
func bindMount(t *testing.T, src, dst string) {
	t.Helper()
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dst, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dst, err)
		}
	})
}

func TestWalkStaysOnItsMount(t *testing.T) {
	requireRoot(t)
	bothOpens(t, func(t *testing.T) {
		// The sources live on the same file system as the tree, so only
		// mountinfo tells the mounts apart.
		src := filepath.Join(t.TempDir(), "src")
		mkdir(t, src, 1000, 1000)
		mktree(t, src, 2, 2, 3, 1000, 1000)
		srcFile := filepath.Join(t.TempDir(), "gitconfig")
		mkfile(t, srcFile, 1000, 1000, 0o644)

		home := filepath.Join(t.TempDir(), "my home")
		mkdir(t, home, 1000, 1000)
		mktree(t, home, 2, 2, 3, 1000, 1000)
		// A directory and a file bind mount, as devcontainers mount a
		// workspace and ~/.gitconfig; one of them deep and named with a
		// space, which mountinfo escapes.
		mkdir(t, filepath.Join(home, "d1", "work space"), 1000, 1000)
		bindMount(t, src, filepath.Join(home, "d1", "work space"))
		mkfile(t, filepath.Join(home, ".gitconfig"), 1000, 1000, 0o644)
		bindMount(t, srcFile, filepath.Join(home, ".gitconfig"))

		// A mount that appears after mountinfo was read is caught by its
		// device number.
		late := filepath.Join(home, "d0", "d0", "late")
		mkdir(t, late, 1000, 1000)
		var once sync.Once
		setHook(t, func(rel string) {
			if rel != "d0/d0" {
				return
			}
			once.Do(func() {
				if err := unix.Mount("tmpfs", late, "tmpfs", 0, "mode=0755,uid=1000,gid=1000"); err != nil {
					t.Errorf("mount tmpfs: %v", err)
					return
				}
				// Not mkfile: t.Fatal only works on the test's goroutine.
				file := filepath.Join(late, "file")
				if err := os.WriteFile(file, nil, 0o644); err != nil {
					t.Error(err)
				}
				if err := os.Chown(file, 1000, 1000); err != nil {
					t.Error(err)
				}
			})
		})
		t.Cleanup(func() { unix.Unmount(late, unix.MNT_DETACH) })

		if _, err := Walk(home, dev2000, Options{Workers: 3}); err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
			if got := ownerOf(t, path); got.uid != 1000 || got.gid != 1000 {
				t.Errorf("bind-mounted %s changed to %v", path, got)
			}
			return err
		})
		for _, path := range []string{srcFile, late, filepath.Join(late, "file")} {
			if got := ownerOf(t, path); got.uid != 1000 || got.gid != 1000 {
				t.Errorf("mounted %s changed to %v", path, got)
			}
		}
		if got := ownerOf(t, filepath.Join(home, "d1", "d1", "f2")); got.uid != 2000 {
			t.Errorf("tree not walked: %v", got)
		}
	})
}

func TestWalkRootMayBeAMountPoint(t *testing.T) {
	requireRoot(t)
	home := filepath.Join(t.TempDir(), "home")
	mkdir(t, home, 1000, 1000)
	mktree(t, home, 2, 1, 2, 1000, 1000)
	// A home that is a volume of its own, as `-v home:/home/dev`.
	bindMount(t, home, home)
	stats, err := Walk(home, dev2000, Options{})
	if err != nil || stats.Changed != 7 {
		t.Errorf("Walk = %+v, %v; want 7 changed", stats, err)
	}
}

// TestWalkSwappedForSymlink swaps a directory, or one of the components on
// the way to it, for a symlink out of the tree after the directory was
// found and before it is opened: the widest window a path-based walk has.
func TestWalkSwappedForSymlink(t *testing.T) {
	requireRoot(t)
	for _, swap := range []string{"a/b/c", "a/b", "a"} {
		t.Run(strings.ReplaceAll(swap, "/", "_"), func(t *testing.T) {
			bothOpens(t, func(t *testing.T) {
				outside := outsideTree(t)
				// outside/b/c mirrors the tree so that the link would
				// lead somewhere walkable.
				mkdir(t, filepath.Join(outside, "b"), 1000, 1000)
				mkdir(t, filepath.Join(outside, "b", "c"), 1000, 1000)
				mkfile(t, filepath.Join(outside, "b", "c", "deep"), 1000, 1000, 0o644)
				home := filepath.Join(t.TempDir(), "home")
				mkdir(t, home, 1000, 1000)
				deep := filepath.Join(home, "a", "b", "c")
				if err := os.MkdirAll(deep, 0o755); err != nil {
					t.Fatal(err)
				}
				mkfile(t, filepath.Join(deep, "deep"), 1000, 1000, 0o644)
				setHook(t, func(rel string) {
					if rel != "a/b/c" {
						return
					}
					path := filepath.Join(home, swap)
					if err := os.Rename(path, path+".moved"); err != nil {
						t.Error(err)
					}
					target := filepath.Join(outside, strings.TrimPrefix(swap, "a"))
					if err := os.Symlink(target, path); err != nil {
						t.Error(err)
					}
				})
				_, err := Walk(home, dev2000, Options{Workers: 1})
				if !errors.Is(err, ErrReplaced) {
					t.Errorf("Walk = %v, want ErrReplaced", err)
				}
				checkOutside(t, outside)
				for _, p := range []string{"b", "b/c", "b/c/deep"} {
					if got := ownerOf(t, filepath.Join(outside, p)); got.uid != 1000 {
						t.Errorf("outside %s changed to %v", p, got)
					}
				}
			})
		})
	}
}

// TestOpenBelow checks the lookup on its own: openDir's identity check
// would catch a swapped directory too, unless its inode number was reused.
func TestOpenBelow(t *testing.T) {
	bothOpens(t, func(t *testing.T) {
		outside := t.TempDir()
		home := t.TempDir()
		if err := os.Mkdir(filepath.Join(outside, "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(home, "real", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, target := range map[string]string{"out": outside, "in": filepath.Join(home, "real")} {
			if err := os.Symlink(target, filepath.Join(home, name)); err != nil {
				t.Fatal(err)
			}
		}
		fd, err := unix.Open(home, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		w := &walker{rootfd: fd}
		for _, rel := range []string{"out", "out/b", "in", "in/b"} {
			if fd, err := w.openBelow(rel); !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
				unix.Close(fd)
				t.Errorf("openBelow(%q) = %v, want ELOOP or ENOTDIR", rel, err)
			}
		}
		fd, err = w.openBelow("real/b")
		if err != nil {
			t.Fatalf("openBelow(real/b) = %v", err)
		}
		unix.Close(fd)
	})
}

func TestWalkGoesOnAfterErrors(t *testing.T) {
	requireRoot(t)
	home := filepath.Join(t.TempDir(), "home")
	mkdir(t, home, 1000, 1000)
	for i := range 25 {
		mkdir(t, filepath.Join(home, fmt.Sprintf("r%02d", i)), 1000, 1000)
	}
	mkdir(t, filepath.Join(home, "gone"), 1000, 1000)
	mkfile(t, filepath.Join(home, "file"), 1000, 1000, 0o644)
	setHook(t, func(rel string) {
		path := filepath.Join(home, rel)
		if rel == "gone" {
			// Removed before its turn: not an error.
			os.Remove(path)
			return
		}
		// Replaced by another directory: an error each.
		os.Rename(path, path+".old")
		os.Mkdir(path, 0o755)
	})
	// One worker lists home to the end before any hook runs, so the
	// renamed directories are not found again.
	_, err := Walk(home, dev2000, Options{Workers: 1})
	if !errors.Is(err, ErrReplaced) || !strings.Contains(err.Error(), "and 5 more errors") {
		t.Fatalf("Walk = %v, want 20 ErrReplaced and 5 more", err)
	}
	if n := strings.Count(err.Error(), "\n"); n != 20 {
		t.Errorf("error has %d lines, want 21", n+1)
	}
	if strings.Contains(err.Error(), "gone") {
		t.Errorf("a vanished directory is reported: %v", err)
	}
	if got := ownerOf(t, filepath.Join(home, "file")); got.uid != 2000 {
		t.Errorf("walk stopped early: file is %v", got)
	}
}

func TestErrListCaps(t *testing.T) {
	var e errList
	if e.err() != nil {
		t.Fatal("empty list is an error")
	}
	sentinel := errors.New("first")
	e.add(sentinel)
	for range maxErrors + 4 {
		e.add(unix.EIO)
	}
	err := e.err()
	if !errors.Is(err, sentinel) || !errors.Is(err, unix.EIO) || !strings.HasSuffix(err.Error(), "and 5 more errors") {
		t.Errorf("err = %v", err)
	}
}

func TestChangeCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Change
		want error
	}{
		{"dev to the host user", dev2000, nil},
		{"uid only", Change{1000, 2000, 1000, 1000}, nil},
		{"nothing to do", Change{1000, 1000, 1000, 1000}, nil},
		{"root stays root", Change{1000, 2000, 0, 0}, nil},
		{"to root is the caller's choice", Change{1000, 0, 1000, 0}, nil},
		{"uid 0 away", Change{0, 1000, 1000, 1000}, ErrRootID},
		{"gid 0 away", Change{1000, 2000, 0, 2000}, ErrRootID},
		{"negative", Change{1000, -1, 1000, 2000}, ErrInvalidID},
		{"too large", Change{1000, 2000, 1000, 1 << 31}, ErrInvalidID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.check()
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("check = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if _, werr := Walk(t.TempDir(), tc.c, Options{}); !errors.Is(werr, tc.want) {
					t.Errorf("Walk = %v, want %v", werr, tc.want)
				}
			}
		})
	}
}

// fakeClock makes now advance by step on every call.
func fakeClock(t *testing.T, step time.Duration) {
	var calls atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now = func() time.Time { return base.Add(time.Duration(calls.Add(1)-1) * step) }
	t.Cleanup(func() { now = time.Now })
}

func TestWalkProgress(t *testing.T) {
	// No ids change, so no privilege is needed.
	nothing := Change{OldUID: 4242, NewUID: 4242, OldGID: 4242, NewGID: 4242}
	home := t.TempDir()
	mktree(t, home, 3, 2, 2, os.Getuid(), os.Getgid())
	for _, tc := range []struct {
		name     string
		step     time.Duration
		silent   bool
		minLines int
	}{
		{"fast walk prints nothing", 0, true, 0},
		{"one second per directory", time.Second, false, 13},
		{"a third of a second per directory", time.Second / 3, false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeClock(t, tc.step)
			var lines []Stats
			stats, err := Walk(home, nothing, Options{Workers: 1, Progress: func(s Stats) { lines = append(lines, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if tc.silent {
				if len(lines) != 0 {
					t.Errorf("progress = %v, want none", lines)
				}
				return
			}
			if len(lines) < tc.minLines {
				t.Errorf("%d reports, want at least %d: %v", len(lines), tc.minLines, lines)
			}
			last := -time.Second
			for i, l := range lines {
				if i < len(lines)-1 && l.Elapsed-last < time.Second {
					t.Errorf("report %+v came %v after the one before", l, l.Elapsed-last)
				}
				last = l.Elapsed
			}
			if final := lines[len(lines)-1]; final != stats || final.Changed != 0 {
				t.Errorf("final report %+v does not give the totals %+v", final, stats)
			}
		})
	}
}

func TestKeptMode(t *testing.T) {
	for _, tc := range []struct {
		mode, uid, gid, want uint32
	}{
		{0o6755, 2000, 2000, 0o6755},
		{0o6755, 0, 2000, 0o2755},
		{0o6755, 2000, 0, 0o4755},
		{0o2755, 2001, 0, 0o0755},
		{0o4711, 0, 0, 0o0711},
		{0o0644, 0, 0, 0o0644},
	} {
		if got := keptMode(tc.mode, tc.uid, tc.gid); got != tc.want {
			t.Errorf("keptMode(%o, %d, %d) = %o, want %o", tc.mode, tc.uid, tc.gid, got, tc.want)
		}
	}
}

// TestWalkToGIDZero moves a user's group to gid 0, as --user 1001:0 of an
// image user does: its setgid file must not become setgid root.
func TestWalkToGIDZero(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	mkfile(t, filepath.Join(dir, "tool"), 1000, 1000, 0o2755)
	mkfile(t, filepath.Join(dir, "both"), 1000, 1000, 0o6755)
	if _, err := Walk(dir, Change{OldUID: 1000, NewUID: 1001, OldGID: 1000, NewGID: 0}, Options{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"tool": 0o0755, "both": 0o4755} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Gid != 0 || st.Mode&0o7777 != want {
			t.Errorf("%s: gid %d mode %o, want gid 0 mode %o", name, st.Gid, st.Mode&0o7777, want)
		}
	}
}
