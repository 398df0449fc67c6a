package harness

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// The README's examples are the integration tests' inputs, so that what a
// reader copies is what was run. A block is marked by an HTML comment on the
// line right before its opening fence, which Markdown renders as nothing:
//
//	<!-- test: compose -->
//	```yaml
//	...
//	```
//
// ReadmeBlockNames lists every marker the tests read. A marker that is not
// listed, one listed twice, one missing, or one not followed by a fence is
// an error: a renamed or moved block must fail the tests, not drop out of
// them.
var ReadmeBlockNames = []string{
	"dockerfile-debian",
	"dockerfile-alpine",
	"dockerfile-root",
	"dockerfile-openshift",
	"compose",
	"kubernetes-root",
	"kubernetes-restricted",
}

// markerRE matches a test marker line; anything that starts like one but
// does not match is reported rather than skipped.
var markerRE = regexp.MustCompile(`^<!-- test: ([a-z0-9-]+) -->$`)

const markerPrefix = "<!-- test:"

// maxReadme caps what is read: the README is tens of kilobytes.
const maxReadme = 4 << 20

// ReadmeBlocks returns the marked code blocks of the Markdown file at path,
// by marker name, each as its lines between the fences.
func ReadmeBlocks(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read README blocks: %w", err)
	}
	defer f.Close()
	blocks, err := ParseReadmeBlocks(io.LimitReader(f, maxReadme), ReadmeBlockNames)
	if err != nil {
		return nil, fmt.Errorf("read README blocks of %s: %w", path, err)
	}
	return blocks, nil
}

// ParseReadmeBlocks reads Markdown from r and returns the code blocks marked
// with the names in known. Every name in known must mark exactly one block.
func ParseReadmeBlocks(r io.Reader, known []string) (map[string]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxReadme)
	blocks := map[string]string{}
	lineNo := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		lineNo++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		if !strings.HasPrefix(strings.TrimSpace(line), markerPrefix) {
			continue
		}
		m := markerRE.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("line %d: malformed test marker %q (want <!-- test: NAME --> at the start of the line)", lineNo, line)
		}
		name := m[1]
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("line %d: unknown test marker %q (known: %s)", lineNo, name, strings.Join(known, ", "))
		}
		if _, dup := blocks[name]; dup {
			return nil, fmt.Errorf("line %d: test marker %q used twice", lineNo, name)
		}
		at := lineNo
		open, ok := next()
		// The fence may be longer than three backticks, and closes with as many.
		fence := open[:len(open)-len(strings.TrimLeft(open, "`"))]
		if !ok || len(fence) < 3 {
			return nil, fmt.Errorf("line %d: test marker %q is not followed by a ``` fence", at, name)
		}
		start := lineNo
		var body strings.Builder
		closed := false
		for {
			l, ok := next()
			if !ok {
				break
			}
			if strings.TrimRight(l, " ") == fence {
				closed = true
				break
			}
			body.WriteString(l)
			body.WriteByte('\n')
		}
		if !closed {
			return nil, fmt.Errorf("line %d: the block of test marker %q is not closed", start, name)
		}
		blocks[name] = body.String()
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range known {
		if _, ok := blocks[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no block marked %s", strings.Join(missing, ", "))
	}
	return blocks, nil
}

// fromRE matches a Dockerfile's FROM instruction.
var fromRE = regexp.MustCompile(`(?im)^FROM[ \t]+\S+[ \t]*$`)

// DockerfileOnBase rewrites a README Dockerfile so that harness.Build can
// build it on a local base image: its one FROM line becomes FROM
// ${BASE_IMAGE}. This is the only change the tests make to a README
// Dockerfile; its COPY of agent-entrypoint takes the binary from the build
// context, where the tests put the one under test. A multi-stage Dockerfile,
// or a FROM with options, is refused rather than guessed at.
func DockerfileOnBase(dockerfile string) (string, error) {
	froms := fromRE.FindAllStringIndex(dockerfile, -1)
	if n := strings.Count(strings.ToUpper("\n"+dockerfile), "\nFROM "); n != 1 || len(froms) != 1 {
		return "", fmt.Errorf("want exactly one plain FROM line (FROM IMAGE) in the Dockerfile, found %d FROM lines", n)
	}
	at := froms[0]
	return dockerfile[:at[0]] + "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}" + dockerfile[at[1]:], nil
}
