package accountfiles

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
)

// Environment of a child of TestKilledWriter: the directory it provisions,
// and the step after which it kills itself (none: the parent kills it).
const (
	killedChildEnv = "ACCOUNTFILES_KILLED_CHILD"
	killStepEnv    = "ACCOUNTFILES_KILL_STEP"
)

// steps is how many afterStep calls a write of alice makes: four files
// staged, four renamed.
const steps = 8

// TestKilledWriter kills a start with SIGKILL at random points of its
// write, 200 times, each time from the same files, and then runs the next
// start: it must find no temp file, complete the account (exactly one line
// of alice in every file) and leave every line readable. Half the kills
// come from the parent after a random delay, half from the child itself
// after a random one of the steps that leave a state of their own.
func TestKilledWriter(t *testing.T) {
	if dir := os.Getenv(killedChildEnv); dir != "" {
		killedChild(dir)
		return
	}
	const rounds = 200
	pristine := map[string]string{
		accounts.Passwd: basePasswd, accounts.Group: baseGroup,
		accounts.Shadow: "root:*:19000:0:99999:7:::\n", accounts.Gshadow: "root:*::\n",
	}
	dir := t.TempDir()
	reset := func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.Remove(filepath.Join(dir, e.Name()))
		}
		for name, data := range pristine {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// One unkilled run gives the span of a write to aim the kills at.
	reset()
	span := runKilledChild(t, dir, -1)
	t.Logf("span %v", span)
	landed := 0
	for i := range rounds {
		reset()
		if i%2 == 0 {
			runKilledChild(t, dir, time.Duration(rand.Int64N(int64(span)*5/4+1)))
		} else {
			runKilledChild(t, dir, 0, killStepEnv+"="+strconv.Itoa(1+rand.IntN(steps-1)))
		}
		state := readAll(t, dir)
		if !mapsEqualExceptLock(state, pristine) && !complete(state) {
			landed++
		}
		if _, err := provision(t, dir, alice); err != nil {
			t.Fatalf("the start after a killed one: %v", err)
		}
		after := readAll(t, dir)
		for name := range after {
			if isDebris(name) {
				t.Fatalf("temp file %s left after the next start", name)
			}
		}
		if !complete(after) {
			t.Fatalf("account not completed by the next start: %v", after)
		}
	}
	t.Logf("%d of %d kills landed inside the write (span %v)", landed, rounds, span)
	if landed == 0 {
		t.Errorf("no kill landed inside the write: the test proved nothing")
	}
}

func mapsEqualExceptLock(state, want map[string]string) bool {
	delete(state, ".pwd.lock")
	return mapsEqual(state, want)
}

// complete reports whether every account file holds exactly one alice line
// and every line of every file is one glibc reads as an entry.
func complete(state map[string]string) bool {
	for _, name := range accounts.Files {
		n := 0
		for _, l := range strings.Split(strings.TrimSuffix(state[name], "\n"), "\n") {
			if strings.HasPrefix(l, "alice:") {
				n++
			}
			if strings.Count(l, ":") < 2 {
				return false
			}
		}
		if n != 1 {
			return false
		}
	}
	db := accounts.NewDB(map[string]accounts.Content{
		accounts.Passwd: {Data: []byte(state[accounts.Passwd]), Exists: true},
		accounts.Group:  {Data: []byte(state[accounts.Group]), Exists: true},
	})
	u, ok := db.UserByName("alice")
	_, gok := db.GroupByGID(u.GID)
	return ok && gok && u.UID == 1000
}

// runKilledChild provisions alice in dir in a child process and kills it
// after delay (never, for a negative delay); it returns how long the write
// took in a child that was not killed.
func runKilledChild(t *testing.T, dir string, delay time.Duration, env ...string) time.Duration {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
	cmd.Env = append(append(os.Environ(), killedChildEnv+"="+dir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(out)
	if line, err := r.ReadString('\n'); err != nil || line != "go\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	if len(env) > 0 {
		cmd.Wait()
		return 0
	}
	if delay >= 0 {
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		return 0
	}
	line, _ := r.ReadString('\n')
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		t.Fatalf("child printed %q", line)
	}
	return time.Duration(ns)
}

// killedChild is the start that gets killed: it decides under the lock,
// says "go", then writes.
func killedChild(dir string) {
	if step, err := strconv.Atoi(os.Getenv(killStepEnv)); err == nil {
		n := 0
		afterStep = func() {
			if n++; n == step {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	unlock, err := Lock(dir)
	if err != nil {
		panic(err)
	}
	defer unlock()
	s, err := LoadAll(dir)
	if err != nil {
		panic(err)
	}
	p, err := accounts.Resolve(alice, s.DB)
	if err != nil {
		panic(err)
	}
	fmt.Println("go")
	start := time.Now()
	if err := Apply(p, s); err != nil {
		panic(err)
	}
	fmt.Println(time.Since(start).Nanoseconds())
	os.Exit(0)
}
