package p2p

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testKey makes bucket placement reproducible in tests.
var testKey = []byte("switchyard address book test key")

// newTestBook returns an in-memory, strict book with a fixed key and seed.
func newTestBook(t testing.TB, opts ...AddrBookOption) *AddrBook {
	t.Helper()
	base := []AddrBookOption{WithBookKey(testKey), WithBookRandSeed(1)}
	return NewAddrBook("", append(base, opts...)...)
}

// testID returns a real (Ed25519) peer ID drawn from r.
func testID(t testing.TB, r *rand.Rand) peer.ID {
	t.Helper()
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	_, pub, err := ic.GenerateEd25519Key(rand.NewChaCha8(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// randRoutableIPv4 draws a routable IPv4 address; with prefix16 non-nil its
// first two bytes are those (a prefix with no routable address loops).
func randRoutableIPv4(r *rand.Rand, prefix16 []byte) net.IP {
	for {
		ip := net.IPv4(byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))).To4()
		if prefix16 != nil {
			copy(ip, prefix16)
		}
		if (&NetAddress{IP: ip, Port: 1}).Routable() {
			return ip
		}
	}
}

// routablePrefix returns the i-th of many distinct /16 prefixes that hold
// routable addresses.
func routablePrefix(i int) []byte {
	for j := 0; ; j++ {
		p := []byte{byte(1 + j%223), byte(j / 223)}
		if (&NetAddress{IP: net.IPv4(p[0], p[1], 1, 1), Port: 1}).Routable() {
			if i == 0 {
				return p
			}
			i--
		}
	}
}

// randAddr draws a routable TCP address with a peer ID.
func randAddr(t testing.TB, r *rand.Rand, prefix16 []byte) *NetAddress {
	t.Helper()
	na := NewNetAddressIPPort(randRoutableIPv4(r, prefix16), uint16(1+r.IntN(65535)))
	na.ID = testID(t, r)
	return na
}

// randPlainAddr draws a routable TCP address without peer ID (cheaper: no
// key to generate).
func randPlainAddr(r *rand.Rand, prefix16 []byte) *NetAddress {
	return NewNetAddressIPPort(randRoutableIPv4(r, prefix16), uint16(1+r.IntN(65535)))
}

// mustParse parses s or fails the test.
func mustParse(t testing.TB, s string) *NetAddress {
	t.Helper()
	na, err := ParseNetAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return na
}

// invariantErr checks the book's internal invariants (see
// addrbook_buckets.go) and returns the first one broken.
func invariantErr(a *AddrBook) error {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	refs := make(map[*knownAddress]int)
	for i, b := range a.bucketsNew {
		if len(b) > newBucketSize {
			return fmt.Errorf("new bucket %d holds %d", i, len(b))
		}
		for _, ka := range b {
			if !ka.isNew() || !slices.Contains(ka.Buckets, i) {
				return fmt.Errorf("new bucket %d holds %s (type %d, buckets %v)", i, ka.Addr, ka.Type, ka.Buckets)
			}
			refs[ka]++
		}
	}
	for i, b := range a.bucketsOld {
		if len(b) > oldBucketSize {
			return fmt.Errorf("old bucket %d holds %d", i, len(b))
		}
		for _, ka := range b {
			if !ka.isOld() || !slices.Equal(ka.Buckets, []int{i}) {
				return fmt.Errorf("old bucket %d holds %s (type %d, buckets %v)", i, ka.Addr, ka.Type, ka.Buckets)
			}
			refs[ka]++
		}
	}
	var nNew, nOld int
	bySource := map[string]int{}
	for ka, n := range refs {
		switch {
		case n != len(ka.Buckets):
			return fmt.Errorf("%s is in %d buckets but lists %v", ka.Addr, n, ka.Buckets)
		case a.entries[ka.key] != ka:
			return fmt.Errorf("%s is in buckets but not in entries", ka.Addr)
		case ka.key != entryKey(ka.Addr):
			return fmt.Errorf("%s has key %q", ka.Addr, ka.key)
		case ka.isNew() && n > maxNewBucketsPerAddress:
			return fmt.Errorf("%s is in %d new buckets", ka.Addr, n)
		case a.isOurs(ka.Addr):
			return fmt.Errorf("our address %s is in the book", ka.Addr)
		case a.cfg.strict && !ka.Addr.Routable():
			return fmt.Errorf("non-routable %s is in a strict book", ka.Addr)
		case ka.srcGroup != a.groupKey(ka.Src):
			return fmt.Errorf("%s has source group %q, want %q", ka.Addr, ka.srcGroup, a.groupKey(ka.Src))
		}
		if ka.isNew() {
			nNew++
			bySource[ka.srcGroup]++
		} else {
			nOld++
		}
	}
	if len(a.entries) != len(refs) {
		return fmt.Errorf("%d entries but %d in buckets", len(a.entries), len(refs))
	}
	if nNew != a.nNew || nOld != a.nOld {
		return fmt.Errorf("counted new %d old %d, book says %d %d", nNew, nOld, a.nNew, a.nOld)
	}
	if !maps.Equal(bySource, a.newBySource) {
		return fmt.Errorf("new entries by source group %v, book says %v", bySource, a.newBySource)
	}
	return nil
}

func checkInvariants(t testing.TB, a *AddrBook) {
	t.Helper()
	if err := invariantErr(a); err != nil {
		t.Fatal(err)
	}
}

// counts returns the book's new and old entry counts.
func counts(a *AddrBook) (nNew, nOld int) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return a.nNew, a.nOld
}

// usedBuckets returns how many new and old buckets hold at least one entry.
func usedBuckets(a *AddrBook) (newUsed, oldUsed int) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	for _, b := range a.bucketsNew {
		if len(b) > 0 {
			newUsed++
		}
	}
	for _, b := range a.bucketsOld {
		if len(b) > 0 {
			oldUsed++
		}
	}
	return newUsed, oldUsed
}

// isOld reports whether the book holds addr in its old table.
func isOld(a *AddrBook, addr *NetAddress) bool {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	ka := a.lookup(addr)
	return ka != nil && ka.isOld()
}

// entry returns a copy of the book's entry for addr (nil if none).
func entry(a *AddrBook, addr *NetAddress) *knownAddress {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	ka := a.lookup(addr)
	if ka == nil {
		return nil
	}
	c := *ka
	c.Buckets = slices.Clone(ka.Buckets)
	return &c
}

// fakeClock is a settable clock for WithBookClock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
