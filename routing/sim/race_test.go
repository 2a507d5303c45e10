//go:build race

package sim

// The race detector slows the simulation about fivefold; the CI run uses a smaller network.
const raceEnabled = true
