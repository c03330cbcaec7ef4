package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// pexNode is a Switch with a book and a PEX agent.
type pexNode struct {
	sw    *Switch
	book  *AddrBook
	agent *PEXAgent
}

// pexNodes starts n Switches on mocknet, each with an in-memory book that
// knows only node 0's address, and PEX agents with fast test periods.
func pexNodes(t *testing.T, n int, pexOpts ...PEXOption) ([]*pexNode, mocknet.Mocknet) {
	t.Helper()
	sws, mn := mockSwitchesNet(t, n, testChannels, WithMaxPeers(20, 10))
	nodes := make([]*pexNode, n)
	for i, sw := range sws {
		book := NewAddrBook("", WithBookRoutabilityStrict(false))
		if err := book.Start(); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := book.AddAddress(addrOf(t, sws[0]), nil); err != nil {
				t.Fatal(err)
			}
		}
		opts := append([]PEXOption{WithEnsurePeersPeriod(100 * time.Millisecond), WithMinOutboundPeers(3)}, pexOpts...)
		nodes[i] = &pexNode{sw: sw, book: book, agent: NewPEXAgent(sw, book, opts...)}
	}
	for _, nd := range nodes {
		if err := nd.agent.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.agent.Stop()
			nd.book.Stop()
		}
	})
	return nodes, mn
}

// connected reports whether the peer graph of the nodes is one component.
func connected(nodes []*pexNode) bool {
	index := map[string]int{}
	for i, nd := range nodes {
		index[nd.sw.Host().ID().String()] = i
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

func TestPEXNodesThatKnowOnlyASeedFindEachOther(t *testing.T) {
	nodes, _ := pexNodes(t, 12)
	waitFor(t, 20*time.Second, func() bool {
		for _, nd := range nodes[1:] { // the seed has everyone as inbound peers
			if out, _, _ := nd.sw.NumPeers(); out < 3 {
				return false
			}
		}
		return connected(nodes)
	})
	for _, nd := range nodes[1:] {
		if nd.book.Size() < 3 {
			t.Errorf("book of %s holds %d addresses", nd.sw.Host().ID(), nd.book.Size())
		}
	}
}

func TestPEXAnswersWithBookAddressesAndNeverTheAsker(t *testing.T) {
	nodes, mn := pexNodes(t, 1, WithEnsurePeersPeriod(time.Hour))
	sw, book := nodes[0].sw, nodes[0].book
	svc, asker := pexRawPeer(t, mn, sw)
	other := &NetAddress{IP: []byte{10, 1, 2, 3}, Port: 26656, ID: fixedPeerID(t, 7), Multiaddr: ma.StringCast("/ip4/10.1.2.3/tcp/26656")}
	self := &NetAddress{IP: []byte{10, 1, 2, 4}, Port: 26656, ID: asker.ID, Multiaddr: ma.StringCast("/ip4/10.1.2.4/tcp/26656")}
	for _, na := range []*NetAddress{other, self} {
		if err := book.AddAddress(na, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.Request(context.Background(), sw.Host().ID())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ai := range got {
		if ai.ID == asker.ID {
			t.Fatal("answer holds the asker itself")
		}
		found = found || ai.ID == other.ID
	}
	if !found {
		t.Fatalf("answer %v lacks %s", got, other)
	}
}

func TestPEXRequestFillsTheBook(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	other := &NetAddress{IP: []byte{10, 1, 2, 3}, Port: 26656, ID: fixedPeerID(t, 7), Multiaddr: ma.StringCast("/ip4/10.1.2.3/tcp/26656")}
	books := []*AddrBook{NewAddrBook("", WithBookRoutabilityStrict(false)), NewAddrBook("", WithBookRoutabilityStrict(false))}
	books[0].AddAddress(other, nil)
	books[1].AddAddress(addrOf(t, a), nil)
	for i, sw := range sws {
		books[i].Start()
		agent := NewPEXAgent(sw, books[i], WithEnsurePeersPeriod(100*time.Millisecond))
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { agent.Stop(); books[i].Stop() })
	}
	waitFor(t, 5*time.Second, func() bool { return books[1].HasAddress(other) })
	if !books[0].HasAddress(addrOf(t, b)) {
		t.Fatal("a did not learn b's address from b's announcement")
	}
}

// pexRawPeer is a hand-driven host that is a peer of sw (it speaks channel
// 0x10) and can speak PEX directly.
func pexRawPeer(t *testing.T, mn mocknet.Mocknet, sw *Switch) (*pexcompat.Service, *Peer) {
	t.Helper()
	h := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	svc := pexcompat.NewService(h, pexcompat.ProtocolID(DefaultNetwork), nopPEXHandler{})
	t.Cleanup(func() { svc.Close() })
	return svc, connectRaw(t, h, sw)
}

type nopPEXHandler struct{}

func (nopPEXHandler) HandleRequest(peer.ID) ([]peer.AddrInfo, error) { return nil, nil }
func (nopPEXHandler) HandleAddrs(peer.ID, []peer.AddrInfo) error     { return nil }

// doneReason waits for the SwitchEventDonePeer of p on events.
func doneReason(t *testing.T, events <-chan interface{}, p *Peer) error {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-events:
			if d, ok := ev.(SwitchEventDonePeer); ok && d.Peer == p {
				err, _ := d.Error.(error)
				return err
			}
		case <-deadline:
			t.Fatalf("%s was not stopped", p)
		}
	}
}

// TestPEXPeerThatAsksTooOftenIsRefusedThenBanned: requests beyond the
// protocol's pace are refused, without a penalty at first; a peer that
// keeps flooding is banned once far beyond the pace.
func TestPEXPeerThatAsksTooOftenIsRefusedThenBanned(t *testing.T) {
	nodes, mn := pexNodes(t, 1, WithEnsurePeersPeriod(time.Hour))
	sw := nodes[0].sw
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	svc, p := pexRawPeer(t, mn, sw)
	ctx := context.Background()
	answered, refused := 0, 0
	for sw.Peers().Has(p.Key) && answered+refused < 1000 {
		if _, err := svc.Request(ctx, sw.Host().ID()); err == nil {
			answered++
		} else if sw.Peers().Has(p.Key) {
			refused++
		}
	}
	t.Logf("%d requests at once: %d answered, %d refused, then banned", answered+refused, answered, refused)
	if answered < PEXRequestBurst {
		t.Errorf("only %d of a burst of %d requests answered", answered, PEXRequestBurst)
	}
	if refused < pexRefusalBurst-1 {
		t.Errorf("banned after %d refusals, want about %d", refused, pexRefusalBurst)
	}
	if err := doneReason(t, events, p); !errors.Is(err, ErrPEXFlood) {
		t.Fatalf("stopped for %v, want ErrPEXFlood", err)
	}
}

// TestPEXPeerThatFloodsMalformedMessagesIsBanned: a malformed PEX message
// counts as a request against the pace, so a peer cannot make us decode
// them at the rate of its bandwidth: a few are only dropped, a flood of
// them gets it banned.
func TestPEXPeerThatFloodsMalformedMessagesIsBanned(t *testing.T) {
	nodes, mn := pexNodes(t, 1, WithEnsurePeersPeriod(time.Hour))
	sw := nodes[0].sw
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	_, p := pexRawPeer(t, mn, sw)
	h := mn.Host(p.ID)
	sent := 0
	for ; sw.Peers().Has(p.Key) && sent < 1000; sent++ {
		s, err := h.NewStream(context.Background(), sw.Host().ID(), pexcompat.ProtocolID(DefaultNetwork))
		if err != nil {
			break // banned meanwhile
		}
		s.Write([]byte{0x01, 0x09}) // a frame of one byte: an unknown type
		s.CloseWrite()
		if _, err := io.ReadAll(s); !errors.Is(err, network.ErrReset) {
			t.Fatalf("malformed message %d: read %v, want a reset", sent, err)
		}
	}
	t.Logf("banned after %d malformed messages", sent)
	if sent < PEXRequestBurst+pexRefusalBurst-1 {
		t.Errorf("banned after %d malformed messages, want about %d", sent, PEXRequestBurst+pexRefusalBurst)
	}
	if err := doneReason(t, events, p); !errors.Is(err, ErrPEXFlood) {
		t.Fatalf("stopped for %v, want ErrPEXFlood", err)
	}
}

func TestPEXAnnouncementsAreCheckedAndBounded(t *testing.T) {
	nodes, mn := pexNodes(t, 1, WithEnsurePeersPeriod(time.Hour))
	sw, book := nodes[0].sw, nodes[0].book
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	svc, p := pexRawPeer(t, mn, sw)
	ctx := context.Background()
	self := sw.Host().ID()
	announcer := p.ID

	// Its own address is taken; a third party's, ours, and malformed ones are not.
	own := peer.AddrInfo{ID: announcer, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.9.9.9/tcp/26656")}}
	thirdParty := peer.AddrInfo{ID: fixedPeerID(t, 9), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.8.8.8/tcp/26656")}}
	ours := peer.AddrInfo{ID: self, Addrs: sw.Host().Addrs()}
	if err := svc.Announce(ctx, self, []peer.AddrInfo{own, thirdParty, ours}); err != nil {
		t.Fatalf("announce: %s", err)
	}
	if !book.HasAddress(&NetAddress{IP: []byte{10, 9, 9, 9}, Port: 26656, ID: announcer, Multiaddr: own.Addrs[0]}) {
		t.Error("the announcer's own address was not taken")
	}
	if book.HasAddress(&NetAddress{IP: []byte{10, 8, 8, 8}, Port: 26656, ID: thirdParty.ID, Multiaddr: thirdParty.Addrs[0]}) {
		t.Error("a third party's address was taken from an announcement")
	}
	for _, na := range book.GetSelection() {
		if na.ID == self {
			t.Error("our own address entered the book")
		}
	}

	// Too many addresses at once: refused, and the announcer stays.
	var flood []ma.Multiaddr
	for i := 0; i < 8; i++ {
		flood = append(flood, ma.StringCast(fmt.Sprintf("/ip4/10.7.7.%d/tcp/26656", i)))
	}
	big := []peer.AddrInfo{{ID: announcer, Addrs: flood}, {ID: announcer, Addrs: flood}, {ID: announcer, Addrs: flood}}
	if err := svc.Announce(ctx, self, big); err == nil {
		t.Error("an announcement of 24 addresses was accepted")
	}
	if !sw.Peers().Has(p.Key) {
		t.Fatal("an announcer was stopped for one announcement too big")
	}
	// Announcing far beyond the pace gets it banned.
	for i := 0; i < 100 && sw.Peers().Has(p.Key); i++ {
		svc.Announce(ctx, self, []peer.AddrInfo{own})
	}
	if err := doneReason(t, events, p); !errors.Is(err, ErrPEXFlood) {
		t.Fatalf("stopped for %v, want ErrPEXFlood", err)
	}
}

func TestPEXMalformedAnswerStopsThePeer(t *testing.T) {
	nodes, mn := pexNodes(t, 1, WithEnsurePeersPeriod(time.Hour))
	sw := nodes[0].sw
	events := make(chan interface{}, 10)
	sw.AddEventListener("t", events)
	h := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	h.SetStreamHandler(pexcompat.ProtocolID(DefaultNetwork), func(s network.Stream) {
		io.CopyN(io.Discard, s, 2)
		s.Write([]byte{0x05, 0x02, 0xff, 0xff, 0xff, 0xff}) // Addrs with an absurd count
		s.Close()
	})
	p := connectRaw(t, h, sw)
	if _, err := nodes[0].agent.RequestPEXContext(context.Background(), p); !errors.Is(err, pexcompat.ErrTruncated) && !errors.Is(err, pexcompat.ErrTooManyAddrs) {
		t.Fatalf("request: %v, want a codec error", err)
	}
	if err := doneReason(t, events, p); err == nil {
		t.Fatal("peer with a malformed answer stopped without a reason")
	}
}

func TestPEXSeedModeAnswersAndDisconnects(t *testing.T) {
	const n = 8
	sws, _ := mockSwitchesNet(t, n, testChannels, WithMaxPeers(20, 10))
	seedEvents := make(chan interface{}, 1000)
	sws[0].AddEventListener("test", seedEvents)
	var books []*AddrBook
	for i, sw := range sws {
		book := NewAddrBook("", WithBookRoutabilityStrict(false))
		book.Start()
		t.Cleanup(book.Stop)
		books = append(books, book)
		opts := []PEXOption{WithEnsurePeersPeriod(100 * time.Millisecond), WithMinOutboundPeers(2)}
		if i == 0 {
			opts = append(opts, WithSeedMode(true), WithSeedDisconnectDelay(50*time.Millisecond))
		} else {
			book.AddAddress(addrOf(t, sws[0]), nil)
		}
		a := NewPEXAgent(sw, book, opts...)
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
	}
	// The nodes end up with outbound peers other than the seed (two, or
	// every other node as a peer when those that dialed it first leave
	// none to dial); the seed learns them all, and disconnects every one
	// after answering.
	seedID := sws[0].Host().ID().String()
	state := func() (done bool, report string) {
		done = books[0].Size() >= n-1
		report = fmt.Sprintf("seed's book %d of %d; outbound of all peers besides the seed:", books[0].Size(), n-1)
		for i, sw := range sws[1:] {
			out, others := 0, 0
			for _, p := range sw.Peers().List() {
				if p.Key != seedID {
					others++
					if p.IsOutbound() {
						out++
					}
				}
			}
			// Two outbound peers, unless every other node is a peer
			// already (some inbound): there is none left to dial.
			done = done && (out >= 2 || others == n-2)
			report += fmt.Sprintf(" node %d: %d of %d (book %d);", i+1, out, others, books[i+1].Size())
		}
		return done, report
	}
	deadline := time.Now().Add(30 * time.Second)
	for done, report := state(); !done; done, report = state() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", report)
		}
		time.Sleep(10 * time.Millisecond)
	}
	disconnected := map[string]bool{}
	for len(disconnected) < n-1 {
		select {
		case ev := <-seedEvents:
			if d, ok := ev.(SwitchEventDonePeer); ok && d.Error == nil {
				disconnected[d.Peer.Key] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the seed disconnected %d of %d nodes", len(disconnected), n-1)
		}
	}
}

// fixedPeerID is a deterministic, valid peer ID for tests.
func fixedPeerID(t testing.TB, seed uint64) peer.ID {
	return testID(t, rand.New(rand.NewPCG(seed, seed)))
}

// A host that has just started can answer identify before it knows its
// listen addresses, and announce them later in an identify push. The agent
// must learn them then, not only what the peerstore held at admission.
func TestPEXLearnsListenAddressesAnnouncedAfterAdmission(t *testing.T) {
	sw := tcpSwitches(t, 1, testChannels)[0]
	book := NewAddrBook("", WithBookRoutabilityStrict(false))
	if err := book.Start(); err != nil {
		t.Fatal(err)
	}
	defer book.Stop()
	agent := NewPEXAgent(sw, book, WithEnsurePeersPeriod(time.Hour))
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer agent.Stop()

	// A stock host that listens nowhere yet: identify reports no addresses.
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetStreamHandler(sw.protoByID[testChannels()[0].Id], func(s network.Stream) { io.Copy(io.Discard, s); s.Close() })
	connectRaw(t, h, sw)
	time.Sleep(100 * time.Millisecond)
	if n := book.Size(); n != 0 {
		t.Fatalf("book holds %d addresses of a peer that listens nowhere", n)
	}

	if err := h.Network().Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0")); err != nil {
		t.Fatal(err)
	}
	var want *NetAddress
	waitFor(t, 10*time.Second, func() bool {
		if len(h.Addrs()) == 0 {
			return false
		}
		want, err = NewNetAddressMultiaddr(h.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		want.ID = h.ID()
		return book.HasAddress(want)
	})
}
