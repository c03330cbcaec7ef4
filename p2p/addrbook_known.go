package p2p

import "time"

type bucketType byte

const (
	bucketNew bucketType = 1
	bucketOld bucketType = 2
)

// knownAddress is the book's entry for one peer: its address, where it was
// learnt, its buckets and its connection bookkeeping.
type knownAddress struct {
	key      string // entryKey(Addr)
	Addr     *NetAddress
	Src      *NetAddress
	srcGroup string // the book's groupKey(Src)

	Attempts    int32     // failed attempts since the last success
	LastAttempt time.Time // last dial attempt (zero: never)
	LastSuccess time.Time // last successful connection (zero: never)
	LastSeen    time.Time // last time it was added, announced or connected

	Type    bucketType
	Buckets []int // up to maxNewBucketsPerAddress new buckets, or exactly one old one
}

func (ka *knownAddress) isOld() bool { return ka.Type == bucketOld }
func (ka *knownAddress) isNew() bool { return ka.Type == bucketNew }

func (ka *knownAddress) markAttempt(now time.Time) {
	ka.LastAttempt = now
	if ka.Attempts < 1<<30 {
		ka.Attempts++
	}
}

func (ka *knownAddress) markGood(now time.Time) {
	ka.LastAttempt = now
	ka.LastSuccess = now
	ka.LastSeen = now
	ka.Attempts = 0
}

// isBad reports whether a new entry is worthless and may be evicted first
// (btcd's rules; the seed inverted the first two). An old entry is never bad:
// it has proven itself and leaves only when displaced. A new entry attempted in
// the last minute is not bad; otherwise it is bad if it
//  1. was last seen in the future (the clock went back),
//  2. was not seen for numMissingDays,
//  3. failed numRetries attempts and never succeeded, or
//  4. failed maxFailures attempts and has not succeeded for minBadDays.
func (ka *knownAddress) isBad(now time.Time) bool {
	if ka.isOld() {
		return false
	}
	if ka.LastAttempt.After(now.Add(-time.Minute)) && !ka.LastAttempt.After(now) {
		return false
	}
	if ka.LastSeen.After(now.Add(10 * time.Minute)) {
		return true
	}
	if ka.LastSeen.Before(now.Add(-numMissingDays * 24 * time.Hour)) {
		return true
	}
	if ka.LastSuccess.IsZero() && ka.Attempts >= numRetries {
		return true
	}
	if ka.LastSuccess.Before(now.Add(-minBadDays*24*time.Hour)) && ka.Attempts >= maxFailures {
		return true
	}
	return false
}
