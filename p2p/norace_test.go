//go:build !race

package p2p

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = false
