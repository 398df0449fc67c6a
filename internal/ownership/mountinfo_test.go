package ownership

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		want  []string
	}{
		{"proc man page example",
			"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
			[]string{"/mnt2"}},
		{"no optional fields",
			"22 27 0:21 / /proc rw,relatime - proc proc rw\n",
			[]string{"/proc"}},
		{"several optional fields",
			"42 27 254:0 /var/lib/docker /var/lib/docker rw shared:1 master:2 propagate_from:3 - ext4 /dev/vda rw\n",
			[]string{"/var/lib/docker"}},
		{"escaped space, tab, newline and backslash",
			`50 27 0:40 / /home/dev/My\040Drive rw - fuse s rw` + "\n" +
				`51 27 0:41 / /a\011b\012c\134d rw - tmpfs t rw` + "\n",
			[]string{"/home/dev/My Drive", "/a\tb\nc\\d"}},
		{"carriage return and U+0085 are not separators",
			"52 27 0:42 / /x\ry\u0085z rw - tmpfs t rw\n",
			[]string{"/x\ry\u0085z"}},
		{"no escape: backslash before a non-octal or out-of-range digit",
			`53 27 0:43 / /p\8q\400\12 rw - tmpfs t rw` + "\n",
			[]string{`/p\8q\400\12`}},
		{"empty source and a separator-looking root",
			"54 27 0:44 - /m rw - tmpfs  rw\n",
			[]string{"/m"}},
		{"no final newline",
			"22 27 0:21 / /proc rw - proc proc rw\n23 27 0:22 / /sys rw - sysfs sysfs rw",
			[]string{"/proc", "/sys"}},
		{"empty", "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo([]byte(tc.input))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("parseMountinfo = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseMountinfoRefusesMalformed(t *testing.T) {
	for _, line := range []string{
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw", // no separator
		"36 35 98:0 /mnt1 /mnt2 - ext3 /dev/root rw",                   // separator too early
		"36 35 98:0 /mnt1 /mnt2 rw - ext3",                             // too few fields after it
		"36 35 98:0",
		"", // an empty line
	} {
		t.Run(line, func(t *testing.T) {
			input := "22 27 0:21 / /proc rw - proc proc rw\n" + line + "\n"
			if _, err := parseMountinfo([]byte(input)); err == nil {
				t.Errorf("parseMountinfo accepted %q", line)
			}
		})
	}
}

func TestReadMountPoints(t *testing.T) {
	points, err := readMountPoints()
	if err != nil {
		t.Skipf("no mountinfo here: %v", err)
	}
	if !slices.Contains(points, "/") {
		t.Errorf("mount points %q lack /", points)
	}
}

// escapeMountPath escapes a path as the kernel's seq_path does for
// mountinfo.
func escapeMountPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseMountinfo checks that any mount point the kernel can write comes
// back byte for byte, and that no input makes the parser panic.
func FuzzParseMountinfo(f *testing.F) {
	for _, s := range []string{"/", "/home/dev/My Drive", "/a\tb\nc\\d", `/x\040y`, "/\r\u0085", "/\xff\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		parseMountinfo([]byte(p)) // must not panic
		if p == "" {
			return
		}
		line := "36 35 98:0 / " + escapeMountPath(p) + " rw shared:1 - ext4 /dev/vda rw\n"
		got, err := parseMountinfo([]byte(line))
		if err != nil || len(got) != 1 || got[0] != p {
			t.Fatalf("parseMountinfo(%q) = %q, %v; want [%q]", line, got, err, p)
		}
	})
}
