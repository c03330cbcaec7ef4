package p2p

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// testChannels are the channels most tests use.
func testChannels() []*ChannelDescriptor {
	return []*ChannelDescriptor{
		{Id: 0x10, SendQueueCapacity: 100, RecvQueueCapacity: 1000},
		{Id: 0x20, SendQueueCapacity: 100, RecvQueueCapacity: 1000, DefaultPriority: 5},
		{Id: 0x30, SendQueueCapacity: 100, RecvQueueCapacity: 1000},
	}
}

// mockSwitches starts n Switches on linked (not connected) mocknet hosts and
// stops them, and the mocknet, when the test ends.
func mockSwitches(t testing.TB, n int, chDescs func() []*ChannelDescriptor, opts ...Option) []*Switch {
	sws, _ := mockSwitchesNet(t, n, chDescs, opts...)
	return sws
}

// mockSwitchesNet is mockSwitches that also returns the mocknet, for tests
// that add raw hosts to it.
func mockSwitchesNet(t testing.TB, n int, chDescs func() []*ChannelDescriptor, opts ...Option) ([]*Switch, mocknet.Mocknet) {
	t.Helper()
	mn := mocknet.New()
	sws := make([]*Switch, n)
	for i := range sws {
		h, err := mn.GenPeer()
		if err != nil {
			t.Fatal(err)
		}
		sws[i] = NewSwitch(chDescs(), append([]Option{WithHost(h)}, opts...)...)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for _, sw := range sws {
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, sw := range sws {
			sw.Stop()
		}
		mn.Close()
	})
	return sws, mn
}

// rawHost adds a plain libp2p host to mn, linked to every other host, that
// advertises the given protocols (discarding what arrives on them), so that
// a Switch takes it for a peer; tests then speak the wire format by hand.
func rawHost(t testing.TB, mn mocknet.Mocknet, protos ...protocol.ID) host.Host {
	t.Helper()
	h, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	for _, p := range protos {
		h.SetStreamHandler(p, func(s network.Stream) { io.Copy(io.Discard, s); s.Close() })
	}
	return h
}

// connectRaw connects h to sw and waits until sw has admitted it.
func connectRaw(t testing.TB, h host.Host, sw *Switch) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: sw.Host().ID(), Addrs: sw.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	var p *Peer
	waitFor(t, 5*time.Second, func() bool {
		p = sw.Peers().(*PeerSet).Get(h.ID().String())
		return p != nil
	})
	return p
}

// addrOf is a dialable address of sw.
func addrOf(t testing.TB, sw *Switch) *NetAddress {
	t.Helper()
	na, err := NewNetAddressMultiaddr(sw.Host().Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	na.ID = sw.Host().ID()
	return na
}

// connectSwitches dials b from a and waits until each has the other as a peer.
func connectSwitches(t testing.TB, a, b *Switch) {
	t.Helper()
	if _, err := a.DialPeerWithAddress(addrOf(t, b)); err != nil {
		t.Fatalf("dial: %s", err)
	}
	waitFor(t, 5*time.Second, func() bool { return b.Peers().Has(a.Host().ID().String()) })
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiveN reads n messages from chID, failing the test after timeout.
func receiveN(t testing.TB, sw *Switch, chID byte, n int, timeout time.Duration) []InboundBytes {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := make([]InboundBytes, 0, n)
	for len(out) < n {
		m, err := sw.ReceiveContext(ctx, chID)
		if err != nil {
			t.Fatalf("received %d of %d on %#02x: %s", len(out), n, chID, err)
		}
		out = append(out, m)
	}
	return out
}

func numbered(i int) ByteSlice { return ByteSlice(fmt.Sprintf("msg-%06d", i)) }

func mustEqual(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func mustGenPeer(t testing.TB, mn mocknet.Mocknet) host.Host {
	t.Helper()
	h, err := mn.GenPeer()
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	return h
}
