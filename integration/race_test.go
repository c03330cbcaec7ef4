//go:build race

package integration

// raceEnabled reports whether the tests run with the race detector, which
// makes everything 5–10 times slower.
const raceEnabled = true
