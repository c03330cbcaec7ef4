package pexcompat_test

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// fullAddrs is a MaxAddrs-entry message of typical entries (Ed25519 peer
// ID, one IPv4/TCP and one IPv6/QUIC multiaddr): about 18 KB on the wire.
func fullAddrs(b *testing.B) *pexcompat.Addrs {
	m := &pexcompat.Addrs{}
	for i := 0; i < pexcompat.MaxAddrs; i++ {
		m.Addrs = append(m.Addrs, peer.AddrInfo{ID: fixedID(b, byte(i)), Addrs: maddrs(b, "/ip4/10.0.0.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")})
	}
	return m
}

func BenchmarkMarshalFullAddrs(b *testing.B) {
	m := fullAddrs(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pexcompat.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalFullAddrs(b *testing.B) {
	enc, err := pexcompat.Marshal(fullAddrs(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pexcompat.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestOverTCP is one whole exchange (new stream, negotiation,
// Request, full Addrs answer) between two real hosts on loopback.
func BenchmarkRequestOverTCP(b *testing.B) {
	ha, hb := tcpHost(b), tcpHost(b)
	if err := ha.Connect(context.Background(), peer.AddrInfo{ID: hb.ID(), Addrs: hb.Addrs()}); err != nil {
		b.Fatal(err)
	}
	a := pexcompat.NewService(ha, testProto, &testHandler{})
	defer a.Close()
	bs := pexcompat.NewService(hb, testProto, &testHandler{answer: fullAddrs(b).Addrs})
	defer bs.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Request(context.Background(), hb.ID()); err != nil {
			b.Fatal(err)
		}
	}
}
