package p2p

import (
	"bufio"
	"context"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/transport"
)

// BenchmarkChannelThroughput sends messages of several sizes from one
// Switch to another over loopback TCP (TLS, yamux) on one channel. The
// side-by-side table against a raw libp2p stream is `go run ./examples/bench`.
func BenchmarkChannelThroughput(b *testing.B) {
	for _, size := range []int{256, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			chans := func() []*ChannelDescriptor {
				return []*ChannelDescriptor{{Id: 0x10, SendQueueCapacity: 1000, RecvQueueCapacity: 1000}}
			}
			sws := tcpSwitches(b, 2, chans)
			connectSwitches(b, sws[0], sws[1])
			p := sws[0].Peers().List()[0]
			msg := ByteSlice(make([]byte, size))
			b.SetBytes(int64(size))
			b.ResetTimer()
			go func() {
				for i := 0; i < b.N; i++ {
					p.Send(0x10, msg)
				}
			}()
			for i := 0; i < b.N; i++ {
				if _, ok := sws[1].Receive(0x10); !ok {
					b.Fatal("receive failed")
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkRawStreamThroughput is the ceiling for BenchmarkChannelThroughput:
// the same framing written straight on one libp2p stream between two hosts
// built the same way.
func BenchmarkRawStreamThroughput(b *testing.B) {
	for _, size := range []int{256, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			var hs []host.Host
			for i := 0; i < 2; i++ {
				h, err := transport.New(transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { h.Close() })
				hs = append(hs, h)
			}
			got := make(chan int, 1)
			hs[1].SetStreamHandler("/bench", func(s network.Stream) {
				br := bufio.NewReaderSize(s, 64<<10)
				n := 0
				for {
					if _, err := readFrame(br, s, 1<<20, nil); err != nil {
						break
					}
					n++
				}
				got <- n
			})
			ctx := context.Background()
			if err := hs[0].Connect(ctx, peer.AddrInfo{ID: hs[1].ID(), Addrs: hs[1].Addrs()}); err != nil {
				b.Fatal(err)
			}
			s, err := hs[0].NewStream(ctx, hs[1].ID(), "/bench")
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			bw := bufio.NewWriterSize(s, 64<<10)
			for i := 0; i < b.N; i++ {
				writeFrame(bw, msg)
			}
			bw.Flush()
			s.CloseWrite()
			if n := <-got; n != b.N {
				b.Fatalf("received %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			s.Close()
		})
	}
}
