package startrecord

import (
	"reflect"
	"strings"
	"testing"
)

var full = Record{
	Start: "root",
	UID:   1000, GID: 1000, Groups: []int{1000, 998}, User: "dev", Home: "/home/dev",
	AuthSock: "/run/agent-entrypoint/relay-1a2b/agent.sock", RelayPID: 1,
	Sockets: []Socket{
		{Path: "/run/host-services/ssh-auth.sock", Mode: "relay", Why: "the agent does not serve uid 1000 (it serves uid 501)"},
		{Path: "/var/run/docker sock", Mode: "group", Why: ""},
	},
	Warnings: []string{"create home: read-only file system"},
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Record
		want Record
	}{
		{"everything", full, full},
		{"a setuid start, no socket", Record{Start: "setuid", UID: 501, GID: 20}, Record{Start: "setuid", UID: 501, GID: 20}},
		// A value that would end its line, or forge another, is left out.
		{"a newline in SSH_AUTH_SOCK", Record{Start: "setuid", UID: 501, AuthSock: "/tmp/x\nuid=0"}, Record{Start: "setuid", UID: 501}},
		{"a tab in a socket's path", Record{Start: "root", Sockets: []Socket{{Path: "/a\tb", Mode: "chmod"}}}, Record{Start: "root"}},
		{"a value longer than a path", Record{Start: "root", Home: "/" + strings.Repeat("h", maxValue)}, Record{Start: "root"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in.Marshal())
			if err != nil {
				t.Fatalf("Parse(Marshal()) = %v\n%s", err, tc.in.Marshal())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"",                       // no kind
		"uid=1000\n",             // no kind
		"start=root\nuid=-1\n",   // not an id
		"start=root\nuid=01\n",   // not as written
		"start=root\nnonsense\n", // no '='
		"start=root\nsocket=relay /a\n",
	} {
		if r, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, r)
		}
	}
	if r, err := Parse([]byte("start=root\nfuture=1\n")); err != nil || r.Start != "root" {
		t.Errorf("a key from a newer start: %+v, %v", r, err)
	}
}

// FuzzParse: whatever the file holds, Parse never panics, and what it
// accepts writes back to the same record.
func FuzzParse(f *testing.F) {
	f.Add(full.Marshal())
	f.Add([]byte("start=setuid\nuid=0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Parse(r.Marshal())
		if err != nil {
			t.Fatalf("a parsed record does not parse again: %v", err)
		}
		if !reflect.DeepEqual(normal(again), normal(r)) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", r, again)
		}
	})
}

// normal drops what Marshal leaves out (a value it cannot write), so that
// the fuzz target compares what survives a round trip.
func normal(r Record) Record {
	r2, _ := Parse(r.Marshal())
	return r2
}
