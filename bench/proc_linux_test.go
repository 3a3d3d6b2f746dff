package bench

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill cmd's process if the test binary
// dies without running its cleanups, so no redis-server outlives it.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
