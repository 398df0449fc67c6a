package ownership

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// mountinfoPath lists the mounts of this process's mount namespace, with
// mount points relative to its root directory, as Walk's paths are.
const mountinfoPath = "/proc/self/mountinfo"

// mountinfoMax caps how much of mountinfo is read: a node with tens of
// thousands of mounts stays well below it.
const mountinfoMax = 16 << 20

// readMountPoints returns every mount point of this mount namespace.
func readMountPoints() ([]string, error) {
	f, err := os.Open(mountinfoPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, mountinfoMax+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: mountinfoPath, Err: err}
	}
	if len(data) > mountinfoMax {
		return nil, &os.PathError{Op: "read", Path: mountinfoPath, Err: fmt.Errorf("larger than %d bytes", mountinfoMax)}
	}
	points, err := parseMountinfo(bytes.NewReader(data))
	if err != nil {
		return nil, &os.PathError{Op: "parse", Path: mountinfoPath, Err: err}
	}
	return points, nil
}

// parseMountinfo returns the mount point, the fifth field, of each line in
// the format of proc_pid_mountinfo(5):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// A malformed line is an error rather than skipped: a mount that went
// unnoticed would be walked into.
func parseMountinfo(r io.Reader) ([]string, error) {
	var points []string
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		// Fields are separated by single spaces; a mount point holds no
		// space, tab, newline or backslash, but may hold any other byte,
		// a carriage return or U+0085 included, so strings.Fields would
		// split it.
		f := strings.Split(line, " ")
		// Six fixed fields, optional fields, the "-" separator, then
		// fstype, source and super options.
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+3 || !isDecimal(f[0]) || !isDecimal(f[1]) || !isDevice(f[2]) {
			return nil, fmt.Errorf("line %d: %w", n, errMalformed)
		}
		points = append(points, unescapeOctal(f[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return points, nil
}

var errMalformed = errors.New("malformed mountinfo line")

// unescapeOctal undoes the kernel's escaping of mountinfo paths, where a
// space, tab, newline or backslash is written as a backslash and three
// octal digits (\040, \011, \012, \134). A backslash not followed by such an
// escape is kept as it is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		// A first digit above 3 would not fit a byte: not an escape.
		if s[i] == '\\' && i+3 < len(s) && '0' <= s[i+1] && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

func isDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isDevice reports whether s is a major:minor device number.
func isDevice(s string) bool {
	major, minor, ok := strings.Cut(s, ":")
	return ok && isDecimal(major) && isDecimal(minor)
}
