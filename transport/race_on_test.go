//go:build race

package transport

// raceEnabled: under the race detector QUIC links carry a few MB/s at most on a busy machine,
// so a test cannot count on them outrunning a bandwidth limit.
const raceEnabled = true
