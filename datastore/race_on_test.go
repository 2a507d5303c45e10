//go:build race

package datastore

// raceEnabled: the race detector's shadow memory inflates what the process holds.
const raceEnabled = true
