//go:build race

package abuse_test

// raceEnabled: the race detector slows connection set-up about fourfold,
// so the longest tests run fewer cycles under it.
const raceEnabled = true
