package suite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// benchCh is the channel every Switch benchmark sends on.
const benchCh = byte(0x01)

// setupTimeout bounds each setup step (building hosts, connecting, waiting
// for admission).
const setupTimeout = 30 * time.Second

// hostOptions are the transport options of every benchmark host: TCP on
// 127.0.0.1 (so NAT port mapping is off), the given security only, and
// transport.New's defaults otherwise (yamux v4, connection and resource
// managers).
func hostOptions(sec transport.Security) []transport.Option {
	return []transport.Option{
		transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
		transport.WithSecurity(sec),
	}
}

// NewHost builds a loopback TCP host with the given security, as the raw
// baselines use. The caller closes it.
func NewHost(sec transport.Security) (host.Host, error) {
	h, err := transport.New(hostOptions(sec)...)
	if err != nil {
		return nil, fmt.Errorf("new host: %w", err)
	}
	return h, nil
}

// NewSwitch starts a Switch for chDescs on its own loopback TCP host with
// the given security. The caller stops it (which closes the host).
func NewSwitch(chDescs []*p2p.ChannelDescriptor, sec transport.Security, opts ...p2p.Option) (*p2p.Switch, error) {
	all := append([]p2p.Option{p2p.WithHostOptions(hostOptions(sec)...)}, opts...)
	sw := p2p.NewSwitch(chDescs, all...)
	if err := sw.Start(); err != nil {
		return nil, fmt.Errorf("start switch: %w", err)
	}
	return sw, nil
}

// Connect makes from dial to and waits until each Switch has admitted the
// other; it returns from's Peer for to, and to's Peer for from. It blocks for
// at most about 30 s (then an error).
func Connect(from, to *p2p.Switch) (toPeer, fromPeer *p2p.Peer, err error) {
	addr, err := p2p.NewNetAddressMultiaddr(to.Host().Addrs()[0])
	if err != nil {
		return nil, nil, fmt.Errorf("address of %s: %w", to.Host().ID(), err)
	}
	addr.ID = to.Host().ID()
	toPeer, err = from.DialPeerWithAddress(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dial: %w", err)
	}
	key := from.Host().ID().String()
	deadline := time.Now().Add(setupTimeout)
	for {
		if p := to.Peers().(*p2p.PeerSet).Get(key); p != nil {
			return toPeer, p, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("%s did not admit %s within %s", to.Host().ID(), from.Host().ID(), setupTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// connectHosts connects a to b (raw hosts).
func connectHosts(a, b host.Host) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}

// switchPair is two connected Switches and each one's Peer for the other;
// close (idempotent, safe for concurrent use) stops both.
type switchPair struct {
	a, b  *p2p.Switch
	bPeer *p2p.Peer // a's Peer for b
	aPeer *p2p.Peer // b's Peer for a
}

// newSwitchPair starts two Switches with the same channels and connects
// them (a dials b). It fails b at once on error; close stops both.
func newSwitchPair(b *testing.B, chDescs func() []*p2p.ChannelDescriptor, sec transport.Security) *switchPair {
	b.Helper()
	sa, err := NewSwitch(chDescs(), sec)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := NewSwitch(chDescs(), sec)
	if err != nil {
		sa.Stop()
		b.Fatal(err)
	}
	p := &switchPair{a: sa, b: sb}
	p.bPeer, p.aPeer, err = Connect(sa, sb)
	if err != nil {
		p.close()
		b.Fatal(err)
	}
	return p
}

func (p *switchPair) close() {
	p.a.Stop() // Stop is idempotent
	p.b.Stop()
}

// hostPair is two connected raw hosts; close is idempotent.
type hostPair struct {
	a, b host.Host
	once sync.Once
}

func newHostPair(b *testing.B, sec transport.Security) *hostPair {
	b.Helper()
	ha, err := NewHost(sec)
	if err != nil {
		b.Fatal(err)
	}
	hb, err := NewHost(sec)
	if err != nil {
		ha.Close()
		b.Fatal(err)
	}
	p := &hostPair{a: ha, b: hb}
	if err := connectHosts(ha, hb); err != nil {
		p.close()
		b.Fatal(err)
	}
	return p
}

func (p *hostPair) close() {
	p.once.Do(func() {
		p.a.Close()
		p.b.Close()
	})
}

// throughputChannels is one channel with queues deep enough for a sender
// and a receiver to batch: each queue holds up to 1000 messages (fewer for
// large ones: at most about 4 MiB, at least 16 messages), and the inbound
// stream is read through a 64 KiB buffer, as the raw baseline's is.
func throughputChannels(size int) func() []*p2p.ChannelDescriptor {
	return func() []*p2p.ChannelDescriptor {
		return []*p2p.ChannelDescriptor{{
			Id:                  benchCh,
			SendQueueCapacity:   sendQueueFor(size),
			RecvQueueCapacity:   sendQueueFor(size),
			RecvBufferSize:      rawBufferSize,
			RecvMessageCapacity: max(size, 1024),
		}}
	}
}

// sendQueueFor is the queue capacity used for messages of size bytes.
func sendQueueFor(size int) int {
	return min(1000, max(16, (4<<20)/max(size, 1)))
}

// handlerGroup tracks the stream handlers a benchmark sets on its hosts, so
// that it can wait for them to return after closing the hosts (which resets
// their streams). A handler invoked after wait has begun resets its stream.
type handlerGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// wrap returns f as a handler counted by g.
func (g *handlerGroup) wrap(f network.StreamHandler) network.StreamHandler {
	return func(s network.Stream) {
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			s.Reset()
			return
		}
		g.wg.Add(1)
		g.mu.Unlock()
		defer g.wg.Done()
		f(s)
	}
}

// wait refuses new handlers and waits for the running ones to return.
func (g *handlerGroup) wait() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
