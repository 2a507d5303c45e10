//go:build race

package tests

// raceEnabled: the race detector slows the nodes several times, so the end-to-end test
// moves less data by default.
const raceEnabled = true
