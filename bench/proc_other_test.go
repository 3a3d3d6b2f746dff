//go:build !linux

package bench

import "os/exec"

// killWithParent does nothing where the kernel cannot tie a child's life
// to its parent's; the benchmark's cleanup kills the child.
func killWithParent(*exec.Cmd) {}
