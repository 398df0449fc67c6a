package accounts

import (
	"bytes"
	"strings"
	"testing"
)

func TestPutEntry(t *testing.T) {
	for _, tc := range []struct {
		name, data, key, line, want string
	}{
		{"append", "root:x:0:0::/root:/bin/sh\n", "bob", "bob:x:1:1::/:/bin/sh", "root:x:0:0::/root:/bin/sh\nbob:x:1:1::/:/bin/sh\n"},
		{"append to empty", "", "bob", "bob:x", "bob:x\n"},
		{"append after missing newline", "root:x", "bob", "bob:x", "root:x\nbob:x\n"},
		{"replace keeps neighbours", "a:1\r\nbob:old\n# comment\n", "bob", "bob:new", "a:1\r\nbob:new\n# comment\n"},
		{"replace last line without newline", "a:1\nbob:old", "bob", "bob:new", "a:1\nbob:new"},
		{"prefix of another name is no match", "bobby:x\n", "bob", "bob:y", "bobby:x\nbob:y\n"},
		{"name without colon is no match", "bob\n", "bob", "bob:y", "bob\nbob:y\n"},
		{"first of duplicates", "bob:1\nbob:2\n", "bob", "bob:3", "bob:3\nbob:2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(putEntry([]byte(tc.data), tc.key, tc.line)); got != tc.want {
				t.Errorf("putEntry = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzPutEntry checks the editor's promise: the entry ends up as given,
// exactly once more or in place of the first old one, and every other line
// keeps its bytes.
func FuzzPutEntry(f *testing.F) {
	f.Add([]byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n"), "dev", "dev:x:1000:1000::/home/dev:/bin/sh")
	f.Add([]byte("dev:x:1:1\r\n\n#c\ndev:y"), "dev", "dev:z")
	f.Add([]byte("no newline"), "a", "a:b")
	f.Fuzz(func(t *testing.T, data []byte, name, line string) {
		if name == "" || strings.ContainsAny(name, ":\n") || strings.Contains(line, "\n") || !strings.HasPrefix(line, name+":") {
			t.Skip()
		}
		out := putEntry(data, name, line)
		start, end, found := findEntry(data, name)
		if found {
			want := append(append(append([]byte{}, data[:start]...), line...), data[end:]...)
			if !bytes.Equal(out, want) {
				t.Fatalf("replace changed other bytes:\n in %q\nout %q", data, out)
			}
			return
		}
		if !bytes.HasPrefix(out, data) {
			t.Fatalf("append changed existing bytes:\n in %q\nout %q", data, out)
		}
		tail := string(out[len(data):])
		if tail != line+"\n" && tail != "\n"+line+"\n" {
			t.Fatalf("append wrote %q, want the line and a newline", tail)
		}
		if s, e, ok := findEntry(out, name); !ok || string(out[s:e]) != line {
			t.Fatalf("entry %q not found after append in %q", name, out)
		}
	})
}
