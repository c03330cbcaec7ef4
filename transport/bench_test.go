package transport

import (
	"io"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

const sinkProto = protocol.ID("/switchyard/bench/sink/1.0.0")

// BenchmarkStreamThroughput sends 64 KiB writes down one stream between two
// hosts on loopback TCP: ours (yamux on go-yamux/v4) beside stock go-libp2p
// hosts (go-yamux/v5), with TLS and with Noise, in the same run.
func BenchmarkStreamThroughput(b *testing.B) {
	stock := func(b *testing.B, secID string, sec any) host.Host {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(secID, sec),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	for _, bc := range []struct {
		name string
		make func(*testing.B) host.Host
	}{
		{"ours-yamux4/tls", func(b *testing.B) host.Host { return newTestHost(b, WithSecurity(SecurityTLS)) }},
		{"stock-yamux5/tls", func(b *testing.B) host.Host { return stock(b, tls.ID, tls.New) }},
		{"ours-yamux4/noise", func(b *testing.B) host.Host { return newTestHost(b, WithSecurity(SecurityNoise)) }},
		{"stock-yamux5/noise", func(b *testing.B) host.Host { return stock(b, noise.ID, noise.New) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src, dst := bc.make(b), bc.make(b)
			benchThroughput(b, src, dst, 64<<10)
		})
	}
}

func benchThroughput(b *testing.B, src, dst host.Host, size int) {
	received := make(chan int64, 1)
	dst.SetStreamHandler(sinkProto, func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Close()
		received <- n
	})
	ctx := testContext(b)
	if err := src.Connect(ctx, addrInfo(dst)); err != nil {
		b.Fatal(err)
	}
	s, err := src.NewStream(ctx, dst.ID(), sinkProto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, size)
	// Warm up: negotiate the protocol and let the window grow.
	for range 64 {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	s.CloseWrite()
	n := <-received // count the time until the receiver has everything
	b.StopTimer()
	if want := int64(size) * int64(b.N+64); n != want {
		b.Fatalf("receiver got %d bytes, want %d", n, want)
	}
}
