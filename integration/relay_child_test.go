package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// The relay tests' children (relay_test.go): the relay on the public
// segment, and a node behind each NAT.

const (
	relayMsgs       = 20
	natSymmetricEnv = "SWITCHYARD_NAT_SYMMETRIC" // set: the node is behind a symmetric NAT
)

// relayServerRun is a Switch on the public segment serving as a circuit
// relay v2 (it declares itself publicly reachable, as a relay on a known
// public address does). It prints "RELAY <multiaddr>/p2p/<id>".
func relayServerRun(c *natChild) (*p2p.Switch, error) {
	sw := p2p.NewSwitch(testChannels(), p2p.WithHostOptions(
		transport.WithListenAddrs(os.Getenv(natListenEnv)),
		transport.WithQUIC(),
		transport.WithNAT(false),
		transport.WithRelayService(),
		transport.WithReachability(network.ReachabilityPublic),
	))
	if err := sw.Start(); err != nil {
		return nil, err
	}
	for _, a := range sw.Host().Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			fmt.Printf("RELAY %s/p2p/%s\n", a, sw.Host().ID())
			return sw, nil
		}
	}
	return sw, fmt.Errorf("no TCP address among %v", sw.Host().Addrs())
}

// punchTracer collects the hole-punch outcomes go-libp2p reports.
type punchTracer struct {
	mu       sync.Mutex
	ok       bool
	failures []string
}

func (p *punchTracer) Trace(evt *holepunch.Event) {
	if e, isEnd := evt.Evt.(*holepunch.EndHolePunchEvt); isEnd {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e.Success {
			p.ok = true
		} else {
			p.failures = append(p.failures, e.Error)
		}
	}
}

func (p *punchTracer) outcome() (ok bool, failures []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, append([]string(nil), p.failures...)
}

// relayedRun is a Switch behind a NAT that maps no ports, with a slot on
// the relay (natPeerEnv's relay, as a static relay) and hole punching. It
// prints "RELAYED <its relayed address>" once it holds a reservation; with
// natPeerEnv set, it connects to that relayed address. When the other node
// becomes a peer it prints "PEER limited=<true|false>" (whether only a
// relayed connection joined them then); it sends relayMsgs numbered
// messages and prints "RELAY-MSGS" when the other's have all come, in
// order. Then, when a direct connection appears and every channel stream
// has moved to it, it sends and receives relayMsgs more and prints "DIRECT
// <the direct connection's remote address>"; if its hole punch attempts
// all fail instead, "PUNCH-FAILED <errors>"; behind a symmetric NAT
// (natSymmetricEnv), with no direct connection in symmetricWindow, it
// exchanges messages over the relay again and prints "NO-DIRECT <what
// go-libp2p had to go on>".
func relayedRun(c *natChild) (*p2p.Switch, error) {
	// The lab has one public observer (the relay) where the internet has
	// many: go-libp2p trusts an address observed through identify only once
	// ActivationThresh peers report it, and hole punching waits for one.
	observedaddrs.ActivationThresh = 1
	ctx, cancel := context.WithTimeout(c.ctx, natTimeout/2) // its report comes before the parent gives up
	defer cancel()
	relay := os.Getenv(natExtEnv) // the relay's multiaddr
	tracer := &punchTracer{}
	sw := p2p.NewSwitch(testChannels(), p2p.WithHostOptions(
		transport.WithListenAddrs(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", natHostPort)),
		transport.WithQUIC(),
		transport.WithNAT(false),
		transport.WithStaticRelays(relay),
		transport.WithReachability(network.ReachabilityPrivate),
		transport.WithHolePunching(),
		transport.WithLibp2pOptions(libp2p.EnableHolePunching(holepunch.WithTracer(tracer))), // replaces WithHolePunching's, with a tracer
	))
	events := make(chan interface{}, 16)
	sw.AddEventListener("relayed", events)
	defer sw.RemoveEventListener("relayed")
	if err := sw.Start(); err != nil {
		return nil, err
	}
	h := sw.Host()

	// go-libp2p's DCUtR service starts (and registers its protocol) once
	// the host knows a public address of its own; a relayed connection
	// that arrives before that gets no hole punch. So the node says where
	// it is reachable only once both hold.
	// Behind a symmetric NAT the host may never know a public address of
	// its own (each peer sees another port), and so never starts DCUtR:
	// then it says where it is reachable without waiting for it.
	symmetric := os.Getenv(natSymmetricEnv) != ""
	var relayed ma.Multiaddr
	for relayed == nil {
		if symmetric || dcutrReady(h) {
			for _, a := range h.Addrs() {
				if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
					relayed = a
				}
			}
		}
		select {
		case <-ctx.Done():
			return sw, fmt.Errorf("no relayed address, or DCUtR not running (%v): %v (%w)", dcutrReady(h), h.Addrs(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Printf("RELAYED %s/p2p/%s\n", relayed, h.ID())

	if target := os.Getenv(natPeerEnv); target != "" {
		ai, err := peer.AddrInfoFromString(target)
		if err != nil {
			return sw, err
		}
		if err := h.Connect(ctx, *ai); err != nil {
			return sw, fmt.Errorf("connect through the relay: %w", err)
		}
	}
	var other *p2p.Peer
	for other == nil {
		select {
		case e := <-events:
			if np, ok := e.(p2p.SwitchEventNewPeer); ok && np.Peer.Key != relayIDOf(relay) {
				other = np.Peer
			}
		case <-ctx.Done():
			return sw, fmt.Errorf("waiting for the other node: %w", ctx.Err())
		}
	}
	limited := true
	for _, conn := range h.Network().ConnsToPeer(other.ID) {
		limited = limited && conn.Stat().Limited
	}
	fmt.Printf("PEER limited=%v\n", limited)
	if err := exchange(ctx, sw, other, "relay"); err != nil {
		return sw, err
	}
	fmt.Println("RELAY-MSGS")

	// The hole punch: a direct connection, with every channel on it, or
	// every attempt failed, or (symmetric NATs) none in symmetricWindow.
	watchUntil := time.Now().Add(symmetricWindow)
	for {
		if conn := directConn(h, other.ID); conn != nil && channelsMoved(sw, other.ID) {
			if err := exchange(ctx, sw, other, "direct"); err != nil {
				return sw, err
			}
			fmt.Printf("DIRECT %s\n", conn.RemoteMultiaddr())
			return sw, nil
		}
		ok, failures := tracer.outcome()
		switch {
		case !ok && len(failures) >= 3:
			fmt.Printf("PUNCH-FAILED %s\n", strings.Join(failures, "; "))
			return sw, nil
		case symmetric && time.Now().After(watchUntil):
			// No direct connection in the window: say what go-libp2p had
			// to go on, the hole punches tried (none when DCUtR never
			// started for want of a public address) and the relayed
			// connection still carrying the channels.
			if err := exchange(ctx, sw, other, "still-relayed"); err != nil {
				return sw, err
			}
			fmt.Printf("NO-DIRECT dcutr=%v punch-failures=%d public-addrs=%v\n", dcutrReady(h), len(failures), publicAddrs(h.Addrs()))
			return sw, nil
		}
		select {
		case <-ctx.Done():
			return sw, fmt.Errorf("no direct connection and no failed hole punch (failures: %q): %w", failures, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// symmetricWindow is how long a node behind a symmetric NAT watches for a
// direct connection that should not come.
const symmetricWindow = 10 * time.Second

// dcutrReady reports whether go-libp2p's DCUtR service runs on h: it
// registers its protocol once the host knows a public address.
func dcutrReady(h interface{ Mux() protocol.Switch }) bool {
	return slices.Contains(h.Mux().Protocols(), holepunch.Protocol)
}

// publicAddrs returns the public, not relayed, addresses among addrs.
func publicAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil && manet.IsPublicAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// relayIDOf is the peer ID a relay multiaddr ends with.
func relayIDOf(relay string) string {
	ai, err := peer.AddrInfoFromString(relay)
	if err != nil {
		return ""
	}
	return ai.ID.String()
}

// exchange sends relayMsgs numbered messages to p on testCh and receives as
// many from it, checking their order.
func exchange(ctx context.Context, sw *p2p.Switch, p *p2p.Peer, tag string) error {
	for i := range relayMsgs {
		if !p.Send(testCh, p2p.ByteSlice(fmt.Sprintf("%s %d", tag, i))) {
			return fmt.Errorf("%s message %d not sent", tag, i)
		}
	}
	for i := range relayMsgs {
		in, err := sw.ReceiveContext(ctx, testCh)
		if err != nil {
			return fmt.Errorf("%s messages: %d of %d: %w", tag, i, relayMsgs, err)
		}
		if want := fmt.Sprintf("%s %d", tag, i); string(in.Bytes) != want {
			return fmt.Errorf("got %q, want %q", in.Bytes, want)
		}
	}
	return nil
}

// directConn returns an open connection to id that is not relayed.
func directConn(h interface{ Network() network.Network }, id peer.ID) network.Conn {
	for _, c := range h.Network().ConnsToPeer(id) {
		if !c.IsClosed() && !c.Stat().Limited {
			return c
		}
	}
	return nil
}

// channelsMoved reports whether every channel stream with id, both ways,
// runs on a direct connection.
func channelsMoved(sw *p2p.Switch, id peer.ID) bool {
	want := map[string]bool{}
	for _, d := range testChannels() {
		want[string(p2p.ChannelProtocolID(sw.Network(), d.Id))] = true
	}
	direct := 0
	for _, c := range sw.Host().Network().ConnsToPeer(id) {
		for _, s := range c.GetStreams() {
			if !want[string(s.Protocol())] {
				continue
			}
			if c.Stat().Limited {
				return false
			}
			direct++
		}
	}
	return direct == 2*len(want)
}
