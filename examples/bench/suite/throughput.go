package suite

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// UnitMsgsPerSec is the metric unit of message rates.
const UnitMsgsPerSec = "msgs/s"

// rawSinkProto is the protocol of the raw throughput baseline's stream.
const rawSinkProto = protocol.ID("/switchyard-bench/raw-sink/1.0.0")

// MinMessageSize is the smallest message the throughput and echo bodies
// send: 8 bytes of timestamp and 8 of sequence number. Smaller sizes are
// raised to it.
const MinMessageSize = stampLen + 8

// warmupMessages is how many messages a throughput benchmark sends before
// its timer starts: enough to open the streams and let yamux grow its
// window (at least 4 MiB, at least 1000 messages).
func warmupMessages(size int) int { return max(1000, (4<<20)/max(size, 1)) }

// SwitchThroughput measures one channel between two Switches: a sender
// goroutine calls Peer.Send(ch, p2p.ByteSlice(msg)) for b.N messages of size
// bytes while a receiver goroutine loops Switch.Receive. The time runs until
// the receiver has every message. It reports bytes per message (so MB/s),
// msgs/s, and the p50/p99 delivery latency of sampled messages (stamped when
// handed to Send, measured when Receive returns them): under saturation that
// is mostly the time spent in queues and windows. It fails b if a message is
// lost, reordered or changed in length.
func SwitchThroughput(b *testing.B, size int, sec transport.Security) {
	switchThroughput(b, size, sec, false)
}

// SwitchThroughputLending is SwitchThroughput with the receiver on the
// lending path: a handler set with Switch.SetChannelHandler checks each
// message, lent, on the stream reader's goroutine.
func SwitchThroughputLending(b *testing.B, size int, sec transport.Security) {
	switchThroughput(b, size, sec, true)
}

func switchThroughput(b *testing.B, size int, sec transport.Security, lend bool) {
	size = max(size, MinMessageSize)
	b.ReportAllocs()
	pair := newSwitchPair(b, throughputChannels(size), sec)
	var wg sync.WaitGroup
	defer func() { pair.close(); wg.Wait() }()
	f := newFlow(warmupMessages(size), b.N)
	var hist histogram
	switchReceiver(b, pair.b, f, size, &hist, lend, &wg)
	f.run(b, size, switchSender(pair.bPeer, f, size), pair.close)
	hist.report(b)
}

// checker returns the flow's check of message i: its size and sequence
// number, its age recorded in hist every sampleEvery.
func checker(f *flow, size int, hist *histogram) func(i int, msg []byte) error {
	every := sampleEvery(size)
	return func(i int, msg []byte) error {
		if len(msg) != size || seqOf(msg) != uint64(i) {
			return fmt.Errorf("message %d: got %d bytes with sequence %d", i, len(msg), seqOf(msg))
		}
		if i >= f.warm && i%every == 0 {
			hist.record(age(msg))
		}
		f.received(i)
		return nil
	}
}

// switchReceiver receives the flow's messages on sw: with a handler
// (lend), or in a goroutine counted by wg that loops Receive.
func switchReceiver(b *testing.B, sw *p2p.Switch, f *flow, size int, hist *histogram, lend bool, wg *sync.WaitGroup) {
	check := checker(f, size, hist)
	if lend {
		next := 0 // one peer, one stream: the handler's calls are sequential
		if err := sw.SetChannelHandler(benchCh, func(in p2p.InboundBytes) {
			if next == f.total {
				return
			}
			if err := check(next, in.Bytes); err != nil {
				next = f.total
				f.finish(err)
				return
			}
			if next++; next == f.total {
				f.finish(nil)
			}
		}); err != nil {
			b.Fatal(err)
		}
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		f.recvDone <- func() error {
			for i := range f.total {
				m, ok := sw.Receive(benchCh)
				if !ok {
					return fmt.Errorf("receive %d of %d: switch stopped", i, f.total)
				}
				if err := check(i, m.Bytes); err != nil {
					return err
				}
			}
			return nil
		}()
	}()
}

// switchSender returns the flow's sender through a Switch: Peer.Send of
// each message to p, stamped every sampleEvery.
func switchSender(p *p2p.Peer, f *flow, size int) func(from, to int) error {
	ring, every := newRing(size), sampleEvery(size)
	return func(from, to int) error {
		for i := from; i < to; i++ {
			msg := ring[i%len(ring)]
			putSeq(msg, uint64(i))
			if i%every == 0 {
				stamp(msg)
			}
			if !p.Send(benchCh, p2p.ByteSlice(msg)) {
				return fmt.Errorf("send %d of %d failed", i, f.total)
			}
		}
		return nil
	}
}

// RawThroughput is SwitchThroughput's baseline: one libp2p stream between
// two hosts built the same way, the sender writing the same frames through
// a 64 KiB bufio.Writer and flushing when it has nothing more to write (in
// a tight loop: when the buffer is full, and at the end), the receiver (the
// stream handler) reading them through a 64 KiB bufio.Reader into a reused
// buffer: the ceiling, since the Switch must hand each message out in a new
// slice. The sender cycles through the same buffers as SwitchThroughput's.
// It reports the same metrics.
func RawThroughput(b *testing.B, size int, sec transport.Security) {
	rawThroughput(b, size, sec, false)
}

// RawThroughputAllocating is RawThroughput with a receiver that reads each
// message into a new slice, as the Switch must (Receive hands the caller a
// message it owns). Beside RawThroughput it shows how much of the gap
// between the Switch and the raw stream that allocation alone explains.
func RawThroughputAllocating(b *testing.B, size int, sec transport.Security) {
	rawThroughput(b, size, sec, true)
}

func rawThroughput(b *testing.B, size int, sec transport.Security, allocate bool) {
	size = max(size, MinMessageSize)
	b.ReportAllocs()
	pair := newHostPair(b, sec)
	var handlers handlerGroup
	defer func() { pair.close(); handlers.wait() }()
	f := newFlow(warmupMessages(size), b.N)
	var hist histogram
	pair.b.SetStreamHandler(rawSinkProto, handlers.wrap(rawReceiver(f, size, &hist, allocate)))
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := pair.a.NewStream(ctx, pair.b.ID(), rawSinkProto)
	if err != nil {
		b.Fatal(err)
	}
	f.run(b, size, rawSender(s, f, size), pair.close)
	s.Close()
	hist.report(b)
}

// rawReceiver is a stream handler that reads the flow's frames through a
// 64 KiB bufio.Reader, into one reused buffer or (allocate) a new slice
// each, and checks them.
func rawReceiver(f *flow, size int, hist *histogram, allocate bool) network.StreamHandler {
	check := checker(f, size, hist)
	return func(s network.Stream) {
		err := func() error {
			br := bufio.NewReaderSize(s, rawBufferSize)
			var buf []byte
			if !allocate {
				buf = make([]byte, size)
			}
			for i := range f.total {
				msg, err := readFrame(br, buf, size) // a new slice when buf is nil
				if err != nil {
					return fmt.Errorf("read %d of %d: %w", i, f.total, err)
				}
				if err := check(i, msg); err != nil {
					return err
				}
			}
			return nil
		}()
		f.finish(err)
		if err != nil {
			s.Reset()
			return
		}
		io.Copy(io.Discard, s) // until the sender closes
		s.Close()
	}
}

// rawSender returns the flow's sender on a raw stream: frames written
// through a 64 KiB bufio.Writer, flushed when there is nothing more to
// write, from the same buffers as switchSender's (the same cache
// footprint).
func rawSender(s network.Stream, f *flow, size int) func(from, to int) error {
	bw := bufio.NewWriterSize(s, rawBufferSize)
	ring, every := newRing(size), sampleEvery(size)
	return func(from, to int) error {
		for i := from; i < to; i++ {
			msg := ring[i%len(ring)]
			putSeq(msg, uint64(i))
			if i%every == 0 {
				stamp(msg)
			}
			if err := writeFrame(bw, msg); err != nil {
				return fmt.Errorf("write %d of %d: %w", i, f.total, err)
			}
		}
		return bw.Flush() // nothing more to write
	}
}

// newRing returns the buffers a throughput sender cycles through. The Switch
// keeps a ByteSlice until its writer has copied it into the stream, so the
// sender needs more buffers than the send queue holds plus the batch being
// written (up to another queue's worth), and then never changes one in use. (The raw sender uses the same
// ring, so that both touch the same amount of memory.)
func newRing(size int) [][]byte {
	ring := make([][]byte, 2*sendQueueFor(size)+3)
	for i := range ring {
		ring[i] = make([]byte, size)
	}
	return ring
}

// putSeq and seqOf write and read a message's sequence number (bytes 8-15,
// after the timestamp), which the receivers check.
func putSeq(msg []byte, i uint64) { binary.LittleEndian.PutUint64(msg[stampLen:], i) }

func seqOf(msg []byte) uint64 {
	if len(msg) < stampLen+8 {
		return ^uint64(0)
	}
	return binary.LittleEndian.Uint64(msg[stampLen:])
}
