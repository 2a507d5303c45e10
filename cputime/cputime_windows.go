//go:build windows

package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time the process has used so far, user and system, all threads.
func Process() (time.Duration, error) {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0, err
	}
	var creation, exit, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return 0, err
	}
	// A Filetime counts 100 ns intervals; Nanoseconds reads it as a date since 1601, so
	// the two halves are joined by hand.
	ticks := func(f syscall.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100), nil
}
