package p2p

import (
	"context"
	"errors"
	"testing"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTwoSwitchesExchangeMessagesInOrderOnEveryChannel(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	const n = 500
	for _, ch := range []byte{0x10, 0x20, 0x30} {
		go func() {
			for i := 0; i < n; i++ {
				if !pb.Send(ch, numbered(i)) {
					t.Errorf("send %d on %#02x failed", i, ch)
					return
				}
			}
		}()
	}
	for _, ch := range []byte{0x10, 0x20, 0x30} {
		msgs := receiveN(t, b, ch, n, 10*time.Second)
		for i, m := range msgs {
			mustEqual(t, m.Bytes, numbered(i))
			if m.MConn.Peer.ID != a.Host().ID() {
				t.Fatalf("message from %s, want %s", m.MConn.Peer.ID, a.Host().ID())
			}
		}
	}
}

func TestTwentySwitchesFullMeshLoseAndDuplicateNothing(t *testing.T) {
	const n, perPeer = 20, 50
	sws := mockSwitches(t, n, testChannels, WithMaxPeers(n, n))
	for i := range sws {
		for j := i + 1; j < n; j++ {
			connectSwitches(t, sws[i], sws[j])
		}
	}
	for _, sw := range sws {
		waitFor(t, 5*time.Second, func() bool { return sw.Peers().Size() == n-1 })
	}
	// Every switch sends perPeer numbered messages to every peer on two
	// channels; every receiver must see, per sender and channel, exactly
	// 0..perPeer-1 in order.
	for _, sw := range sws {
		for _, p := range sw.Peers().List() {
			go func() {
				for i := 0; i < perPeer; i++ {
					for _, ch := range []byte{0x10, 0x30} {
						if !p.Send(ch, numbered(i)) {
							t.Errorf("send to %s failed", p)
							return
						}
					}
				}
			}()
		}
	}
	for _, sw := range sws {
		for _, ch := range []byte{0x10, 0x30} {
			next := map[string]int{}
			for _, m := range receiveN(t, sw, ch, (n-1)*perPeer, 20*time.Second) {
				from := m.MConn.Peer.Key
				mustEqual(t, m.Bytes, numbered(next[from]))
				next[from]++
			}
			for from, c := range next {
				if c != perPeer {
					t.Fatalf("from %s: %d messages, want %d", from, c, perPeer)
				}
			}
		}
	}
}

func TestBroadcastReachesEveryPeerOnce(t *testing.T) {
	sws := mockSwitches(t, 6, testChannels)
	for _, sw := range sws[1:] {
		connectSwitches(t, sws[0], sw)
	}
	ok, failed := sws[0].Broadcast(0x10, ByteSlice("hello all"))
	if ok != 5 || failed != 0 {
		t.Fatalf("Broadcast = %d ok, %d failed; want 5, 0", ok, failed)
	}
	for _, sw := range sws[1:] {
		m := receiveN(t, sw, 0x10, 1, 5*time.Second)[0]
		mustEqual(t, m.Bytes, []byte("hello all"))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		if extra, err := sw.ReceiveContext(ctx, 0x10); err == nil {
			t.Fatalf("duplicate delivery: %q", extra.Bytes)
		}
		cancel()
	}
	if ok, failed := sws[0].Broadcast(0x77, ByteSlice("x")); ok != 0 || failed != 5 {
		t.Fatalf("Broadcast on unknown channel = %d, %d; want 0, 5", ok, failed)
	}
}

func TestStopDuringTrafficReturnsBlockedCallsWithFalse(t *testing.T) {
	chans := func() []*ChannelDescriptor {
		return []*ChannelDescriptor{{Id: 0x10, SendQueueCapacity: 1, RecvQueueCapacity: 1}}
	}
	sws := mockSwitches(t, 3, chans)
	a, b, c := sws[0], sws[1], sws[2]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	// b never reads: a's sends fill the queues and the stream, then block.
	sendDone := make(chan bool)
	go func() {
		for {
			if !pb.Send(0x10, ByteSlice(make([]byte, 1024))) {
				sendDone <- false
				return
			}
		}
	}()
	recvDone := make(chan bool)
	go func() { _, ok := c.Receive(0x10); recvDone <- ok }() // c has no peers: blocks
	time.Sleep(100 * time.Millisecond)
	go a.Stop()
	go c.Stop()
	for _, ch := range []chan bool{sendDone, recvDone} {
		select {
		case ok := <-ch:
			if ok {
				t.Fatal("blocked call returned true after Stop")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("blocked call did not return after Stop")
		}
	}
	if _, ok := a.Receive(0x10); ok {
		t.Fatal("Receive after Stop returned true")
	}
	if pb.Send(0x10, ByteSlice("late")) || pb.TrySend(0x10, ByteSlice("late")) {
		t.Fatal("send after Stop succeeded")
	}
}

func TestDifferentNetworksNeverBecomePeers(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	ha, _ := mn.GenPeer()
	hb, _ := mn.GenPeer()
	mn.LinkAll()
	a := NewSwitch(testChannels(), WithHost(ha), WithNetwork("chain-a"))
	b := NewSwitch(testChannels(), WithHost(hb), WithNetwork("chain-b"))
	for _, sw := range []*Switch{a, b} {
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
		defer sw.Stop()
	}
	_, err := a.DialPeerWithAddress(addrOf(t, b))
	if !errors.Is(err, ErrNotSwitchyardPeer) {
		t.Fatalf("dial across networks: %v, want ErrNotSwitchyardPeer", err)
	}
	if a.Peers().Size() != 0 || b.Peers().Size() != 0 {
		t.Fatal("peers across networks")
	}
}

func TestDialErrors(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	if _, err := a.DialPeerWithAddress(addrOf(t, a)); !errors.Is(err, ErrDialSelf) {
		t.Errorf("dial self: %v, want ErrDialSelf", err)
	}
	connectSwitches(t, a, b)
	if _, err := a.DialPeerWithAddress(addrOf(t, b)); !errors.Is(err, ErrSwitchDuplicatePeer) {
		t.Errorf("dial twice: %v, want ErrSwitchDuplicatePeer", err)
	}
	if _, err := a.DialPeerWithAddress(nil); err == nil {
		t.Error("dial nil address succeeded")
	}
	unstarted := NewSwitch(testChannels())
	if _, err := unstarted.DialPeerWithAddress(addrOf(t, b)); !errors.Is(err, ErrSwitchNotStarted) {
		t.Errorf("dial before Start: %v, want ErrSwitchNotStarted", err)
	}
}

func TestBadConfigIsReportedByStart(t *testing.T) {
	for name, sw := range map[string]*Switch{
		"duplicate channel": NewSwitch([]*ChannelDescriptor{{Id: 1}, {Id: 1}}),
		"nil channel":       NewSwitch([]*ChannelDescriptor{nil}),
		"bad network":       NewSwitch(testChannels(), WithNetwork("no/slashes")),
		"empty network":     NewSwitch(testChannels(), WithNetwork("")),
	} {
		if err := sw.Start(); err == nil {
			t.Errorf("%s: Start succeeded", name)
			sw.Stop()
		}
	}
}
