package accounts

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// MaxID is the largest uid or gid accepted. Ids must fit a signed 32-bit
// integer: 2^32-1 is the kernel's "leave unchanged" value for setresuid and
// chown, and many tools still store ids as int32.
const MaxID = 1<<31 - 1

// MaxNameLen is the longest user or group name accepted, the limit of
// shadow-utils and of utmp's ut_user field.
const MaxNameLen = 32

// ErrInvalidID is returned by ParseID for anything but a canonical decimal
// number from 0 to MaxID.
var ErrInvalidID = errors.New("invalid id")

// ErrInvalidName is returned by CheckName for a name that would corrupt the
// account files or confuse the tools that read them.
var ErrInvalidName = errors.New("invalid name")

// ParseID parses a uid or gid. Only plain decimal digits are accepted: no
// sign, no leading zeros, no spaces, nothing above MaxID.
func ParseID(s string) (int, error) {
	bad := func(why string) (int, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrInvalidID, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return bad(fmt.Sprintf("want a decimal number from 0 to %d", MaxID))
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return bad("leading zero")
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return bad(fmt.Sprintf("larger than %d", MaxID))
	}
	return int(n), nil
}

// CheckName reports whether name is safe to write as a user or group name:
// 1 to MaxNameLen characters from [A-Za-z0-9._-], not starting with '-'
// (it would read as an option to every tool), not all digits (it would read
// as an id), not "." or "..", optionally ending in '$' (Samba machine
// accounts).
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("longer than %d characters", MaxNameLen))
	case name[0] == '-':
		return bad("starts with '-'")
	case strings.Trim(name, ".") == "":
		return bad("only dots")
	}
	allDigits := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= '0' && c <= '9':
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '.', c == '-':
		case c == '$' && i == len(name)-1:
		default:
			return bad(fmt.Sprintf("character %q is not allowed (use letters, digits, '.', '_', '-')", c))
		}
		allDigits = false
	}
	if allDigits {
		return bad("all digits would read as an id")
	}
	return nil
}

// CheckHome reports whether dir can be written as a home directory: an
// absolute, clean path without ':' or control characters.
func CheckHome(dir string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid home directory %q: %s", dir, why)
	}
	switch {
	case dir == "":
		return bad("empty")
	case len(dir) > 4095:
		return bad("too long")
	case !filepath.IsAbs(dir):
		return bad("not an absolute path")
	case filepath.Clean(dir) != dir:
		return bad("not a clean path (no '..', '//' or trailing '/')")
	}
	for i := 0; i < len(dir); i++ {
		if c := dir[i]; c == ':' || c < 0x20 || c == 0x7f {
			return bad(fmt.Sprintf("character %q is not allowed", c))
		}
	}
	return nil
}

// ParseGroupRef parses a group given by gid or by name: a reference that
// starts with a digit is a gid (and must be a valid one), anything else a
// name. Exactly one of gid and name is set on success.
func ParseGroupRef(s string) (gid int, name string, err error) {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		gid, err = ParseID(s)
		return gid, "", err
	}
	if err := CheckName(s); err != nil {
		return 0, "", err
	}
	return 0, s, nil
}
