package pexcompat_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// tcpHost starts a real libp2p host listening on TCP on 127.0.0.1 only
// (no NAT port mapping, no metrics), closed when the test ends.
func tcpHost(t testing.TB, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append([]libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func connect(t *testing.T, a, b host.Host) {
	t.Helper()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func TestExchangesOverTCPLoopback(t *testing.T) {
	ha, hb := tcpHost(t), tcpHost(t)
	connect(t, ha, hb)
	a := newService(t, ha, &testHandler{})
	bh := &testHandler{answer: someAddrs(t)}
	newService(t, hb, bh)

	got, err := a.Request(context.Background(), hb.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !equalAddrInfos(got, bh.answer) {
		t.Fatalf("got %v, want %v", got, bh.answer)
	}
	if err := a.Announce(context.Background(), hb.ID(), someAddrs(t)); err != nil {
		t.Fatal(err)
	}
	bh.mu.Lock()
	defer bh.mu.Unlock()
	if !equalAddrInfos(bh.announced[ha.ID()], someAddrs(t)) {
		t.Fatalf("HandleAddrs got %v", bh.announced)
	}
}

// TestSilentPeerOverTCPTimesOut exercises the stream deadlines of a real
// (yamux) stream, which mocknet ignores.
func TestSilentPeerOverTCPTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ha, hb := tcpHost(t), tcpHost(t)
	connect(t, ha, hb)
	a := newService(t, ha, &testHandler{}, pexcompat.WithTimeout(timeout))
	silentResponder(t, hb)
	start := time.Now()
	if _, err := a.Request(context.Background(), hb.ID()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed < timeout || elapsed > timeout+5*time.Second {
		t.Fatalf("Request returned after %v, want about %v", elapsed, timeout)
	}
}

// TestResourceManagerLimitsInboundMessages: the Service reserves the frame
// and the decoded message in the "switchyard.pex" scope, so a resource
// manager that gives PEX 64 KiB lets a small announcement through and
// refuses a full one (about 18 KB on the wire, 120 KB decoded) before the
// Handler sees it.
func TestResourceManagerLimitsInboundMessages(t *testing.T) {
	limits := rcmgr.PartialLimitConfig{Service: map[string]rcmgr.ResourceLimits{
		pexcompat.ServiceName: {Memory: 64 << 10},
	}}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Build(rcmgr.DefaultLimits.AutoScale())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rm.Close() })
	ha, hb := tcpHost(t), tcpHost(t, libp2p.ResourceManager(rm))
	connect(t, ha, hb)
	a := newService(t, ha, &testHandler{})
	bh := &testHandler{}
	newService(t, hb, bh)

	if err := a.Announce(context.Background(), hb.ID(), someAddrs(t)); err != nil {
		t.Fatalf("small announcement: %v", err)
	}
	full := make([]peer.AddrInfo, pexcompat.MaxAddrs)
	for i := range full {
		full[i] = peer.AddrInfo{ID: fixedID(t, byte(i)), Addrs: maddrs(t, "/ip4/10.0.0.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")}
	}
	if err := a.Announce(context.Background(), hb.ID(), full); !errors.Is(err, network.ErrReset) {
		t.Fatalf("full announcement: got %v, want network.ErrReset", err)
	}
	bh.mu.Lock()
	defer bh.mu.Unlock()
	if got := len(bh.announced[ha.ID()]); got != len(someAddrs(t)) {
		t.Fatalf("the Handler got %d addresses, want only the %d of the small announcement", got, len(someAddrs(t)))
	}
}
