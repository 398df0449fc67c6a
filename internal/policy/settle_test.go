package policy

import (
	"slices"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

func set(f func(*Settings)) Settings { return with(Unset(), f) }

// TestSettle is the table of what a setuid start takes from its caller,
// and of a root start taking everything, the caller's over the image's.
func TestSettle(t *testing.T) {
	image := set(func(s *Settings) {
		s.Name, s.Sockets, s.Chown, s.Groups, s.HomeBase = "dev", specs("/var/run/docker.sock"), []string{"/work"}, []string{"docker"}, "/workspaces"
	})
	for _, tc := range []struct {
		name    string
		kind    Kind
		caller  Settings
		refused []ProblemKind
		check   func(t *testing.T, e Effective)
	}{
		{"setuid: the image's settings", Setuid, Unset(), nil, func(t *testing.T, e Effective) {
			if e.UID != 1000 || e.GID != 1000 || e.Move != "dev" || e.Name != "dev" || e.HomeBase != "/workspaces" ||
				!slices.Equal(e.Sockets, image.Sockets) || !slices.Equal(e.Chown, image.Chown) || !slices.Equal(e.Groups, image.Groups) || e.SocketMode != Auto || e.AgentAccess != FullAccess {
				t.Errorf("got %+v", e)
			}
		}},
		{"setuid: its own ids may be named", Setuid, set(func(s *Settings) { s.UID, s.GID = 1000, 1000 }), nil, nil},
		{"setuid: another uid", Setuid, set(func(s *Settings) { s.UID = 0 }), []ProblemKind{RefuseUID}, nil},
		{"setuid: another gid", Setuid, set(func(s *Settings) { s.GID = 0 }), []ProblemKind{RefuseGID}, nil},
		{"setuid: groups", Setuid, set(func(s *Settings) { s.Groups = []string{"0"} }), []ProblemKind{RefuseGroups}, nil},
		{"setuid: sockets", Setuid, set(func(s *Settings) { s.Sockets = specs("/run/secret.sock") }), []ProblemKind{RefuseFromFile}, nil},
		{"setuid: the image's own sockets again", Setuid, set(func(s *Settings) { s.Sockets = specs("/var/run/docker.sock") }), nil, nil},
		{"setuid: relay never widens a socket", Setuid, set(func(s *Settings) { s.SocketMode = Relay }), nil, nil},
		{"setuid: chmod is the file's to say", Setuid, set(func(s *Settings) { s.SocketMode = Chmod }), []ProblemKind{RefuseFromFile}, nil},
		{"setuid: sign narrows the agent", Setuid, set(func(s *Settings) { s.AgentAccess = SignAccess }), nil, func(t *testing.T, e Effective) {
			if e.AgentAccess != SignAccess {
				t.Errorf("access %s", e.AgentAccess)
			}
		}},
		{"setuid: chown", Setuid, set(func(s *Settings) { s.Chown = []string{"/etc"} }), []ProblemKind{RefuseFromFile}, nil},
		{"setuid: socket mode none narrows", Setuid, set(func(s *Settings) { s.SocketMode = None }), nil, func(t *testing.T, e Effective) {
			if e.SocketMode != None {
				t.Errorf("mode %s", e.SocketMode)
			}
		}},
		{"setuid: the caller's name and home, strict and debug", Setuid, set(func(s *Settings) { s.Name, s.Home, s.Strict, s.Debug = "me", "/home/me", true, true }), nil,
			func(t *testing.T, e Effective) {
				if e.Name != "me" || e.Move != "dev" || e.Home != "/home/me" || !e.Strict || !e.Debug {
					t.Errorf("got %+v", e)
				}
			}},
		{"setuid: all refusals at once", Setuid, set(func(s *Settings) {
			s.UID, s.GID, s.Groups, s.Sockets, s.Chown = 1, 1, []string{"x"}, specs("/a"), []string{"/b"}
		}), []ProblemKind{RefuseUID, RefuseGID, RefuseGroups, RefuseFromFile, RefuseFromFile}, nil},
		{"root: the caller's over the image's", Root, set(func(s *Settings) {
			s.UID, s.Name, s.Sockets, s.Groups, s.Chown, s.SocketMode = 2000, "alice", specs("/run/a.sock"), []string{"users"}, []string{"/srv"}, None
		}), nil, func(t *testing.T, e Effective) {
			if e.UID != 2000 || e.Name != "alice" || e.Move != "alice" || !slices.Equal(e.Sockets, specs("/run/a.sock")) ||
				!slices.Equal(e.Groups, []string{"users"}) || !slices.Equal(e.Chown, []string{"/srv"}) || e.SocketMode != None {
				t.Errorf("got %+v", e)
			}
		}},
		{"root: the image's where the caller is silent", Root, Unset(), nil, func(t *testing.T, e Effective) {
			if e.UID != accounts.NoID || e.Name != "dev" || e.Move != "dev" || !slices.Equal(e.Sockets, image.Sockets) || e.SocketMode != Auto {
				t.Errorf("got %+v", e)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rootCred
			if tc.kind == Setuid {
				c = setuidCred
			}
			e, refused := Settle(tc.kind, c, Input{Caller: tc.caller, Image: image})
			var kinds []ProblemKind
			for _, p := range refused {
				kinds = append(kinds, p.Kind)
				if !p.Fatal {
					t.Errorf("refusal %v is not fatal", p)
				}
			}
			if !slices.Equal(kinds, tc.refused) {
				t.Errorf("refused %v, want %v", refused, tc.refused)
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func TestAfterClaim(t *testing.T) {
	for _, tc := range []struct {
		kind      Kind
		claim     Claim
		setuidBit bool
		want      Verdict
	}{
		{Setuid, Claimed, true, GoOn},
		{Setuid, Taken, true, DropAtOnce},
		{Setuid, NotFirst, true, DropAtOnce},
		{Setuid, Unrecorded, true, FailClosed},
		{Root, Claimed, true, GoOn},
		{Root, Taken, true, GoOn},
		{Root, Unrecorded, true, FailClosed},
		{Root, Unrecorded, false, GoOn},
		{Unprivileged, Unclaimed, true, GoOn},
	} {
		if got := AfterClaim(tc.kind, tc.claim, tc.setuidBit); got != tc.want {
			t.Errorf("AfterClaim(%v, %d, %v) = %d, want %d", tc.kind, tc.claim, tc.setuidBit, got, tc.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		c    Cred
		want Kind
	}{
		{Cred{}, Root},
		{Cred{RUID: 1000}, Setuid},
		{Cred{RUID: 1000, EUID: 1}, Unprivileged},
		{Cred{EUID: 1000}, Unprivileged},
	} {
		if got := KindOf(tc.c); got != tc.want {
			t.Errorf("KindOf(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
	for _, k := range []Kind{Root, Setuid, Unprivileged, 0} {
		if k.String() == "" {
			t.Errorf("Kind %d has no name", k)
		}
	}
}

func TestSetuidVoided(t *testing.T) {
	for _, tc := range []struct {
		c    Cred
		want string
	}{
		{Cred{SetuidBit: true, EUID: 0, RUID: 1000}, ""},
		{Cred{SetuidBit: false, EUID: 1000}, ""},
		{Cred{SetuidBit: true, EUID: 1000, NoNewPrivs: true, NosuidMount: true}, "no-new-privileges is set"},
		{Cred{SetuidBit: true, EUID: 1000, NosuidMount: true}, "the binary is on a nosuid mount"},
		{Cred{SetuidBit: true, EUID: 1000, UserNS: true}, "the binary's owner is not root in this user namespace"},
		{Cred{SetuidBit: true, EUID: 1000}, "the setuid bit did not take effect"},
	} {
		if got := tc.c.SetuidVoided(); got != tc.want {
			t.Errorf("%+v: SetuidVoided = %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestElevated has a row for each way a start can hold more than its
// caller: what the gosu drop-in refuses.
func TestElevated(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Cred
		want bool
	}{
		{"root", Cred{}, false},
		{"root of a setuid-root binary", Cred{SetuidBit: true}, false},
		{"root through a security module's transition", Cred{SecureExec: true}, false},
		{"non-root", Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000}, false},
		{"non-root, setuid voided", Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000, SetuidBit: true, NoNewPrivs: true}, false},
		{"setuid root", Cred{RUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000}, true},
		{"setuid to another user", Cred{RUID: 1000, EUID: 1001, SUID: 1001, RGID: 1000, EGID: 1000, SGID: 1000}, true},
		{"setgid", Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 50, SGID: 50}, true},
		{"setgid root group, root caller", Cred{RGID: 1000, SGID: 0}, true},
		{"saved uid only", Cred{RUID: 1000, EUID: 1000, SUID: 0, RGID: 1000, EGID: 1000, SGID: 1000}, true},
		{"file capabilities", Cred{RUID: 1000, EUID: 1000, SUID: 1000, RGID: 1000, EGID: 1000, SGID: 1000, SecureExec: true}, true},
	} {
		if got := tc.c.Elevated(); got != tc.want {
			t.Errorf("%s: Elevated = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCaps(t *testing.T) {
	if !dockerDefault.Has(CapChown, CapSetuid, CapSetgid, CapFowner, CapDACOverride) {
		t.Errorf("Docker's default set lacks %v", dockerDefault.Missing(CapChown, CapSetuid, CapSetgid, CapFowner, CapDACOverride))
	}
	if got := Caps(0).Missing(CapSetuid, CapChown); !slices.Equal(got, []string{"SETUID", "CHOWN"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := CapAddFlags([]string{"SETUID", "CHOWN", "SETUID"}); got != "--cap-add CHOWN --cap-add SETUID" {
		t.Errorf("CapAddFlags = %q", got)
	}
	if Caps(^uint64(0)).Has(64) {
		t.Error("a capability past the set's bits is held")
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"auto", "chmod", "chown", "group", "relay", "none"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "CHMOD", "777", "relay;rm"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) succeeded", s)
		}
	}
}

// TestDecideAsksForPaths: without the facts of the home, Decide names the
// paths to probe and decides nothing about the home.
func TestDecideAsksForPaths(t *testing.T) {
	f := baseFacts(rootCred)
	f.Paths = map[string]PathFact{}
	d := Decide(rootTarget(), "", f)
	if !slices.Equal(d.Missing, []string{"/home/alice", FallbackHome}) || d.Home.Create {
		t.Errorf("Missing %v, create %v", d.Missing, d.Home.Create)
	}
}

// TestWho checks the kernel's order of the owner, group and other bits.
func TestWho(t *testing.T) {
	alice := Who{UID: 1000, Groups: []int{1000}}
	for _, tc := range []struct {
		name     string
		uid, gid int
		perm     uint32
		who      Who
		want     bool
	}{
		{"docker desktop root 0755", 0, 0, 0o755, alice, false},
		{"world-writable", 0, 0, 0o777, alice, true},
		{"owned by the target", 1000, 1000, 0o600, alice, true},
		{"owned but not writable", 1000, 1000, 0o466, alice, false},
		{"group-writable, target in group", 0, 1000, 0o660, alice, true},
		{"group-writable, target not in group", 0, 999, 0o660, alice, false},
		{"root connects to anything", 0, 0, 0o000, Who{UID: 0}, true},
	} {
		if got := tc.who.CanConnect(SocketFact{UID: tc.uid, GID: tc.gid, Perm: tc.perm}); got != tc.want {
			t.Errorf("%s: CanConnect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func specs(paths ...string) []SocketSpec {
	var out []SocketSpec
	for _, p := range paths {
		out = append(out, SocketSpec{Path: p})
	}
	return out
}

func TestParseSocketSpec(t *testing.T) {
	for in, want := range map[string]SocketSpec{
		"/run/a.sock":                {Path: "/run/a.sock"},
		"/var/run/docker.sock=group": {Path: "/var/run/docker.sock", Mode: Group},
	} {
		if got, err := ParseSocketSpec(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseSocketSpec(%q) = %+v, %v", in, got, err)
		}
	}
	if _, err := ParseSocketSpec("/a=bogus"); err == nil {
		t.Error("a bogus mode was taken")
	}
	if _, err := ParseAccess("admin"); err == nil {
		t.Error("a bogus access was taken")
	}
}
