package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/accounts"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
)

func env(kv map[string]string) func(string) (string, bool) { return lookupIn(envList(kv)) }

func envList(kv map[string]string) []string {
	var out []string
	for k, v := range kv {
		out = append(out, k+"="+v)
	}
	return out
}

func TestParseCLI(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c cli)
	}{
		{"command only", []string{"ssh-add", "-l"}, nil, func(t *testing.T, c cli) {
			if c.UID != accounts.NoID || c.GID != accounts.NoID || c.SocketMode != "" || c.Sockets != nil || !slices.Equal(c.Command, []string{"ssh-add", "-l"}) {
				t.Errorf("got %+v", c)
			}
		}},
		{"env target", []string{"--", "id"}, map[string]string{
			"AGENT_ENTRYPOINT_UID": "1000", "AGENT_ENTRYPOINT_GID": "100", "AGENT_ENTRYPOINT_USER": "alice",
			"AGENT_ENTRYPOINT_HOME": "/work", "AGENT_ENTRYPOINT_GROUPS": "users,4242",
			"AGENT_ENTRYPOINT_SOCKETS": "/run/a.sock::/run/b.sock=group", "AGENT_ENTRYPOINT_SOCKET_MODE": "none",
			"AGENT_ENTRYPOINT_STRICT": "1", "AGENT_ENTRYPOINT_DEBUG": "true",
		}, func(t *testing.T, c cli) {
			if c.UID != 1000 || c.GID != 100 || c.Name != "alice" || c.Home != "/work" ||
				!slices.Equal(c.Groups, []string{"users", "4242"}) || !slices.Equal(c.Sockets, []policy.SocketSpec{{Path: "/run/a.sock"}, {Path: "/run/b.sock", Mode: policy.Group}}) ||
				c.SocketMode != policy.None || !c.Strict || !c.Debug || !slices.Equal(c.Command, []string{"id"}) {
				t.Errorf("got %+v", c)
			}
		}},
		{"flags win over env", []string{"--uid", "2000", "--gid=2001", "-v", "--socket", "/c.sock", "--strict=false", "id"},
			map[string]string{"AGENT_ENTRYPOINT_UID": "1000", "AGENT_ENTRYPOINT_STRICT": "1", "AGENT_ENTRYPOINT_SOCKETS": "/a.sock"},
			func(t *testing.T, c cli) {
				if c.UID != 2000 || c.GID != 2001 || !c.Debug || c.Strict || !slices.Equal(c.Sockets, []policy.SocketSpec{{Path: "/a.sock"}, {Path: "/c.sock"}}) {
					t.Errorf("got %+v", c)
				}
			}},
		{"empty env counts as unset", []string{"id"}, map[string]string{"AGENT_ENTRYPOINT_UID": ""}, func(t *testing.T, c cli) {
			if c.UID != accounts.NoID {
				t.Errorf("UID = %d", c.UID)
			}
		}},
		{"command flags are the command's", []string{"--uid", "1", "ls", "--uid", "-v"}, nil, func(t *testing.T, c cli) {
			if !slices.Equal(c.Command, []string{"ls", "--uid", "-v"}) || c.Debug {
				t.Errorf("got %+v", c)
			}
		}},
		{"help needs no command", []string{"--help"}, nil, func(t *testing.T, c cli) {
			if !c.Help {
				t.Errorf("got %+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCLI(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestParseCLIHostile feeds the inputs an attacker or a typo would: each
// must be refused with an error of the right kind before anything happens.
func TestParseCLIHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want error
	}{
		{"uid word", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "abc"}, accounts.ErrInvalidID},
		{"uid negative", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "-1"}, accounts.ErrInvalidID},
		{"uid 2^32-1", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "4294967295"}, accounts.ErrInvalidID},
		{"uid overflow", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "99999999999"}, accounts.ErrInvalidID},
		{"gid word flag", []string{"--gid", "x"}, nil, accounts.ErrInvalidID},
		{"name with colon", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "a:0:0"}, accounts.ErrInvalidName},
		{"name with newline", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "a\nroot::0:0::/:/bin/sh"}, accounts.ErrInvalidName},
		{"name leading dash", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "-rf"}, accounts.ErrInvalidName},
		{"name too long", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "abcdefghijklmnopqrstuvwxyz0123456"}, accounts.ErrInvalidName},
		{"group with colon", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "users,a:b"}, accounts.ErrInvalidName},
		{"empty group", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "users,,x"}, accounts.ErrInvalidName},
		{"group id overflow", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "4294967295"}, accounts.ErrInvalidID},
		{"unknown flag", []string{"--uidd", "1"}, nil, errUsage},
		{"flag without value", []string{"--uid"}, nil, errUsage},
		{"no command", []string{"--uid", "1"}, nil, errUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"id"}
			}
			_, err := parseCLI(args, env(tc.env))
			if !errors.Is(err, tc.want) {
				t.Fatalf("parseConfig = %v, want %v", err, tc.want)
			}
			if hintFor(err) == "" {
				t.Errorf("no hint for %v", err)
			}
		})
	}
	for _, env := range []map[string]string{
		{"AGENT_ENTRYPOINT_HOME": "/home/../etc"},
		{"AGENT_ENTRYPOINT_HOME": "relative"},
		{"AGENT_ENTRYPOINT_SOCKETS": "relative.sock"},
		{"AGENT_ENTRYPOINT_SOCKET_MODE": "777"},
		{"AGENT_ENTRYPOINT_SOCKETS": "/a.sock=bogus"},
		{"AGENT_ENTRYPOINT_AGENT_ACCESS": "admin"},
		{"AGENT_ENTRYPOINT_STRICT": "maybe"},
	} {
		if _, err := parseCLI([]string{"id"}, lookupIn(envList(env))); err == nil {
			t.Errorf("parseConfig accepted %v", env)
		}
	}
}

func TestSetEnv(t *testing.T) {
	got := setEnv([]string{"PATH=/bin", "HOME=/root", "HOMEDIR=x", "USER=root", "HOME=/again"}, "HOME=/home/a", "USER=a")
	want := []string{"PATH=/bin", "HOMEDIR=x", "HOME=/home/a", "USER=a"}
	if !slices.Equal(got, want) {
		t.Errorf("setEnv = %q, want %q", got, want)
	}
}

func TestLookupIn(t *testing.T) {
	lookup := lookupIn([]string{"A=1", "AB=2", "A=3", "EMPTY="})
	for key, want := range map[string]string{"A": "3", "AB": "2", "EMPTY": ""} {
		if v, ok := lookup(key); !ok || v != want {
			t.Errorf("lookup(%s) = %q, %v; want %q", key, v, ok, want)
		}
	}
	if _, ok := lookup("B"); ok {
		t.Error("lookup(B) found a value")
	}
}

func TestParseConfigFile(t *testing.T) {
	s, err := parseConfigFile([]byte("# the image's settings\n\n" +
		"AGENT_ENTRYPOINT_USER = dev\nAGENT_ENTRYPOINT_SOCKETS=/var/run/docker.sock=group:/run/gpg.sock\n" +
		"  AGENT_ENTRYPOINT_HOME_BASE=/workspaces\nAGENT_ENTRYPOINT_CHOWN=/work\nAGENT_ENTRYPOINT_GROUPS=docker\n" +
		"AGENT_ENTRYPOINT_SOCKET_MODE=none\nAGENT_ENTRYPOINT_STRICT=1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "dev" || s.HomeBase != "/workspaces" || !slices.Equal(s.Sockets, []policy.SocketSpec{{Path: "/var/run/docker.sock", Mode: policy.Group}, {Path: "/run/gpg.sock"}}) ||
		!slices.Equal(s.Chown, []string{"/work"}) || !slices.Equal(s.Groups, []string{"docker"}) || s.SocketMode != policy.None ||
		!s.Strict || s.UID != accounts.NoID {
		t.Errorf("got %+v", s)
	}
	for _, bad := range []string{
		"AGENT_ENTRYPOINT_UID=0\n",            // ids come from the start, not the image
		"AGENT_ENTRYPOINT_USERS=dev\n",        // a typo is no setting
		"SSH_AUTH_SOCK=/tmp/x\n",              // not the file's to say
		"AGENT_ENTRYPOINT_USER\n",             // no value
		"AGENT_ENTRYPOINT_HOME_BASE=rel\n",    // not absolute
		"AGENT_ENTRYPOINT_SOCKETS=rel.sock\n", // not absolute
	} {
		if _, err := parseConfigFile([]byte(bad)); !errors.Is(err, errConfig) || hintFor(err) == "" {
			t.Errorf("parseConfigFile(%q) = %v, want a config error with a hint", bad, err)
		}
	}
}
