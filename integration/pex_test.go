package integration

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// pexNetwork builds n nodes, nodes[0] the seed: every other node's book
// knows only the seed's address. hostOpt gives node i its host. The seed
// accepts everyone (n inbound peers); the others take up to 40 inbound and
// 10 outbound peers, the 2014 defaults.
func pexNetwork(t testing.TB, n int, hostOpt func(i int) p2p.Option, extra nodeConfig) []*node {
	t.Helper()
	nodes := make([]*node, n)
	for i := range nodes {
		cfg := extra
		limits := p2p.WithMaxPeers(40, 10)
		if i == 0 {
			limits = p2p.WithMaxPeers(n, 10)
		} else {
			cfg.seeds = []*p2p.NetAddress{nodes[0].addr(t)}
		}
		cfg.swOpts = append([]p2p.Option{hostOpt(i), limits}, extra.swOpts...)
		if cfg.pexOpts == nil {
			cfg.pexOpts = scalePEX()
		}
		nodes[i] = newNode(t, cfg)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, n := range nodes {
				for _, err := range n.peerErrors() {
					t.Logf("node %d (%s) stopped %s", i, n.id(), err)
				}
			}
		}
		stopAll(nodes)
	})
	return nodes
}

// scalePEX are the PEX options of the networks of many nodes: fastPEX, or
// under the race detector a 1 s period. With -race, a hundred nodes asking
// every 200 ms keep both cores busy, requests then arrive with delays that
// vary by more than a third of the period, and the agents stop a few honest
// peers as flooders (seen with requests 17–56 ms apart against a 67 ms
// minimum); teardown also slows to minutes. A period scaled like the
// detector's slowdown keeps the ratio of PEX pace to round-trip time that
// the default 30 s period has in production.
func scalePEX() []p2p.PEXOption {
	if raceEnabled {
		return []p2p.PEXOption{p2p.WithEnsurePeersPeriod(time.Second), p2p.WithMinOutboundPeers(4)}
	}
	return fastPEX()
}

// checkNoPeerErrors fails the test if any node stopped a peer for an error:
// honest nodes never do (not for a flood they did not make, nor for a stream
// reset because a peer left or a channel was idle).
func checkNoPeerErrors(t testing.TB, nodes []*node) {
	t.Helper()
	if s := peerErrorSummary(nodes); s != "" {
		t.Errorf("honest nodes stopped each other: %s", s)
	}
}

func TestPEXConnectsAHundredMocknetNodesThatKnowOnlyASeed(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 30
	}
	mn := newMocknet(t)
	nodes := pexNetwork(t, n, func(int) p2p.Option { return p2p.WithHost(genPeer(t, mn)) }, nodeConfig{})
	d := discover(t, nodes, 4, 60*time.Second)
	t.Logf("%d mocknet nodes: every node has >= 4 outbound peers and the network is connected %s", n, d)
	if d.outbound[0] < 4 {
		t.Errorf("in a network of %d a node has only %d outbound peers", n, d.outbound[0])
	}
	checkNoPeerErrors(t, nodes)
	if most := d.total[len(d.total)-1]; most > 50 {
		t.Errorf("a node has %d peers, more than its limits (40 in + 10 out)", most)
	}
	if most := d.outbound[len(d.outbound)-1]; most > 10 {
		t.Errorf("a node has %d outbound peers, more than its limit of 10", most)
	}
}

func TestPEXConnectsTenTCPNodesThatKnowOnlyASeed(t *testing.T) {
	nodes := pexNetwork(t, 10, func(int) p2p.Option { return tcpHostOptions() }, nodeConfig{})
	d := discover(t, nodes, 4, 30*time.Second)
	t.Logf("10 TCP nodes on 127.0.0.1: every node has >= 4 outbound peers (or all 9 others as peers) and the network is connected %s", d)
	checkNoPeerErrors(t, nodes)
	// The peers really talk: with discovery over (so that the known issues
	// above cannot take links down meanwhile), every node exchanges a
	// message with each of its outbound peers.
	stopPEX(nodes)
	byID := map[string]*node{}
	for _, n := range nodes {
		byID[n.id()] = n
	}
	links := 0
	for _, n := range nodes[1:] {
		for _, p := range n.sw.Peers().List() {
			if o := byID[p.Key]; o != nil && p.IsOutbound() {
				pingPong(t, n.sw, o.sw)
				links++
			}
		}
	}
	t.Logf("messages went both ways on all %d links", links)
}

// stopPEX stops the nodes' PEX agents, all at once, and lets the peers that
// were being stopped go.
func stopPEX(nodes []*node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.pex.Stop()
		}()
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond)
}

// TestPEXRequestDelayedByTheNetworkDoesNotStopAnHonestPeer: a peer that asks
// for addresses once per ensure-peers period, as PEXAgent.RequestPEX does,
// must not be stopped as a flooder when the network delays one request and
// the next arrives shortly after it. (The receiver cannot tell this from
// two requests sent at once, so a single early request may be refused, not
// punished; a peer that keeps asking too often still is: see the end.)
func TestPEXRequestDelayedByTheNetworkDoesNotStopAnHonestPeer(t *testing.T) {
	const period = 300 * time.Millisecond // the receiver wants requests >= 100 ms apart
	mn := newMocknet(t)
	x := newNode(t, nodeConfig{
		swOpts:  []p2p.Option{p2p.WithHost(genPeer(t, mn))},
		pexOpts: []p2p.PEXOption{p2p.WithEnsurePeersPeriod(period), p2p.WithMinOutboundPeers(4)},
	})
	x.startPEX(t)
	events := make(chan interface{}, 16)
	x.sw.AddEventListener("test", events)

	y := genPeer(t, mn) // speaks testCh, so x takes it for a peer, and PEX by hand
	discardChannel(y, p2p.ChannelProtocolID(p2p.DefaultNetwork, testCh))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := y.Connect(ctx, peer.AddrInfo{ID: x.sw.Host().ID(), Addrs: x.sw.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "x admits y", func() bool { return x.sw.Peers().Has(y.ID().String()) })
	pexProto := pexcompat.ProtocolID(p2p.DefaultNetwork)

	// Request 1 leaves at 0 but its last byte is held up until 280 ms;
	// request 2 leaves, whole, at 300 ms: one period after request 1.
	s1, err := y.NewStream(ctx, x.sw.Host().ID(), pexProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Reset()
	start := time.Now()
	if _, err := s1.Write([]byte{0x01}); err != nil { // the frame's length
		t.Fatal(err)
	}
	time.Sleep(280 * time.Millisecond)
	if _, err := s1.Write([]byte{0x01}); err != nil { // the Request
		t.Fatal(err)
	}
	s1.CloseWrite()
	time.Sleep(period - time.Since(start))
	s2, err := y.NewStream(ctx, x.sw.Host().ID(), pexProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Reset()
	s2.Write([]byte{0x01, 0x01})
	s2.CloseWrite()
	if _, err := pexcompat.ReadMessage(s1); err != nil {
		t.Errorf("request 1 was not answered: %s", err)
	}
	pexcompat.ReadMessage(s2) // may be answered or refused
	for quiet := time.After(time.Second); ; {
		select {
		case ev := <-events:
			if d, ok := ev.(p2p.SwitchEventDonePeer); ok {
				t.Fatalf("y, which asked once per period, was stopped: %v", d.Error)
			}
			continue
		case <-quiet:
		}
		break
	}

	// A peer that really floods (about 30 requests a second against the
	// protocol's one) is refused, then banned.
	for i := 0; i < 200 && x.sw.Peers().Has(y.ID().String()); i++ {
		if s, err := y.NewStream(ctx, x.sw.Host().ID(), pexProto); err == nil {
			s.Write([]byte{0x01, 0x01})
			s.CloseWrite()
			io.Copy(io.Discard, s)
			s.Close()
		}
		time.Sleep(period / 10)
	}
	d := doneEvent(t, events, y.ID().String(), 5*time.Second)
	if err, _ := d.Error.(error); !errors.Is(err, p2p.ErrPEXFlood) {
		t.Fatalf("flooder stopped for %v, want ErrPEXFlood", d.Error)
	}
}

// TestPEXAgentStopDoesNotWaitForItsDials: Stop ends discovery at once, even
// while a dial to an address that never answers is in flight.
func TestPEXAgentStopDoesNotWaitForItsDials(t *testing.T) {
	hole := blackHole(t)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	target := p2p.NewNetAddress(hole.Addr())
	target.ID = id
	x := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, seeds: []*p2p.NetAddress{target}, pexOpts: fastPEX()})
	x.startPEX(t)
	waitFor(t, 5*time.Second, "the agent dials the silent address", func() bool { return x.sw.IsDialing(target) })
	start := time.Now()
	x.pex.Stop()
	took := time.Since(start)
	t.Logf("PEXAgent.Stop with a dial in flight took %s", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Fatalf("PEXAgent.Stop took %s: it waits for its dials to give up", took.Round(time.Millisecond))
	}
}

// blackHole listens on 127.0.0.1 and accepts connections that never say
// anything; it closes them when the test ends.
func blackHole(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return l
}

// discardChannel makes h speak a channel protocol, reading and discarding
// what arrives on it, so that a Switch takes h for a peer.
func discardChannel(h host.Host, proto protocol.ID) {
	h.SetStreamHandler(proto, func(s network.Stream) { io.Copy(io.Discard, s); s.Close() })
}

// TestPEXConnectsMocknetNodesAtDefaultSettings: nodes that know only a
// seed, with the library's default PEX settings (a 30 s period, 10
// outbound peers), all reach their outbound target in one connected
// network: new addresses are dialed as soon as they are learnt, not at the
// next period. 100 nodes here; SWITCHYARD_LARGE=1 makes it 500.
func TestPEXConnectsMocknetNodesAtDefaultSettings(t *testing.T) {
	n := 100
	if os.Getenv("SWITCHYARD_LARGE") != "" {
		n = 500
	}
	mn := newMocknet(t)
	nodes := pexNetwork(t, n, func(int) p2p.Option { return p2p.WithHost(genPeer(t, mn)) }, nodeConfig{pexOpts: []p2p.PEXOption{}})
	d := discover(t, nodes, 4, 120*time.Second)
	t.Logf("%d mocknet nodes at default PEX settings: every node has >= 4 outbound peers and the network is connected %s", n, d)
	checkNoPeerErrors(t, nodes)
}
