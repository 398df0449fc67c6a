package accounts

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	basePasswd = "root:x:0:0:root:/root:/bin/bash\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
	baseGroup = "root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\n"
)

// memDB builds a DB from file contents; a file given as "" does not exist.
func memDB(t *testing.T, passwd, group, shadow, gshadow string) *DB {
	t.Helper()
	files := map[string]Content{}
	for name, data := range map[string]string{Passwd: passwd, Group: group, Shadow: shadow, Gshadow: gshadow} {
		files[name] = Content{Exists: data != "", Data: []byte(data)}
	}
	return NewDB(files)
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name          string
		passwd, group string
		shadow        string
		req           Request
		want          Identity
		wantLines     []string
		wantErr       error
	}{
		{
			name: "new user and group",
			req:  Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/bash"},
			want: Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/bash", Groups: []int{1000}},
			wantLines: []string{
				"group alice:x:1000:",
				"passwd alice:x:1000:1000::/home/alice:/bin/bash",
			},
		},
		{
			name:   "shadow lines where shadow exists",
			shadow: "root:*:19000:0:99999:7:::\n",
			req:    Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"group alice:x:1000:",
				"gshadow alice:!::",
				"passwd alice:x:1000:1000::/home/alice:/bin/sh",
				"shadow alice:!::0:99999:7:::",
			},
		},
		{
			name:   "existing user wins",
			passwd: basePasswd + "dev:x:1000:1000:Dev:/home/dev:/bin/zsh\n",
			group:  baseGroup + "devs:x:1000:\n",
			req:    Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Home: "", Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/zsh", Groups: []int{1000}},
		},
		{
			name:  "existing group with another name is used",
			group: baseGroup + "staff:x:1000:\n",
			req:   Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"},
			want:  Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"passwd alice:x:1000:1000::/home/alice:/bin/sh",
			},
		},
		{
			name:   "gid given differs from the existing user's",
			passwd: basePasswd + "dev:x:1000:1000::/home/dev:/bin/sh\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 1000, GID: 2000, Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 2000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{2000}},
			wantLines: []string{
				"group group2000:x:2000:",
			},
		},
		{
			name:  "group name taken by another gid",
			group: baseGroup + "alice:x:5000:\n",
			req:   Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"},
			want:  Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"group group1000:x:1000:",
				"passwd alice:x:1000:1000::/home/alice:/bin/sh",
			},
		},
		{
			name:   "default names fall through to a free one",
			passwd: basePasswd + "user:x:1001:1001::/home/user:/bin/sh\n",
			req:    Request{UID: 1000, GID: 100, Names: []string{"root", "user", "user1000"}, Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 100, Name: "user1000", Home: "/home/user1000", Shell: "/bin/sh", Groups: []int{100}},
			wantLines: []string{
				"passwd user1000:x:1000:100::/home/user1000:/bin/sh",
			},
		},
		{
			name:    "explicit name taken",
			passwd:  basePasswd + "dev:x:1000:1000::/home/dev:/bin/sh\n",
			req:     Request{UID: 2000, GID: NoID, Names: []string{"dev"}},
			wantErr: ErrNameTaken,
		},
		{
			// A created user joins no group whose member list already names
			// it (docker, shadow): only the groups asked for.
			name:  "created user: extra groups and kept groups, no memberships by name, never root's",
			group: baseGroup + "docker:x:999:alice,bob\nwheel:x:10:bob\nroot2:x:0:\n",
			req:   Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Groups: []string{"users", "4242"}, KeepGroups: []int{777}, Shell: "/bin/sh"},
			want:  Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/sh", Groups: []int{100, 777, 1000, 4242}},
			wantLines: []string{
				"group alice:x:1000:",
				"passwd alice:x:1000:1000::/home/alice:/bin/sh",
			},
		},
		{
			name:   "existing user: its memberships, as initgroups",
			passwd: basePasswd + "dev:x:1000:1000::/home/dev:/bin/sh\n",
			group:  baseGroup + "dev:x:1000:\ndocker:x:999: bob, dev\nwheel:x:10:bob\n",
			req:    Request{UID: 1000, GID: NoID},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{999, 1000}},
		},
		{
			name:   "comment and compat lines are no entries",
			passwd: basePasswd + "#dev:x:1000:1000::/home/dev:/bin/sh\n+dev:x:1000:1000::/home/dev:/bin/sh\n",
			req:    Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"group alice:x:1000:",
				"passwd alice:x:1000:1000::/home/alice:/bin/sh",
			},
		},
		{
			name:   "indented entry is an entry",
			passwd: basePasswd + "  dev:x:1000:1000::/home/dev:/bin/sh\n",
			group:  baseGroup + "\tdev:x:1000:\n",
			req:    Request{UID: 1000, GID: NoID},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{1000}},
		},
		{
			name:    "target uid on a line without a gid",
			passwd:  basePasswd + "dev:x:1000::/home/dev:/bin/sh\n",
			req:     Request{UID: 1000, GID: NoID, Names: []string{"alice"}},
			wantErr: ErrMalformed,
		},
		{
			name:    "target uid on a line with a non-numeric gid",
			passwd:  basePasswd + "dev:x:1000:staff:/dev:/home/dev:/bin/sh\n",
			req:     Request{UID: 1000, GID: NoID, Names: []string{"alice"}},
			wantErr: ErrMalformed,
		},
		{
			name:    "target uid on a truncated line",
			passwd:  basePasswd + "dev:x:1000\n",
			req:     Request{UID: 1000, GID: NoID, Names: []string{"alice"}},
			wantErr: ErrMalformed,
		},
		{
			name:    "target gid on a malformed group line",
			group:   baseGroup + "devs:x:1000x:\n",
			req:     Request{UID: 1000, GID: NoID, Names: []string{"alice"}},
			wantErr: ErrMalformed,
		},
		{
			// glibc finds the valid line first; the broken one is no guess.
			name:   "malformed line beside a valid one for the uid",
			passwd: basePasswd + "dev:x:1000:1000::/home/dev:/bin/sh\nbad:x:1000::\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 1000, GID: NoID},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{1000}},
		},
		{
			// A non-numeric uid is no entry (it is not uid 0): the name
			// is still taken, so the next candidate is used.
			name:   "non-numeric uid is no entry and no root",
			passwd: basePasswd + "alice:x:abc:1000::/home/alice:/bin/sh\n",
			req:    Request{UID: 1000, GID: NoID, Names: []string{"alice", "user"}, Shell: "/bin/sh"},
			want:   Identity{UID: 1000, GID: 1000, Name: "user", Home: "/home/user", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"group user:x:1000:",
				"passwd user:x:1000:1000::/home/user:/bin/sh",
			},
		},
		{
			name:   "a line over 64 KiB is read",
			passwd: basePasswd + "big:x:5000:5000:" + strings.Repeat("g", 70000) + ":/home/big:/bin/sh\ndev:x:1000:1000::/home/dev:/bin/sh\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 1000, GID: NoID},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{1000}},
		},
		{
			name:    "unknown group name",
			req:     Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Groups: []string{"nope"}},
			wantErr: ErrUnknownGroup,
		},
		{
			name: "home given overrides",
			req:  Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Home: "/workspace", Shell: "/bin/sh"},
			want: Identity{UID: 1000, GID: 1000, Name: "alice", Home: "/workspace", Shell: "/bin/sh", Groups: []int{1000}},
			wantLines: []string{
				"group alice:x:1000:",
				"passwd alice:x:1000:1000::/workspace:/bin/sh",
			},
		},
		{
			name: "root target",
			req:  Request{UID: 0, GID: NoID, Names: []string{"x"}},
			want: Identity{UID: 0, GID: 0, Name: "root", Home: "/root", Shell: "/bin/bash", Groups: []int{0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passwd, group := tc.passwd, tc.group
			if passwd == "" {
				passwd = basePasswd
			}
			if group == "" {
				group = baseGroup
			}
			gshadow := ""
			if tc.shadow != "" {
				gshadow = "root:*::\n"
			}
			db := memDB(t, passwd, group, tc.shadow, gshadow)
			p, err := Resolve(tc.req, db)
			// A start decides more than once over one DB, which then
			// answers from what it found the first time: the same plan.
			again, errAgain := Resolve(tc.req, db)
			if !reflect.DeepEqual(again, p) || fmt.Sprint(errAgain) != fmt.Sprint(err) {
				t.Errorf("Resolve again = %+v, %v; first %+v, %v", again, errAgain, p, err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, p, tc.want, tc.wantLines)
			if p.NewUser != slices.ContainsFunc(p.Lines, func(l Line) bool { return l.File == Passwd }) {
				t.Errorf("NewUser = %v with lines %v", p.NewUser, p.Lines)
			}
		})
	}
}

// checkPlan compares a plan's identity and its lines, each as "file text".
func checkPlan(t *testing.T, p Plan, want Identity, wantLines []string) {
	t.Helper()
	if !identityEqual(p.Identity, want) {
		t.Errorf("identity = %+v, want %+v", p.Identity, want)
	}
	var lines []string
	for _, l := range p.Lines {
		lines = append(lines, l.File+" "+l.Text)
	}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("lines = %q, want %q", lines, wantLines)
	}
}

func identityEqual(a, b Identity) bool {
	return a.UID == b.UID && a.GID == b.GID && a.Name == b.Name && a.Home == b.Home &&
		a.Shell == b.Shell && slices.Equal(a.Groups, b.Groups)
}

// TestResolveNeverDuplicates resolves, applies in memory and resolves again:
// the second plan must add nothing, whatever the first added.
func TestResolveNeverDuplicates(t *testing.T) {
	db := memDB(t, basePasswd, baseGroup, "root:*:1::::::\n", "root:*::\n")
	req := Request{UID: 1000, GID: NoID, Names: []string{"alice"}, Shell: "/bin/sh"}
	p, err := Resolve(req, db)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Resolve(req, applied(db, p))
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Lines) != 0 || !identityEqual(p.Identity, p2.Identity) {
		t.Errorf("second resolve: lines %v, identity %+v; want none and %+v", p2.Lines, p2.Identity, p.Identity)
	}
}

func TestResolveMove(t *testing.T) {
	const dev = "dev:x:1000:1000:Dev User,,,:/home/dev:/bin/bash"
	for _, tc := range []struct {
		name          string
		passwd, group string
		req           Request
		want          Identity
		wantLines     []string
		wantMove      *Move
		wantConflict  bool
		wantErr       error
	}{
		{
			name:   "user and its group follow",
			passwd: basePasswd + dev + "\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 2000, GID: 2000, Move: "dev", MoveMinUID: 1000},
			want:   Identity{UID: 2000, GID: 2000, Name: "dev", Home: "/home/dev", Shell: "/bin/bash", Groups: []int{2000}},
			wantLines: []string{
				"group dev:x:2000:",
				"passwd dev:x:2000:2000:Dev User,,,:/home/dev:/bin/bash",
			},
			wantMove: &Move{Name: "dev", OldUID: 1000, NewUID: 2000, OldGID: 1000, NewGID: 2000, Home: "/home/dev"},
		},
		{
			name:   "gid not given keeps the group",
			passwd: basePasswd + dev + "\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 501, GID: NoID, Move: "dev"},
			want:   Identity{UID: 501, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/bash", Groups: []int{1000}},
			wantLines: []string{
				"passwd dev:x:501:1000:Dev User,,,:/home/dev:/bin/bash",
			},
			wantMove: &Move{Name: "dev", OldUID: 1000, NewUID: 501, OldGID: 1000, NewGID: 1000, Home: "/home/dev"},
		},
		{
			name:   "target gid held by another group: joined, old group stays",
			passwd: basePasswd + dev + "\n",
			group:  baseGroup + "dev:x:1000:\nstaff:x:2000:\n",
			req:    Request{UID: 2000, GID: 2000, Move: "dev"},
			want:   Identity{UID: 2000, GID: 2000, Name: "dev", Home: "/home/dev", Shell: "/bin/bash", Groups: []int{2000}},
			wantLines: []string{
				"passwd dev:x:2000:2000:Dev User,,,:/home/dev:/bin/bash",
			},
			wantMove: &Move{Name: "dev", OldUID: 1000, NewUID: 2000, OldGID: 1000, NewGID: 2000, Home: "/home/dev"},
		},
		{
			name:   "old primary group shared: left to the other user, new group added",
			passwd: basePasswd + dev + "\nops:x:1001:1000::/home/ops:/bin/sh\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 2000, GID: 2000, Move: "dev"},
			want:   Identity{UID: 2000, GID: 2000, Name: "dev", Home: "/home/dev", Shell: "/bin/bash", Groups: []int{2000}},
			wantLines: []string{
				"group group2000:x:2000:",
				"passwd dev:x:2000:2000:Dev User,,,:/home/dev:/bin/bash",
			},
			wantMove: &Move{Name: "dev", OldUID: 1000, NewUID: 2000, OldGID: 1000, NewGID: 2000, Home: "/home/dev"},
		},
		{
			name:         "target uid held by another user: its identity, conflict",
			passwd:       basePasswd + dev + "\nother:x:2000:2000::/home/other:/bin/sh\n",
			group:        baseGroup + "dev:x:1000:\nother:x:2000:\n",
			req:          Request{UID: 2000, GID: 2000, Move: "dev"},
			want:         Identity{UID: 2000, GID: 2000, Name: "other", Home: "/home/other", Shell: "/bin/sh", Groups: []int{2000}},
			wantConflict: true,
		},
		{
			name:    "root is never moved",
			req:     Request{UID: 2000, GID: NoID, Move: "root"},
			wantErr: ErrMoveRefused,
		},
		{
			name:    "system users below the minimum are not moved",
			req:     Request{UID: 2000, GID: NoID, Move: "daemon", MoveMinUID: 1000, MoveMaxUID: 60000},
			wantErr: ErrMoveRefused,
		},
		{
			name:    "nobody above the maximum is not moved",
			req:     Request{UID: 2000, GID: NoID, Move: "nobody", MoveMinUID: 1000, MoveMaxUID: 60000},
			wantErr: ErrMoveRefused,
		},
		{
			name:   "named user already has the uid: nothing to do",
			passwd: basePasswd + dev + "\n",
			group:  baseGroup + "dev:x:1000:\n",
			req:    Request{UID: 1000, GID: NoID, Move: "dev"},
			want:   Identity{UID: 1000, GID: 1000, Name: "dev", Home: "/home/dev", Shell: "/bin/bash", Groups: []int{1000}},
		},
		{
			name: "named user absent: created",
			req:  Request{UID: 2000, GID: NoID, Move: "dev", Names: []string{"dev"}, Shell: "/bin/sh"},
			want: Identity{UID: 2000, GID: 2000, Name: "dev", Home: "/home/dev", Shell: "/bin/sh", Groups: []int{2000}},
			wantLines: []string{
				"group dev:x:2000:",
				"passwd dev:x:2000:2000::/home/dev:/bin/sh",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passwd, group := tc.passwd, tc.group
			if passwd == "" {
				passwd = basePasswd
			}
			if group == "" {
				group = baseGroup
			}
			p, err := Resolve(tc.req, memDB(t, passwd, group, "", ""))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Resolve error = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, p, tc.want, tc.wantLines)
			if (p.Move == nil) != (tc.wantMove == nil) || (p.Move != nil && *p.Move != *tc.wantMove) {
				t.Errorf("move = %+v, want %+v", p.Move, tc.wantMove)
			}
			if (p.Conflict != nil) != tc.wantConflict {
				t.Errorf("conflict = %v, want %v", p.Conflict, tc.wantConflict)
			}
		})
	}
}

// applied returns db with p's lines put in, as a writer would.
func applied(db *DB, p Plan) *DB {
	files := map[string]Content{}
	for _, name := range Files {
		files[name] = db.Content(name)
	}
	for _, l := range p.Lines {
		c := files[l.File]
		c.Data, c.Exists = putEntry(c.Data, l.Name, l.Text), true
		files[l.File] = c
	}
	return NewDB(files)
}
