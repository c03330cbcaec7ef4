package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	msmux "github.com/multiformats/go-multistream"

	"github.com/switchyard-p2p/switchyard/transport"
)

// TestThirdStreamOfAChannelIsReset: a peer may have two streams of one
// channel open towards us (PROTOCOL.md §4.1); a third is reset unread, and
// the peer is not punished: its first two streams keep delivering.
func TestThirdStreamOfAChannelIsReset(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	raw := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	connectRaw(t, raw, sw)
	proto := ChannelProtocolID(DefaultNetwork, 0x10)
	var streams []network.Stream
	for i := range 3 {
		s, err := raw.NewStream(context.Background(), sw.Host().ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		msg := append(binary.AppendUvarint(nil, 6), []byte("hello"+string(rune('0'+i)))...)
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s)
		if i < 2 { // let the Switch take it before the next one
			receiveN(t, sw, 0x10, 1, 5*time.Second)
		}
	}
	var b [1]byte
	if _, err := streams[2].Read(b[:]); !errors.Is(err, network.ErrReset) {
		t.Fatalf("third stream: read %v, want a reset", err)
	}
	streams[0].Write(append(binary.AppendUvarint(nil, 5), "again"...))
	mustEqual(t, receiveN(t, sw, 0x10, 1, 5*time.Second)[0].Bytes, []byte("again"))
	if !sw.Peers().Has(raw.ID().String()) {
		t.Fatal("the peer was stopped for a third stream")
	}
}

// TestNonPeerConnectionsAreClosed: a host that speaks none of our channels
// is disconnected soon after identify shows it, unless the Switch is told
// to keep such connections.
func TestNonPeerConnectionsAreClosed(t *testing.T) {
	for _, keep := range []bool{false, true} {
		sws, mn := mockSwitchesNet(t, 1, testChannels, WithNonPeerConnections(keep))
		sw := sws[0]
		stock := rawHost(t, mn, "/some/other/protocol/1.0.0")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stock.Connect(ctx, addrOf(t, sw).AddrInfo()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if !keep {
			waitFor(t, 5*time.Second, func() bool { return sw.Host().Network().Connectedness(stock.ID()) != network.Connected })
			t.Logf("a host that speaks none of our channels was disconnected after %s", time.Since(start).Round(time.Millisecond))
			continue
		}
		time.Sleep(3 * foreignGrace)
		if sw.Host().Network().Connectedness(stock.ID()) != network.Connected {
			t.Fatal("WithNonPeerConnections(true): the connection was closed")
		}
	}
}

// TestProtectedNonPeerConnectionsAreKept: a remote that speaks none of our
// channels keeps its connection while this node protects it in its
// connection manager (as go-libp2p's autorelay does with the relay it holds
// a reservation on), and loses it once unprotected.
func TestProtectedNonPeerConnectionsAreKept(t *testing.T) {
	sw := tcpSwitches(t, 1, testChannels)[0]
	plain, err := transport.New(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	sw.Host().ConnManager().Protect(plain.ID(), "relay")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := plain.Connect(ctx, addrOf(t, sw).AddrInfo()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * foreignGrace)
	if sw.Host().Network().Connectedness(plain.ID()) != network.Connected {
		t.Fatal("a protected connection of a remote that is not a peer was closed")
	}
	sw.Host().ConnManager().Unprotect(plain.ID(), "relay")
	waitFor(t, 10*time.Second, func() bool { return sw.Host().Network().Connectedness(plain.ID()) != network.Connected })
}

// TestFrameThatCannotFitThePeersMemoryDisconnects: a frame that the peer's
// memory budget cannot hold, even with nothing else of the peer's held,
// waits for the read stall timeout, then the peer is disconnected (not
// banned) with ErrPeerMemory.
func TestFrameThatCannotFitThePeersMemoryDisconnects(t *testing.T) {
	limits := rcmgr.PartialLimitConfig{PeerDefault: rcmgr.ResourceLimits{Memory: 1 << 20}}.Build(rcmgr.DefaultLimits.AutoScale())
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	if err != nil {
		t.Fatal(err)
	}
	chans := func() []*ChannelDescriptor { return []*ChannelDescriptor{{Id: 0x10, RecvMessageCapacity: 4 << 20}} }
	a := NewSwitch(chans(), WithStallTimeouts(time.Second, 500*time.Millisecond),
		WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"), transport.WithResourceManager(rm)))
	b := NewSwitch(chans(), WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0")))
	for _, sw := range []*Switch{a, b} {
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sw.Stop)
	}
	events := make(chan interface{}, 10)
	a.AddEventListener("test", events)
	connectSwitches(t, b, a)
	collect(t, events, 1, 5*time.Second)
	if !b.Peers().List()[0].Send(0x10, ByteSlice(make([]byte, 2<<20))) {
		t.Fatal("send failed")
	}
	done, _ := collect(t, events, 1, 10*time.Second)[0].(SwitchEventDonePeer)
	if err, _ := done.Error.(error); !errors.Is(err, ErrPeerMemory) {
		t.Fatalf("stopped for %v, want ErrPeerMemory", done.Error)
	}
	if a.bans.banned(done.Peer.ID) {
		t.Fatal("the peer was banned for our memory limit")
	}
}

// TestStalledFrameDisconnectsWithoutABan: a peer that begins a frame and
// sends no more of it is disconnected after the read stall timeout, not
// banned; one that is idle between frames is left alone.
func TestStalledFrameDisconnectsWithoutABan(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels, WithStallTimeouts(time.Hour, 300*time.Millisecond))
	sw := sws[0]
	events := make(chan interface{}, 10)
	sw.AddEventListener("test", events)
	idle := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	staller := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	connectRaw(t, idle, sw)
	connectRaw(t, staller, sw)
	collect(t, events, 2, 5*time.Second)
	proto := ChannelProtocolID(DefaultNetwork, 0x10)
	for h, bytes := range map[host.Host][]byte{
		idle:    append(binary.AppendUvarint(nil, 2), "ok"...),        // a whole frame, then nothing
		staller: append(binary.AppendUvarint(nil, 100), "partial"...), // 7 bytes of 100
	} {
		s, err := h.NewStream(context.Background(), sw.Host().ID(), proto)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		s.Write(bytes)
	}
	done, _ := collect(t, events, 1, 5*time.Second)[0].(SwitchEventDonePeer)
	if err, _ := done.Error.(error); done.Peer.ID != staller.ID() || !errors.Is(err, ErrPeerStalled) {
		t.Fatalf("%v stopped for %v, want the staller for ErrPeerStalled", done.Peer, done.Error)
	}
	if sw.bans.banned(staller.ID()) {
		t.Fatal("a stalled peer was banned")
	}
	time.Sleep(time.Second)
	if !sw.Peers().Has(idle.ID().String()) {
		t.Fatal("an idle peer was stopped")
	}
}

// TestStopIsAGracefulCloseOnTheWire: what a stopping Switch had queued
// reaches the peer, and each of its channel streams then ends with a clean
// end of stream (a FIN, not a reset), before the connection closes.
func TestStopIsAGracefulCloseOnTheWire(t *testing.T) {
	a := NewSwitch(testChannels(), WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0")))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b, err := transport.New(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type ending struct {
		frames int
		err    error
	}
	ended := make(chan ending, 3)
	for _, d := range testChannels() {
		b.SetStreamHandler(ChannelProtocolID(DefaultNetwork, d.Id), func(s network.Stream) {
			fr := newFrameReader(s, 4096, 1<<20, 0)
			n := 0
			for {
				if _, err := fr.next(); err != nil {
					ended <- ending{n, err}
					s.Close()
					return
				}
				n++
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.Host().ID(), Addrs: a.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool { return a.Peers().Size() == 1 })
	p := a.Peers().List()[0]
	const perChannel = 50
	for _, d := range testChannels() {
		for i := range perChannel {
			if !p.TrySend(d.Id, ByteSlice(make([]byte, 1000+i))) {
				t.Fatal("TrySend failed")
			}
		}
	}
	a.Stop()
	for range testChannels() {
		select {
		case e := <-ended:
			if e.err != io.EOF || e.frames != perChannel {
				t.Errorf("a channel stream ended with %v after %d frames, want io.EOF after %d", e.err, e.frames, perChannel)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a channel stream did not end")
		}
	}
}

// TestDrippingFrameDisconnects: a peer that keeps a frame alive with a byte
// now and then (never idle long enough to be stalled outright) is
// disconnected too, once its waiting adds up to the stall timeout with too
// few bytes come.
func TestDrippingFrameDisconnects(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels, WithStallTimeouts(time.Hour, 400*time.Millisecond))
	sw := sws[0]
	events := make(chan interface{}, 10)
	sw.AddEventListener("test", events)
	drip := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	connectRaw(t, drip, sw)
	collect(t, events, 1, 5*time.Second)
	s, err := drip.NewStream(context.Background(), sw.Host().ID(), ChannelProtocolID(DefaultNetwork, 0x10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	s.Write(binary.AppendUvarint(nil, 1<<20))
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := s.Write([]byte{0}); err != nil {
					return
				}
			}
		}
	}()
	done, _ := collect(t, events, 1, 10*time.Second)[0].(SwitchEventDonePeer)
	if err, _ := done.Error.(error); !errors.Is(err, ErrPeerStalled) {
		t.Fatalf("stopped for %v, want ErrPeerStalled", done.Error)
	}
}

// TestUndrainedChannelNeitherStallsTheOthersNorBlamesThePeer: the
// application does not Receive on one channel for longer than the stall
// timeouts. The sender's stream of that channel stops being read once the
// channel holds its RecvQueueBytes of the sender's messages, its other
// channel keeps flowing, and the sender is not disconnected: the slowness
// is ours. (The sender's own send stall timeout, which would end the
// connection from its side, is long here: that one is by design.)
func TestUndrainedChannelNeitherStallsTheOthersNorBlamesThePeer(t *testing.T) {
	chans := func() []*ChannelDescriptor {
		return []*ChannelDescriptor{
			{Id: 0x10, RecvQueueCapacity: 1000, RecvQueueBytes: 1 << 20, RecvMessageCapacity: 64 << 10},
			{Id: 0x20, RecvQueueCapacity: 1000, RecvMessageCapacity: 64 << 10},
		}
	}
	opts := []Option{WithStallTimeouts(time.Hour, 500*time.Millisecond),
		WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))}
	a, b := NewSwitch(chans(), opts...), NewSwitch(chans(), opts...)
	for _, sw := range []*Switch{a, b} {
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sw.Stop)
	}
	events := make(chan interface{}, 10)
	b.AddEventListener("test", events)
	connectSwitches(t, a, b)
	collect(t, events, 1, 5*time.Second)
	p := a.Peers().List()[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // fill the undrained channel, as far as it lets us
		for p.SendContext(ctx, 0x10, ByteSlice(make([]byte, 60<<10))) == nil {
		}
	}()
	deadline := time.Now().Add(2 * time.Second) // four stall timeouts
	for i := 0; time.Now().Before(deadline); i++ {
		if !p.Send(0x20, numbered(i)) {
			t.Fatalf("send %d on the drained channel failed", i)
		}
		mustEqual(t, receiveN(t, b, 0x20, 1, 5*time.Second)[0].Bytes, numbered(i))
	}
	select {
	case ev := <-events:
		t.Fatalf("the sender was removed: %+v", ev)
	default:
	}
	held := b.Peers().List()[0].mconn.recvHeld[0x10].Load()
	if held > 1<<20+64<<10 {
		t.Errorf("the undrained channel holds %d bytes of the peer's, beyond its RecvQueueBytes", held)
	}
	// Draining it lets the rest come.
	receiveN(t, b, 0x10, 30, 5*time.Second)
}

// TestCanSendRecoversWhenThePeersMemoryIsFreed: a channel refused a send
// for the peer's memory budget answers CanSend false only until the budget
// frees memory, whichever channel frees it.
func TestCanSendRecoversWhenThePeersMemoryIsFreed(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a := sws[0]
	connectSwitches(t, a, sws[1])
	p := a.Peers().List()[0]
	c := p.mconn.byID[0x20]
	if !p.CanSend(0x20) {
		t.Fatal("CanSend false on a fresh peer")
	}
	c.refusedAt.Store(p.mconn.budget.releaseCount()) // as tryEnqueue does when refused
	if p.CanSend(0x20) {
		t.Fatal("CanSend true right after a refusal for memory")
	}
	if !p.Send(0x10, ByteSlice("frees memory once written")) {
		t.Fatal("send failed")
	}
	waitFor(t, 5*time.Second, func() bool { return p.CanSend(0x20) })
}

// TestRemoteThatIsNeverAdmittedHoldsFewWaitingStreams: a remote that does
// not answer identify is not admitted, so its channel and PEX streams wait
// for an admission that does not come. It may hold maxWaitingStreams of
// them at once (as many as an honest remote opens before it is admitted);
// every further one is reset at once instead of waiting for the handshake
// timeout.
func TestRemoteThatIsNeverAdmittedHoldsFewWaitingStreams(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	raw := rawHost(t, mn)
	silent := make(chan struct{})
	defer close(silent)
	raw.SetStreamHandler(identify.ID, func(s network.Stream) { <-silent; s.Reset() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := raw.Connect(ctx, addrOf(t, sw).AddrInfo()); err != nil {
		t.Fatal(err)
	}
	limit := sw.maxWaitingStreams()
	ended := make(chan error, limit+20)
	for i := range limit + 20 {
		proto := ChannelProtocolID(DefaultNetwork, testChannels()[i%len(testChannels())].Id)
		// Opened below the host, which would wait for its own identify.
		s, err := raw.Network().NewStream(ctx, sw.Host().ID())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		if err := msmux.SelectProtoOrFail(proto, s); err != nil {
			ended <- err // a reset may come before the answer is read
			continue
		}
		go func() { // mocknet streams have no read deadlines
			var b [1]byte
			_, err := s.Read(b[:])
			ended <- err
		}()
	}
	// The 20 beyond the limit are reset at once; the others wait (for the
	// handshake timeout, 10 s): none of them ends in the next 300 ms.
	reset := 0
	timeout := time.After(5 * time.Second)
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
wait:
	for {
		select {
		case err := <-ended:
			if !errors.Is(err, network.ErrReset) {
				t.Fatalf("read %v, want a reset", err)
			}
			if reset++; reset == 20 {
				quiet.Reset(300 * time.Millisecond)
			}
		case <-quiet.C:
			break wait
		case <-timeout:
			break wait
		}
	}
	waiting := limit + 20 - reset
	if waiting != limit || reset != 20 {
		t.Fatalf("%d streams waited and %d were reset; want %d and 20", waiting, reset, limit)
	}
}

// TestPeerResettingStreamsInALoopCostsOneWait: every stream a peer resets
// waits disconnectGrace before it counts against the peer, but all of them
// share one wait: a peer that opens and resets streams in a loop does not
// make us hold a goroutine per stream. It is then disconnected, not banned.
func TestPeerResettingStreamsInALoopCostsOneWait(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	raw := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	p := connectRaw(t, raw, sw)
	proto := ChannelProtocolID(DefaultNetwork, 0x10)
	before := runtime.NumGoroutine()
	most := 0
	for i := 0; i < 300 && sw.Peers().Has(p.Key); i++ {
		s, err := raw.NewStream(context.Background(), sw.Host().ID(), proto)
		if err != nil {
			break
		}
		s.Write([]byte{0x01, 'x'})
		if _, err := sw.ReceiveContext(ctxTimeout(t, 5*time.Second), 0x10); err != nil {
			break // disconnected meanwhile
		}
		s.Reset() // the stream is being served: its reader fails
		most = max(most, runtime.NumGoroutine()-before)
	}
	t.Logf("goroutines beyond the %d before: at most %d", before, most)
	if most > 50 {
		t.Errorf("%d more goroutines while a peer reset streams in a loop", most)
	}
	if err := doneReason(t, events, p); !errors.Is(err, network.ErrReset) {
		t.Fatalf("done with %v, want a reset", err)
	}
	if sw.bans.banned(p.ID) {
		t.Fatal("a peer that resets its streams was banned")
	}
}

// ctxTimeout is a context that ends after d or with the test.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
