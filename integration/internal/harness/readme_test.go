package harness

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseReadmeBlocks(t *testing.T) {
	known := []string{"one", "two"}
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "two blocks, unmarked ones ignored",
			in: "# t\n```sh\nnot marked\n```\n<!-- test: one -->\n```dockerfile\nFROM x\nRUN y\n```\n" +
				"text\n<!-- test: two -->\n````yaml\na: |\n  ```\n  b\n````\n",
			want: map[string]string{"one": "FROM x\nRUN y\n", "two": "a: |\n  ```\n  b\n"},
		},
		{
			name: "empty block",
			in:   "<!-- test: one -->\n```\n```\n<!-- test: two -->\n```\nx\n```\n",
			want: map[string]string{"one": "", "two": "x\n"},
		},
		{
			name:    "duplicate",
			in:      "<!-- test: one -->\n```\na\n```\n<!-- test: one -->\n```\nb\n```\n<!-- test: two -->\n```\n```\n",
			wantErr: `line 5: test marker "one" used twice`,
		},
		{
			name:    "unknown",
			in:      "<!-- test: one -->\n```\n```\n<!-- test: three -->\n```\n```\n",
			wantErr: `line 4: unknown test marker "three"`,
		},
		{
			name:    "missing",
			in:      "<!-- test: one -->\n```\n```\n",
			wantErr: "no block marked two",
		},
		{
			name:    "malformed",
			in:      "<!-- test:one-->\n```\n```\n",
			wantErr: "line 1: malformed test marker",
		},
		{
			name:    "no fence after the marker",
			in:      "<!-- test: one -->\n\n```\n```\n",
			wantErr: `line 1: test marker "one" is not followed by a`,
		},
		{
			name:    "marker at the end",
			in:      "<!-- test: one -->",
			wantErr: `line 1: test marker "one" is not followed by a`,
		},
		{
			name:    "not closed",
			in:      "<!-- test: one -->\n```\nFROM x\n",
			wantErr: `line 2: the block of test marker "one" is not closed`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReadmeBlocks(strings.NewReader(tt.in), known)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("block %s: got %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestRepositoryReadme checks the README's markers without any engine, so
// that a broken marker shows up in a plain go test -short.
func TestRepositoryReadme(t *testing.T) {
	blocks, err := ReadmeBlocks(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range ReadmeBlockNames {
		if !strings.HasPrefix(name, "dockerfile-") {
			continue
		}
		df, err := DockerfileOnBase(blocks[name])
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(df, "\nCOPY agent-entrypoint /usr/local/bin/agent-entrypoint\n") {
			t.Errorf("%s: the tests put the binary in the build context as agent-entrypoint; the block does not COPY it from there:\n%s", name, df)
		}
	}
}

func TestDockerfileOnBase(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "FROM debian:bookworm-slim\nRUN true\n", want: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN true\n"},
		{in: "# c\nfrom alpine:3.21\n", want: "# c\nARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"},
		{in: "FROM a AS b\nFROM c\n", wantErr: "found 2"},
		{in: "FROM --platform=x a\n", wantErr: "found 1"},
		{in: "RUN true\n", wantErr: "found 0"},
	}
	for _, tt := range tests {
		got, err := DockerfileOnBase(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DockerfileOnBase(%q): got error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("DockerfileOnBase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
