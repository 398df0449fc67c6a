package userspec

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
)

// MaxID is the largest uid or gid a spec or an account line may give:
// gosu's limit, which also keeps clear of 2^32-1, "leave unchanged" to
// setresuid.
const MaxID = 1<<31 - 1

var (
	// ErrNoUser is returned for a user name that /etc/passwd does not have.
	// A name that starts with a digit but is not a number ("0day") is one.
	ErrNoUser = errors.New("no such user")
	// ErrNoGroup is returned for a group name that /etc/group does not have.
	ErrNoGroup = errors.New("no such group")
	// ErrInvalidID is returned for an id out of the range 0 to MaxID.
	ErrInvalidID = errors.New("invalid id")
	// ErrUnreadable is returned when an account file cannot be read through
	// (a line longer than the library reads).
	ErrUnreadable = errors.New("unreadable account file")
)

// Caller holds the real ids of whoever runs the drop-in: what an empty user
// or group part of a spec stands for.
type Caller struct{ UID, GID int }

// Target is who the command runs as.
type Target struct {
	UID, GID int
	// Groups is the exact supplementary group list: the groups whose
	// member list names the matched passwd entry, when the spec has no
	// group part; none when it has one, or when no entry matched.
	Groups []int
	// Home is the matched passwd entry's home, "/" when none matched.
	Home string
}

// Resolve resolves spec for caller against the contents of /etc/passwd
// and /etc/group (nil for a file that is not there).
func Resolve(spec string, caller Caller, passwd, group []byte) (Target, error) {
	usr, grp, _ := strings.Cut(spec, ":")
	defaults := user.ExecUser{Uid: caller.UID, Gid: caller.GID, Home: "/"}
	eu, err := user.GetExecUser(spec, &defaults,
		bytes.NewReader(entries(passwd, 2, 3)), bytes.NewReader(entries(group, 2)))
	switch {
	case errors.Is(err, user.ErrNoPasswdEntries):
		return Target{}, fmt.Errorf("%w %q in /etc/passwd", ErrNoUser, usr)
	case errors.Is(err, user.ErrNoGroupEntries):
		return Target{}, fmt.Errorf("%w %q in /etc/group", ErrNoGroup, grp)
	case errors.Is(err, user.ErrRange):
		return Target{}, fmt.Errorf("%w in %q: want a name or a number from 0 to %d", ErrInvalidID, spec, MaxID)
	case err != nil:
		return Target{}, fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	t := Target{UID: eu.Uid, GID: eu.Gid, Groups: eu.Sgids, Home: eu.Home}
	// Every line that reaches the library has ids in range, and so does
	// the spec; only the caller's own ids could be out of it.
	for _, id := range append([]int{t.UID, t.GID}, t.Groups...) {
		if id < 0 || id > MaxID {
			return Target{}, fmt.Errorf("%w %d for %q: want 0 to %d", ErrInvalidID, id, spec, MaxID)
		}
	}
	return t, nil
}

// entries returns the lines of an account file that glibc reads as
// entries: not blank, not a comment, and with each of the fields idFields
// (counted from 0) a decimal number from 0 to MaxID. The library would
// read a missing or unparsable id as 0.
func entries(data []byte, idFields ...int) []byte {
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		// The library trims the same white space before it splits fields.
		text := bytes.TrimSpace(line)
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		fields := bytes.Split(text, []byte(":"))
		ok := true
		for _, i := range idFields {
			ok = ok && i < len(fields) && isID(fields[i])
		}
		if ok {
			out = append(append(out, line...), '\n')
		}
	}
	return out
}

// isID reports a decimal number from 0 to MaxID, digits only: no sign, no
// space, which ParseUint refuses too.
func isID(b []byte) bool {
	_, err := strconv.ParseUint(string(b), 10, 31)
	return err == nil
}
