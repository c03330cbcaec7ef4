package p2p

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

func TestAddAddressRefusesWithReason(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	ours := randAddr(t, r, nil)
	book.AddOurAddress(ours)
	banned := randAddr(t, r, nil)
	book.MarkBad(banned)
	otherIDOurHost := NewNetAddressIPPort(ours.IP, ours.Port)
	otherIDOurHost.ID = testID(t, r)
	ourIDOtherHost := randAddr(t, r, nil)
	ourIDOtherHost.ID = ours.ID
	good := randAddr(t, r, nil)

	tests := []struct {
		name      string
		addr, src *NetAddress
		want      error
	}{
		{"nil", nil, nil, ErrAddrBookInvalidAddr},
		{"no IP", &NetAddress{Port: 1}, nil, ErrAddrBookInvalidAddr},
		{"port 0", NewNetAddressIPPort(net.ParseIP("1.2.3.4"), 0), nil, ErrAddrBookInvalidAddr},
		{"unspecified", mustParse(t, "0.0.0.0:1"), nil, ErrAddrBookInvalidAddr},
		{"bad peer ID", &NetAddress{IP: net.ParseIP("1.2.3.4"), Port: 1, ID: "garbage"}, nil, ErrAddrBookInvalidAddr},
		{"bad source", good, &NetAddress{Port: 1}, ErrAddrBookInvalidAddr},
		{"ours", ours, nil, ErrAddrBookOurAddress},
		{"our ip:port, other ID", otherIDOurHost, nil, ErrAddrBookOurAddress},
		{"our ID, other ip:port", ourIDOtherHost, nil, ErrAddrBookOurAddress},
		{"banned", banned, nil, ErrAddrBookBanned},
		{"loopback", mustParse(t, "127.0.0.1:26656"), nil, ErrAddrBookNonRoutable},
		{"private", mustParse(t, "192.168.1.1:26656"), nil, ErrAddrBookNonRoutable},
		{"mocknet", mustParse(t, "/ip6/100::1:2/tcp/4242"), nil, ErrAddrBookNonRoutable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := book.AddAddress(tt.addr, tt.src); !errors.Is(err, tt.want) {
				t.Errorf("AddAddress = %v, want %v", err, tt.want)
			}
		})
	}
	if n := book.Size(); n != 0 {
		t.Errorf("book holds %d refused addresses", n)
	}
	if err := book.AddAddress(good, nil); err != nil {
		t.Errorf("AddAddress(good) = %v", err)
	}
	checkInvariants(t, book)
}

func TestNonStrictBookHoldsLoopbackAndPrivateAddresses(t *testing.T) {
	book := newTestBook(t, WithBookRoutabilityStrict(false))
	for i := range 200 { // from 4 sources, each within its share
		src := mustParse(t, fmt.Sprintf("127.0.0.1:%d", 5000+i%4))
		if err := book.AddAddress(mustParse(t, fmt.Sprintf("127.0.0.1:%d", 10000+i)), src); err != nil {
			t.Fatal(err)
		}
	}
	if err := book.AddAddress(mustParse(t, "192.168.1.1:1"), nil); err != nil {
		t.Fatal(err)
	}
	// Each non-routable address is its own group: 200 loopback addresses from
	// four sources are spread over buckets instead of sharing one (64).
	if n := book.Size(); n != 201 {
		t.Errorf("Size = %d, want 201", n)
	}
	// Invalid addresses are still refused.
	if err := book.AddAddress(mustParse(t, "0.0.0.0:1"), nil); !errors.Is(err, ErrAddrBookInvalidAddr) {
		t.Errorf("AddAddress(0.0.0.0:1) = %v", err)
	}
	checkInvariants(t, book)
}

func TestEntriesAreKeyedByPeerID(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	book := newTestBook(t)
	a := randAddr(t, r, nil)
	moved := mustParse(t, a.ID.String()+"@5.6.7.8:9")
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	book.MarkAttempt(a)
	if err := book.AddAddress(moved, nil); err != nil {
		t.Fatal(err)
	}
	if n := book.Size(); n != 1 {
		t.Fatalf("Size = %d, want 1 entry per peer", n)
	}
	ka := entry(book, a)
	if ka == nil || !ka.Addr.Equals(moved) || ka.Attempts != 0 {
		t.Fatalf("entry = %+v, want the new address with no attempts", ka)
	}
	if got := book.PickAddress(100); !got.Equals(moved) {
		t.Errorf("PickAddress = %v, want %v", got, moved)
	}
	// Without ID, the key is ip:port: a no-ID entry and an ID entry coexist.
	plain := NewNetAddressIPPort(moved.IP, moved.Port)
	if err := book.AddAddress(plain, nil); err != nil {
		t.Fatal(err)
	}
	if n := book.Size(); n != 2 {
		t.Errorf("Size = %d, want 2", n)
	}
	checkInvariants(t, book)
}

func TestProvenPeerIsNotRedirectedUntilItFails(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	book := newTestBook(t)
	a := randAddr(t, r, nil)
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	book.MarkGood(a)
	attacker := mustParse(t, a.ID.String()+"@6.6.6.6:666")
	if err := book.AddAddress(attacker, randAddr(t, r, nil)); err != nil {
		t.Fatal(err)
	}
	if ka := entry(book, a); !ka.Addr.Equals(a) || !ka.isOld() {
		t.Fatalf("a reachable old peer was redirected to %v", ka.Addr)
	}
	for range numRetries {
		book.MarkAttempt(a)
	}
	if err := book.AddAddress(attacker, nil); err != nil {
		t.Fatal(err)
	}
	if ka := entry(book, a); !ka.Addr.Equals(attacker) || !ka.isNew() {
		t.Fatalf("a failing old peer was not re-addressed: %+v", ka)
	}
	checkInvariants(t, book)
}

func TestOneSourceFillsOnlyItsShareOfNewBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	book := newTestBook(t)
	src := randAddr(t, r, nil)
	for range 10000 {
		if err := book.AddAddress(randPlainAddr(r, nil), src); err != nil {
			t.Fatal(err)
		}
	}
	newUsed, _ := usedBuckets(book)
	if n := book.Size(); n > maxNewPerSourceGroup {
		t.Errorf("one source placed %d addresses, want at most %d", n, maxNewPerSourceGroup)
	}
	if newUsed > newBucketsPerGroup {
		t.Errorf("one source used %d new buckets, want at most %d", newUsed, newBucketsPerGroup)
	}
	if !book.NeedMoreAddrs() {
		t.Error("a book filled by one source does not ask for more")
	}
	t.Logf("10000 addresses from one source: %d kept in %d buckets", book.Size(), newUsed)
	checkInvariants(t, book)

	// Sources in other groups still get their addresses in, each its share.
	for range 20 {
		other := randAddr(t, r, nil)
		for groupKey(other, true) == groupKey(src, true) {
			other = randAddr(t, r, nil)
		}
		var fresh []*NetAddress
		for range maxNewPerSourceGroup {
			a := randAddr(t, r, nil)
			if err := book.AddAddress(a, other); err != nil {
				t.Fatal(err)
			}
			fresh = append(fresh, a)
		}
		kept := 0
		for _, a := range fresh {
			if book.HasAddress(a) {
				kept++
			}
		}
		// Where buckets of two groups overlap, the older entries make room.
		if kept < maxNewPerSourceGroup*9/10 {
			t.Errorf("%d of %d addresses from another source were kept", kept, len(fresh))
		}
	}
	if book.NeedMoreAddrs() {
		t.Errorf("a book of %d addresses from 21 source groups still asks for more", book.Size())
	}
	checkInvariants(t, book)
}

func TestOneGroupFillsOneBucketPerSourceGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	book := newTestBook(t)
	src := randAddr(t, r, nil)
	for range 1000 {
		if err := book.AddAddress(randPlainAddr(r, []byte{7, 7}), src); err != nil {
			t.Fatal(err)
		}
	}
	if n, used := book.Size(), first(usedBuckets(book)); n > newBucketSize || used != 1 {
		t.Errorf("1000 addresses of 7.7.0.0/16 from one source: %d kept in %d buckets, want <= %d in 1", n, used, newBucketSize)
	}
	checkInvariants(t, book)
}

func first(a, _ int) int { return a }

func TestManySourcesSpreadAcrossBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	book := newTestBook(t)
	for s := range 200 {
		src := randAddr(t, r, routablePrefix(s))
		for range 10 {
			if err := book.AddAddress(randAddr(t, r, nil), src); err != nil {
				t.Fatal(err)
			}
		}
	}
	newUsed, _ := usedBuckets(book)
	if n := book.Size(); n < 1990 {
		t.Errorf("Size = %d of 2000", n)
	}
	if newUsed < 200 {
		t.Errorf("2000 addresses from 200 source groups used only %d new buckets", newUsed)
	}
	checkInvariants(t, book)
}

func TestMarkGoodMovesToOld(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	a := randAddr(t, r, nil)
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	book.MarkAttempt(a)
	book.MarkAttempt(a)
	if ka := entry(book, a); ka.Attempts != 2 || !ka.LastAttempt.Equal(clock.now()) || !ka.LastSuccess.IsZero() {
		t.Errorf("after 2 attempts: %+v", ka)
	}
	clock.advance(time.Minute)
	book.MarkGood(a)
	ka := entry(book, a)
	if !ka.isOld() || ka.Attempts != 0 || !ka.LastSuccess.Equal(clock.now()) || !ka.LastAttempt.Equal(clock.now()) {
		t.Errorf("after MarkGood: %+v", ka)
	}
	if nNew, nOld := counts(book); nNew != 0 || nOld != 1 {
		t.Errorf("new %d old %d, want 0 1", nNew, nOld)
	}
	// Marking an unknown address does nothing.
	book.MarkGood(randAddr(t, r, nil))
	book.MarkAttempt(randAddr(t, r, nil))
	book.MarkGood(nil)
	if n := book.Size(); n != 1 {
		t.Errorf("Size = %d", n)
	}
	// Re-adding an old address keeps it old, in one bucket.
	if err := book.AddAddress(a, randAddr(t, r, nil)); err != nil {
		t.Fatal(err)
	}
	if ka := entry(book, a); !ka.isOld() || len(ka.Buckets) != 1 {
		t.Errorf("re-added old entry: %+v", ka)
	}
	checkInvariants(t, book)
}

func TestFullOldBucketSendsItsOldestBackToNew(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	// Addresses of one /16 can occupy oldBucketsPerGroup old buckets:
	// 256 entries. Promote 400 of them, from 400 source groups so that the
	// new table has room for those sent back.
	var addrs []*NetAddress
	for i := range 400 {
		a := randAddr(t, r, []byte{9, 9})
		if err := book.AddAddress(a, randAddr(t, r, routablePrefix(i))); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	added := book.Size()
	for i, a := range addrs {
		clock.advance(time.Second)
		book.MarkGood(a)
		if i%20 == 0 {
			checkInvariants(t, book)
		}
	}
	checkInvariants(t, book)
	nNew, nOld := counts(book)
	_, oldUsed := usedBuckets(book)
	if nOld > oldBucketsPerGroup*oldBucketSize || oldUsed > oldBucketsPerGroup {
		t.Errorf("one group holds %d old entries in %d buckets, want at most %d in %d", nOld, oldUsed, oldBucketsPerGroup*oldBucketSize, oldBucketsPerGroup)
	}
	if nNew+nOld != added {
		t.Errorf("entries lost while promoting: %d new + %d old != %d", nNew, nOld, added)
	}
	// The last promoted are old; the first ones were sent back to new.
	if !isOld(book, addrs[len(addrs)-1]) {
		t.Error("the last address marked good is not old")
	}
	if isOld(book, addrs[0]) && nNew > 0 {
		if ka := entry(book, addrs[0]); ka == nil {
			t.Error("the first address marked good was lost")
		}
	}
	t.Logf("400 addresses of one /16 marked good: %d old (%d buckets), %d back in new", nOld, oldUsed, nNew)
}

// TestFullNewBucketEvictsBadEntryFirst fills one new bucket from two source
// groups whose addresses of 11.11.0.0/16 share it (one group alone may not
// fill a bucket: maxNewPerSourceGroup < newBucketSize).
func TestFullNewBucketEvictsBadEntryFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	src := randAddr(t, r, nil)
	probe := randAddr(t, r, []byte{11, 11})
	src2 := randAddr(t, r, nil)
	for groupKey(src2, true) == groupKey(src, true) || book.calcNewBucket(probe, src2) != book.calcNewBucket(probe, src) {
		src2 = randAddr(t, r, nil)
	}
	var addrs []*NetAddress
	for i := range newBucketSize {
		a := randAddr(t, r, []byte{11, 11}) // one group, two sources: one bucket
		from := src
		if i%2 == 1 {
			from = src2
		}
		if err := book.AddAddress(a, from); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
		clock.advance(time.Second)
	}
	if n, used := book.Size(), first(usedBuckets(book)); n != newBucketSize || used != 1 {
		t.Fatalf("Size = %d in %d buckets", n, used)
	}
	bad := addrs[40]
	for range numRetries {
		book.MarkAttempt(bad)
	}
	clock.advance(2 * time.Minute) // an attempt in the last minute protects
	extra := randAddr(t, r, []byte{11, 11})
	if err := book.AddAddress(extra, src); err != nil {
		t.Fatal(err)
	}
	if book.HasAddress(bad) || !book.HasAddress(extra) || !book.HasAddress(addrs[0]) {
		t.Errorf("want the bad entry evicted: has bad %v, extra %v, oldest %v", book.HasAddress(bad), book.HasAddress(extra), book.HasAddress(addrs[0]))
	}
	// With no bad entry, the one seen longest ago goes.
	extra2 := randAddr(t, r, []byte{11, 11})
	if err := book.AddAddress(extra2, src2); err != nil {
		t.Fatal(err)
	}
	if book.HasAddress(addrs[0]) || !book.HasAddress(addrs[1]) || book.Size() != newBucketSize {
		t.Errorf("want the oldest evicted: has oldest %v, size %d", book.HasAddress(addrs[0]), book.Size())
	}
	checkInvariants(t, book)
}

// TestSourceGroupAtItsShareEvictsItsOwnStalestFirst: a source group with
// maxNewPerSourceGroup new entries makes room among its own entries, a bad
// one first, and never displaces another group's.
func TestSourceGroupAtItsShareEvictsItsOwnStalestFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	src, other := randAddr(t, r, []byte{20, 20}), randAddr(t, r, []byte{30, 30})
	theirs := randAddr(t, r, nil)
	if err := book.AddAddress(theirs, other); err != nil {
		t.Fatal(err)
	}
	var addrs []*NetAddress
	for range maxNewPerSourceGroup {
		a := randAddr(t, r, nil)
		if err := book.AddAddress(a, src); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
		clock.advance(time.Second)
	}
	bad := addrs[30]
	for range numRetries {
		book.MarkAttempt(bad)
	}
	clock.advance(2 * time.Minute)
	for i, want := range []*NetAddress{bad, addrs[0], addrs[1]} {
		extra := randAddr(t, r, nil)
		if err := book.AddAddress(extra, src); err != nil {
			t.Fatal(err)
		}
		if book.HasAddress(want) || !book.HasAddress(extra) {
			t.Errorf("add %d: want %s evicted for %s", i, want, extra)
		}
	}
	if !book.HasAddress(theirs) || book.Size() != maxNewPerSourceGroup+1 {
		t.Errorf("another group's address lost, or size %d", book.Size())
	}
	checkInvariants(t, book)
}

func TestIsBad(t *testing.T) {
	now := newFakeClock().now()
	day := 24 * time.Hour
	tests := []struct {
		name string
		ka   knownAddress
		want bool
	}{
		{"fresh", knownAddress{Type: bucketNew, LastSeen: now}, false},
		{"old is never bad", knownAddress{Type: bucketOld, LastSeen: now.Add(-100 * day), Attempts: 50}, false},
		{"attempted in the last minute", knownAddress{Type: bucketNew, LastSeen: now.Add(-100 * day), LastAttempt: now.Add(-30 * time.Second)}, false},
		{"from the future", knownAddress{Type: bucketNew, LastSeen: now.Add(time.Hour)}, true},
		{"not seen for a month", knownAddress{Type: bucketNew, LastSeen: now.Add(-31 * day)}, true},
		{"3 failures, never a success", knownAddress{Type: bucketNew, LastSeen: now, Attempts: 3, LastAttempt: now.Add(-time.Hour)}, true},
		{"2 failures", knownAddress{Type: bucketNew, LastSeen: now, Attempts: 2, LastAttempt: now.Add(-time.Hour)}, false},
		{"10 failures, no success for a week", knownAddress{Type: bucketNew, LastSeen: now, Attempts: 10, LastSuccess: now.Add(-8 * day), LastAttempt: now.Add(-time.Hour)}, true},
		{"10 failures, recent success", knownAddress{Type: bucketNew, LastSeen: now, Attempts: 10, LastSuccess: now.Add(-day), LastAttempt: now.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		if got := tt.ka.isBad(now); got != tt.want {
			t.Errorf("%s: isBad = %v", tt.name, got)
		}
	}
}

func TestMarkBadRemovesAndBans(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now), WithBookBanDuration(time.Hour))
	a := randAddr(t, r, nil)
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	book.MarkGood(a)
	book.MarkBad(a)
	if book.HasAddress(a) || book.Size() != 0 {
		t.Fatal("MarkBad did not remove the address")
	}
	// Banned by peer ID: another address of the same peer is refused too.
	if err := book.AddAddress(mustParse(t, a.ID.String()+"@5.6.7.8:9"), nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("AddAddress of a banned peer = %v", err)
	}
	clock.advance(time.Hour - time.Second)
	if err := book.AddAddress(a, nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("AddAddress before the ban ends = %v", err)
	}
	clock.advance(time.Second)
	if err := book.AddAddress(a, nil); err != nil {
		t.Errorf("AddAddress after the ban = %v", err)
	}

	// An address not in the book is banned too; without ID by ip:port.
	plain := mustParse(t, "8.8.8.8:53")
	book.MarkBad(plain)
	if err := book.AddAddress(plain, nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("AddAddress of a banned ip:port = %v", err)
	}
	book.MarkBad(nil) // ignored

	// With bans disabled MarkBad only removes.
	nob := newTestBook(t, WithBookBanDuration(0))
	if err := nob.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	nob.MarkBad(a)
	if nob.HasAddress(a) {
		t.Error("MarkBad did not remove")
	}
	if err := nob.AddAddress(a, nil); err != nil {
		t.Errorf("AddAddress with bans disabled = %v", err)
	}
}

func TestBanListIsBounded(t *testing.T) {
	clock := newFakeClock()
	book := newTestBook(t, WithBookClock(clock.now))
	for i := range maxBans + 100 {
		book.MarkBad(NewNetAddressIPPort(net.IPv4(1, byte(i>>16), byte(i>>8), byte(i)), 1))
		clock.advance(time.Millisecond)
	}
	book.mtx.Lock()
	n := len(book.bans)
	book.mtx.Unlock()
	if n > maxBans {
		t.Errorf("%d bans kept, want at most %d", n, maxBans)
	}
	// The latest bans are kept.
	last := maxBans + 99
	if err := book.AddAddress(NewNetAddressIPPort(net.IPv4(1, byte(last>>16), byte(last>>8), byte(last)), 1), nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("the latest ban was dropped: %v", err)
	}
}

func TestOurAddressesAreNeverStoredPickedOrSelected(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	book := newTestBook(t)
	var ours []*NetAddress
	for range 3 {
		ours = append(ours, randAddr(t, r, nil))
	}
	// Learnt before we knew it was us: AddOurAddress removes it.
	if err := book.AddAddress(ours[0], nil); err != nil {
		t.Fatal(err)
	}
	for _, o := range ours {
		book.AddOurAddress(o)
	}
	book.AddOurAddress(nil)
	for range 300 {
		if err := book.AddAddress(randAddr(t, r, nil), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range ours {
		if err := book.AddAddress(o, nil); !errors.Is(err, ErrAddrBookOurAddress) {
			t.Errorf("AddAddress(ours) = %v", err)
		}
		if book.HasAddress(o) {
			t.Errorf("our %s is in the book", o)
		}
	}
	isOurs := func(na *NetAddress) bool {
		for _, o := range ours {
			if na.ID == o.ID {
				return true
			}
		}
		return false
	}
	for range 1000 {
		if p := book.PickAddress(r.IntN(101)); isOurs(p) {
			t.Fatalf("picked our %s", p)
		}
	}
	for range 20 {
		for _, s := range book.GetSelection() {
			if isOurs(s) {
				t.Fatalf("selected our %s", s)
			}
		}
	}
	got := book.OurAddresses()
	if len(got) != 3 {
		t.Fatalf("OurAddresses = %v", got)
	}
	for _, g := range got {
		if !isOurs(g) {
			t.Errorf("OurAddresses has %s", g)
		}
	}
	checkInvariants(t, book)
}

func TestPickAddress(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	book := newTestBook(t)
	if p := book.PickAddress(50); p != nil {
		t.Fatalf("PickAddress of an empty book = %v", p)
	}
	var olds []*NetAddress
	for i := range 100 {
		a := randAddr(t, r, nil)
		if err := book.AddAddress(a, nil); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			book.MarkGood(a)
			olds = append(olds, a)
		}
	}
	picked := map[string]bool{}
	for _, bias := range []int{0, -5} {
		for range 200 {
			p := book.PickAddress(bias)
			if !isOld(book, p) {
				t.Fatalf("PickAddress(%d) = %v, a new address", bias, p)
			}
			picked[p.String()] = true
		}
	}
	if len(picked) < len(olds)*3/4 {
		t.Errorf("400 picks from the old table found %d of its %d addresses", len(picked), len(olds))
	}
	for _, bias := range []int{100, 500} {
		for range 200 {
			if p := book.PickAddress(bias); isOld(book, p) {
				t.Fatalf("PickAddress(%d) = %v, an old address", bias, p)
			}
		}
	}
	var fromNew int
	for range 2000 {
		if !isOld(book, book.PickAddress(50)) {
			fromNew++
		}
	}
	// sqrt(75)*50 / (sqrt(75)*50 + sqrt(25)*50) = 63%.
	if fromNew < 1100 || fromNew > 1400 {
		t.Errorf("PickAddress(50) picked new %d of 2000 times, want about 1260", fromNew)
	}
	// A table that is empty is not asked: bias 0 with no old entry still picks.
	only := newTestBook(t)
	a := randAddr(t, r, nil)
	if err := only.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	if p := only.PickAddress(0); !p.Equals(a) {
		t.Errorf("PickAddress(0) of a new-only book = %v", p)
	}
	only.MarkGood(a)
	if p := only.PickAddress(100); !p.Equals(a) {
		t.Errorf("PickAddress(100) of an old-only book = %v", p)
	}
	// The result is a copy.
	p := only.PickAddress(0)
	p.IP[0] ^= 0xff
	if !only.PickAddress(0).Equals(a) {
		t.Error("changing a picked address changed the book")
	}
}

func TestPickAddressIsReproducibleWithSeed(t *testing.T) {
	picks := func() []string {
		r := rand.New(rand.NewPCG(13, 13))
		book := newTestBook(t, WithBookRandSeed(42))
		for range 300 {
			if err := book.AddAddress(randAddr(t, r, nil), randAddr(t, r, nil)); err != nil {
				t.Fatal(err)
			}
		}
		var out []string
		for range 20 {
			out = append(out, book.PickAddress(50).String())
		}
		return out
	}
	a, b := picks(), picks()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("pick %d differs: %s vs %s", i, a[i], b[i])
		}
	}
}

func TestGetSelectionBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	book := newTestBook(t)
	if s := book.GetSelection(); s != nil {
		t.Fatalf("GetSelection of an empty book = %v", s)
	}
	tests := []struct{ size, want int }{
		{10, 10},    // the whole book when smaller than 32
		{100, 32},   // at least 32
		{1000, 230}, // 23%
		{2000, 250}, // at most 250
	}
	for _, tt := range tests {
		for book.Size() < tt.size {
			if err := book.AddAddress(randAddr(t, r, nil), randPlainAddr(r, nil)); err != nil {
				t.Fatal(err)
			}
		}
		sel := book.GetSelection()
		if len(sel) != tt.want {
			t.Errorf("book of %d: selection of %d, want %d", tt.size, len(sel), tt.want)
		}
		seen := map[string]bool{}
		for _, s := range sel {
			if seen[s.String()] || !book.HasAddress(s) {
				t.Errorf("selection has %s twice or not in the book", s)
			}
			seen[s.String()] = true
		}
	}
	a, b := book.GetSelection(), book.GetSelection()
	same := 0
	for i := range a {
		if a[i].Equals(b[i]) {
			same++
		}
	}
	if same > len(a)/2 {
		t.Errorf("two selections share %d of %d positions: not random", same, len(a))
	}
}

func TestGetSelectionCoversNewAndOld(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	book := newTestBook(t)
	for i := range 30 {
		a := randAddr(t, r, nil)
		if err := book.AddAddress(a, nil); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			book.MarkGood(a)
		}
	}
	var nOld int
	for _, s := range book.GetSelection() {
		if isOld(book, s) {
			nOld++
		}
	}
	if nOld != 15 {
		t.Errorf("selection of a 30-entry book has %d old, want all 15", nOld)
	}
}

func TestNeedMoreAddrs(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 16))
	book := newTestBook(t)
	for book.Size() < needAddressThreshold-1 {
		if !book.NeedMoreAddrs() {
			t.Fatalf("NeedMoreAddrs false at %d", book.Size())
		}
		if err := book.AddAddress(randAddr(t, r, nil), randAddr(t, r, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if !book.NeedMoreAddrs() {
		t.Fatal("NeedMoreAddrs false at 999")
	}
	for book.Size() < needAddressThreshold {
		if err := book.AddAddress(randAddr(t, r, nil), randAddr(t, r, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if book.NeedMoreAddrs() {
		t.Error("NeedMoreAddrs true at 1000")
	}
}

func TestRemoveAndHasAddress(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 17))
	book := newTestBook(t)
	a := randAddr(t, r, nil)
	if book.HasAddress(a) || book.HasAddress(nil) {
		t.Fatal("HasAddress of an empty book")
	}
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	if !book.HasAddress(a) {
		t.Fatal("HasAddress false after AddAddress")
	}
	book.RemoveAddress(a)
	book.RemoveAddress(a)
	book.RemoveAddress(nil)
	if book.HasAddress(a) || book.Size() != 0 {
		t.Fatal("RemoveAddress did not remove")
	}
	// Removal does not ban.
	if err := book.AddAddress(a, nil); err != nil {
		t.Errorf("AddAddress after RemoveAddress = %v", err)
	}
	checkInvariants(t, book)
}

func TestAddressWithIDRefersToSeedEntryWithoutID(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 18))
	book := newTestBook(t)
	seed := mustParse(t, "8.8.4.4:26656")
	if err := book.AddAddress(seed, nil); err != nil {
		t.Fatal(err)
	}
	// After dialling the seed we know its ID.
	withID := NewNetAddressIPPort(seed.IP, seed.Port)
	withID.ID = testID(t, r)
	if !book.HasAddress(withID) {
		t.Fatal("HasAddress(id@seed) false")
	}
	book.MarkAttempt(withID)
	book.MarkGood(withID)
	if !isOld(book, seed) {
		t.Error("MarkGood(id@seed) did not promote the seed entry")
	}
	book.MarkBad(withID)
	if book.HasAddress(seed) {
		t.Error("MarkBad(id@seed) did not remove the seed entry")
	}
	if err := book.AddAddress(seed, nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("AddAddress(seed) after MarkBad(id@seed) = %v", err)
	}
	if err := book.AddAddress(withID, nil); !errors.Is(err, ErrAddrBookBanned) {
		t.Errorf("AddAddress(id@seed) after MarkBad(id@seed) = %v", err)
	}
}

func TestRepeatedAnnouncementsGainUpToFourBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 19))
	book := newTestBook(t)
	a := randAddr(t, r, nil)
	for range 2000 {
		if err := book.AddAddress(a, randAddr(t, r, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if ka := entry(book, a); len(ka.Buckets) != maxNewBucketsPerAddress {
		t.Errorf("announced by 2000 sources, in %d buckets, want %d", len(ka.Buckets), maxNewBucketsPerAddress)
	}
	if n := book.Size(); n != 1 {
		t.Errorf("Size = %d, want 1", n)
	}
	book.MarkGood(a)
	if ka := entry(book, a); !ka.isOld() || len(ka.Buckets) != 1 {
		t.Errorf("promoted entry %+v", ka)
	}
	checkInvariants(t, book)
}

func TestAddAddressKeepsCopies(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 20))
	book := newTestBook(t)
	a := randAddr(t, r, nil)
	want := a.String()
	if err := book.AddAddress(a, nil); err != nil {
		t.Fatal(err)
	}
	a.IP[0] ^= 0xff
	if got := book.PickAddress(100).String(); got != want {
		t.Errorf("book entry changed with the caller's address: %s, want %s", got, want)
	}
}

// TestRandomOperationsKeepInvariants runs 15000 random operations, in both
// modes, and checks the table invariants all along.
func TestRandomOperationsKeepInvariants(t *testing.T) {
	for _, strict := range []bool{true, false} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 21))
			clock := newFakeClock()
			book := newTestBook(t, WithBookRoutabilityStrict(strict), WithBookClock(clock.now))
			var pool []*NetAddress
			for range 3000 {
				var a *NetAddress
				switch r.IntN(4) {
				case 0:
					a = randAddr(t, r, []byte{1, 1}) // a crowded group
				case 1:
					a = randAddr(t, r, nil)
					a.ID = ""
				case 2:
					a = mustParse(t, fmt.Sprintf("127.0.0.1:%d", 1+r.IntN(500)))
				default:
					a = randAddr(t, r, nil)
				}
				pool = append(pool, a)
			}
			pick := func() *NetAddress { return pool[r.IntN(len(pool))] }
			for i := range 15000 {
				clock.advance(time.Duration(r.IntN(int(time.Hour))))
				switch op := r.IntN(100); {
				case op < 50:
					_ = book.AddAddress(pick(), pick())
				case op < 65:
					book.MarkAttempt(pick())
				case op < 80:
					book.MarkGood(pick())
				case op < 83:
					book.MarkBad(pick())
				case op < 86:
					book.RemoveAddress(pick())
				case op < 87:
					book.AddOurAddress(pick())
				case op < 93:
					if p := book.PickAddress(r.IntN(101)); p != nil && !book.HasAddress(p) {
						t.Fatalf("picked %s, not in the book", p)
					}
				default:
					for _, s := range book.GetSelection() {
						if !book.HasAddress(s) {
							t.Fatalf("selected %s, not in the book", s)
						}
					}
				}
				if i%1000 == 0 {
					checkInvariants(t, book)
				}
			}
			checkInvariants(t, book)
			nNew, nOld := counts(book)
			t.Logf("after 15000 operations: %d new, %d old", nNew, nOld)
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	book := newTestBook(t, WithBookRoutabilityStrict(false))
	var wg sync.WaitGroup
	for g := range 4 {
		r := rand.New(rand.NewPCG(uint64(g), 22))
		var addrs []*NetAddress
		for range 50 {
			addrs = append(addrs, randAddr(t, r, nil))
		}
		wg.Go(func() {
			for i := range 2000 {
				a := addrs[i%len(addrs)]
				switch i % 7 {
				case 0, 1:
					_ = book.AddAddress(a, addrs[(i+1)%len(addrs)])
				case 2:
					book.MarkAttempt(a)
				case 3:
					book.MarkGood(a)
				case 4:
					_ = book.PickAddress(50)
				case 5:
					_ = book.GetSelection()
				case 6:
					_, _ = book.Size(), book.NeedMoreAddrs()
					if i%70 == 6 {
						book.MarkBad(a)
					}
				}
			}
		})
	}
	wg.Wait()
	checkInvariants(t, book)
}
