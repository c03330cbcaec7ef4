package p2p

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/transport"
)

// Two Switches on loopback become peers through a circuit relay v2, exchange
// messages over it, then get a direct connection: every channel moves to it
// without losing, duplicating or reordering a message, and the peers outlive
// the relayed connection. With go-libp2p's default relay limits the relayed
// connection is a limited one; a relay without limits gives one that is not
// marked limited, and the channels move all the same.
func TestChannelsRunOverARelayedConnectionAndMoveToADirectOne(t *testing.T) {
	for _, unlimited := range []bool{false, true} {
		name := "limited relay"
		if unlimited {
			name = "relay without limits"
		}
		t.Run(name, func(t *testing.T) { testChannelsMoveOffARelay(t, unlimited) })
	}
}

func testChannelsMoveOffARelay(t *testing.T, unlimited bool) {
	var relayOpts []relayv2.Option
	if unlimited {
		relayOpts = append(relayOpts, relayv2.WithInfiniteLimits())
	}
	relay, err := transport.New(transport.WithListenAddrs("127.0.0.1:0"),
		transport.WithRelayService(relayOpts...), transport.WithReachability(network.ReachabilityPublic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	relayAddr := relay.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + relay.ID().String()))
	relayed := transport.WithStaticRelays(relayAddr.String())
	sws := tcpSwitches(t, 2, testChannels, WithHostOptions(relayed, transport.WithReachability(network.ReachabilityPrivate)))
	a, b := sws[0], sws[1]

	// b reaches a through the relay once a holds a reservation there.
	circuit := relayAddr.Encapsulate(ma.StringCast("/p2p-circuit"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, func() bool {
		err := b.Host().Connect(ctx, peer.AddrInfo{ID: a.Host().ID(), Addrs: []ma.Multiaddr{circuit}})
		if err != nil {
			b.Host().Peerstore().ClearAddrs(a.Host().ID())
			if bo, ok := b.Host().Network().(interface{ Backoff() *swarmDialBackoff }); ok {
				bo.Backoff().Clear(a.Host().ID())
			}
		}
		return err == nil
	})
	waitFor(t, 10*time.Second, func() bool {
		return a.Peers().Has(b.Host().ID().String()) && b.Peers().Has(a.Host().ID().String())
	})
	if conns := b.Host().Network().ConnsToPeer(a.Host().ID()); len(conns) != 1 || !isRelayed(conns[0]) || conns[0].Stat().Limited == unlimited {
		t.Fatalf("connections %v (limited: %v), want one relayed connection, limited: %v", conns, len(conns) > 0 && conns[0].Stat().Limited, !unlimited)
	}
	pa := b.Peers().(*PeerSet).Get(a.Host().ID().String())
	pb := a.Peers().(*PeerSet).Get(b.Host().ID().String())

	// Messages flow both ways over the relay, and keep flowing while the
	// direct connection appears and the channels move.
	const total = 600
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range total {
			if !pa.Send(0x10, numbered(i)) || !pb.Send(0x20, numbered(i)) {
				t.Errorf("send %d failed", i)
				return
			}
			if i == 50 {
				direct := peer.AddrInfo{ID: a.Host().ID(), Addrs: a.Host().Addrs()}
				if err := b.Host().Connect(network.WithForceDirectDial(ctx, "test"), direct); err != nil {
					t.Errorf("direct connection: %s", err)
					return
				}
			}
			if i%100 == 0 {
				time.Sleep(10 * time.Millisecond) // let some go before the move
			}
		}
	}()
	for i, m := range receiveN(t, a, 0x10, total, 30*time.Second) {
		mustEqual(t, m.Bytes, numbered(i))
	}
	for i, m := range receiveN(t, b, 0x20, total, 30*time.Second) {
		mustEqual(t, m.Bytes, numbered(i))
	}
	<-sent

	// Every channel stream of either side, ours and the remote's, is on a
	// direct connection, none on the relayed one.
	onDirect := func(sw *Switch, remote peer.ID) bool {
		direct := 0
		for _, c := range sw.Host().Network().ConnsToPeer(remote) {
			for _, s := range c.GetStreams() {
				for _, d := range testChannels() {
					if s.Protocol() != sw.protoByID[d.Id] {
						continue
					}
					if isRelayed(c) {
						return false
					}
					direct++
				}
			}
		}
		return direct == 2*len(testChannels())
	}
	waitFor(t, 10*time.Second, func() bool {
		return onDirect(a, b.Host().ID()) && onDirect(b, a.Host().ID())
	})

	// The relay ends its connection (as it does at its limits): the peers
	// stay, and their channels work.
	for _, c := range b.Host().Network().ConnsToPeer(a.Host().ID()) {
		if isRelayed(c) {
			c.Close()
		}
	}
	time.Sleep(2 * disconnectGrace)
	if !a.Peers().Has(b.Host().ID().String()) || !b.Peers().Has(a.Host().ID().String()) {
		t.Fatal("a peer was dropped with the relayed connection")
	}
	if !pa.Send(0x30, ByteSlice("after")) {
		t.Fatal("send after the relayed connection closed")
	}
	mustEqual(t, receiveN(t, a, 0x30, 1, 10*time.Second)[0].Bytes, []byte("after"))
}

type swarmDialBackoff = swarm.DialBackoff

// slowCloser is the old stream of a channel that moves: the remote has not
// closed its side yet (its application has not read everything), so the
// first reads wait for the deadline and time out; then it closes (EOF), or
// fails with err. With dead set, every read fails at once with a timeout
// that is not the deadline's, as a QUIC connection that timed out does.
type slowCloser struct {
	network.Stream
	reads    int
	err      error
	dead     bool
	deadline time.Time
	onRead   func()
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o deadline reached" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (s *slowCloser) SetReadDeadline(t time.Time) error { s.deadline = t; return nil }

func (s *slowCloser) Read([]byte) (int, error) {
	if s.onRead != nil {
		s.onRead()
	}
	if s.dead {
		return 0, timeoutErr{}
	}
	if s.reads > 0 {
		s.reads--
		time.Sleep(time.Until(s.deadline))
		return 0, timeoutErr{}
	}
	if s.err != nil {
		return 0, s.err
	}
	return 0, io.EOF
}

// A channel moving off a relay waits for the remote to have read its old
// stream however long that takes while it has nothing to send; once a
// message waits in its queue, the wait counts as a write in progress (so
// the watchdog disconnects a remote that leaves it waiting for the send
// stall timeout), and that ends with the wait. A reset, or a connection that
// died with a timeout of its own, ends the wait with its error (runs on a
// simulated clock).
func TestSimulatedMovingChannelWaitsForTheRemoteAndCountsOnlyQueuedMessagesAsStalled(t *testing.T) {
	skipSimulatedUnderRace(t)
	synctest.Test(t, func(t *testing.T) {
		c := newSendChannel(nil, &ChannelDescriptor{Id: 0x10, SendQueueCapacity: 10, SendQueueBytes: 1 << 20}, "/test", nil)
		start := time.Now()
		idle := &slowCloser{reads: 5, onRead: func() {
			if c.writingSince.Load() != 0 {
				t.Error("a wait with an empty queue counted as a write in progress")
			}
		}}
		if err := c.awaitRemoteClose(idle); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if took := time.Since(start); took != 5*movePoll {
			t.Fatalf("waited %s, want 5 polls of %s", took, movePoll)
		}

		if !c.queue.tryPush([]byte("waiting")) {
			t.Fatal("push")
		}
		var seen int64
		busy := &slowCloser{reads: 3}
		busy.onRead = func() {
			if busy.reads == 0 {
				seen = c.writingSince.Load()
			}
		}
		if err := c.awaitRemoteClose(busy); err != nil {
			t.Fatalf("wait: %v", err)
		}
		if seen == 0 {
			t.Fatal("a wait with a message queued did not count as a write in progress")
		}
		if c.writingSince.Load() != 0 {
			t.Fatal("the write in progress outlived the wait")
		}

		reset := &slowCloser{reads: 1, err: network.ErrReset}
		if err := c.awaitRemoteClose(reset); !errors.Is(err, network.ErrReset) {
			t.Fatalf("wait on a reset stream: %v, want %v", err, network.ErrReset)
		}
		var te timeoutErr
		if err := c.awaitRemoteClose(&slowCloser{dead: true}); !errors.As(err, &te) {
			t.Fatalf("wait on a dead connection: %v, want its timeout", err)
		}
	})
}
