package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

func TestInboundLimitRefusesPeersOverIt(t *testing.T) {
	sws, _ := mockSwitchesNet(t, 4, testChannels)
	hub := sws[0]
	hub.cfg.maxInbound = 2
	connectSwitches(t, sws[1], hub)
	connectSwitches(t, sws[2], hub)
	_, err := sws[3].DialPeerWithAddress(addrOf(t, hub))
	// The dialer may admit the hub before the hub's refusal closes the
	// connection; either way it ends with no peer, and the hub with two.
	if err == nil {
		waitFor(t, 5*time.Second, func() bool { return sws[3].Peers().Size() == 0 })
	}
	if _, in, _ := hub.NumPeers(); in != 2 {
		t.Fatalf("hub has %d inbound peers, want 2", in)
	}
}

func TestOutboundLimitRefusesDials(t *testing.T) {
	sws := mockSwitches(t, 3, testChannels, WithMaxPeers(10, 1))
	connectSwitches(t, sws[0], sws[1])
	if _, err := sws[0].DialPeerWithAddress(addrOf(t, sws[2])); !errors.Is(err, ErrMaxPeers) {
		t.Fatalf("dial over the outbound limit: %v, want ErrMaxPeers", err)
	}
	if out, in, dialing := sws[0].NumPeers(); out != 1 || in != 0 || dialing != 0 {
		t.Fatalf("NumPeers = %d, %d, %d; want 1, 0, 0", out, in, dialing)
	}
}

func TestPeerStoppedForErrorIsBannedForAWhile(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels, WithBanDuration(300*time.Millisecond))
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	a.StopPeerForError(a.Peers().List()[0], errors.New("misbehaved"))
	waitFor(t, 5*time.Second, func() bool { return b.Peers().Size() == 0 })
	if _, err := a.DialPeerWithAddress(addrOf(t, b)); !errors.Is(err, ErrPeerBanned) {
		t.Fatalf("dial banned peer: %v, want ErrPeerBanned", err)
	}
	// b dialing a is refused by a while the ban lasts.
	b.DialPeerWithAddress(addrOf(t, a))
	time.Sleep(50 * time.Millisecond)
	if a.Peers().Size() != 0 {
		t.Fatal("banned peer admitted")
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := a.DialPeerWithAddress(addrOf(t, b)); err != nil {
		t.Fatalf("dial after the ban expired: %v", err)
	}
}

func TestPersistentPeerIsRedialedAfterDisconnect(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 2, testChannels)
	b := sws[1]
	a := NewSwitch(testChannels(), WithHost(mustGenPeer(t, mn)),
		WithPersistentPeers(addrOf(t, b)), WithRedialBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	waitFor(t, 5*time.Second, func() bool { return a.Peers().Size() == 1 })
	first := a.Peers().List()[0]
	if !first.IsOutbound() {
		t.Fatal("persistent peer is not outbound")
	}
	for i := 0; i < 3; i++ {
		if err := mn.DisconnectPeers(a.Host().ID(), b.Host().ID()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, func() bool {
			ps := a.Peers().List()
			return len(ps) == 1 && ps[0] != first
		})
		first = a.Peers().List()[0]
	}
}

func TestStopPeerGracefullyDeliversWhatWasQueued(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	const n = 100
	for i := 0; i < n; i++ {
		if !pb.TrySend(0x10, numbered(i)) {
			t.Fatalf("TrySend %d failed", i)
		}
	}
	a.StopPeerGracefully(pb)
	if pb.Send(0x10, ByteSlice("after stop")) {
		t.Fatal("send after StopPeerGracefully succeeded")
	}
	for i, m := range receiveN(t, b, 0x10, n, 5*time.Second) {
		mustEqual(t, m.Bytes, numbered(i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Peers().Size() != 0 || b.Peers().Size() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: a has %d peers over %d connections, b %d over %d", a.Peers().Size(),
				len(a.Host().Network().Conns()), b.Peers().Size(), len(b.Host().Network().Conns()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRemoteStopIsACleanDisconnectWithoutBan(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) []*Switch{
		"mocknet, shared hosts": func(t *testing.T) []*Switch { return mockSwitches(t, 2, testChannels) },
		"tcp, own hosts":        func(t *testing.T) []*Switch { return tcpSwitches(t, 2, testChannels) },
	} {
		t.Run(name, func(t *testing.T) {
			sws := mk(t)
			a, b := sws[0], sws[1]
			events := make(chan interface{}, 10)
			a.AddEventListener("t", events)
			connectSwitches(t, a, b)
			pb := a.Peers().List()[0]
			b.Stop()
			if err := doneReason(t, events, pb); err != nil {
				t.Fatalf("peer that stopped cleanly was done with reason %v", err)
			}
			if a.bans.banned(pb.ID) {
				t.Fatal("peer that stopped cleanly was banned")
			}
			if a.Host().Network().Connectedness(pb.ID) == network.Connected {
				t.Fatal("connection to a stopped Switch left open")
			}
		})
	}
}

func TestStreamResetOnALiveConnectionDisconnectsWithoutBan(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	h := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	p := connectRaw(t, h, sw)
	s, err := h.NewStream(context.Background(), sw.Host().ID(), ChannelProtocolID(DefaultNetwork, 0x10))
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]byte{0x01, 'x'})
	receiveN(t, sw, 0x10, 1, 5*time.Second) // the stream is being served
	s.Reset()
	if err := doneReason(t, events, p); err == nil {
		t.Fatal("peer whose stream failed was done without a reason")
	}
	if sw.bans.banned(p.ID) {
		t.Fatal("peer whose stream failed was banned")
	}
}

// TestConnectionClosedBesideALiveOneRenewsThePeerWithoutError: when the
// connection a peer's streams run on closes while another connection to it
// is open (both nodes dialed at once, or a redial came first), the peer is
// renewed, and that is no fault of the remote's: it is done without an
// error and not banned, on both sides. Over TCP the host stays connected
// and the failed streams end the peer (MConnection.fail); mocknet reports
// "not connected" for each connection that closes, which ends it at once.
func TestConnectionClosedBesideALiveOneRenewsThePeerWithoutError(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) []*Switch{
		"mocknet": func(t *testing.T) []*Switch { return mockSwitches(t, 2, testChannels) },
		"tcp":     func(t *testing.T) []*Switch { return tcpSwitches(t, 2, testChannels) },
	} {
		t.Run(name, func(t *testing.T) {
			sws := mk(t)
			a, b := sws[0], sws[1]
			aEvents, bEvents := make(chan interface{}, 100), make(chan interface{}, 100)
			a.AddEventListener("t", aEvents)
			b.AddEventListener("t", bEvents)
			twoConns(t, a, b)
			pb, pa := a.Peers().List()[0], b.Peers().List()[0]
			used := streamConn(t, a, pb)
			used.Close()
			if err := doneReason(t, aEvents, pb); err != nil {
				t.Fatalf("peer whose connection closed beside a live one was done with reason %v", err)
			}
			if err := doneReason(t, bEvents, pa); err != nil {
				t.Fatalf("the remote was done with its peer with reason %v", err)
			}
			if a.bans.banned(pb.ID) || b.bans.banned(pa.ID) {
				t.Fatal("peer whose connection closed beside a live one was banned")
			}
		})
	}
}

// TestStaleNotConnectedReportKeepsThePeer: a report that the host is not
// connected to a peer, handled when it is connected (a new connection
// opened since, or on mocknet another connection closed) and none of the
// peer's streams ran on a closed connection, leaves the peer as it is.
func TestStaleNotConnectedReportKeepsThePeer(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	em, err := a.Host().EventBus().Emitter(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	if err := em.Emit(event.EvtPeerConnectednessChanged{Peer: pb.ID, Connectedness: network.NotConnected}); err != nil {
		t.Fatal(err)
	}
	// The event loop handles events in order: once it noted a made-up
	// remote as connected, it has handled the report.
	marker := fixedPeerID(t, 3)
	if err := em.Emit(event.EvtPeerConnectednessChanged{Peer: marker, Connectedness: network.Connected}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		_, ok := a.nonPeers[marker]
		return ok
	})
	if !pb.Send(0x10, ByteSlice("after")) {
		t.Fatal("send failed")
	}
	mustEqual(t, receiveN(t, b, 0x10, 1, 5*time.Second)[0].Bytes, []byte("after"))
	if a.peers.Get(pb.Key) != pb {
		t.Fatal("a stale report removed the peer")
	}
}

// twoConns connects the hosts of Switches a and b by two connections, and
// waits until they are peers. Hosts reuse a connection when one exists, so
// it dials from both sides at once until both dials made their own.
func twoConns(t testing.TB, a, b *Switch) {
	t.Helper()
	ha, hb := a.Host(), b.Host()
	ha.Peerstore().AddAddrs(hb.ID(), hb.Addrs(), time.Hour)
	hb.Peerstore().AddAddrs(ha.ID(), ha.Addrs(), time.Hour)
	for try := 0; try < 1000; try++ {
		start := make(chan struct{})
		done := make(chan struct{}, 2)
		for _, d := range [][2]host.Host{{ha, hb}, {hb, ha}} {
			go func() {
				<-start
				// Forced: a dial that failed while a close was under way
				// must not put the next ones in backoff.
				d[0].Network().DialPeer(network.WithForceDirectDial(context.Background(), "test"), d[1].ID())
				done <- struct{}{}
			}()
		}
		close(start)
		<-done
		<-done
		if len(ha.Network().ConnsToPeer(hb.ID())) == 2 {
			waitFor(t, 5*time.Second, func() bool { return a.Peers().Size() == 1 && b.Peers().Size() == 1 })
			return
		}
		waitFor(t, 5*time.Second, func() bool { // a connection still being accepted may come after the close
			ha.Network().ClosePeer(hb.ID())
			hb.Network().ClosePeer(ha.ID())
			return len(ha.Network().ConnsToPeer(hb.ID())) == 0 && len(hb.Network().ConnsToPeer(ha.ID())) == 0 &&
				a.Peers().Size() == 0 && b.Peers().Size() == 0
		})
	}
	t.Fatal("no two connections in 1000 tries")
}

// streamConn returns the connection that carries sw's stream of channel
// 0x10 to p, once a message went through it.
func streamConn(t testing.TB, sw *Switch, p *Peer) network.Conn {
	t.Helper()
	if !p.Send(0x10, ByteSlice("x")) {
		t.Fatal("send failed")
	}
	waitFor(t, 5*time.Second, func() bool { return streamConnOf(sw, p) != nil })
	c := streamConnOf(sw, p)
	if c == nil {
		t.Fatal("no connection carries the stream of channel 0x10")
	}
	return c
}

func streamConnOf(sw *Switch, p *Peer) network.Conn {
	for _, c := range sw.Host().Network().ConnsToPeer(p.ID) {
		for _, s := range c.GetStreams() {
			if s.Protocol() == ChannelProtocolID(DefaultNetwork, 0x10) && s.Stat().Direction == network.DirOutbound {
				return c
			}
		}
	}
	return nil
}

// TestPenalizingAPeerThatWasReplacedLeavesTheNewOneAlone: a *Peer kept by
// the application after its peer went away (a queued message handled late,
// say) may be penalized; its ID may be a peer again by then, by a new
// *Peer, which keeps its connection.
func TestPenalizingAPeerThatWasReplacedLeavesTheNewOneAlone(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 2, testChannels)
	a, b := sws[0], sws[1]
	old, current := replacedPeer(t, mn, a, b)
	a.DisconnectPeer(old, errors.New("late"))
	a.StopPeerGracefully(old)
	time.Sleep(100 * time.Millisecond)
	if a.peers.Get(current.Key) != current || a.Host().Network().Connectedness(b.Host().ID()) != network.Connected {
		t.Fatal("penalizing a peer that was replaced disconnected the new one")
	}
	if !current.Send(0x10, ByteSlice("still")) {
		t.Fatal("send failed")
	}
	mustEqual(t, receiveN(t, b, 0x10, 1, 5*time.Second)[0].Bytes, []byte("still"))
}

// TestBanningAPeerThatWasReplacedStopsTheNewOneToo: a fault proven by a
// *Peer kept after its peer went away bans its ID, and the ID's new *Peer
// is stopped for the same reason.
func TestBanningAPeerThatWasReplacedStopsTheNewOneToo(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 2, testChannels)
	a, b := sws[0], sws[1]
	events := make(chan interface{}, 100)
	a.AddEventListener("t", events)
	old, current := replacedPeer(t, mn, a, b)
	fault := errors.New("a fault found late")
	a.StopPeerForError(old, fault)
	if err := doneReason(t, events, current); !errors.Is(err, fault) {
		t.Fatalf("the new peer was done with %v, want the fault", err)
	}
	if !a.bans.banned(current.ID) {
		t.Fatal("the ID was not banned")
	}
}

// replacedPeer connects a and b, disconnects them and connects them again:
// it returns a's *Peer for b of the first time and that of the second.
func replacedPeer(t *testing.T, mn mocknet.Mocknet, a, b *Switch) (old, current *Peer) {
	t.Helper()
	connectSwitches(t, a, b)
	old = a.Peers().List()[0]
	if err := mn.DisconnectPeers(a.Host().ID(), b.Host().ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return a.Peers().Size() == 0 && b.Peers().Size() == 0 })
	connectSwitches(t, a, b)
	waitFor(t, 5*time.Second, func() bool { return a.Peers().Size() == 1 })
	return old, a.Peers().List()[0]
}
