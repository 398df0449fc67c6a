//go:build !linux

package linuxonly

// The compiler prints an undefined identifier's name verbatim, which makes
// the name the message.
var _ = agent_entrypoint_runs_on_linux_only__build_it_with_GOOS_linux__e_g__GOOS_linux_GOARCH_arm64_go_build
