package startup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestStartTime(t *testing.T) {
	for _, tc := range []struct {
		stat, want string
		ok         bool
	}{
		{"1 (docker-init) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10", "12345", true},
		{"1 (a b) c)) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 777 1000 10", "777", true},
		{"1 (sh) S 0 1", "", false},
		{"garbage", "", false},
	} {
		got, err := startTime([]byte(tc.stat))
		if got != tc.want || tc.ok != (err == nil) {
			t.Errorf("startTime(%q) = %q, %v; want %q, ok=%v", tc.stat, got, err, tc.want, tc.ok)
		}
	}
}

func TestClaimStartRefusesLaterProcesses(t *testing.T) {
	MarkerDirs = []string{t.TempDir()}
	if err := ClaimStart(); !errors.Is(err, ErrNotFirst) {
		t.Errorf("ClaimStart in a test process = %v, want ErrNotFirst", err)
	}
}

// TestClaimStartOnce runs a child as PID 1 of a new PID namespace: its
// first claim succeeds, a second one (as if PID 1 exec'd the shim again
// later) is refused.
func TestClaimStartOnce(t *testing.T) {
	if os.Getenv("STARTUP_TEST_CHILD") != "" {
		MarkerDirs = []string{os.Getenv("STARTUP_TEST_CHILD")}
		fmt.Println(os.Getpid(), ClaimStart(), ClaimStart())
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClaimStartOnce$")
	cmd.Env = append(os.Environ(), "STARTUP_TEST_CHILD="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("cannot start a PID namespace here: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(first, "1 <nil> not the container's first process: the privileged phase already ran") {
		t.Errorf("child printed %q", first)
	}
}

func TestCaps(t *testing.T) {
	// Docker's default capability set.
	caps := Caps(0xa80425fb)
	if !caps.Has(CapChown, CapSetuid, CapSetgid, CapFowner, CapDACOverride) {
		t.Errorf("default set lacks %v", caps.Missing(CapChown, CapSetuid, CapSetgid, CapFowner, CapDACOverride))
	}
	if got := Caps(0).Missing(CapSetuid, CapChown); !slices.Equal(got, []string{"SETUID", "CHOWN"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := CapAddFlags([]string{"CHOWN", "SETUID"}); got != "--cap-add CHOWN --cap-add SETUID" {
		t.Errorf("CapAddFlags = %q", got)
	}
}

func TestDetect(t *testing.T) {
	c, err := Detect()
	if err != nil {
		t.Fatal(err)
	}
	if c.EUID == 0 && c.CapEff == 0 {
		t.Skip("root without capabilities")
	}
	if c.EUID == 0 && !c.CapEff.Has(CapSetuid) {
		t.Errorf("root test process without CAP_SETUID: %#x", c.CapEff)
	}
}

func TestSetuidVoided(t *testing.T) {
	for _, tc := range []struct {
		c    Conditions
		want string
	}{
		{Conditions{SetuidBit: true, EUID: 0, RUID: 1000}, ""},
		{Conditions{SetuidBit: false, EUID: 1000}, ""},
		{Conditions{SetuidBit: true, EUID: 1000, NoNewPrivs: true, NosuidMount: true}, "no-new-privileges is set"},
		{Conditions{SetuidBit: true, EUID: 1000, NosuidMount: true}, "the binary is on a nosuid mount"},
		{Conditions{SetuidBit: true, EUID: 1000, UserNS: true}, "the binary's owner is not root in this user namespace"},
	} {
		if got := tc.c.SetuidVoided(); got != tc.want {
			t.Errorf("%+v: SetuidVoided = %q, want %q", tc.c, got, tc.want)
		}
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
