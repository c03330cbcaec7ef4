package integration

import (
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// TestPeerThatLeavesCleanlyIsNotStoppedForAnError: when a node stops its
// Switch, or stops one peer gracefully, after they exchanged messages, the
// other side sees a clean disconnect (SwitchEventDonePeer.Error nil), not an
// error that would ban the node and, when it was an outbound peer, drop its
// address from the PEX book.
func TestPeerThatLeavesCleanlyIsNotStoppedForAnError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(leaver *node)
	}{
		{"Switch.Stop", func(leaver *node) { leaver.sw.Stop() }},
		{"StopPeerGracefully", func(leaver *node) { leaver.sw.StopPeerGracefully(leaver.sw.Peers().List()[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stayer := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
			leaver := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
			events := make(chan interface{}, 16)
			stayer.sw.AddEventListener("test", events)
			connectSwitches(t, stayer.sw, leaver.sw)
			pingPong(t, stayer.sw, leaver.sw)
			tc.leave(leaver)
			if d := doneEvent(t, events, leaver.id(), 5*time.Second); d.Error != nil {
				t.Fatalf("the peer that left cleanly was stopped for an error: %v", d.Error)
			}
		})
	}
}

// TestChannelIdleLongerThanTheNegotiationTimeoutStillCarriesMessages: a
// channel that stays silent after the peer was admitted works when it is
// first used. (go-libp2p negotiates a stream's protocol lazily, with the
// first write, when identify already listed the protocol; the receiving host
// resets a stream whose protocol has not been negotiated within its
// negotiation timeout, 10 s by default — so an idle channel stream opened at
// admission is reset before its first message.)
func TestChannelIdleLongerThanTheNegotiationTimeoutStillCarriesMessages(t *testing.T) {
	a := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	b := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	connectSwitches(t, a.sw, b.sw)
	time.Sleep(11 * time.Second) // > basichost.DefaultNegotiationTimeout
	pingPong(t, a.sw, b.sw)
	for _, n := range []*node{a, b} {
		if errs := n.peerErrors(); len(errs) > 0 {
			t.Fatalf("a peer was stopped: %v", errs)
		}
	}
}
