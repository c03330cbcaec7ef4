package p2p

import (
	"bytes"
	"time"
)

// AddrBookOption configures an AddrBook made by NewAddrBook.
type AddrBookOption func(*addrBookConfig)

type addrBookConfig struct {
	strict       bool
	saveInterval time.Duration
	banDuration  time.Duration
	key          []byte
	seed         uint64
	seeded       bool
	now          func() time.Time
}

func defaultAddrBookConfig() addrBookConfig {
	return addrBookConfig{
		strict:       true,
		saveInterval: defaultSaveInterval,
		banDuration:  defaultBanDuration,
		now:          time.Now,
	}
}

// WithBookRoutabilityStrict sets whether the book refuses addresses that are not
// Routable (default true). Tests on loopback or mocknet and private networks
// set false; then each non-routable address is its own group (see AddrBook),
// since they would all share one.
func WithBookRoutabilityStrict(strict bool) AddrBookOption {
	return func(c *addrBookConfig) { c.strict = strict }
}

// WithBookSaveInterval sets how often a started book with a file saves itself
// when it has changed (default 2 minutes). A non-positive interval disables
// the periodic save; Stop still saves.
func WithBookSaveInterval(d time.Duration) AddrBookOption {
	return func(c *addrBookConfig) { c.saveInterval = d }
}

// WithBookBanDuration sets how long MarkBad refuses an address (default 24 hours).
// A non-positive duration disables bans: MarkBad then only removes.
func WithBookBanDuration(d time.Duration) AddrBookOption {
	return func(c *addrBookConfig) { c.banDuration = d }
}

// WithBookKey sets the secret that keys the bucket placement (default: 32 random
// bytes from crypto/rand), so that tests can predict placements. A book
// loaded from a file uses the file's secret instead. An empty key is ignored.
// Keep a real node's key secret: who knows it can aim addresses at buckets.
func WithBookKey(secret []byte) AddrBookOption {
	return func(c *addrBookConfig) {
		if len(secret) > 0 {
			c.key = bytes.Clone(secret)
		}
	}
}

// WithBookRandSeed seeds the book's random choices (PickAddress, GetSelection,
// whether a re-announced address gains a bucket), making them reproducible
// for tests (default: a seed from crypto/rand).
func WithBookRandSeed(seed uint64) AddrBookOption {
	return func(c *addrBookConfig) { c.seed, c.seeded = seed, true }
}

// WithBookClock sets the book's clock (default time.Now), for tests of the
// bookkeeping and of bans.
func WithBookClock(now func() time.Time) AddrBookOption {
	return func(c *addrBookConfig) {
		if now != nil {
			c.now = now
		}
	}
}
