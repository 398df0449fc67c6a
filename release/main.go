// Command release builds agent-entrypoint's release artifacts into dist/:
// static binaries for eight Linux architectures, an SBOM per binary, an
// OpenVEX document, .deb and .apk packages, SHA256SUMS, and a local
// FROM-scratch image for COPY --from. See release/README.md.
//
//	go run ./release [-version v0.3.0] [-out dist] [-image=false] [-allow-dirty]
//	go run ./release vulncheck [govulncheck arguments]
//
// It uses the standard library only: the tools it drives (cyclonedx-gomod,
// govulncheck, nfpm, vulndb's indexdb) are installed at pinned versions
// with go install into a temporary directory, so they never enter the
// shipped binary or the main module's go.mod.
//
// The output depends on the commit and on nothing else: not the checkout's
// path (-trimpath), not the time (SOURCE_DATE_EPOCH is the commit's time),
// not whether it is a clone or a worktree (-buildvcs=false: the version and
// commit are stamped instead).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	log := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "release: "+format+"\n", args...) }
	if len(os.Args) > 1 && os.Args[1] == "vulncheck" {
		if err := vulncheck(os.Args[2:], log); err != nil {
			log("error: %v", err)
			os.Exit(exitCode(err))
		}
		return
	}

	fs := flag.NewFlagSet("release", flag.ExitOnError)
	cfg := config{}
	fs.StringVar(&cfg.version, "version", os.Getenv("VERSION"), "version to release, vMAJOR.MINOR.PATCH[-PRERELEASE] (default: git describe, or a dev version)")
	fs.StringVar(&cfg.out, "out", "dist", "directory to write the artifacts into; it is emptied first")
	fs.BoolVar(&cfg.image, "image", true, "load the FROM-scratch image into the local Docker Engine, when there is one")
	fs.BoolVar(&cfg.allowDirty, "allow-dirty", false, "build from a work tree with uncommitted changes (the version says .dirty)")
	fs.StringVar(&cfg.toolchain, "toolchain", releaseToolchain, "Go toolchain to build with (GOTOOLCHAIN)")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		log("error: unexpected argument %q", fs.Arg(0))
		log("hint: usage: go run ./release [-version vX.Y.Z] [-out dist] [-image=false] | go run ./release vulncheck ARGS")
		os.Exit(2)
	}

	start := time.Now()
	arts, err := build(cfg, log)
	if err != nil {
		log("error: %v", err)
		os.Exit(1)
	}
	printTable(os.Stdout, arts)
	fmt.Printf("\nrelease %s built into %s/ in %s\n", arts.version, cfg.out, time.Since(start).Round(100*time.Millisecond))
}
