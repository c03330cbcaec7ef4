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

// The path benchmarks put a Switch on one side only and a raw host on the
// other, which speaks the channel's protocol by hand (PROTOCOL.md): what
// they allocate per message is the Switch's send path, or its receive path,
// alone (the raw side allocates nothing per message; compare with
// RawThroughput for what libp2p itself costs).

// SendPath measures the Switch's send path: Peer.Send of b.N messages of
// size bytes to a raw host that reads the channel's frames into a reused
// buffer. Allocations and bytes per op are per message, whole process.
func SendPath(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	b.ReportAllocs()
	sw, raw := newSwitchAndRawHost(b, size)
	var handlers handlerGroup
	defer func() { sw.Stop(); raw.Close(); handlers.wait() }()
	f := newFlow(warmupMessages(size), b.N)
	var hist histogram
	raw.SetStreamHandler(p2p.ChannelProtocolID(sw.Network(), benchCh), handlers.wrap(rawReceiver(f, size, &hist, false)))
	p, err := admitRaw(sw, raw)
	if err != nil {
		b.Fatal(err)
	}
	f.run(b, size, switchSender(p, f, size), func() { sw.Stop(); raw.Close() })
	hist.report(b)
}

// ReceivePath measures the Switch's receive path: a raw host writes b.N
// frames of size bytes on its stream of the channel, and the Switch hands
// them to Receive, or (lend) to a handler set with SetChannelHandler.
// Allocations and bytes per op are per message, whole process.
func ReceivePath(b *testing.B, size int, lend bool) {
	size = max(size, MinMessageSize)
	b.ReportAllocs()
	sw, raw := newSwitchAndRawHost(b, size)
	var wg sync.WaitGroup
	defer func() { sw.Stop(); raw.Close(); wg.Wait() }()
	proto := p2p.ChannelProtocolID(sw.Network(), benchCh)
	raw.SetStreamHandler(proto, func(s network.Stream) { s.Reset() }) // what the Switch sends us: nothing here
	if _, err := admitRaw(sw, raw); err != nil {
		b.Fatal(err)
	}
	f := newFlow(warmupMessages(size), b.N)
	var hist histogram
	switchReceiver(b, sw, f, size, &hist, lend, &wg)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := raw.NewStream(ctx, sw.Host().ID(), proto)
	if err != nil {
		b.Fatal(err)
	}
	f.run(b, size, rawSender(s, f, size), func() { sw.Stop(); raw.Close() })
	s.Close()
	hist.report(b)
}

// newSwitchAndRawHost starts a Switch with the throughput benchmarks'
// channel and a raw host, both on loopback TCP with TLS.
func newSwitchAndRawHost(b *testing.B, size int) (*p2p.Switch, host.Host) {
	b.Helper()
	sw, err := NewSwitch(throughputChannels(size)(), transport.SecurityTLS)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := NewHost(transport.SecurityTLS)
	if err != nil {
		sw.Stop()
		b.Fatal(err)
	}
	return sw, raw
}

// admitRaw connects raw, which must already speak the channel's protocol,
// to sw and waits until sw has admitted it as a peer, which it returns.
func admitRaw(sw *p2p.Switch, raw host.Host) (*p2p.Peer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := raw.Connect(ctx, peer.AddrInfo{ID: sw.Host().ID(), Addrs: sw.Host().Addrs()}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	for {
		if p := sw.Peers().(*p2p.PeerSet).Get(raw.ID().String()); p != nil {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the Switch did not admit the raw host within %s", setupTimeout)
		case <-time.After(time.Millisecond):
		}
	}
}
