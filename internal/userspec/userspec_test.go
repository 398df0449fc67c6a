package userspec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The account files of gosu's Debian test image, trimmed: games is a
// member of users, as gosu's test makes it, 1000 has no entry, and toor
// is a second name for uid 0, as some images have.
const (
	passwd = "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"games:x:5:60:games:/usr/games:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
		"toor:x:0:0::/root:/bin/sh\n"
	group = "root:x:0:\n" +
		"daemon:x:1:\n" +
		"games:x:60:\n" +
		"users:x:100:games\n" +
		"staff:x:50:nobody,games\n" +
		"nogroup:x:65534:\n"
)

var (
	root    = Caller{0, 0}
	nonRoot = Caller{1000, 1000}
)

// TestResolve has a row for each form of the spec, gosu's own test cases
// (run as root here, where gosu's run as nobody), and each way a spec
// fails.
func TestResolve(t *testing.T) {
	rootHome := Target{UID: 0, GID: 0, Groups: []int{}, Home: "/root"}
	for _, tc := range []struct {
		spec   string
		caller Caller
		want   Target
		err    error
	}{
		// user, uid: the entry's gid, groups and home.
		{"root", root, rootHome, nil},
		{"0", root, rootHome, nil},
		{"games", root, Target{5, 60, []int{100, 50}, "/usr/games"}, nil},
		{"5", root, Target{5, 60, []int{100, 50}, "/usr/games"}, nil},
		{"nobody", root, Target{65534, 65534, []int{50}, "/nonexistent"}, nil},
		// A uid without an entry: the caller's gid, no groups, home /.
		{"1000", root, Target{1000, 0, []int{}, "/"}, nil},
		{"1000", nonRoot, Target{1000, 1000, []int{}, "/"}, nil},
		// user:group, uid:gid, user:gid, uid:group: the group replaces
		// the entry's gid and its groups; the home stays the entry's.
		{"0:0", root, rootHome, nil},
		{"0:root", root, rootHome, nil},
		{"root:0", root, rootHome, nil},
		{"root:root", root, rootHome, nil},
		{"0:1000", root, Target{0, 1000, []int{}, "/root"}, nil},
		{"1000:1000", root, Target{1000, 1000, []int{}, "/"}, nil},
		{"root:1000", root, Target{0, 1000, []int{}, "/root"}, nil},
		{"1000:root", root, Target{1000, 0, []int{}, "/"}, nil},
		{"1000:daemon", root, Target{1000, 1, []int{}, "/"}, nil},
		{"games:daemon", root, Target{5, 1, []int{}, "/usr/games"}, nil},
		{"nobody:nogroup", root, Target{65534, 65534, []int{}, "/nonexistent"}, nil},
		// user: is user; :group and the empty spec keep the caller's uid,
		// and its entry where it has one.
		{"0:", root, rootHome, nil},
		{"games:", root, Target{5, 60, []int{100, 50}, "/usr/games"}, nil},
		{"", root, rootHome, nil},
		{":0", root, rootHome, nil},
		{":daemon", root, Target{0, 1, []int{}, "/root"}, nil},
		{"", nonRoot, Target{1000, 1000, []int{}, "/"}, nil},
		{":0", nonRoot, Target{1000, 0, []int{}, "/"}, nil},
		{"", Caller{5, 0}, Target{5, 60, []int{100, 50}, "/usr/games"}, nil},
		// Numbers are read as strconv.Atoi reads them, as gosu does.
		{"+0", root, rootHome, nil},
		{"00:000", root, rootHome, nil},
		// Another name for uid 0 is uid 0: the spec names root's uid.
		{"toor", root, rootHome, nil},
		// Unknown names, names that start with a digit, bad numbers.
		{"bogus", root, Target{}, ErrNoUser},
		{"0day", root, Target{}, ErrNoUser},
		{" root", root, Target{}, ErrNoUser},
		{"0:bogus", root, Target{}, ErrNoGroup},
		{"0:0day", root, Target{}, ErrNoGroup},
		{"bogus:0", root, Target{}, ErrNoUser},
		{"-1", root, Target{}, ErrInvalidID},
		{"4294967296", root, Target{}, ErrInvalidID},
		{"2147483648", root, Target{}, ErrInvalidID},
		{"0:-1", root, Target{}, ErrInvalidID},
		// Only the first colon splits: "0:x" is not a group.
		{"0:0:x", root, Target{}, ErrNoGroup},
	} {
		got, err := Resolve(tc.spec, tc.caller, []byte(passwd), []byte(group))
		if !errors.Is(err, tc.err) {
			t.Errorf("Resolve(%q) as %v: error %v, want %v", tc.spec, tc.caller, err, tc.err)
			continue
		}
		if tc.err == nil && !same(got, tc.want) {
			t.Errorf("Resolve(%q) as %v = %+v, want %+v", tc.spec, tc.caller, got, tc.want)
		}
	}
}

func same(a, b Target) bool {
	return a.UID == b.UID && a.GID == b.GID && a.Home == b.Home && slices.Equal(a.Groups, b.Groups)
}

// TestMalformedLinesAreNoEntries: lines glibc does not read as entries
// never resolve, where the library alone would read their ids as 0.
func TestMalformedLinesAreNoEntries(t *testing.T) {
	for _, tc := range []struct {
		name, passwd, group, spec string
		want                      Target
		err                       error
	}{
		{"uid not a number", "app:x:abc:100::/home/app:/bin/sh\n", "", "app", Target{}, ErrNoUser},
		{"uid empty", "app:x::100::/home/app:/bin/sh\n", "", "app", Target{}, ErrNoUser},
		{"gid not a number", "app:x:100:zz::/home/app:/bin/sh\n", "", "app", Target{}, ErrNoUser},
		{"uid out of range", "app:x:99999999999999999999:100::/:/bin/sh\n", "", "app", Target{}, ErrNoUser},
		{"uid signed", "app:x:+100:100::/:/bin/sh\n", "", "app", Target{}, ErrNoUser},
		{"name only", "app\n", "", "app", Target{}, ErrNoUser},
		{"compat line", "+::::::\n", "", "+", Target{}, ErrNoUser},
		{"comment", "#root:x:0:0::/:/bin/sh\n", "", "#root", Target{}, ErrNoUser},
		// Uid 0 by number skips the lines the library would read as 0,
		// and finds root's own.
		{"uid 0 after bad lines", "# users\napp:x::0::/home/app:/bin/sh\n" + passwd, group, "0",
			Target{0, 0, []int{}, "/root"}, nil},
		// A group line with a bad gid that names the user is not joined
		// (it would be group 0); a good one still is.
		{"group gid not a number", passwd, "wheel:x:abc:games\nusers:x:100:games\n", "games",
			Target{5, 60, []int{100}, "/usr/games"}, nil},
		{"group gid missing", passwd, "wheel:x::games\n", "games",
			Target{5, 60, []int{}, "/usr/games"}, nil},
		{"group by name with bad gid", passwd, "wheel:x:abc:\n", "0:wheel", Target{}, ErrNoGroup},
		// Leading white space, blank lines and CRLF are read as the
		// library reads them.
		{"white space and CRLF", "\n  app:x:100:100::/home/app:/bin/sh\r\n", "  g:x:7:app\r\n", "app",
			Target{100, 100, []int{7}, "/home/app"}, nil},
	} {
		got, err := Resolve(tc.spec, root, []byte(tc.passwd), []byte(tc.group))
		if !errors.Is(err, tc.err) || (err == nil && !same(got, tc.want)) {
			t.Errorf("%s: Resolve(%q) = %+v, %v; want %+v, %v", tc.name, tc.spec, got, err, tc.want, tc.err)
		}
	}
}

// TestMissingFiles: a missing passwd or group file reads as empty, as
// gosu reads it: numbers still resolve, names do not.
func TestMissingFiles(t *testing.T) {
	if got, err := Resolve("1000:1000", root, nil, nil); err != nil || !same(got, Target{1000, 1000, []int{}, "/"}) {
		t.Errorf("Resolve(1000:1000) without files = %+v, %v", got, err)
	}
	if got, err := Resolve("", nonRoot, nil, nil); err != nil || !same(got, Target{1000, 1000, []int{}, "/"}) {
		t.Errorf("Resolve('') without files = %+v, %v", got, err)
	}
	if _, err := Resolve("root", root, nil, nil); !errors.Is(err, ErrNoUser) {
		t.Errorf("Resolve(root) without passwd: %v, want ErrNoUser", err)
	}
	if _, err := Resolve("0:root", root, []byte(passwd), nil); !errors.Is(err, ErrNoGroup) {
		t.Errorf("Resolve(0:root) without group: %v, want ErrNoGroup", err)
	}
}

// TestUnreadable: a passwd line longer than the library reads fails the
// resolution rather than ending the file early.
func TestUnreadable(t *testing.T) {
	long := "big:x:7:7:" + strings.Repeat("g", 70<<10) + ":/:/bin/sh\n"
	if _, err := Resolve("root", root, []byte(long+passwd), []byte(group)); !errors.Is(err, ErrUnreadable) {
		t.Errorf("Resolve with a 70 KiB line: %v, want ErrUnreadable", err)
	}
}

// TestCallerOutOfRange: an empty part stands for the caller's id, which
// must be in range too.
func TestCallerOutOfRange(t *testing.T) {
	if _, err := Resolve("", Caller{UID: MaxID + 1, GID: 0}, nil, nil); !errors.Is(err, ErrInvalidID) {
		t.Errorf("Resolve as uid %d: %v, want ErrInvalidID", MaxID+1, err)
	}
}

func TestErrorText(t *testing.T) {
	for spec, want := range map[string]string{
		"bogus":  `no such user "bogus" in /etc/passwd`,
		"0:0day": `no such group "0day" in /etc/group`,
		"-1":     `invalid id in "-1": want a name or a number from 0 to 2147483647`,
	} {
		if _, err := Resolve(spec, root, []byte(passwd), []byte(group)); err == nil || err.Error() != want {
			t.Errorf("Resolve(%q): %v, want %q", spec, err, want)
		}
	}
}
