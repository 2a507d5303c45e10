package cputime

import (
	"testing"
	"time"
)

// TestProcessGrows: spinning for a while shows as CPU time, and the figure never goes back.
func TestProcessGrows(t *testing.T) {
	before, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x = x*6364136223846793005 + 1442695040888963407
	}
	after, err := Process()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("CPU time went from %v to %v over 50 ms of spinning (%d)", before, after, x)
	}
}
