package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// testCh is the channel the tests exchange their own messages on.
const testCh = byte(0x10)

// loopback is where every TCP host of these tests listens.
const loopback = "/ip4/127.0.0.1/tcp/0"

// testChannels are the channels of a plain test node.
func testChannels() []*p2p.ChannelDescriptor {
	return []*p2p.ChannelDescriptor{{Id: testCh, SendQueueCapacity: 100, RecvQueueCapacity: 1000, RecvMessageCapacity: 1 << 20}}
}

// mempoolChannels are testChannels plus the mempool's channel.
func mempoolChannels() []*p2p.ChannelDescriptor {
	return append(testChannels(), mempool.ChannelDescriptor(0))
}

// node is a Switch with an address book and a PEX agent (and, optionally, a
// mempool agent), stopped when the test ends.
type node struct {
	sw   *p2p.Switch
	book *p2p.AddrBook
	pex  *p2p.PEXAgent
	mem  *mempool.MempoolAgent // nil unless nodeConfig.mempool

	errMu  sync.Mutex
	errs   []error // why peers were stopped for an error, as seen by this node
	events chan interface{}
	evDone chan struct{}

	stopOnce sync.Once
}

// nodeConfig says how to build a node.
type nodeConfig struct {
	chans    func() []*p2p.ChannelDescriptor // default testChannels
	swOpts   []p2p.Option                    // WithHost or WithHostOptions, limits, ...
	bookPath string                          // "" for an in-memory book
	seeds    []*p2p.NetAddress               // put in the book before the PEX agent starts
	pexOpts  []p2p.PEXOption
	mempool  bool
	pool     *mempool.Mempool // the mempool agent's pool (nil: a default one)
}

// fastPEX are PEX options for tests: top up every 200 ms, keep 4 outbound
// peers.
func fastPEX() []p2p.PEXOption {
	return []p2p.PEXOption{p2p.WithEnsurePeersPeriod(200 * time.Millisecond), p2p.WithMinOutboundPeers(4)}
}

// newNode starts the Switch, the book and (if asked) the mempool agent of a
// node, but not its PEX agent (see startPEX), so that a test can start the
// discovery of many nodes at once. Everything stops when the test ends.
func newNode(t testing.TB, cfg nodeConfig) *node {
	t.Helper()
	if cfg.chans == nil {
		cfg.chans = testChannels
		if cfg.mempool {
			cfg.chans = mempoolChannels
		}
	}
	n := &node{sw: p2p.NewSwitch(cfg.chans(), cfg.swOpts...), events: make(chan interface{}, 64), evDone: make(chan struct{})}
	if err := n.sw.Start(); err != nil {
		t.Fatalf("start switch: %s", err)
	}
	n.sw.AddEventListener("integration", n.events)
	go n.recordErrors()
	n.book = p2p.NewAddrBook(cfg.bookPath, p2p.WithBookRoutabilityStrict(false))
	t.Cleanup(n.stop)
	if err := n.book.Start(); err != nil {
		t.Fatalf("start book: %s", err)
	}
	if err := n.book.LoadErr(); err != nil {
		t.Fatalf("load book: %s", err)
	}
	for _, s := range cfg.seeds {
		if err := n.book.AddAddress(s, nil); err != nil {
			t.Fatalf("add seed %s: %s", s, err)
		}
	}
	if cfg.mempool {
		n.mem = mempool.NewMempoolAgent(n.sw, cfg.pool)
		n.mem.Start()
	}
	n.pex = p2p.NewPEXAgent(n.sw, n.book, cfg.pexOpts...)
	return n
}

func (n *node) startPEX(t testing.TB) {
	t.Helper()
	if err := n.pex.Start(); err != nil {
		t.Fatalf("start PEX: %s", err)
	}
}

// stop stops the node's parts, agents first, the book last so that it saves
// what the others taught it. Idempotent.
func (n *node) stop() {
	n.stopOnce.Do(func() {
		n.pex.Stop()
		if n.mem != nil {
			n.mem.Stop()
		}
		n.sw.Stop()
		close(n.events) // the Switch sends no more: Stop ended its listeners
		<-n.evDone
		n.book.Stop()
	})
}

// stopAll stops the nodes all at once: one by one, each stop would make the
// others' PEX agents redial in a network that is going away.
func stopAll(nodes []*node) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.stop()
		}()
	}
	wg.Wait()
}

// recordErrors keeps the reasons of the peers stopped for an error.
func (n *node) recordErrors() {
	defer close(n.evDone)
	for ev := range n.events {
		if d, ok := ev.(p2p.SwitchEventDonePeer); ok && d.Error != nil {
			err, ok := d.Error.(error)
			if !ok {
				err = fmt.Errorf("%v", d.Error)
			}
			n.errMu.Lock()
			n.errs = append(n.errs, fmt.Errorf("%s: %w", d.Peer, err))
			n.errMu.Unlock()
		}
	}
}

// peerErrors returns why this node stopped peers for an error so far.
func (n *node) peerErrors() []error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return slices.Clone(n.errs)
}

func (n *node) id() string { return n.sw.Host().ID().String() }

// addr is a dialable address of the node, with its peer ID.
func (n *node) addr(t testing.TB) *p2p.NetAddress { return addrOf(t, n.sw.Host()) }

// addrOf is the first address of h that a NetAddress can hold, with h's ID.
func addrOf(t testing.TB, h host.Host) *p2p.NetAddress {
	t.Helper()
	for _, m := range h.Addrs() {
		if na, err := p2p.NewNetAddressMultiaddr(m); err == nil {
			na.ID = h.ID()
			return na
		}
	}
	t.Fatalf("no usable address among %v", h.Addrs())
	return nil
}

// newMocknet returns a mocknet closed when the test ends (after the nodes
// built on it, since cleanups run last-in first-out).
func newMocknet(t testing.TB) mocknet.Mocknet {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	return mn
}

// genPeer adds a host to mn, linked to all others.
func genPeer(t testing.TB, mn mocknet.Mocknet) host.Host {
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

// tcpHostOptions are the Switch options of a node with its own TCP host on
// 127.0.0.1 (NAT port mapping is off for a loopback address).
func tcpHostOptions(extra ...transport.Option) p2p.Option {
	return p2p.WithHostOptions(append([]transport.Option{transport.WithListenAddrs(loopback)}, extra...)...)
}

// discovery is what discover measured.
type discovery struct {
	elapsed time.Duration
	// outbound and total peers of every node but the seed, sorted.
	outbound, total []int
	seedPeers       int
	// the same, node by node
	perNodeOut, perNodeTotal []int
}

func (d discovery) String() string {
	return fmt.Sprintf("in %s; outbound peers min/p50/max %s; all peers %s; seed has %d",
		d.elapsed.Round(time.Millisecond), spread(d.outbound), spread(d.total), d.seedPeers)
}

// spread formats the min, median and max of sorted values.
func spread(sorted []int) string {
	if len(sorted) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d/%d", sorted[0], sorted[len(sorted)/2], sorted[len(sorted)-1])
}

// discover starts the PEX agents of nodes (nodes[0] is the seed everyone
// knows) and waits until every node but the seed has at least minOut
// outbound peers — or, in a network too small for that, has every other
// node as a peer already — and the peer graph is connected. It fails the
// test after timeout, reporting where discovery got to.
func discover(t testing.TB, nodes []*node, minOut int, timeout time.Duration) discovery {
	t.Helper()
	start := time.Now()
	for _, n := range nodes {
		n.startPEX(t)
	}
	deadline := start.Add(timeout)
	for {
		d := measure(nodes)
		ok := d.settled(len(nodes), minOut) && connected(nodes)
		d.elapsed = time.Since(start)
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("PEX did not connect %d nodes within %s: %s; connected: %v; %s\n%s", len(nodes), timeout, d, connected(nodes), peerErrorSummary(nodes), underConnected(nodes, minOut))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled reports whether every node but the seed had minOut outbound
// peers, or all other nodes as peers, when measured.
func (d discovery) settled(nodes, minOut int) bool {
	for i, out := range d.perNodeOut {
		if out < minOut && d.perNodeTotal[i] < nodes-1 {
			return false
		}
	}
	return true
}

// underConnected describes the nodes (but the seed) with fewer than minOut
// outbound peers: their peers and what their books hold.
func underConnected(nodes []*node, minOut int) string {
	names := map[string]string{}
	for i, n := range nodes {
		names[n.id()] = fmt.Sprintf("node%d", i)
	}
	var b strings.Builder
	for i, n := range nodes[1:] {
		out, in, dialing := n.sw.NumPeers()
		if out >= minOut || out+in == len(nodes)-1 {
			continue
		}
		fmt.Fprintf(&b, "node%d: %d out, %d in, %d dialing; peers:", i+1, out, in, dialing)
		for _, p := range n.sw.Peers().List() {
			fmt.Fprintf(&b, " %s(out=%v)", names[p.Key], p.IsOutbound())
		}
		b.WriteString("; book:")
		for _, na := range n.book.GetSelection() {
			fmt.Fprintf(&b, " %s@%s", names[na.ID.String()], na.Multiaddr)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// measure counts the peers of the nodes.
func measure(nodes []*node) discovery {
	var d discovery
	for i, n := range nodes {
		out, in, _ := n.sw.NumPeers()
		if i == 0 {
			d.seedPeers = out + in
			continue
		}
		d.perNodeOut = append(d.perNodeOut, out)
		d.perNodeTotal = append(d.perNodeTotal, out+in)
	}
	d.outbound = slices.Clone(d.perNodeOut)
	d.total = slices.Clone(d.perNodeTotal)
	slices.Sort(d.outbound)
	slices.Sort(d.total)
	return d
}

// connected reports whether the peer graph of nodes is one component.
func connected(nodes []*node) bool {
	index := map[string]int{}
	for i, n := range nodes {
		index[n.id()] = i
	}
	seen := map[int]bool{0: true}
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range nodes[i].sw.Peers().List() {
			if j, ok := index[p.Key]; ok && !seen[j] {
				seen[j] = true
				stack = append(stack, j)
			}
		}
	}
	return len(seen) == len(nodes)
}

// peerErrorSummary counts, by kind, the peers the nodes stopped for an
// error; "" when there were none.
func peerErrorSummary(nodes []*node) string {
	kinds := []error{p2p.ErrPEXFlood, p2p.ErrBadFrame, p2p.ErrMessageTooLarge, mempool.ErrBadMessage, network.ErrReset}
	counts := map[string]int{}
	var example []string
	for _, n := range nodes {
		for _, err := range n.peerErrors() {
			kind := "other"
			for _, k := range kinds {
				if errors.Is(err, k) {
					kind = k.Error()
					break
				}
			}
			if counts[kind] == 0 {
				example = append(example, err.Error())
			}
			counts[kind]++
		}
	}
	if len(counts) == 0 {
		return ""
	}
	return fmt.Sprintf("peers stopped for errors: %v; first of each kind: %q", counts, example)
}

// waitFor polls cond until it holds, failing the test with what after
// timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// receive reads one message of chID from sw within timeout.
func receive(t testing.TB, sw *p2p.Switch, chID byte, timeout time.Duration) p2p.InboundBytes {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := sw.ReceiveContext(ctx, chID)
	if err != nil {
		t.Fatalf("receive on %#02x: %s", chID, err)
	}
	return m
}

// connectSwitches dials b from a and waits until both see each other.
func connectSwitches(t testing.TB, a, b *p2p.Switch) *p2p.Peer {
	t.Helper()
	p, err := a.DialPeerWithAddress(addrOf(t, b.Host()))
	if err != nil {
		t.Fatalf("dial: %s", err)
	}
	waitFor(t, 5*time.Second, "the dialed Switch admits the dialer", func() bool { return b.Peers().Has(a.Host().ID().String()) })
	return p
}

// pingPong checks that a and b, peers of each other, exchange a message each
// way on testCh.
func pingPong(t testing.TB, a, b *p2p.Switch) {
	t.Helper()
	for _, pair := range [][2]*p2p.Switch{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		p := from.Peers().(*p2p.PeerSet).Get(to.Host().ID().String())
		if p == nil {
			t.Fatalf("%s is not a peer of %s", to.Host().ID(), from.Host().ID())
		}
		msg := fmt.Sprintf("ping from %s", from.Host().ID())
		if err := p.SendContext(context.Background(), testCh, p2p.ByteSlice(msg)); err != nil {
			t.Fatalf("send to %s: %s", p, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := to.ReceiveContext(ctx, testCh)
		cancel()
		if err != nil {
			t.Fatalf("ping from %s to %s: %s; the sender's peer is still there: %v (stopped for %v); the receiver has the sender as a peer: %v",
				from.Host().ID(), to.Host().ID(), err, from.Peers().Has(p.Key), p.MConnection().Err(), to.Peers().Has(from.Host().ID().String()))
		}
		if string(m.Bytes) != msg || m.MConn.Peer.Key != from.Host().ID().String() {
			t.Fatalf("got %q from %s, want %q from %s", m.Bytes, m.MConn.Peer.Key, msg, from.Host().ID())
		}
	}
}

// doneEvent waits on events for the SwitchEventDonePeer of peer key.
func doneEvent(t testing.TB, events <-chan interface{}, key string, timeout time.Duration) p2p.SwitchEventDonePeer {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-events:
			if d, ok := ev.(p2p.SwitchEventDonePeer); ok && d.Peer.Key == key {
				return d
			}
		case <-deadline:
			t.Fatalf("no SwitchEventDonePeer for %s within %s", key, timeout)
		}
	}
}
