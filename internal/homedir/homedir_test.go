package homedir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/safefs"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it hands directories to other users")
	}
}

// bothOpens runs f with openat2 and with the component walk of older kernels.
func bothOpens(t *testing.T, f func(t *testing.T)) {
	for _, off := range []bool{false, true} {
		t.Run(map[bool]string{false: "openat2", true: "components"}[off], func(t *testing.T) {
			safefs.DisableOpenat2(off)
			t.Cleanup(func() { safefs.DisableOpenat2(false) })
			f(t)
		})
	}
}

func stat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCreate(t *testing.T) {
	requireRoot(t)
	bothOpens(t, func(t *testing.T) {
		base := t.TempDir()
		if err := os.Chmod(base, 0o755); err != nil {
			t.Fatal(err)
		}
		home := filepath.Join(base, "a", "b", "alice")
		made, err := Create(home, 1000, 1001, Rules{Base: base, RootOnly: true})
		if err != nil || !made {
			t.Fatalf("Create = %v, %v", made, err)
		}
		if st := stat(t, home); st.Uid != 1000 || st.Gid != 1001 || st.Mode&0o7777 != 0o700 {
			t.Errorf("home: owner %d:%d mode %04o, want 1000:1001 0700", st.Uid, st.Gid, st.Mode&0o7777)
		}
		for _, p := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b")} {
			if st := stat(t, p); st.Uid != 0 || st.Mode&0o7777 != 0o755 {
				t.Errorf("%s: owner %d mode %04o, want root 0755", p, st.Uid, st.Mode&0o7777)
			}
		}
		// An existing home is left as it is.
		if err := os.Chown(home, 1234, 1234); err != nil {
			t.Fatal(err)
		}
		if made, err := Create(home, 1000, 1000, Rules{Base: base, RootOnly: true}); err != nil || made {
			t.Errorf("Create over an existing home = %v, %v", made, err)
		}
		if st := stat(t, home); st.Uid != 1234 {
			t.Errorf("existing home changed hands: %d", st.Uid)
		}
	})
}

// TestCreateRefuses covers the attacks of a caller who picks the home: a
// symlink in a directory they own, a base or parent they may write, a home
// outside the base.
func TestCreateRefuses(t *testing.T) {
	requireRoot(t)
	bothOpens(t, func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, base, outside string) (home string, r Rules)
			want  error
		}{
			{"symlink in the user's own home", func(t *testing.T, base, outside string) (string, Rules) {
				mkdir(t, filepath.Join(base, "dev"), 1000, 0o755)
				symlink(t, outside, filepath.Join(base, "dev", "l"))
				return filepath.Join(base, "dev", "l", "sudoers.d"), Rules{Base: base}
			}, ErrSymlink},
			{"symlink as the base", func(t *testing.T, base, outside string) (string, Rules) {
				symlink(t, outside, filepath.Join(base, "home"))
				return filepath.Join(base, "home", "alice"), Rules{Base: filepath.Join(base, "home")}
			}, ErrSymlink},
			{"symlink as the home's parent", func(t *testing.T, base, outside string) (string, Rules) {
				symlink(t, outside, filepath.Join(base, "p"))
				return filepath.Join(base, "p", "alice"), Rules{Base: base, RootOnly: true}
			}, ErrSymlink},
			{"parent owned by a user, setuid rules", func(t *testing.T, base, outside string) (string, Rules) {
				mkdir(t, filepath.Join(base, "dev"), 1000, 0o755)
				return filepath.Join(base, "dev", "sub"), Rules{Base: base, RootOnly: true}
			}, ErrUntrusted},
			{"world-writable base, setuid rules", func(t *testing.T, base, outside string) (string, Rules) {
				if err := os.Chmod(base, 0o1777); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(base, "alice"), Rules{Base: base, RootOnly: true}
			}, ErrUntrusted},
			{"outside the base", func(t *testing.T, base, outside string) (string, Rules) {
				return filepath.Join(outside, "alice"), Rules{Base: base}
			}, ErrOutsideBase},
			{"dot-dot out of the base", func(t *testing.T, base, outside string) (string, Rules) {
				return base + "/../x", Rules{Base: base}
			}, ErrOutsideBase},
			{"the base itself", func(t *testing.T, base, outside string) (string, Rules) {
				return base, Rules{Base: base}
			}, ErrOutsideBase},
		} {
			t.Run(tc.name, func(t *testing.T) {
				base, outside := t.TempDir(), t.TempDir()
				if err := os.Chmod(base, 0o755); err != nil {
					t.Fatal(err)
				}
				home, r := tc.setup(t, base, outside)
				made, err := Create(home, 1000, 1000, r)
				if !errors.Is(err, tc.want) || made {
					t.Fatalf("Create(%s) = %v, %v; want %v", home, made, err, tc.want)
				}
				if entries, _ := os.ReadDir(outside); len(entries) != 0 {
					t.Errorf("created outside the base: %v", entries)
				}
			})
		}
	})
}

func TestBelow(t *testing.T) {
	for _, tc := range []struct {
		home, base string
		want       bool
	}{
		{"/home/a", "/home", true},
		{"/home/a/b", "/home/", true},
		{"/home", "/home", false},
		{"/homes/a", "/home", false},
		{"/etc", "/", true},
		{"/", "/", false},
		{"/home/../etc", "/home", false},
	} {
		if got := Below(tc.home, tc.base); got != tc.want {
			t.Errorf("Below(%q, %q) = %v, want %v", tc.home, tc.base, got, tc.want)
		}
	}
}

func mkdir(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}
