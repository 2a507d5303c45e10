//go:build !linux

package tests

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's; elsewhere the cleanups end
// the node processes.
func procAttr() *syscall.SysProcAttr { return nil }
