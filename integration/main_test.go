package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// suite is what TestMain prepares once for the whole run. Fields set to an
// error make every test that needs them fail (or skip, see requireEngine).
var suite struct {
	unusable error // no engine or not root: skip (fail under CI=true)
	root     string
	tmp      string
	shim     string
	shimErr  error
	probe    string
	probeErr error

	agentOnce sync.Once
	agent     *harness.Agent
	agentErr  error

	flavorMu sync.Mutex
	flavors  map[string]*flavorResult
}

type flavorResult struct {
	f   *flavor
	err error
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		return m.Run() // every test skips itself under -short
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if os.Geteuid() != 0 {
		suite.unusable = errors.New("the integration tests must run as root (they chown the agent socket to root and run ssh-agent as uid 1000)")
		return m.Run()
	}
	if err := harness.CheckDaemon(ctx); err != nil {
		suite.unusable = err
		return m.Run()
	}
	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	suite.root = root
	tmp, err := os.MkdirTemp("", "agent-entrypoint-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	suite.tmp = tmp

	// The binary is built once per run. A failed build fails only the tests
	// that need it, with the compiler's message.
	suite.shim = filepath.Join(tmp, "agent-entrypoint")
	suite.shimErr = harness.BuildShim(ctx, root, suite.shim)
	suite.probe = filepath.Join(tmp, "agentprobe")
	suite.probeErr = harness.BuildProbe(ctx, root, suite.probe)

	code := m.Run()
	if suite.agent != nil {
		if err := suite.agent.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: stop ssh-agent:", err)
		}
	}
	return code
}

// requireEngine skips the test when there is no Docker Engine to run it on
// (or we are not root), and fails it instead when CI=true: in CI a skipped
// integration suite would look like a passing one.
func requireEngine(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if suite.unusable == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("integration test cannot run (CI=true, so this is a failure): %v", suite.unusable)
	}
	t.Skipf("integration test skipped: %v (with CI=true this fails instead)", suite.unusable)
}

// testAgent returns the suite's ssh-agent, its socket reset to root:root 0755.
func testAgent(t *testing.T) *harness.Agent {
	t.Helper()
	requireEngine(t)
	suite.agentOnce.Do(func() {
		suite.agent, suite.agentErr = harness.StartAgent(context.Background(), testUID, testUID)
	})
	if suite.agentErr != nil {
		t.Fatalf("start the ssh-agent fixture: %v", suite.agentErr)
	}
	if err := suite.agent.Reset(); err != nil {
		t.Fatalf("reset agent socket: %v", err)
	}
	return suite.agent
}

// requireAgentSocketMode fails unless the host's agent socket has perm and
// is still owned by root.
func requireAgentSocketMode(t *testing.T, a *harness.Agent, perm os.FileMode) {
	t.Helper()
	o, err := harness.StatOwner(a.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode.Type() != os.ModeSocket || o.Mode.Perm() != perm || o.UID != 0 || o.GID != 0 {
		t.Errorf("host agent socket is %v, want a socket with mode %v owned by 0:0", o, perm)
	}
}

// flavor is one kind of base image with the images the tests derive from it.
type flavor struct {
	name    string
	base    string // the base image
	example string // Dockerfile.example built on base: the shim, setuid root, as ENTRYPOINT
	image   string // example + agentprobe + /fixtures: what most tests run
	dev     string // image + an image user dev (uid 1000) and group devs (gid 1000)

	hasSSHAdd  bool
	hasShadow  bool
	hasGshadow bool
}

// flavors returns the Debian and the busybox flavor, building what is
// missing. Tests run the same scenarios over both.
func flavors(t *testing.T) []*flavor {
	t.Helper()
	return []*flavor{getFlavor(t, "debian"), getFlavor(t, "busybox")}
}

func getFlavor(t *testing.T, name string) *flavor {
	t.Helper()
	requireEngine(t)
	if suite.shimErr != nil {
		t.Fatalf("build agent-entrypoint: %v", suite.shimErr)
	}
	if suite.probeErr != nil {
		t.Fatalf("build agentprobe: %v", suite.probeErr)
	}
	suite.flavorMu.Lock()
	defer suite.flavorMu.Unlock()
	if suite.flavors == nil {
		suite.flavors = map[string]*flavorResult{}
	}
	r, ok := suite.flavors[name]
	if !ok {
		f, err := buildFlavor(t, name)
		r = &flavorResult{f, err}
		suite.flavors[name] = r
	}
	if r.err != nil {
		t.Fatalf("prepare %s images: %v", name, r.err)
	}
	return r.f
}

// Images derived from the example image. The fixtures are paths that are not
// sockets, for the hostile-input tests: the shim must leave them alone.
const (
	testImageDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY agentprobe /usr/local/bin/agentprobe
RUN mkdir -p /fixtures/dir \
 && ln -s /etc/shadow /fixtures/link-to-shadow \
 && ln -s /etc/passwd /fixtures/link-to-passwd \
 && echo 'not a socket' > /fixtures/file \
 && mkfifo /fixtures/fifo \
 && chmod 0644 /fixtures/file /fixtures/fifo
`
	devImageDockerfile = `ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN echo 'dev:x:1000:1000:Dev User:/home/dev:/bin/sh' >> /etc/passwd \
 && echo 'devs:x:1000:' >> /etc/group \
 && if [ -f /etc/shadow ]; then echo 'dev:!:19000:0:99999:7:::' >> /etc/shadow; fi \
 && if [ -f /etc/gshadow ]; then echo 'devs:!::' >> /etc/gshadow; fi \
 && mkdir -p /home/dev && chown 1000:1000 /home/dev
`
)

func buildFlavor(t *testing.T, name string) (*flavor, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logf := harness.Logf(func(format string, args ...any) { t.Logf(name+": "+format, args...) })
	f := &flavor{name: name}
	var err error
	switch name {
	case "debian":
		f.base, err = harness.DebianBase(ctx, logf)
	case "busybox":
		f.base, err = harness.BusyboxBase(ctx, logf)
	default:
		err = fmt.Errorf("unknown flavor %q", name)
	}
	if err != nil {
		return nil, err
	}
	if err := f.readFacts(ctx); err != nil {
		return nil, err
	}
	repo := "agent-entrypoint-test/" + name
	f.example, err = harness.ExampleImage(ctx, suite.root, repo+"-example", f.base, suite.shim, logf)
	if err != nil {
		return nil, err
	}
	f.image, err = harness.Build{
		Repo: repo + "-shim", Dockerfile: []byte(testImageDockerfile), Base: f.example,
		Files: map[string]string{"agentprobe": suite.probe},
	}.Image(ctx, logf)
	if err != nil {
		return nil, err
	}
	f.dev, err = harness.Build{Repo: repo + "-dev", Dockerfile: []byte(devImageDockerfile), Base: f.image}.Image(ctx, logf)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// readFacts learns what the base image offers, and refuses a base image
// that already has uid or gid 1000: the tests give that id to new users.
func (f *flavor) readFacts(ctx context.Context) error {
	const script = `command -v ssh-add >/dev/null && echo ssh-add
[ -e /etc/shadow ] && echo shadow
[ -e /etc/gshadow ] && echo gshadow
grep -q '^[^:]*:[^:]*:1000:' /etc/passwd && echo uid1000
grep -q '^[^:]*:[^:]*:1000:' /etc/group && echo gid1000
true`
	out, err := harness.DockerOK(ctx, "run", "--rm", "--entrypoint", "/bin/sh", f.base, "-c", script)
	if err != nil {
		return fmt.Errorf("inspect base image %s: %w", f.base, err)
	}
	facts := strings.Fields(out)
	has := func(s string) bool {
		for _, x := range facts {
			if x == s {
				return true
			}
		}
		return false
	}
	if has("uid1000") || has("gid1000") {
		return fmt.Errorf("base image %s already has uid or gid 1000; the tests need that id free", f.base)
	}
	f.hasSSHAdd, f.hasShadow, f.hasGshadow = has("ssh-add"), has("shadow"), has("gshadow")
	return nil
}
