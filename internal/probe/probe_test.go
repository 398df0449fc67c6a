package probe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"golang.org/x/sys/unix"
)

func TestCheckTrust(t *testing.T) {
	for _, tc := range []struct {
		uid, mode uint32
		ok        bool
	}{
		{0, 0o644, true},
		{0, 0o600, true},
		{0, 0o755, true},
		{0, 0o664, false}, // the group may write it
		{0, 0o646, false}, // anyone may
		{1000, 0o644, false},
	} {
		err := checkTrust(unix.Stat_t{Uid: tc.uid, Mode: unix.S_IFREG | tc.mode})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrUntrustedConfig)) {
			t.Errorf("checkTrust(uid %d, mode %04o) = %v, want ok=%v", tc.uid, tc.mode, err, tc.ok)
		}
	}
}

// TestReadImageConfig puts a config file in every shape a user could give
// it: only root's regular file, writable by root alone, in a directory
// only root may write, reached without a link, is read.
func TestReadImageConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own the file as root and as others")
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir, path string)
		ok    bool
		none  bool // no file: no settings, no error
	}{
		{"root's 0644", func(t *testing.T, dir, path string) { write(t, path, 0, 0o644) }, true, false},
		{"missing", func(t *testing.T, dir, path string) {}, true, true},
		{"a user's", func(t *testing.T, dir, path string) { write(t, path, 1000, 0o644) }, false, false},
		{"group-writable", func(t *testing.T, dir, path string) { write(t, path, 0, 0o664) }, false, false},
		{"world-writable", func(t *testing.T, dir, path string) { write(t, path, 0, 0o666) }, false, false},
		{"a symlink to root's file", func(t *testing.T, dir, path string) {
			write(t, filepath.Join(dir, "real"), 0, 0o644)
			must(t, os.Symlink(filepath.Join(dir, "real"), path))
		}, false, false},
		{"a directory", func(t *testing.T, dir, path string) { must(t, os.Mkdir(path, 0o755)) }, false, false},
		{"a FIFO", func(t *testing.T, dir, path string) { must(t, unix.Mkfifo(path, 0o644)) }, false, false},
		{"in a directory others may write", func(t *testing.T, dir, path string) {
			must(t, os.Chmod(dir, 0o777))
			write(t, path, 0, 0o644)
		}, false, false},
		{"too large", func(t *testing.T, dir, path string) {
			write(t, path, 0, 0o644)
			must(t, os.Truncate(path, maxConfigSize+1))
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "etc")
			must(t, os.Mkdir(dir, 0o755))
			path := filepath.Join(dir, "agent-entrypoint.conf")
			tc.setup(t, dir, path)
			data, err := ReadImageConfig(path)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("ReadImageConfig = %v", err)
			case !tc.ok && err == nil:
				t.Fatalf("ReadImageConfig read %q, want it refused", data)
			case tc.ok && tc.none != (data == nil):
				t.Errorf("ReadImageConfig = %q, want none: %v", data, tc.none)
			}
		})
	}
}

func write(t *testing.T, path string, uid int, mode os.FileMode) {
	t.Helper()
	must(t, os.WriteFile(path, []byte("AGENT_ENTRYPOINT_USER=dev\n"), mode))
	must(t, os.Chown(path, uid, 0))
	must(t, os.Chmod(path, mode))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestIsInitialUIDMap(t *testing.T) {
	if !isInitialUIDMap([]byte("         0          0 4294967295\n")) {
		t.Error("initial map not recognised")
	}
	if isInitialUIDMap([]byte("         0     100000      65536\n")) {
		t.Error("rootless map taken for the initial one")
	}
}

func TestCred(t *testing.T) {
	c, err := Cred()
	if err != nil {
		t.Fatal(err)
	}
	if c.EUID == 0 && c.CapEff != 0 && !c.CapEff.Has(policy.CapSetuid) {
		t.Errorf("root test process without CAP_SETUID: %#x", c.CapEff)
	}
	// go test starts the test binary plainly: no setuid bit, no file
	// capabilities, so the kernel did not mark it AT_SECURE.
	if c.SecureExec || c.Elevated() {
		t.Errorf("plain test process: SecureExec %v, Elevated %v, want neither", c.SecureExec, c.Elevated())
	}
}

// TestPaths looks at a home that exists, one that does not, and one
// behind a link, with the setuid rules.
func TestPaths(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own directories as root and as others")
	}
	base := filepath.Join(t.TempDir(), "home")
	must(t, os.Mkdir(base, 0o755))
	must(t, os.Mkdir(filepath.Join(base, "dev"), 0o700))
	must(t, os.Chown(filepath.Join(base, "dev"), 1000, 1000))
	must(t, os.Symlink("/etc", filepath.Join(base, "dev", "l")))
	p := &Probe{kind: policy.Root}
	f := policy.Facts{Paths: map[string]policy.PathFact{}}
	paths := []string{filepath.Join(base, "dev"), filepath.Join(base, "alice"), filepath.Join(base, "dev", "l", "x"), filepath.Join(base, "dev", "new", "x")}
	p.Paths(&f, paths, base, true)
	if pf := f.Paths[paths[0]]; !pf.Exists || !pf.Dir || pf.UID != 1000 || pf.Perm != 0o700 {
		t.Errorf("existing home: %+v", pf)
	}
	if pf := f.Paths[paths[1]]; pf.Exists || pf.Parent != base || pf.Create.Err != nil || pf.Untrusted != nil {
		t.Errorf("missing home: %+v", pf)
	}
	if pf := f.Paths[paths[2]]; pf.Exists || pf.Untrusted == nil {
		t.Errorf("home through a link: %+v", pf)
	}
	if pf := f.Paths[paths[3]]; pf.Untrusted == nil {
		t.Errorf("home below a user's directory: %+v", pf)
	}
}
