package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// UnitRoundTripsPerSec is the metric unit of echo rates.
const UnitRoundTripsPerSec = "rtt/s"

// rawEchoProto is the protocol of the raw echo baseline's stream.
const rawEchoProto = protocol.ID("/switchyard-bench/raw-echo/1.0.0")

// echoWarmup is how many round trips run before the timer starts.
const echoWarmup = 100

// echoChannels is one channel for echo benchmarks, with the default queues.
func echoChannels(size int) func() []*p2p.ChannelDescriptor {
	return func() []*p2p.ChannelDescriptor {
		return []*p2p.ChannelDescriptor{{Id: benchCh, RecvMessageCapacity: max(size, 1024)}}
	}
}

// SwitchEcho measures b.N round trips of a size-byte message through two
// Switches: A sends on the channel, B receives it and sends it back to the
// Peer it came from, A receives the reply; one round trip at a time. It
// reports the p50 and p99 round-trip times and round trips per second, and
// fails b if a reply differs from its request.
func SwitchEcho(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	pair := newSwitchPair(b, echoChannels(size), transport.SecurityTLS)
	var wg sync.WaitGroup
	defer func() { pair.close(); wg.Wait() }()
	wg.Add(1)
	go func() { // B: echo until stopped
		defer wg.Done()
		for {
			m, ok := pair.b.Receive(benchCh)
			if !ok {
				return
			}
			if !m.MConn.Peer.Send(benchCh, p2p.ByteSlice(m.Bytes)) {
				return
			}
		}
	}()
	msg := make([]byte, size)
	roundTrip := func(i int) error {
		putSeq(msg, uint64(i))
		if !pair.bPeer.Send(benchCh, p2p.ByteSlice(msg)) {
			return fmt.Errorf("round trip %d: send failed", i)
		}
		m, ok := pair.a.Receive(benchCh)
		if !ok {
			return fmt.Errorf("round trip %d: switch stopped", i)
		}
		if !bytes.Equal(m.Bytes, msg) {
			return fmt.Errorf("round trip %d: reply differs from the request", i)
		}
		return nil
	}
	runEcho(b, roundTrip)
}

// SwitchEchoLending is SwitchEcho with both Switches on the lending path:
// B's handler sends a copy of each message back (Send keeps the slice it is
// given until it is written), A's handler checks the reply; neither side
// queues for Receive.
func SwitchEchoLending(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	pair := newSwitchPair(b, echoChannels(size), transport.SecurityTLS)
	defer pair.close()
	if err := pair.b.SetChannelHandler(benchCh, func(in p2p.InboundBytes) {
		in.MConn.Peer.Send(benchCh, p2p.ByteSlice(bytes.Clone(in.Bytes)))
	}); err != nil {
		b.Fatal(err)
	}
	var want atomic.Uint64 // the sequence number of the request in flight
	replies := make(chan error, 1)
	if err := pair.a.SetChannelHandler(benchCh, func(in p2p.InboundBytes) {
		var err error
		if len(in.Bytes) != size || seqOf(in.Bytes) != want.Load() {
			err = fmt.Errorf("reply of %d bytes with sequence %d, want %d bytes with %d", len(in.Bytes), seqOf(in.Bytes), size, want.Load())
		}
		replies <- err
	}); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	runEcho(b, func(i int) error {
		putSeq(msg, uint64(i))
		want.Store(uint64(i))
		if !pair.bPeer.Send(benchCh, p2p.ByteSlice(msg)) {
			return fmt.Errorf("round trip %d: send failed", i)
		}
		if err := <-replies; err != nil {
			return fmt.Errorf("round trip %d: %w", i, err)
		}
		return nil
	})
}

// runEcho times b.N calls of roundTrip after echoWarmup untimed ones,
// recording each call's duration, and reports the latency percentiles and
// the rate.
func runEcho(b *testing.B, roundTrip func(i int) error) {
	for i := range echoWarmup {
		if err := roundTrip(i); err != nil {
			b.Fatal(fmt.Errorf("warm-up: %w", err))
		}
	}
	var hist histogram
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := roundTrip(echoWarmup + i); err != nil {
			b.Fatal(err)
		}
		hist.record(time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), UnitRoundTripsPerSec)
	hist.report(b)
}

// RawEcho is SwitchEcho's baseline: one libp2p stream, A writes a frame and
// flushes, B's handler reads it and writes it back (flushing), A reads the
// reply; the same framing and buffers as RawThroughput.
func RawEcho(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	pair := newHostPair(b, transport.SecurityTLS)
	var handlers handlerGroup
	defer func() { pair.close(); handlers.wait() }()
	pair.b.SetStreamHandler(rawEchoProto, handlers.wrap(func(s network.Stream) {
		br := bufio.NewReaderSize(s, rawBufferSize)
		bw := bufio.NewWriterSize(s, rawBufferSize)
		buf := make([]byte, size)
		for {
			msg, err := readFrame(br, buf, size)
			if err != nil {
				s.Reset() // io.EOF included: the benchmark resets its end
				return
			}
			if writeFrame(bw, msg) != nil || bw.Flush() != nil {
				s.Reset()
				return
			}
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := pair.a.NewStream(ctx, pair.b.ID(), rawEchoProto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Reset()
	br := bufio.NewReaderSize(s, rawBufferSize)
	bw := bufio.NewWriterSize(s, rawBufferSize)
	msg, buf := make([]byte, size), make([]byte, size)
	runEcho(b, func(i int) error {
		putSeq(msg, uint64(i))
		if err := writeFrame(bw, msg); err != nil {
			return fmt.Errorf("round trip %d: write: %w", i, err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("round trip %d: flush: %w", i, err)
		}
		reply, err := readFrame(br, buf, size)
		if err != nil {
			return fmt.Errorf("round trip %d: read: %w", i, err)
		}
		if !bytes.Equal(reply, msg) {
			return fmt.Errorf("round trip %d: reply differs from the request", i)
		}
		return nil
	})
}
