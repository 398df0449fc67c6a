package main

import (
	"errors"
	"slices"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/perms"
	"github.com/agent-entrypoint/agent-entrypoint/internal/users"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config)
	}{
		{"command only", []string{"ssh-add", "-l"}, nil, func(t *testing.T, c config) {
			if c.UID != users.NoID || c.GID != users.NoID || c.SocketMode != perms.Chmod || !slices.Equal(c.Command, []string{"ssh-add", "-l"}) {
				t.Errorf("got %+v", c)
			}
		}},
		{"env target", []string{"--", "id"}, map[string]string{
			"AGENT_ENTRYPOINT_UID": "1000", "AGENT_ENTRYPOINT_GID": "100", "AGENT_ENTRYPOINT_USER": "alice",
			"AGENT_ENTRYPOINT_HOME": "/work", "AGENT_ENTRYPOINT_GROUPS": "users,4242",
			"AGENT_ENTRYPOINT_SOCKETS": "/run/a.sock::/run/b.sock", "AGENT_ENTRYPOINT_SOCKET_MODE": "none",
			"AGENT_ENTRYPOINT_STRICT": "1", "AGENT_ENTRYPOINT_DEBUG": "true",
		}, func(t *testing.T, c config) {
			if c.UID != 1000 || c.GID != 100 || c.Name != "alice" || c.Home != "/work" ||
				!slices.Equal(c.Groups, []string{"users", "4242"}) || !slices.Equal(c.Sockets, []string{"/run/a.sock", "/run/b.sock"}) ||
				c.SocketMode != perms.None || !c.Strict || !c.Debug || !slices.Equal(c.Command, []string{"id"}) {
				t.Errorf("got %+v", c)
			}
		}},
		{"flags win over env", []string{"--uid", "2000", "--gid=2001", "-v", "--socket", "/c.sock", "--strict=false", "id"},
			map[string]string{"AGENT_ENTRYPOINT_UID": "1000", "AGENT_ENTRYPOINT_STRICT": "1", "AGENT_ENTRYPOINT_SOCKETS": "/a.sock"},
			func(t *testing.T, c config) {
				if c.UID != 2000 || c.GID != 2001 || !c.Debug || c.Strict || !slices.Equal(c.Sockets, []string{"/a.sock", "/c.sock"}) {
					t.Errorf("got %+v", c)
				}
			}},
		{"empty env counts as unset", []string{"id"}, map[string]string{"AGENT_ENTRYPOINT_UID": ""}, func(t *testing.T, c config) {
			if c.UID != users.NoID {
				t.Errorf("UID = %d", c.UID)
			}
		}},
		{"command flags are the command's", []string{"--uid", "1", "ls", "--uid", "-v"}, nil, func(t *testing.T, c config) {
			if !slices.Equal(c.Command, []string{"ls", "--uid", "-v"}) || c.Debug {
				t.Errorf("got %+v", c)
			}
		}},
		{"help needs no command", []string{"--help"}, nil, func(t *testing.T, c config) {
			if !c.Help {
				t.Errorf("got %+v", c)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestParseConfigHostile feeds the inputs an attacker or a typo would: each
// must be refused with an error of the right kind before anything happens.
func TestParseConfigHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want error
	}{
		{"uid word", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "abc"}, users.ErrInvalidID},
		{"uid negative", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "-1"}, users.ErrInvalidID},
		{"uid 2^32-1", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "4294967295"}, users.ErrInvalidID},
		{"uid overflow", nil, map[string]string{"AGENT_ENTRYPOINT_UID": "99999999999"}, users.ErrInvalidID},
		{"gid word flag", []string{"--gid", "x"}, nil, users.ErrInvalidID},
		{"name with colon", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "a:0:0"}, users.ErrInvalidName},
		{"name with newline", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "a\nroot::0:0::/:/bin/sh"}, users.ErrInvalidName},
		{"name leading dash", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "-rf"}, users.ErrInvalidName},
		{"name too long", nil, map[string]string{"AGENT_ENTRYPOINT_USER": "abcdefghijklmnopqrstuvwxyz0123456"}, users.ErrInvalidName},
		{"group with colon", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "users,a:b"}, users.ErrInvalidName},
		{"empty group", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "users,,x"}, users.ErrInvalidName},
		{"group id overflow", nil, map[string]string{"AGENT_ENTRYPOINT_GROUPS": "4294967295"}, users.ErrInvalidID},
		{"unknown flag", []string{"--uidd", "1"}, nil, errUsage},
		{"flag without value", []string{"--uid"}, nil, errUsage},
		{"no command", []string{"--uid", "1"}, nil, errUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"id"}
			}
			_, err := parseConfig(args, env(tc.env))
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
		{"AGENT_ENTRYPOINT_STRICT": "maybe"},
	} {
		if _, err := parseConfig([]string{"id"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err == nil {
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
