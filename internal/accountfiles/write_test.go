package accountfiles

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"

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
	for name, data := range map[string]string{accounts.Passwd: passwd, accounts.Group: group, accounts.Shadow: shadow, accounts.Gshadow: gshadow} {
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

func provision(t *testing.T, dir string, req accounts.Request) (accounts.Plan, error) {
	t.Helper()
	unlock, err := Lock(dir)
	if err != nil {
		return accounts.Plan{}, err
	}
	defer unlock()
	s, err := LoadAll(dir)
	if err != nil {
		return accounts.Plan{}, err
	}
	p, err := accounts.Resolve(req, s.DB)
	if err != nil {
		return accounts.Plan{}, err
	}
	return p, Apply(p, s)
}

const (
	basePasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	baseGroup = "root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\n"
)

var alice = accounts.Request{UID: 1000, GID: accounts.NoID, Names: []string{"alice"}, Shell: "/bin/sh"}

func TestApplyKeepsBytesModeAndOwner(t *testing.T) {
	requireRoot(t)
	// Odd but valid bytes: CRLF, a comment, no final newline.
	passwd := "root:x:0:0:root:/root:/bin/bash\r\n# keep me\nnobody:x:65534:65534::/nonexistent:/bin/false"
	dir := etcDir(t, passwd, baseGroup, "root:*:19000:0:99999:7:::\n", "root:*::\n")
	shadow := filepath.Join(dir, accounts.Shadow)
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
		accounts.Passwd:  passwd + "\nalice:x:1000:1000::/home/alice:/bin/sh\n",
		accounts.Group:   baseGroup + "alice:x:1000:\n",
		accounts.Shadow:  "root:*:19000:0:99999:7:::\nalice:!::0:99999:7:::\n",
		accounts.Gshadow: "root:*::\nalice:!::\n",
		".pwd.lock":      "",
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
	fi, err := os.Stat(filepath.Join(dir, accounts.Passwd))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("passwd: %v, mode %v; want 0644", err, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, accounts.Shadow)); !errors.Is(err, os.ErrNotExist) {
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
	db, err := LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := accounts.Resolve(alice, db.DB)
	if err != nil {
		t.Fatal(err)
	}
	// A non-empty directory where passwd was: rename(2) over it fails.
	passwd := filepath.Join(dir, accounts.Passwd)
	os.Remove(passwd)
	if err := os.MkdirAll(filepath.Join(passwd, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Apply(p, db); err == nil {
		t.Fatal("Apply succeeded over a directory")
	}
	after := readAll(t, dir)
	if after[accounts.Group] != before[accounts.Group] {
		t.Errorf("group not rolled back: %q", after[accounts.Group])
	}
	for name := range after {
		if name != accounts.Group && name != accounts.Passwd && name != ".pwd.lock" {
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
	passwd := filepath.Join(dir, accounts.Passwd)
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
			tc.setup(t, filepath.Join(dir, accounts.Passwd))
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
	light, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if light.DB.Exists(accounts.Shadow) {
		t.Error("Load read shadow")
	}
	full, err := light.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !full.DB.Exists(accounts.Shadow) || full.files[accounts.Passwd] != light.files[accounts.Passwd] {
		t.Errorf("unchanged passwd was read again, or shadow not read")
	}
	// A write between the two reads must be seen.
	if err := os.WriteFile(filepath.Join(dir, accounts.Passwd), []byte(basePasswd+"bob:x:1001:1001::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	full, err = light.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := full.DB.UserByName("bob"); !ok {
		t.Error("Reload missed a change to passwd")
	}
}

// TestMoveKeepsOtherLines applies a move to files and checks that only the
// moved user's lines differ.
func TestMoveKeepsOtherLines(t *testing.T) {
	passwd := basePasswd + "dev:x:1000:1000::/home/dev:/bin/bash\nops:x:1001:1001::/home/ops:/bin/sh\n"
	group := baseGroup + "dev:x:1000:ops\nops:x:1001:\n"
	dir := etcDir(t, passwd, group, "root:*:1::::::\ndev:$6$hash:1::::::\n", "")
	if _, err := provision(t, dir, accounts.Request{UID: 2000, GID: 2000, Move: "dev"}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir)
	if want := strings.Replace(passwd, "dev:x:1000:1000:", "dev:x:2000:2000:", 1); got[accounts.Passwd] != want {
		t.Errorf("passwd = %q, want %q", got[accounts.Passwd], want)
	}
	if want := strings.Replace(group, "dev:x:1000:ops", "dev:x:2000:ops", 1); got[accounts.Group] != want {
		t.Errorf("group = %q, want %q", got[accounts.Group], want)
	}
	if got[accounts.Shadow] != "root:*:1::::::\ndev:$6$hash:1::::::\n" {
		t.Errorf("shadow changed: %q", got[accounts.Shadow])
	}
}

// TestApplyRemovesDebris leaves temp files as a killed start would, and
// things that only look like them: the next write removes exactly its own.
func TestApplyRemovesDebris(t *testing.T) {
	dir := etcDir(t, basePasswd, baseGroup, "", "")
	debris := []string{".passwd.agent-entrypoint-3k2j1", ".gshadow.agent-entrypoint-zz9"}
	keep := []string{".passwd.agent-entrypoint-", ".passwd.agent-entrypoint-UPPER", ".hosts.agent-entrypoint-abc", "passwd.agent-entrypoint-abc", ".passwd-"}
	for _, name := range append(append([]string{}, debris...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink with a debris name is left alone too: only regular files
	// were ever ours.
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, ".group.agent-entrypoint-link")); err != nil {
		t.Fatal(err)
	}
	keep = append(keep, ".group.agent-entrypoint-link")
	if _, err := provision(t, dir, alice); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, dir)
	for _, name := range debris {
		if _, ok := got[name]; ok {
			t.Errorf("debris %s left", name)
		}
	}
	for _, name := range keep {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}
}
