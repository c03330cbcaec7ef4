package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/transport"
)

// tcpSwitches starts n Switches that build their own hosts (TCP, TLS or
// Noise, our yamux) on 127.0.0.1, and stops them when the test ends.
func tcpSwitches(t testing.TB, n int, chDescs func() []*ChannelDescriptor, opts ...Option) []*Switch {
	t.Helper()
	sws := make([]*Switch, n)
	for i := range sws {
		all := append([]Option{WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))}, opts...)
		sws[i] = NewSwitch(chDescs(), all...)
		if err := sws[i].Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sws[i].Stop)
	}
	return sws
}

func TestSwitchesOverTCPExchangeInOrderOnSeveralChannels(t *testing.T) {
	const n, perPeer = 20, 30
	sws := tcpSwitches(t, n, testChannels, WithMaxPeers(n, n))
	// A ring with chords: every switch dials the next three.
	for i := range sws {
		for k := 1; k <= 3; k++ {
			connectSwitches(t, sws[i], sws[(i+k)%n])
		}
	}
	for _, sw := range sws {
		waitFor(t, 10*time.Second, func() bool { return sw.Peers().Size() == 6 })
		for _, p := range sw.Peers().List() {
			go func() {
				for i := 0; i < perPeer; i++ {
					p.Send(0x10, numbered(i))
					p.Send(0x20, numbered(i))
				}
			}()
		}
	}
	for _, sw := range sws {
		for _, ch := range []byte{0x10, 0x20} {
			next := map[string]int{}
			for _, m := range receiveN(t, sw, ch, 6*perPeer, 20*time.Second) {
				mustEqual(t, m.Bytes, numbered(next[m.MConn.Peer.Key]))
				next[m.MConn.Peer.Key]++
			}
		}
	}
}

func TestStalledChannelDoesNotStallAnotherOverYamux(t *testing.T) {
	sws := tcpSwitches(t, 2, stalledChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	// b never reads 0x10: its yamux window (256 KiB to start) fills, then
	// a's queue, and a's writer for 0x10 blocks inside yamux.
	big := ByteSlice(make([]byte, 64<<10))
	go func() {
		for pb.Send(0x10, big) {
		}
	}()
	waitFor(t, 10*time.Second, func() bool { return !pb.CanSend(0x10) })
	time.Sleep(100 * time.Millisecond)
	const n = 500
	go func() {
		for i := 0; i < n; i++ {
			if !pb.Send(0x20, numbered(i)) {
				return
			}
		}
	}()
	for i, m := range receiveN(t, b, 0x20, n, 10*time.Second) {
		mustEqual(t, m.Bytes, numbered(i))
	}
}

// priorityChannels: 0x10 is a bulk channel of priority 1 with a deep queue,
// 0x20 a channel of priority 10.
func priorityChannels() []*ChannelDescriptor {
	return []*ChannelDescriptor{
		{Id: 0x10, DefaultPriority: 1, SendQueueCapacity: 200, RecvQueueCapacity: 100, RecvMessageCapacity: 1 << 20},
		{Id: 0x20, DefaultPriority: 10, SendQueueCapacity: 200, RecvQueueCapacity: 100, RecvMessageCapacity: 1 << 20},
	}
}

// stamped is a message of size bytes carrying its send time.
func stamped(size int) ByteSlice {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	return b
}

func age(b []byte) time.Duration {
	return time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(b))))
}

// slowLinkSwitches starts two Switches of priorityChannels on a mocknet
// link limited to 16 MB/s, the bottleneck as a WAN link would be (on
// loopback TCP the CPU is, and every channel keeps up), and connects them.
func slowLinkSwitches(t *testing.T) (a, b *Switch) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	mn.SetLinkDefaults(mocknet.LinkOptions{Bandwidth: 16 << 20})
	var sws []*Switch
	for i := 0; i < 2; i++ {
		sw := NewSwitch(priorityChannels(), WithHost(mustGenPeer(t, mn)))
		if err := sw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sw.Stop)
		sws = append(sws, sw)
	}
	connectSwitches(t, sws[0], sws[1])
	return sws[0], sws[1]
}

func TestBusyChannelsShareBandwidthByPriority(t *testing.T) {
	a, b := slowLinkSwitches(t)
	pb := a.Peers().List()[0]
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, ch := range []byte{0x10, 0x20} {
		wg.Add(1)
		go func() { // keep the channel's queue full
			defer wg.Done()
			msg := ByteSlice(make([]byte, 64<<10))
			for pb.SendContext(ctx, ch, msg) == nil {
			}
		}()
	}
	var got [256]atomic.Int64
	counting := atomic.Bool{}
	for _, ch := range []byte{0x10, 0x20} {
		wg.Add(1)
		go func() { // drain as fast as possible
			defer wg.Done()
			for {
				m, err := b.ReceiveContext(ctx, ch)
				if err != nil {
					return
				}
				if counting.Load() {
					got[ch].Add(int64(len(m.Bytes)))
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // warm up: queues fill
	counting.Store(true)
	time.Sleep(time.Second)
	counting.Store(false)
	cancel()
	wg.Wait()
	low, high := got[0x10].Load(), got[0x20].Load()
	t.Logf("in 1 s over a 16 MB/s link: priority 1 channel %.1f MB, priority 10 channel %.1f MB (ratio %.1f)",
		float64(low)/(1<<20), float64(high)/(1<<20), float64(high)/float64(max(low, 1)))
	if high < 3*low {
		t.Fatalf("priority 10 channel got %d bytes, priority 1 got %d: want at least 3x", high, low)
	}
}

func TestSmallHighPriorityMessagesOvertakeABulkChannel(t *testing.T) {
	a, b := slowLinkSwitches(t)
	pb := a.Peers().List()[0]
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// The bulk channel gets a backlog of 16 MiB (its SendQueueBytes),
	// about a second of the link, drained by a reader that keeps up; small
	// messages on both channels then measure how long each waits.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pb.SendContext(ctx, 0x10, ByteSlice(make([]byte, 256<<10))) == nil {
		}
	}()
	var lowLat, highLat []time.Duration
	var mu sync.Mutex
	for _, ch := range []byte{0x10, 0x20} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := b.ReceiveContext(ctx, ch)
				if err != nil {
					return
				}
				if len(m.Bytes) == 64 {
					mu.Lock()
					if ch == 0x10 {
						lowLat = append(lowLat, age(m.Bytes))
					} else {
						highLat = append(highLat, age(m.Bytes))
					}
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, func() bool { return !pb.CanSend(0x10) })
	for i := 0; i < 20; i++ {
		pb.Send(0x20, stamped(64))
		time.Sleep(5 * time.Millisecond)
	}
	pb.Send(0x10, stamped(64)) // behind the backlog
	waitFor(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(highLat) == 20 && len(lowLat) == 1
	})
	cancel()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(highLat)
	p50, worst := highLat[len(highLat)/2], highLat[len(highLat)-1]
	t.Logf("small message on the busy low-priority channel waited %s; on the high-priority channel p50 %s, max %s", lowLat[0], p50, worst)
	if worst*5 > lowLat[0] {
		t.Fatalf("high-priority messages waited up to %s, not far below the bulk channel's %s", worst, lowLat[0])
	}
}

func TestAddPeerWithConnectionRunsTheHandshakeOnARawConn(t *testing.T) {
	sws := tcpSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	l, err := NewListener("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if !l.ExternalAddress().Equals(l.InternalAddress()) {
		t.Fatalf("loopback listener: external %s, internal %s", l.ExternalAddress(), l.InternalAddress())
	}
	type result struct {
		p   *Peer
		err error
	}
	inbound := make(chan result, 1)
	go func() {
		conn := <-l.Connections()
		p, err := b.AddPeerWithConnection(conn, false)
		inbound <- result{p, err}
	}()
	conn, err := l.InternalAddress().DialTimeout(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pa, err := a.AddPeerWithConnection(conn, true)
	if err != nil {
		t.Fatal(err)
	}
	r := <-inbound
	if r.err != nil {
		t.Fatal(r.err)
	}
	if pa.ID != b.Host().ID() || r.p.ID != a.Host().ID() || !pa.IsOutbound() || r.p.IsOutbound() {
		t.Fatalf("peers %s (out %v) and %s (out %v)", pa, pa.IsOutbound(), r.p, r.p.IsOutbound())
	}
	pa.Send(0x10, ByteSlice("over a handed-in conn"))
	mustEqual(t, receiveN(t, b, 0x10, 1, 5*time.Second)[0].Bytes, []byte("over a handed-in conn"))
}

func TestAddPeerWithConnectionRefusesGarbage(t *testing.T) {
	sws := tcpSwitches(t, 1, testChannels)
	c1, c2 := net.Pipe()
	go func() {
		go io.Copy(io.Discard, c2) // net.Pipe has no buffer: take what the Switch writes
		c2.Write([]byte("this is not a libp2p handshake\n"))
		c2.Close()
	}()
	if _, err := sws[0].AddPeerWithConnection(c1, false); err == nil {
		t.Fatal("garbage connection was added")
	}
	if sws[0].Peers().Size() != 0 {
		t.Fatal("garbage connection became a peer")
	}
	// A host not built by transport.New cannot take raw connections.
	mn := mocknet.New()
	defer mn.Close()
	h, _ := mn.GenPeer()
	msw := NewSwitch(testChannels(), WithHost(h))
	if err := msw.Start(); err != nil {
		t.Fatal(err)
	}
	defer msw.Stop()
	c3, c4 := net.Pipe()
	defer c4.Close()
	if _, err := msw.AddPeerWithConnection(c3, true); !errors.Is(err, transport.ErrInjectionUnsupported) {
		t.Fatalf("AddPeerWithConnection on a mocknet host: %v, want ErrInjectionUnsupported", err)
	}
}

func TestDialWithoutPeerIDLearnsItFromTheHandshake(t *testing.T) {
	sws := tcpSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	addr := addrOf(t, b)
	plain := NewNetAddressIPPort(addr.IP, addr.Port) // the 2014 form: ip:port only
	p, err := a.DialPeerWithAddress(plain)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != b.Host().ID() || !p.IsOutbound() {
		t.Fatalf("dialed %s (outbound %v), want %s outbound", p, p.IsOutbound(), b.Host().ID())
	}
	self := NewNetAddressIPPort(addrOf(t, a).IP, addrOf(t, a).Port)
	if _, err := a.DialPeerWithAddress(self); !errors.Is(err, ErrDialSelf) {
		t.Fatalf("dial own ip:port: %v, want ErrDialSelf", err)
	}
}

func TestNewListenerErrors(t *testing.T) {
	for _, tc := range []struct{ proto, addr string }{
		{"udp", "127.0.0.1:0"},
		{"tcp", "no-port"},
		{"tcp", "256.1.1.1:0"},
	} {
		if l, err := NewListener(tc.proto, tc.addr); err == nil {
			l.Stop()
			t.Errorf("NewListener(%q, %q) succeeded", tc.proto, tc.addr)
		}
	}
	l, err := NewListener("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	func() {
		defer func() {
			if recover() == nil {
				t.Error("NewDefaultListener on a taken port did not panic")
			}
		}()
		NewDefaultListener("tcp", l.InternalAddress().String())
	}()
}

// TestPersistentAddressWithoutIDKeepsOnlyTheLastIdentity: whoever answers a
// persistent address given without a peer ID may show a new identity each
// time; only the last one is a persistent peer (exempt from limits and
// bans), not every one seen.
func TestPersistentAddressWithoutIDKeepsOnlyTheLastIdentity(t *testing.T) {
	first := tcpSwitches(t, 1, testChannels)[0]
	port := addrOf(t, first).Port
	a := NewSwitch(testChannels(), WithHostOptions(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0")),
		WithPersistentPeers(NewNetAddressIPPort(net.IPv4(127, 0, 0, 1), port)),
		WithRedialBackoff(10*time.Millisecond, 50*time.Millisecond))
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	waitFor(t, 5*time.Second, func() bool { return a.Peers().Has(first.Host().ID().String()) })
	waitFor(t, 5*time.Second, func() bool { return a.isPersistent(first.Host().ID()) })
	first.Stop()
	second := NewSwitch(testChannels(), WithHostOptions(transport.WithListenAddrs(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))))
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	waitFor(t, 10*time.Second, func() bool { return a.isPersistent(second.Host().ID()) })
	if a.isPersistent(first.Host().ID()) {
		t.Fatal("the identity that answered before is still a persistent peer")
	}
	a.mu.Lock()
	n := len(a.persistent)
	a.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d persistent peers for one address", n)
	}
}
