package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestBookHoldsAHundredMocknetHosts shows that a non-strict book holds
// mocknet's hosts, whose addresses (/ip6/100::xxxx:xxxx/tcp/4242) are in the
// RFC 6666 discard prefix and so not routable, and that what it hands out
// dials on the mocknet.
func TestBookHoldsAHundredMocknetHosts(t *testing.T) {
	mn := mocknet.New()
	defer mn.Close()
	for range 100 {
		if _, err := mn.GenPeer(); err != nil {
			t.Fatal(err)
		}
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	hosts := mn.Hosts()
	addrsOf := func(h host.Host) []*NetAddress {
		nas, err := NetAddressFromAddrInfo(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		return nas
	}

	self := hosts[0]
	book := NewAddrBook("", WithBookRoutabilityStrict(false), WithBookKey(testKey), WithBookRandSeed(1))
	strict := NewAddrBook("", WithBookKey(testKey))
	for _, na := range addrsOf(self) {
		book.AddOurAddress(na)
	}
	// Everything is heard of from a handful of sources, as from PEX.
	for i, h := range hosts {
		src := addrsOf(hosts[1+i%5])[0]
		for _, na := range addrsOf(h) {
			err := book.AddAddress(na, src)
			if h == self {
				if !errors.Is(err, ErrAddrBookOurAddress) {
					t.Fatalf("AddAddress(self) = %v", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("AddAddress(%s) = %v", na, err)
			}
			if err := strict.AddAddress(na, src); !errors.Is(err, ErrAddrBookNonRoutable) {
				t.Fatalf("strict AddAddress(%s) = %v, want ErrAddrBookNonRoutable", na, err)
			}
		}
	}
	if n := book.Size(); n != 99 {
		t.Fatalf("the book holds %d of 99 mocknet hosts", n)
	}
	checkInvariants(t, book)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 10 {
		na := book.PickAddress(100)
		if na.ID == self.ID() {
			t.Fatal("picked ourselves")
		}
		book.MarkAttempt(na)
		if err := self.Connect(ctx, na.AddrInfo()); err != nil {
			t.Fatalf("connecting to picked %s: %v", na, err)
		}
		book.MarkGood(na)
		if !isOld(book, na) {
			t.Errorf("%s not old after MarkGood", na)
		}
	}
	for _, h := range hosts[1:] {
		book.MarkGood(addrsOf(h)[0])
	}
	if _, nOld := counts(book); nOld != 99 {
		t.Errorf("%d of 99 hosts in the old table after MarkGood", nOld)
	}
	checkInvariants(t, book)
}
