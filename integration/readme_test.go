package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/integration/internal/harness"
)

// The README's examples, run as they are written there: the blocks marked
// <!-- test: NAME --> in README.md (see harness.ReadmeBlocks). The only
// changes are the documented ones: a Dockerfile's FROM line becomes a
// harness base image and its build context holds the binary under test as
// agent-entrypoint; the compose file gets its image through DEV_IMAGE; a
// manifest's image: line names the image built here.

var readme struct {
	once   sync.Once
	blocks map[string]string
	err    error
}

func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme.once.Do(func() {
		readme.blocks, readme.err = harness.ReadmeBlocks(filepath.Join(suite.root, "README.md"))
	})
	if readme.err != nil {
		t.Fatal(readme.err)
	}
	return readme.blocks[name]
}

// readmeImage builds the README's Dockerfile block name on base (the
// Debian or busybox harness image) with the binary under test.
func readmeImage(t *testing.T, name, base string) string {
	t.Helper()
	df, err := harness.DockerfileOnBase(readmeBlock(t, name))
	if err != nil {
		t.Fatalf("README block %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	img, err := harness.Build{
		Repo: "agent-entrypoint-test/readme-" + name, Dockerfile: []byte(df), Base: base,
		Files: map[string]string{"agent-entrypoint": suite.shim},
	}.Image(ctx, func(format string, args ...any) { t.Logf(format, args...) })
	if err != nil {
		t.Fatalf("README block %s: %v", name, err)
	}
	return img
}

// runInput is docker run --rm -i with args, stdin fed from input.
func runInput(t *testing.T, input string, args ...string) harness.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	res, err := harness.Docker(ctx, strings.NewReader(input), append([]string{"run", "--rm", "-i"}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	return res
}

// idScript, fed to the image's CMD shell, prints the ids and name it runs as.
const idScript = "id -u; id -g; id -un\n"

func requireIDLines(t *testing.T, res harness.Result, uid, gid int, name string) {
	t.Helper()
	want := fmt.Sprintf("%d\n%d\n%s\n", uid, gid, name)
	if res.ExitCode != 0 || !strings.HasPrefix(res.Stdout, want) {
		t.Errorf("want exit 0 and the output to start %q, got %s", want, res)
	}
}

// TestReadmeDockerfiles builds the setuid Dockerfiles for Debian and Alpine
// (on the busybox image) and runs the seed's scenario on each: --user
// 1000:1000, the host's agent behind a root-owned 0755 socket at Docker
// Desktop's path, ssh-add -l lists the key. With no command, the CMD runs
// as the target.
func TestReadmeDockerfiles(t *testing.T) {
	for _, tc := range []struct{ flavor, block string }{
		{"debian", "dockerfile-debian"},
		{"busybox", "dockerfile-alpine"},
	} {
		t.Run(tc.block, func(t *testing.T) {
			f := getFlavor(t, tc.flavor)
			img := readmeImage(t, tc.block, f.base)
			t.Run("seed", func(t *testing.T) {
				a := testAgent(t)
				args := []string{"--user", "1000:1000", "-v", a.Socket + ":" + agentMount}
				check := []string{"ssh-add", "-l"}
				if !f.hasSSHAdd {
					args = append(args, "-v", suite.probe+":/usr/local/bin/agentprobe:ro")
					check = []string{"agentprobe"}
				}
				res := run(t, append(append(args, img), check...)...)
				if res.ExitCode != 0 || !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
					t.Errorf("%s: want the key %s listed, got %s", strings.Join(check, " "), a.Fingerprint, res)
				}
				requireVoice(t, res.Stderr)
			})
			t.Run("cmd", func(t *testing.T) {
				res := runInput(t, idScript, "--user", "1000:1000", img)
				requireIDLines(t, res, testUID, testUID, "user")
			})
		})
	}
}

// TestReadmeRootStart builds the root-start Dockerfile (mode 0755, a CMD)
// and starts it as the README does, with no command: the CMD must run as
// the target, with the agent usable.
func TestReadmeRootStart(t *testing.T) {
	f := getFlavor(t, "debian")
	img := readmeImage(t, "dockerfile-root", f.base)
	a := testAgent(t)
	args := []string{"-e", "AGENT_ENTRYPOINT_UID=1000", "-e", "AGENT_ENTRYPOINT_GID=1000", "-e", "AGENT_ENTRYPOINT_USER=dev",
		"-v", a.Socket + ":/run/ssh-agent.sock", "-e", "SSH_AUTH_SOCK=/run/ssh-agent.sock", img}
	res := runInput(t, idScript+"ssh-add -l\n", args...)
	requireIDLines(t, res, testUID, testUID, "dev")
	if !strings.Contains(res.Stdout, a.Fingerprint) {
		t.Errorf("ssh-add -l in the CMD's shell: want the key %s listed, got %s", a.Fingerprint, res)
	}
	requireVoice(t, res.Stderr)

	// Without -i the shell finds no input and ends: still exit 0, not the
	// 125 of a start with no command.
	res = run(t, args...)
	if res.ExitCode != 0 {
		t.Errorf("docker run with no command and no input: want exit 0, got %s", res)
	}
}

func randomName(t *testing.T, prefix string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// TestReadmeCompose runs the README's compose file with docker-compose run,
// both services, on the Debian setuid image, with the ids and the agent
// given as the README says.
func TestReadmeCompose(t *testing.T) {
	requireEngine(t)
	requireTool(t, "docker-compose", "docker-compose")
	f := getFlavor(t, "debian")
	img := readmeImage(t, "dockerfile-debian", f.base)
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(readmeBlock(t, "compose")), 0o644); err != nil {
		t.Fatal(err)
	}
	project := randomName(t, "aetestreadme")
	compose := func(t *testing.T, env []string, args ...string) harness.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "docker-compose", append([]string{"-p", project, "-f", file}, args...)...)
		cmd.Dir = dir
		for _, kv := range os.Environ() {
			if name, _, _ := strings.Cut(kv, "="); name != "SSH_AUTH_SOCK" && name != "DEV_IMAGE" && name != "HOST_UID" && name != "HOST_GID" {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		cmd.WaitDelay = 5 * time.Second
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		res := harness.Result{Stdout: out.String(), Stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			res.ExitCode = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("docker-compose %s: %v\n%s", strings.Join(args, " "), err, res)
		}
		return res
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		_ = exec.CommandContext(ctx, "docker-compose", "-p", project, "-f", file, "down", "--remove-orphans").Run()
	})

	t.Run("no-agent-socket", func(t *testing.T) {
		res := compose(t, []string{"DEV_IMAGE=" + img, "HOST_UID=1000", "HOST_GID=1000"}, "config", "-q")
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "set SSH_AUTH_SOCK to the agent socket to mount") {
			t.Errorf("compose without SSH_AUTH_SOCK: want it to stop with the file's message, got %s", res)
		}
	})
	for _, service := range []string{"shell", "shell-root"} {
		t.Run(service, func(t *testing.T) {
			a := testAgent(t)
			env := []string{"DEV_IMAGE=" + img, "HOST_UID=1000", "HOST_GID=1000", "SSH_AUTH_SOCK=" + a.Socket}
			// -T: no terminal here; the README's own run gets one.
			res := compose(t, env, "run", "--rm", "-T", service, "sh", "-c", "id -u; id -g; id -un; pwd; ssh-add -l")
			requireIDLines(t, res, testUID, testUID, "user")
			if !strings.Contains(res.Stdout, "\n/work\n") || !strings.Contains(res.Stdout, a.Fingerprint+" "+harness.KeyComment) {
				t.Errorf("want /work and the key %s listed, got %s", a.Fingerprint, res)
			}
		})
	}
}

// kubeImageRE is the image: line of a README manifest.
var kubeImageRE = regexp.MustCompile(`(?m)^(\s*image:\s*)dev-image(\s|$)`)

// TestReadmeKubernetes plays the README's Pod manifests with root podman
// (podman kube play), each on the image of the Dockerfile it names, and
// reads the pod's log and exit status.
func TestReadmeKubernetes(t *testing.T) {
	requireEngine(t)
	requireTool(t, "podman", "podman")
	requireTool(t, "catatonit", "catatonit") // podman's pause image for pods
	p, err := harness.RootPodman(t.TempDir())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	f := getFlavor(t, "debian")
	for _, tc := range []struct {
		manifest, dockerfile, pod string
		want                      *regexp.Regexp
	}{
		{"kubernetes-root", "dockerfile-root", "dev",
			regexp.MustCompile(`^uid=1000\(user\) gid=1000\(user\) groups=1000\(user\)\nuser\n$`)},
		// The name is the shim's "user", or podman's own entry, named
		// after the uid, which podman adds before the start.
		{"kubernetes-restricted", "dockerfile-openshift", "dev-restricted",
			regexp.MustCompile(`^(user|1000770000)\nuid=1000770000\((user|1000770000)\) gid=0\(root\) groups=0\(root\)\n$`)},
	} {
		t.Run(tc.manifest, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			image, err := p.Load(ctx, readmeImage(t, tc.dockerfile, f.base))
			if err != nil {
				t.Fatal(err)
			}
			manifest := readmeBlock(t, tc.manifest)
			if n := len(kubeImageRE.FindAllString(manifest, -1)); n != 1 {
				t.Fatalf("README block %s: want one image: dev-image line, found %d", tc.manifest, n)
			}
			manifest = kubeImageRE.ReplaceAllString(manifest, "${1}"+image+"${2}")
			file := filepath.Join(t.TempDir(), "pod.yaml")
			if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
				t.Fatal(err)
			}
			// The pod's name is the README's; never replace a pod of that
			// name that someone else runs on this machine.
			if res := podman(t, p, "pod", "exists", tc.pod); res.ExitCode == 0 {
				t.Fatalf("a pod named %s exists already; remove it to run this test", tc.pod)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
				defer cancel()
				if res, err := p.Run(ctx, nil, "pod", "rm", "-f", "-t", "0", tc.pod); err != nil || res.ExitCode != 0 {
					t.Errorf("remove pod %s: %v %s", tc.pod, err, res)
				}
			})
			if res := podman(t, p, "kube", "play", file); res.ExitCode != 0 {
				t.Fatalf("podman kube play: %s", res)
			}
			ctr := tc.pod + "-dev"
			wait := podman(t, p, "wait", ctr)
			logs := podman(t, p, "logs", ctr)
			if wait.ExitCode != 0 || strings.TrimSpace(wait.Stdout) != "0" {
				t.Errorf("pod %s: want exit 0, got %s\nlogs: %s", tc.pod, wait, logs)
			}
			if !tc.want.MatchString(logs.Stdout) {
				t.Errorf("pod %s: log does not match %s: %s", tc.pod, tc.want, logs)
			}
			requireVoice(t, logs.Stderr)
		})
	}

	// Podman adds a passwd entry for a pod's uid before the start, so the
	// pod above may not show the shim's own. Docker adds none: the same
	// image under the manifest's securityContext, as docker run flags,
	// must get the shim's entry.
	t.Run("kubernetes-restricted/docker", func(t *testing.T) {
		img := readmeImage(t, "dockerfile-openshift", f.base)
		res := run(t, "--user", "1000770000:0", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
			img, "sh", "-c", "whoami && id")
		want := "user\nuid=1000770000(user) gid=0(root) groups=0(root)\n"
		if res.ExitCode != 0 || res.Stdout != want {
			t.Errorf("want exit 0 and %q, got %s", want, res)
		}
		requireVoice(t, res.Stderr)
	})
}
