package accounts

import (
	"slices"
	"testing"
)

// TestReadLikeGlibc checks each of glibc's reading rules on one lookup.
func TestReadLikeGlibc(t *testing.T) {
	for _, tc := range []struct {
		name, passwd string
		uid          int
		want         string // the name found, "" for none
		wantGID      int
	}{
		{"plain", "a:x:7:8::/h:/bin/sh\n", 7, "a", 8},
		{"first of two wins", "a:x:7:8::/h:/s\nb:x:7:9::/h:/s\n", 7, "a", 8},
		{"comment", "#a:x:7:8::/h:/s\n", 7, "", 0},
		{"indented comment", "  #a:x:7:8::/h:/s\n", 7, "", 0},
		{"leading blanks", " \t a:x:7:8::/h:/s\n", 7, "a", 8},
		{"blank lines", "\n\n   \na:x:7:8::/h:/s", 7, "a", 8},
		{"compat entry", "+a:x:7:8::/h:/s\n-b:x:7:8::/h:/s\n", 7, "", 0},
		{"sign and blanks in ids", "a:x: +7: 8::/h:/s\n", 7, "a", 8},
		{"uid too large is clamped", "a:x:99999999999:8::/h:/s\n", 1<<32 - 1, "a", 8},
		{"minus one", "a:x:-1:8::/h:/s\n", 1<<32 - 1, "a", 8},
		{"empty uid", "a:x::8::/h:/s\n", 0, "", 0},
		{"letters in uid", "a:x:7a:8::/h:/s\n", 7, "", 0},
		{"no gid", "a:x:7\n", 7, "", 0},
		{"gid at end of line", "a:x:7:8\n", 7, "a", 8},
		{"NUL ends the line", "a:x:7:8\x00junk\n", 7, "a", 8},
		{"NUL before the uid", "a:x:\x007:8::/h:/s\n", 7, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := NewDB(map[string]Content{Passwd: {Data: []byte(tc.passwd), Exists: true}})
			u, ok := db.UserByUID(tc.uid)
			if got := map[bool]string{true: u.Name}[ok]; got != tc.want || (ok && u.GID != tc.wantGID) {
				t.Errorf("UserByUID(%d) = %+v, %v; want %q with gid %d", tc.uid, u, ok, tc.want, tc.wantGID)
			}
		})
	}
}

func TestUserFields(t *testing.T) {
	db := NewDB(map[string]Content{Passwd: {Data: []byte("dev:x:1000:100:Dev,,,:/home/dev:/bin/sh:extra\n"), Exists: true}})
	u, ok := db.UserByName("dev")
	want := User{Name: "dev", UID: 1000, GID: 100, Home: "/home/dev", Shell: "/bin/sh:extra"}
	if !ok || u != want {
		t.Errorf("UserByName = %+v, %v; want %+v", u, ok, want)
	}
}

func TestGroupMembers(t *testing.T) {
	db := NewDB(map[string]Content{Group: {Data: []byte("g:x:5: a,,b ,\tc\nh:x:6\n"), Exists: true}})
	g, ok := db.GroupByGID(5)
	if !ok || !slices.Equal(g.Members, []string{"a", "b ", "c"}) {
		t.Errorf("GroupByGID(5) = %+v, %v", g, ok)
	}
	if g, ok := db.GroupByName("h"); !ok || g.GID != 6 || len(g.Members) != 0 {
		t.Errorf("GroupByName(h) = %+v, %v", g, ok)
	}
	if got := db.memberOf("b "); !slices.Equal(got, []int{5}) {
		t.Errorf("memberOf = %v", got)
	}
}

// FuzzParse checks that no input makes a lookup panic, and that whatever a
// lookup by uid finds, a lookup by its name finds too.
func FuzzParse(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\n#c\n +x:y\n a:b:-0:1"), 0)
	f.Add([]byte("a:x:4294967296:1\n\x00\n"), 1000)
	f.Fuzz(func(t *testing.T, data []byte, uid int) {
		db := NewDB(map[string]Content{Passwd: {Data: data, Exists: true}, Group: {Data: data, Exists: true}})
		u, ok := db.UserByUID(uid)
		if ok {
			if _, ok := db.UserByName(u.Name); !ok {
				t.Fatalf("user %+v found by uid, not by name", u)
			}
		}
		_, _ = db.GroupByGID(uid)
		_ = db.checkMalformed(Passwd, uid)
		_ = db.memberOf("a")
	})
}

// TestWith: a DB over the very bytes another DB read keeps its answers
// (a reload under the lock that found passwd unchanged scans it no more);
// over other bytes, even equal ones, it asks again.
func TestWith(t *testing.T) {
	passwd := []byte("dev:x:1000:1000::/home/dev:/bin/sh\n")
	db := NewDB(map[string]Content{Passwd: {Data: passwd, Exists: true}})
	if u, ok := db.UserByUID(1000); !ok || u.Name != "dev" {
		t.Fatalf("UserByUID = %+v, %v", u, ok)
	}
	same := db.With(map[string]Content{Passwd: {Data: passwd, Exists: true}, Group: {Data: []byte("dev:x:1000:\n"), Exists: true}})
	if len(same.answers) != 1 {
		t.Errorf("answers kept: %v, want the one about passwd", same.answers)
	}
	changed := db.With(map[string]Content{Passwd: {Data: []byte("ops:x:1000:1000::/home/ops:/bin/sh\n"), Exists: true}})
	if len(changed.answers) != 0 {
		t.Errorf("answers kept over other bytes: %v", changed.answers)
	}
	if u, _ := changed.UserByUID(1000); u.Name != "ops" {
		t.Errorf("UserByUID over the new bytes = %+v, want ops", u)
	}
	// An answer is the same however often it is asked, and what it hands
	// out cannot change it.
	group := NewDB(map[string]Content{Group: {Data: []byte("a:x:10:dev\nb:x:20:dev\n"), Exists: true}})
	first := group.memberOf("dev")
	first[0] = 99
	if again := group.memberOf("dev"); !slices.Equal(again, []int{10, 20}) {
		t.Errorf("memberOf asked again = %v, want [10 20]", again)
	}
}
