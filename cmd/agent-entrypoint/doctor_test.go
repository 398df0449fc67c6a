package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agent-entrypoint/agent-entrypoint/internal/diagnose"
	"github.com/agent-entrypoint/agent-entrypoint/internal/policy"
)

// doctorReport is the JSON shape README.md documents for doctor --json.
type doctorReport struct {
	Status   string        `json:"status"`
	Problems int           `json:"problems"`
	Warnings int           `json:"warnings"`
	Checks   []doctorCheck `json:"checks"`
}

type doctorCheck struct {
	Check   string   `json:"check"`
	Subject string   `json:"subject"`
	Verdict string   `json:"verdict"`
	Says    string   `json:"says"`
	Fix     string   `json:"fix"`
	Details []string `json:"details"`
}

// TestDoctorJSON: the hand-written JSON is valid, has exactly the
// documented fields, every one of them present, and carries any string,
// bytes that are not UTF-8 as U+FFFD.
func TestDoctorJSON(t *testing.T) {
	odd := "a \"quoted\" \\ path\n\twith\x00controls\x7f, \u2028, é and \xff"
	checks := []diagnose.Check{
		{Name: "identity", Says: "uid 1000"},
		{Name: "socket", Subject: odd, Verdict: diagnose.Problem, Says: odd, Fix: "mount it"},
		{Name: "passwd", Verdict: diagnose.Problem, Says: "no entry",
			Problem: &policy.Problem{Kind: policy.PasswdReadOnly, UID: 1000}},
		{Name: "agent", Verdict: diagnose.Warning, Says: "1 key", Fix: "ssh-add", Details: []string{odd, "ssh-ed25519 me"}},
	}
	var out bytes.Buffer
	writeJSON(&out, checks)

	var fields []map[string]any
	var top map[string]any
	if err := json.Unmarshal(out.Bytes(), &top); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if keys := sortedKeys(top); !slices.Equal(keys, []string{"checks", "problems", "status", "warnings"}) {
		t.Errorf("top-level fields %v", keys)
	}
	raw, _ := json.Marshal(top["checks"])
	json.Unmarshal(raw, &fields)
	for _, f := range fields {
		if keys := sortedKeys(f); !slices.Equal(keys, []string{"check", "details", "fix", "says", "subject", "verdict"}) {
			t.Errorf("check fields %v", keys)
		}
	}

	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	dec.DisallowUnknownFields()
	var r doctorReport
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	want := strings.ToValidUTF8(odd, "\uFFFD")
	if r.Status != "problem" || r.Problems != 2 || r.Warnings != 1 || len(r.Checks) != 4 {
		t.Errorf("report %+v", r)
	}
	if r.Checks[1].Says != want || r.Checks[1].Subject != want || r.Checks[3].Details[0] != want {
		t.Errorf("a string did not come through:\n%q\nwant\n%q", r.Checks[1].Says, want)
	}
	if !strings.Contains(r.Checks[2].Fix, "the root file system is read-only") {
		t.Errorf("a start's problem carries the start's hint as its fix: %q", r.Checks[2].Fix)
	}
	if r.Checks[0].Details == nil || len(r.Checks[0].Details) != 0 {
		t.Errorf("details of a check without any: %#v, want []", r.Checks[0].Details)
	}
	if !reflect.DeepEqual(r.Checks[3].Details, []string{want, "ssh-ed25519 me"}) {
		t.Errorf("details %q", r.Checks[3].Details)
	}
}

func sortedKeys(m map[string]any) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
