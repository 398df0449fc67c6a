package claim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
	"golang.org/x/sys/unix"
)

func TestStartTime(t *testing.T) {
	for _, tc := range []struct {
		stat, want string
		ok         bool
	}{
		{"1 (docker-init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10", "12345", true},
		{"1 (a b) c)) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 1000 10", "777", true},
		{"1 (x) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 1/2 1000 10", "", false},
		{"1 (sh) S 0 1", "", false},
		{"garbage", "", false},
	} {
		got, err := startTime([]byte(tc.stat))
		if got != tc.want || tc.ok != (err == nil) {
			t.Errorf("startTime(%q) = %q, %v; want %q, ok=%v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

// TestMarkerName: a reboot (another boot id) or another container (another
// PID namespace) never matches the marker of this start.
func TestMarkerName(t *testing.T) {
	const boot = "0f8a4c2e-5f1b-4e53-9d7c-2b1f0c9e8a11"
	a := startID(boot, "4026532300", "12345")
	for _, other := range []string{
		startID("1f8a4c2e-5f1b-4e53-9d7c-2b1f0c9e8a11", "4026532300", "12345"),
		startID(boot, "4026532301", "12345"),
		startID(boot, "4026532300", "12346"),
	} {
		if other == a {
			t.Errorf("%s matches %s", other, a)
		}
	}
	name, err := markerName()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	boot2, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if !strings.Contains(name, strings.TrimSpace(string(boot2))) {
		t.Errorf("marker %s does not name the boot", name)
	}
}

func TestTrusted(t *testing.T) {
	for _, tc := range []struct {
		uid, mode uint32
		want      bool
	}{
		{0, 0o755, true},
		{0, 0o700, true},
		{0, 0o1777, true}, // /dev/shm: sticky, others cannot remove root's marker
		{0, 0o777, false}, // others may remove it
		{0, 0o775, false}, // so may the group
		{1000, 0o755, false},
		{1000, 0o1777, false},
	} {
		if got, _ := trusted(tc.uid, tc.mode|unix.S_IFDIR); got != tc.want {
			t.Errorf("trusted(%d, %04o) = %v, want %v", tc.uid, tc.mode, got, tc.want)
		}
	}
}

// dirSetup prepares one candidate directory of a TestClaimTable row.
type dirSetup struct {
	missing bool
	owner   int
	mode    os.FileMode
	marker  bool // a marker of this start is there already
	full    bool // creating a file there fails (a read-only mount)
}

var (
	rootDir  = dirSetup{mode: 0o755}
	shmDir   = dirSetup{mode: 0o1777 | os.ModeSticky}
	userDir  = dirSetup{owner: 1000, mode: 0o755}
	openDir  = dirSetup{mode: 0o777}
	gone     = dirSetup{missing: true}
	readOnly = dirSetup{mode: 0o755, full: true}
)

func (d dirSetup) withMarker() dirSetup { d.marker = true; return d }

// TestClaimTable runs Claim in real directories, for every start kind,
// and applies policy.AfterClaim: go on, drop at once, or fail closed.
func TestClaimTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to own marker directories as root and as others")
	}
	name, err := markerName()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	type start struct {
		kind  policy.Kind
		first bool
	}
	setuidFirst, setuidLater, root := start{policy.Setuid, true}, start{policy.Setuid, false}, start{policy.Root, true}
	for _, tc := range []struct {
		name      string
		start     start
		setuidBit bool
		dirs      [2]dirSetup
		want      policy.Verdict
		markerIn  int // where the marker is afterwards, -1 nowhere new
	}{
		{"setuid, first, nothing there yet", setuidFirst, true, [2]dirSetup{rootDir, shmDir}, policy.GoOn, 0},
		{"setuid, first, claimed in /run", setuidFirst, true, [2]dirSetup{rootDir.withMarker(), shmDir}, policy.DropAtOnce, -1},
		{"setuid, first, claimed in /dev/shm only", setuidFirst, true, [2]dirSetup{rootDir, shmDir.withMarker()}, policy.DropAtOnce, -1},
		{"setuid, first, /run not writable: /dev/shm", setuidFirst, true, [2]dirSetup{readOnly, shmDir}, policy.GoOn, 1},
		{"setuid, first, /run the user's: /dev/shm", setuidFirst, true, [2]dirSetup{userDir, shmDir}, policy.GoOn, 1},
		{"setuid, first, a marker in the user's /run counts", setuidFirst, true, [2]dirSetup{userDir.withMarker(), shmDir}, policy.DropAtOnce, -1},
		{"setuid, first, /run writable by all: /dev/shm", setuidFirst, true, [2]dirSetup{openDir, shmDir}, policy.GoOn, 1},
		{"setuid, first, no /dev/shm", setuidFirst, true, [2]dirSetup{rootDir, gone}, policy.GoOn, 0},
		{"setuid, first, nowhere to record: fail closed", setuidFirst, true, [2]dirSetup{userDir, gone}, policy.FailClosed, -1},
		{"setuid, first, both read-only: fail closed", setuidFirst, true, [2]dirSetup{readOnly, readOnly}, policy.FailClosed, -1},
		{"setuid, not first", setuidLater, true, [2]dirSetup{rootDir, shmDir}, policy.DropAtOnce, -1},
		{"root start claims too", root, true, [2]dirSetup{rootDir, shmDir}, policy.GoOn, 0},
		{"root start after a claim", root, true, [2]dirSetup{rootDir.withMarker(), shmDir}, policy.GoOn, -1},
		{"root start of a setuid binary, nowhere to record: fail closed", root, true, [2]dirSetup{userDir, gone}, policy.FailClosed, -1},
		{"root start of a plain binary, nowhere to record: go on", root, false, [2]dirSetup{userDir, gone}, policy.GoOn, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths [2]string
			for i, d := range tc.dirs {
				paths[i] = filepath.Join(t.TempDir(), fmt.Sprint("dir", i))
				if d.missing {
					continue
				}
				if err := os.Mkdir(paths[i], 0o700); err != nil {
					t.Fatal(err)
				}
				if d.marker {
					if err := os.WriteFile(filepath.Join(paths[i], name), nil, 0o400); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Chown(paths[i], d.owner, 0); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(paths[i], d.mode); err != nil {
					t.Fatal(err)
				}
				if d.full {
					readOnlyMount(t, paths[i])
				}
			}
			old := Dirs
			Dirs = paths[:]
			t.Cleanup(func() { Dirs = old })
			out, m, err := Claim(tc.start.first)
			if (m != nil) != (out == Claimed) {
				t.Errorf("Claim = %v with marker %v: a marker comes with Claimed alone", out, m)
			}
			if m != nil {
				m.Close()
			}
			c := map[Outcome]policy.Claim{Claimed: policy.Claimed, Taken: policy.Taken, NotFirst: policy.NotFirst}[out]
			if err != nil {
				c = policy.Unrecorded
				if !errors.Is(err, ErrUnrecorded) {
					t.Errorf("Claim error %v is not ErrUnrecorded", err)
				}
			}
			if got := policy.AfterClaim(tc.start.kind, c, tc.setuidBit); got != tc.want {
				t.Errorf("Claim = %v, %v; verdict %v, want %v", out, err, got, tc.want)
			}
			for i, p := range paths {
				_, err := os.Lstat(filepath.Join(p, name))
				made := err == nil && !tc.dirs[i].marker
				if made != (tc.markerIn == i) {
					t.Errorf("marker made in dir %d: %v, want in dir %d", i, made, tc.markerIn)
				}
			}
		})
	}
}

func readOnlyMount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind mount here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only here: %v", err)
	}
}

// TestClaimOnce runs a child as PID 1 of a new PID namespace: its first
// claim succeeds, a second one (as if PID 1 exec'd the shim again later)
// finds the start taken.
func TestClaimOnce(t *testing.T) {
	if dir := os.Getenv("CLAIM_TEST_CHILD"); dir != "" {
		Dirs = []string{dir}
		first, _ := First()
		out1, m, err1 := Claim(first)
		out2, _, err2 := Claim(first)
		if m != nil {
			m.Close()
		}
		fmt.Println(os.Getpid(), first, out1, err1, out2, err2)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimOnce$")
	cmd.Env = append(os.Environ(), "CLAIM_TEST_CHILD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot start a PID namespace here: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if first != "1 true claimed <nil> taken <nil>" {
		t.Errorf("child printed %q", first)
	}
	if got, _ := First(); got {
		t.Error("the test process is taken for a container's first")
	}
}

// TestMarkerRecord: the start's record goes into its marker, which every
// process may read and root alone may write; a marker another uid owns,
// or a link, is not read.
func TestMarkerRecord(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a marker is trusted only when root owns it")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	old := Dirs
	Dirs = []string{dir}
	t.Cleanup(func() { Dirs = old })
	if _, err := ReadMarker(); !errors.Is(err, ErrNoMarker) {
		t.Fatalf("before the claim: ReadMarker = %v, want ErrNoMarker", err)
	}
	defer unix.Umask(unix.Umask(0o077))
	out, m, err := Claim(true)
	if out != Claimed || err != nil {
		t.Fatalf("Claim = %v, %v", out, err)
	}
	if err := m.Record([]byte("start=root\n")); err != nil {
		t.Fatal(err)
	}
	name, _ := markerName()
	path := filepath.Join(dir, name)
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o444 {
		t.Errorf("marker %v, %v; want mode 0444 whatever the umask", fi.Mode(), err)
	}
	if data, err := ReadMarker(); err != nil || string(data) != "start=root\n" {
		t.Errorf("ReadMarker = %q, %v", data, err)
	}
	for _, spoil := range []func(){
		func() { os.Chown(path, 1000, 1000) },
		func() { os.Chmod(path, 0o666) },
		func() {
			other := filepath.Join(t.TempDir(), "x")
			os.WriteFile(other, []byte("start=root\n"), 0o444)
			os.Remove(path)
			os.Symlink(other, path)
		},
	} {
		os.Remove(path)
		os.WriteFile(path, []byte("start=root\n"), 0o444)
		spoil()
		if data, err := ReadMarker(); !errors.Is(err, ErrNoMarker) {
			t.Errorf("a spoiled marker read: %q, %v", data, err)
		}
	}
}
