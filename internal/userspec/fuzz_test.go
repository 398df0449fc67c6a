package userspec

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/user"
)

// FuzzResolve holds Resolve to its promise, for any spec, caller and
// account files: every id it returns is in range, and none is 0 unless
// the spec or an account line says 0 in so many words.
//
//   - uid 0: the user part is empty and the caller's uid is 0, or it is a
//     number equal to 0, or it is the name of a passwd line whose uid
//     field is all zeros (root, toor);
//   - gid 0: with a group part, it is a number equal to 0 or the name of
//     a group line whose gid field is all zeros; without one, the caller's
//     gid is 0 or some passwd line's gid field is all zeros;
//   - group 0 among the supplementary groups: some group line whose gid
//     field is all zeros has members.
//
// Where every line of the files is an entry, Resolve must also give what
// the library gives on the raw files: gosu's result.
func FuzzResolve(f *testing.F) {
	for _, spec := range []string{"", "0", "root", "toor", "games", "1000", "0:0", ":0", "root:", "games:daemon",
		"1000:root", "0day", "0:bogus", "+0", "-0", "app", "#root", "0:0:x"} {
		f.Add(spec, []byte(passwd), []byte(group), uint32(0), uint32(0))
		f.Add(spec, []byte(passwd), []byte(group), uint32(1000), uint32(1000))
	}
	f.Add("app", []byte("app:x::0::/:/bin/sh\n"), []byte("wheel:x::app\n"), uint32(1000), uint32(1000))
	f.Add("0", []byte("#x\napp\nroot:x:0:0::/root:/bin/sh\n"), []byte("g:x:abc:root\n"), uint32(5), uint32(5))
	f.Fuzz(func(t *testing.T, spec string, pw, gr []byte, uid, gid uint32) {
		caller := Caller{UID: int(uid & MaxID), GID: int(gid & MaxID)}
		got, err := Resolve(spec, caller, pw, gr)
		if err != nil {
			return
		}
		usr, grp, hasGroup := strings.Cut(spec, ":")
		for _, id := range append([]int{got.UID, got.GID}, got.Groups...) {
			if id < 0 || id > MaxID {
				t.Fatalf("Resolve(%q) gave id %d", spec, id)
			}
		}
		if got.UID == 0 && !(usr == "" && caller.UID == 0) && !atoiZero(usr) && !says(pw, usr, 2) {
			t.Fatalf("Resolve(%q) as %v gave uid 0, which neither the spec nor a passwd line says\npasswd:\n%s", spec, caller, pw)
		}
		if got.GID == 0 {
			explicit := hasGroup && grp != ""
			ok := explicit && (atoiZero(grp) || says(gr, grp, 2)) ||
				!explicit && (caller.GID == 0 || anySays(pw, 3, false))
			if !ok {
				t.Fatalf("Resolve(%q) as %v gave gid 0, which neither the spec nor an account line says\npasswd:\n%s\ngroup:\n%s", spec, caller, pw, gr)
			}
		}
		if slices.Contains(got.Groups, 0) && !anySays(gr, 2, true) {
			t.Fatalf("Resolve(%q) gave supplementary group 0, which no group line with members says\ngroup:\n%s", spec, gr)
		}
		// (Below the library's longest passwd line, where a blank line it
		// cannot read through is dropped here and fails it there.)
		if len(pw) < 64<<10 && allEntries(pw, 2, 3) && allEntries(gr, 2) {
			lib, err := user.GetExecUser(spec, &user.ExecUser{Uid: caller.UID, Gid: caller.GID, Home: "/"},
				bytes.NewReader(pw), bytes.NewReader(gr))
			if err != nil || !same(got, Target{lib.Uid, lib.Gid, lib.Sgids, lib.Home}) {
				t.Fatalf("Resolve(%q) = %+v; on the raw files the library gives %+v, %v", spec, got, lib, err)
			}
		}
	})
}

// atoiZero reports a number equal to 0, as strconv.Atoi reads the spec.
func atoiZero(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n == 0
}

// lines splits an account file the plain way: a line, its white space
// trimmed, its fields.
func lines(data []byte) [][]string {
	var out [][]string
	for _, l := range strings.Split(string(data), "\n") {
		out = append(out, strings.Split(strings.TrimSpace(l), ":"))
	}
	return out
}

func allZeros(s string) bool { return s != "" && strings.Trim(s, "0") == "" }

// says reports a line named name whose field i is all zeros.
func says(data []byte, name string, i int) bool {
	for _, f := range lines(data) {
		if f[0] == name && len(f) > i && allZeros(f[i]) {
			return true
		}
	}
	return false
}

// anySays reports any line whose field i is all zeros, and, with members,
// whose next field is not empty.
func anySays(data []byte, i int, members bool) bool {
	for _, f := range lines(data) {
		if len(f) > i && allZeros(f[i]) && (!members || len(f) > i+1 && f[i+1] != "") {
			return true
		}
	}
	return false
}

// allEntries reports that every line the library reads is one Resolve
// keeps: not a comment, and with its id fields numbers in range.
func allEntries(data []byte, idFields ...int) bool {
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		f := strings.Split(l, ":")
		if l[0] == '#' {
			return false
		}
		for _, i := range idFields {
			if i >= len(f) || !isID([]byte(f[i])) {
				return false
			}
		}
	}
	return true
}
