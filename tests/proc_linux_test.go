package tests

import "syscall"

// procAttr makes a node process die with the test binary, even when the binary is killed
// (a test's time limit) before its cleanups run.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
