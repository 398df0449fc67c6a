package users

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it changes file owners or mounts")
	}
}

// etcDir writes account files into a temp dir; "" leaves a file out.
func etcDir(t *testing.T, passwd, group, shadow, gshadow string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{passwdFile: passwd, groupFile: group, shadowFile: shadow, gshadowFile: gshadow} {
		if data == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			out[e.Name()] = "(directory)"
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func provision(t *testing.T, dir string, req Request) (Plan, error) {
	t.Helper()
	unlock, err := Lock(dir)
	if err != nil {
		return Plan{}, err
	}
	defer unlock()
	db, err := Load(dir)
	if err != nil {
		return Plan{}, err
	}
	p, err := Resolve(req, db)
	if err != nil {
		return Plan{}, err
	}
	return p, Apply(p, db)
}

var alice = Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"}

func TestApplyKeepsBytesModeAndOwner(t *testing.T) {
	requireRoot(t)
	// Odd but valid bytes: CRLF, a comment, no final newline.
	passwd := "root:x:0:0:root:/root:/bin/bash\r\n# keep me\nnobody:x:65534:65534::/nonexistent:/bin/false"
	dir := etcDir(t, passwd, baseGroup, "root:*:19000:0:99999:7:::\n", "root:*::\n")
	shadow := filepath.Join(dir, shadowFile)
	if err := os.Chown(shadow, 0, 42); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shadow, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := provision(t, dir, alice); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir)
	want := map[string]string{
		passwdFile:  passwd + "\nalice:x:1000:1000::/home/alice:/bin/sh\n",
		groupFile:   baseGroup + "alice:x:1000:\n",
		shadowFile:  "root:*:19000:0:99999:7:::\nalice:!::0:99999:7:::\n",
		gshadowFile: "root:*::\nalice:!::\n",
		".pwd.lock": "",
	}
	for name, data := range want {
		if got[name] != data {
			t.Errorf("%s = %q, want %q", name, got[name], data)
		}
		delete(got, name)
	}
	if len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(shadow, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o640 || st.Gid != 42 {
		t.Errorf("shadow mode %o gid %d, want 0640 gid 42", st.Mode&0o7777, st.Gid)
	}

	// A second start finds everything in place and writes nothing.
	before := readAll(t, dir)
	p, err := provision(t, dir, alice)
	if err != nil || len(p.Lines) != 0 {
		t.Fatalf("second provision: %v, lines %v", err, p.Lines)
	}
	if after := readAll(t, dir); !mapsEqual(before, after) {
		t.Errorf("second provision changed files")
	}
}

func TestApplyCreatesMissingPasswd(t *testing.T) {
	dir := etcDir(t, "", "", "", "")
	if _, err := provision(t, dir, alice); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, passwdFile))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("passwd: %v, mode %v; want 0644", err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, shadowFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shadow was created: %v", err)
	}
}

// TestApplyFailureLeavesFilesIdentical makes the passwd commit fail after
// the group file was renamed into place: the group file must be rolled back.
func TestApplyFailureLeavesFilesIdentical(t *testing.T) {
	dir := etcDir(t, basePasswd, baseGroup, "", "")
	before := readAll(t, dir)
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	db, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(alice, db)
	if err != nil {
		t.Fatal(err)
	}
	// A non-empty directory where passwd was: rename(2) over it fails.
	passwd := filepath.Join(dir, passwdFile)
	os.Remove(passwd)
	if err := os.MkdirAll(filepath.Join(passwd, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Apply(p, db); err == nil {
		t.Fatal("Apply succeeded over a directory")
	}
	after := readAll(t, dir)
	if after[groupFile] != before[groupFile] {
		t.Errorf("group not rolled back: %q", after[groupFile])
	}
	for name := range after {
		if name != groupFile && name != passwdFile && name != ".pwd.lock" {
			t.Errorf("left behind: %s", name)
		}
	}
}

// TestApplyBindMountedFile covers a host file bind-mounted over passwd:
// rename fails with EBUSY and the file is rewritten in place.
func TestApplyBindMountedFile(t *testing.T) {
	requireRoot(t)
	dir := etcDir(t, basePasswd, baseGroup, "", "")
	src := filepath.Join(t.TempDir(), "host-passwd")
	if err := os.WriteFile(src, []byte(basePasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(dir, passwdFile)
	if err := unix.Mount(src, passwd, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(passwd, unix.MNT_DETACH) })
	if _, err := provision(t, dir, alice); err != nil {
		t.Fatal(err)
	}
	want := basePasswd + "alice:x:1000:1000::/home/alice:/bin/sh\n"
	if got, _ := os.ReadFile(src); string(got) != want {
		t.Errorf("host file = %q, want %q", got, want)
	}
}

func TestApplyReadOnly(t *testing.T) {
	requireRoot(t)
	dir := etcDir(t, basePasswd, baseGroup, "", "")
	before := readAll(t, dir)
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only here: %v", err)
	}
	_, err := provision(t, dir, alice)
	if !errors.Is(err, ErrReadOnly) {
		t.Fatalf("provision on read-only dir: %v, want ErrReadOnly", err)
	}
	if after := readAll(t, dir); !mapsEqual(before, after) {
		t.Errorf("files changed on a read-only dir")
	}
}

func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	unlock, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() {
		unlock2, err := Lock(dir)
		if err == nil {
			unlock2()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned while the first was held: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("second Lock after unlock: %v", err)
	}
}

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  error
	}{
		{"symlink", func(t *testing.T, path string) { os.Symlink("/etc/shadow", path) }, ErrNotRegular},
		{"fifo", func(t *testing.T, path string) { unix.Mkfifo(path, 0o644) }, ErrNotRegular},
		{"directory", func(t *testing.T, path string) { os.Mkdir(path, 0o755) }, ErrNotRegular},
		{"too large", func(t *testing.T, path string) {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Truncate(maxFileSize + 1)
		}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := etcDir(t, "", baseGroup, "", "")
			tc.setup(t, filepath.Join(dir, passwdFile))
			if _, err := Load(dir); !errors.Is(err, tc.want) {
				t.Errorf("Load = %v, want %v", err, tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestReload(t *testing.T) {
	dir := etcDir(t, basePasswd, baseGroup, "root:*:1::::::\n", "")
	light, err := LoadAccounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if light.HasShadow() {
		t.Error("LoadAccounts read shadow")
	}
	full, err := light.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !full.HasShadow() || &full.Users[0] != &light.Users[0] {
		t.Errorf("unchanged passwd was parsed again, or shadow not read")
	}
	// A write between the two reads must be seen.
	if err := os.WriteFile(filepath.Join(dir, passwdFile), []byte(basePasswd+"bob:x:1001:1001::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full, err = light.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := full.userByName("bob"); !ok {
		t.Error("Reload missed a change to passwd")
	}
}
