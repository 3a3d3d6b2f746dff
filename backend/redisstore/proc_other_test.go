//go:build !linux

package redisstore_test

import "os/exec"

// killWithParent does nothing where the kernel cannot tie a child's life
// to its parent's; the tests' cleanups kill the child.
func killWithParent(*exec.Cmd) {}
