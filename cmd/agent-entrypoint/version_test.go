package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	setting := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	build := func(version string, kv ...string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.27.3", Main: debug.Module{Version: version}, Settings: setting(kv...)}
	}
	here := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name          string
		stamp, commit string
		info          *debug.BuildInfo
		want          string
	}{
		{"release stamps, -buildvcs=false", "v0.3.0", "abc1234def", build("(devel)", "GOOS", "linux", "GOARCH", "amd64"),
			"v0.3.0 (go1.27.3 linux/amd64, commit abc1234)"},
		{"stamps win over the recorded revision", "v0.3.0", "abc1234", build("v0.0.0-20261129091100-569291e1a2b3", "vcs.revision", "569291e1a2b3", "GOOS", "linux", "GOARCH", "arm64"),
			"v0.3.0 (go1.27.3 linux/arm64, commit abc1234)"},
		{"arm names its version", "v0.3.0", "abc1234", build("", "GOOS", "linux", "GOARCH", "arm", "GOARM", "6"),
			"v0.3.0 (go1.27.3 linux/arm/v6, commit abc1234)"},
		{"arm softfloat", "v0.3.0", "abc1234", build("", "GOOS", "linux", "GOARCH", "arm", "GOARM", "7,softfloat"),
			"v0.3.0 (go1.27.3 linux/arm/v7, commit abc1234)"},
		{"plain build in a clean clone", "", "", build("v0.0.0-20261129091100-569291e1a2b3", "vcs.revision", "569291e1a2b3c4d5", "vcs.modified", "false", "GOOS", "linux", "GOARCH", "amd64"),
			"v0.0.0-20261129091100-569291e1a2b3 (go1.27.3 linux/amd64, commit 569291e)"},
		{"dirty once though the go command marked it too", "", "", build("v0.0.0-20261129091100-569291e1a2b3+dirty", "vcs.revision", "569291e1a2b3", "vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64"),
			"v0.0.0-20261129091100-569291e1a2b3+dirty (go1.27.3 linux/amd64, commit 569291e)"},
		{"dirty from vcs.modified alone", "", "", build("(devel)", "vcs.revision", "569291e1a2b3", "vcs.modified", "true", "GOOS", "linux", "GOARCH", "amd64"),
			"devel+dirty (go1.27.3 linux/amd64, commit 569291e)"},
		{"-buildvcs=false without stamps", "", "", build("(devel)", "GOOS", "linux", "GOARCH", "amd64"),
			"devel (go1.27.3 linux/amd64)"},
		{"no build info", "", "", nil, "devel (" + here + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.stamp, tc.commit, tc.info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
