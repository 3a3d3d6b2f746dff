//go:build !linux

package testserver

import "syscall"

// sysProcAttr has nothing to set where the kernel cannot tie a child's
// life to its parent's; the tests' cleanups stop the child. Running as
// another user is Linux-only here (canRunAs).
func sysProcAttr(*credential) *syscall.SysProcAttr { return nil }

const canRunAs = false

// children finds nothing: Kill kills the server's main process alone, and
// a restart waits until its children have noticed and gone.
func children(int) []int { return nil }
