// Command demo shows agent-entrypoint's main job on this machine, step by
// step: a container started with --user UID:GID reaches the host's SSH
// agent through a root-owned mode-0755 socket (as Docker Desktop mounts
// it), which fails without the entrypoint and works with it.
//
// Run it through integration/demo.sh, which installs what is missing first.
// It needs root and a Docker Engine; it reuses the images the integration
// tests cache (see integration/internal/harness).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

const agentMount = "/run/host-services/ssh-auth.sock"

func main() {
	uid := flag.Int("uid", -1, "uid (and gid) to run the container as; default: 1000 when run as root")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *uid); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo: error: %v\n", err)
		os.Exit(1)
	}
}

var stepN int

func step(format string, args ...any) {
	stepN++
	fmt.Printf("\n== %d. %s\n", stepN, fmt.Sprintf(format, args...))
}

func say(format string, args ...any) {
	fmt.Printf("   %s\n", fmt.Sprintf(format, args...))
}

// show prints a command as a newcomer could type it, then its output.
func show(cmd string, res harness.Result) {
	fmt.Printf("\n   $ %s\n", cmd)
	out := strings.TrimRight(res.Stdout+res.Stderr, "\n")
	for _, line := range strings.Split(out, "\n") {
		fmt.Printf("   | %s\n", line)
	}
	fmt.Printf("   (exit status %d)\n", res.ExitCode)
}

func run(ctx context.Context, uid int) error {
	logf := harness.Logf(func(format string, args ...any) { say(format, args...) })

	step("check the machine")
	if os.Geteuid() != 0 {
		return errors.New("run as root (sudo integration/demo.sh): the demo builds a root filesystem with mmdebstrap and hands the agent socket to root")
	}
	if err := harness.CheckDaemon(ctx); err != nil {
		return fmt.Errorf("%w\n   hint: start the Docker Engine (e.g. systemctl start docker) and try again", err)
	}
	say("running as root, Docker Engine reachable")
	if uid < 0 {
		uid = 1000
		say("you are root, so `id -u` would be 0: the demo runs the container as uid/gid %d instead,", uid)
		say("because the interesting case is a non-root user (as on a developer's laptop)")
	} else if uid == 0 {
		return errors.New("--uid 0 shows nothing: root can always use the socket")
	} else {
		say("the container will run as uid/gid %d (yours, as sudo reported it)", uid)
	}
	user := fmt.Sprintf("%d:%d", uid, uid)

	root, err := harness.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "agent-entrypoint-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	step("build the agent-entrypoint binary (static, no C library needed)")
	shim := filepath.Join(tmp, "agent-entrypoint")
	say("$ CGO_ENABLED=0 go build -trimpath -ldflags '-w -buildid=' -o agent-entrypoint ./cmd/agent-entrypoint")
	if err := harness.BuildShim(ctx, root, shim); err != nil {
		return err
	}
	say("built %s", shim)

	step("get a Debian bookworm base image with ssh-add in it (built locally, nothing is pulled)")
	say("$ mmdebstrap --variant=minbase --include=openssh-client bookworm - | docker import - <tag>")
	say("the image is cached: later runs reuse it")
	base, err := harness.DebianBase(ctx, logf)
	if err != nil {
		return err
	}

	step("build the example image from Dockerfile.example on that base")
	say("$ docker build -f Dockerfile.example --build-arg BASE_IMAGE=%s -t <tag> .", base)
	say("it copies the binary to /usr/local/bin/agent-entrypoint, setuid root (mode 4755),")
	say(`and sets ENTRYPOINT ["/usr/local/bin/agent-entrypoint", "--"]`)
	image, err := harness.ExampleImage(ctx, root, "agent-entrypoint-test/debian-example", base, shim, logf)
	if err != nil {
		return err
	}

	step("start a real ssh-agent with a fresh key, behind a socket like Docker Desktop's")
	agent, err := harness.StartAgent(ctx, uint32(uid), uint32(uid))
	if err != nil {
		return err
	}
	defer agent.Close()
	owner, err := harness.StatOwner(agent.Socket)
	if err != nil {
		return err
	}
	say("ssh-agent runs as uid %d (OpenSSH's agent only serves root and its own uid)", uid)
	say("key: %s %s", agent.Fingerprint, harness.KeyComment)
	say("socket: %s  %v (owned by root, mode 0755: others cannot connect)", agent.Socket, owner)

	mount := agent.Socket + ":" + agentMount
	step("control: the same image WITHOUT the entrypoint, as uid %d", uid)
	say("this is what the seed article ran into: connect(2) needs write permission on the socket")
	res, err := harness.Docker(ctx, nil, "run", "--rm", "--entrypoint", "", "--user", user,
		"-v", mount, "-e", "SSH_AUTH_SOCK="+agentMount, image, "ssh-add", "-l")
	if err != nil {
		return err
	}
	show(fmt.Sprintf(`docker run --rm --entrypoint "" --user %s -v %s -e SSH_AUTH_SOCK=%s %s ssh-add -l`, user, mount, agentMount, image), res)
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "Permission denied") {
		return errors.New("the control did not fail with Permission denied; the demo's premise does not hold here")
	}
	say("=> Permission denied, as expected")

	step("the same, WITH agent-entrypoint as the entrypoint")
	say("it starts as root (setuid), adds a passwd entry for uid %d, makes the socket usable,", uid)
	say("sets SSH_AUTH_SOCK (Docker Desktop's path), drops to %s for good and execs ssh-add", user)
	res, err = harness.Docker(ctx, nil, "run", "--rm", "--user", user, "-v", mount, image, "ssh-add", "-l")
	if err != nil {
		return err
	}
	show(fmt.Sprintf("docker run --rm --user %s -v %s %s ssh-add -l", user, mount, image), res)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, agent.Fingerprint) {
		return errors.New("ssh-add -l did not list the key")
	}
	say("=> the key is listed")

	if owner, err = harness.StatOwner(agent.Socket); err == nil {
		say("note: the socket on the host is now %v — a bind-mounted socket is the host's inode,", owner)
		say("so the default socket mode (chmod, the seed's 0666) changes it on the host too")
	}

	step("done")
	say("the Debian base and example images stay cached for the next run and the tests;")
	say("remove them with:")
	say("  docker image ls --filter label=%s --format '{{.Repository}}:{{.Tag}}' | xargs -r docker image rm", harness.LabelKey)
	say("run the full integration suite (it also needs busybox-static) with: go test ./integration/...")
	return nil
}
