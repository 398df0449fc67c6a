package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunWritesEveryRound(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	mark := filepath.Join(t.TempDir(), "prepared")
	err := run([]string{"-runs", "5", "-warmup", "2", "-json", out,
		"plain", "-", "true",
		"prepared", "touch " + mark, "test -e " + mark,
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Results []result }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 2 || doc.Results[0].Command != "plain" || doc.Results[1].Command != "prepared" {
		t.Fatalf("results = %+v, want plain and prepared in the given order", doc.Results)
	}
	for _, r := range doc.Results {
		if len(r.Times) != 5 || len(r.ExitCodes) != 5 {
			t.Errorf("%s: %d times, %d exit codes, want the 5 timed rounds", r.Command, len(r.Times), len(r.ExitCodes))
		}
		if !(r.Min > 0 && r.Min <= r.Median && r.Median <= r.Max) {
			t.Errorf("%s: min %v, median %v, max %v out of order", r.Command, r.Min, r.Median, r.Max)
		}
	}
}

func TestRunFailsOnFailedCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.json")
	err := run([]string{"-runs", "1", "-warmup", "0", "-json", out, "fails", "-", "false"})
	if err == nil || !strings.Contains(err.Error(), "fails") {
		t.Fatalf("run = %v, want an error naming the contestant", err)
	}
	if _, statErr := os.Stat(out); statErr == nil {
		t.Error("wrote results of a failed run")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{7}, 7}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
