//go:build linux

package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the release build (-ldflags -X), which knows the tag and commit
// even where the build records no VCS information (-buildvcs=false, a
// source tarball, a clone without .git).
var (
	stampedVersion string
	stampedCommit  string
)

// version is what --version prints after the program's name, such as
// "v0.3.0 (go1.27.3 linux/arm/v7, commit abc1234)": the release's stamps
// when present, else what the Go command recorded in the binary.
func version() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(stampedVersion, stampedCommit, info)
}

// formatVersion is version's pure part. info may be nil (no build info).
func formatVersion(stampVersion, stampCommit string, info *debug.BuildInfo) string {
	v, commit, dirty := stampVersion, stampCommit, false
	goVersion, platform := runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		if v == "" {
			v = info.Main.Version
		}
		var goos, goarch, goarm string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.modified":
				dirty = dirty || s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			case "GOARM":
				// "7" or "7,softfloat": the platform names only the version.
				goarm, _, _ = strings.Cut(s.Value, ",")
			}
		}
		if goos != "" && goarch != "" {
			platform = goos + "/" + goarch
			if goarch == "arm" && goarm != "" {
				platform += "/v" + goarm
			}
		}
	}
	// The go command already marks a pseudo-version of a modified tree with
	// +dirty; it is said once, at the end of the version.
	if strings.HasSuffix(v, "+dirty") {
		v, dirty = strings.TrimSuffix(v, "+dirty"), true
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if dirty {
		v += "+dirty"
	}
	if len(commit) > 7 {
		commit = commit[:7]
	}
	s := v + " (" + goVersion + " " + platform
	if commit != "" {
		s += ", commit " + commit
	}
	return s + ")"
}
