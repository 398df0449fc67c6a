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
		// What the shim puts: a valid name, and a line of it (glibc's
		// reader ends a line at a NUL, so none is in one).
		if CheckName(name) != nil || strings.ContainsAny(line, "\n\x00") || !strings.HasPrefix(line, name+":") {
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

// TestRender: Render's pieces are what putting each line in turn with
// putEntry gives, byte for byte.
func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		lines      []Line
	}{
		{"append", "root:x:0:0::/root:/bin/sh\n", []Line{{Name: "dev", Text: "dev:x:1000:1000::/home/dev:/bin/sh"}}},
		{"append, no final newline", "root:x:0:0::/root:/bin/sh", []Line{{Name: "dev", Text: "dev:x:1000:"}}},
		{"to an empty file", "", []Line{{Name: "dev", Text: "dev:x:1000:"}}},
		{"replace", "root:x:0:\ndev:x:1000:\nops:x:2000:\n", []Line{{Name: "dev", Text: "dev:x:3000:"}}},
		{"replace the first of two", "dev:x:1:\ndev:x:2:\n", []Line{{Name: "dev", Text: "dev:x:3:"}}},
		{"two replacements, out of order", "a:x:1:\nb:x:2:\nc:x:3:\n", []Line{{Name: "c", Text: "c:x:30:"}, {Name: "a", Text: "a:x:10:"}}},
		{"replace, then append", " # c\n\n  dev:x:1000:\n", []Line{{Name: "dev", Text: "dev:x:2000:"}, {Name: "new", Text: "new:x:1:"}}},
		{"add, then replace what was added", "root:x:0:\n", []Line{{Name: "dev", Text: "dev:x:1:"}, {Name: "dev", Text: "dev:x:2:"}}},
		{"replace twice", "dev:x:1:\n", []Line{{Name: "dev", Text: "dev:x:2:"}, {Name: "dev", Text: "dev:x:3:"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := []byte(tc.data)
			for _, l := range tc.lines {
				want = putEntry(want, l.Name, l.Text)
			}
			got := render([]byte(tc.data), tc.lines)
			if !bytes.Equal(got.Bytes(), want) || got.Len() != len(want) {
				t.Errorf("render = %q, want %q", got.Bytes(), want)
			}
		})
	}
}

// FuzzRender: for any file and two lines, Render's pieces are what
// putEntry makes of them, one after the other.
func FuzzRender(f *testing.F) {
	f.Add([]byte("a:x:1:\nb:x:2:\n"), "b", "b:x:20:", "c", "c:x:3:")
	f.Add([]byte("dev:x:1:"), "dev", "dev:x:2:", "dev", "dev:x:3:")
	f.Fuzz(func(t *testing.T, data []byte, n1, l1, n2, l2 string) {
		lines := []Line{{Name: n1, Text: l1}, {Name: n2, Text: l2}}
		want := data
		for _, l := range lines {
			if CheckName(l.Name) != nil || strings.ContainsAny(l.Text, "\n\x00") || !strings.HasPrefix(l.Text, l.Name+":") {
				t.Skip()
			}
			want = putEntry(want, l.Name, l.Text)
		}
		if got := render(data, lines).Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("render = %q, want %q", got, want)
		}
	})
}
