package suite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// Metric units of SwitchBroadcast.
const (
	UnitNsPerPeer    = "ns/peer"
	UnitEncodesPerOp = "encodes/op"
)

// countingMsg is a Binary that counts how often it is encoded.
type countingMsg struct {
	data   []byte
	writes atomic.Int64
}

// WriteTo writes the message and counts the call.
func (m *countingMsg) WriteTo(w io.Writer) (int64, error) {
	m.writes.Add(1)
	n, err := w.Write(m.data)
	return int64(n), err
}

// broadcastWarmup is how many broadcasts run before the timer starts.
const broadcastWarmup = 20

// broadcastTimeout bounds the wait for one broadcast to reach every peer.
const broadcastTimeout = 30 * time.Second

// SwitchBroadcast measures Switch.Broadcast of one size-byte message to
// peers peers: one Switch connected over loopback TCP (TLS) to peers other
// Switches, each with a goroutine looping Receive. An operation is one
// Broadcast until every peer has received the message. It reports ns/op,
// its share per peer (ns/peer), and how many times the message was encoded
// per Broadcast (encodes/op; the Switch encodes once for all peers). It
// fails b if a peer misses a message or gets a wrong one.
func SwitchBroadcast(b *testing.B, peers, size int) {
	chans := func() []*p2p.ChannelDescriptor {
		return []*p2p.ChannelDescriptor{{Id: benchCh, RecvMessageCapacity: max(size, 1024)}}
	}
	hub, err := NewSwitch(chans(), transport.SecurityTLS, p2p.WithMaxPeers(peers, peers))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	leaves := make([]*p2p.Switch, 0, peers)
	done := make(chan struct{}) // unblocks receivers after a failure
	defer func() {
		close(done)
		hub.Stop()
		for _, sw := range leaves {
			sw.Stop()
		}
		wg.Wait()
	}()
	msg := &countingMsg{data: make([]byte, size)}
	for i := range msg.data {
		msg.data[i] = byte(i)
	}
	got := make(chan error, peers)
	for range peers {
		sw, err := NewSwitch(chans(), transport.SecurityTLS)
		if err != nil {
			b.Fatal(err)
		}
		leaves = append(leaves, sw)
		if _, _, err := Connect(hub, sw); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, ok := sw.Receive(benchCh)
				if !ok {
					return
				}
				var err error
				if string(m.Bytes) != string(msg.data) {
					err = fmt.Errorf("peer %s received a wrong message (%d bytes)", sw.Host().ID(), len(m.Bytes))
				}
				select {
				case got <- err:
				case <-done:
					return
				}
			}
		}()
	}
	timer := time.NewTimer(broadcastTimeout)
	defer timer.Stop()
	broadcast := func() error {
		if ok, failed := hub.Broadcast(benchCh, msg); ok != peers || failed != 0 {
			return fmt.Errorf("broadcast queued for %d peers, failed for %d, want %d and 0", ok, failed, peers)
		}
		timer.Reset(broadcastTimeout)
		for i := range peers {
			select {
			case err := <-got:
				if err != nil {
					return err
				}
			case <-timer.C:
				return fmt.Errorf("only %d of %d peers received the broadcast within %s", i, peers, broadcastTimeout)
			}
		}
		return nil
	}
	for range broadcastWarmup {
		if err := broadcast(); err != nil {
			b.Fatal(fmt.Errorf("warm-up: %w", err))
		}
	}
	before := msg.writes.Load()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if err := broadcast(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(peers), UnitNsPerPeer)
	b.ReportMetric(float64(msg.writes.Load()-before)/float64(b.N), UnitEncodesPerOp)
}

// rawBroadcastProto is the protocol of RawBroadcast's streams.
const rawBroadcastProto = protocol.ID("/switchyard-bench/raw-broadcast/1.0.0")

// RawBroadcast is SwitchBroadcast's baseline: one host with a raw libp2p
// stream to each of peers hosts (loopback TCP, TLS); an operation writes the
// size-byte frame on every stream, flushing each, and waits until every
// peer's handler has read it. It reports ns/op and ns/peer.
func RawBroadcast(b *testing.B, peers, size int) {
	hub, err := NewHost(transport.SecurityTLS)
	if err != nil {
		b.Fatal(err)
	}
	var handlers handlerGroup
	leaves := make([]host.Host, 0, peers)
	defer func() {
		hub.Close()
		for _, h := range leaves {
			h.Close()
		}
		handlers.wait()
	}()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	got := make(chan error, peers)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	writers := make([]*bufio.Writer, 0, peers)
	for range peers {
		h, err := NewHost(transport.SecurityTLS)
		if err != nil {
			b.Fatal(err)
		}
		leaves = append(leaves, h)
		h.SetStreamHandler(rawBroadcastProto, handlers.wrap(func(s network.Stream) {
			br := bufio.NewReaderSize(s, rawBufferSize)
			buf := make([]byte, size)
			for {
				msg, err := readFrame(br, buf, size)
				if err != nil {
					s.Reset() // io.EOF included: the hub resets its end
					return
				}
				if string(msg) != string(data) {
					err = fmt.Errorf("peer %s read a wrong message (%d bytes)", h.ID(), len(msg))
				}
				got <- err // never blocks: one message per peer per operation
			}
		}))
		if err := connectHosts(hub, h); err != nil {
			b.Fatal(err)
		}
		s, err := hub.NewStream(ctx, h.ID(), rawBroadcastProto)
		if err != nil {
			b.Fatal(err)
		}
		writers = append(writers, bufio.NewWriterSize(s, rawBufferSize))
	}
	timer := time.NewTimer(broadcastTimeout)
	defer timer.Stop()
	broadcast := func() error {
		for _, bw := range writers {
			if err := writeFrame(bw, data); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		timer.Reset(broadcastTimeout)
		for i := range peers {
			select {
			case err := <-got:
				if err != nil {
					return err
				}
			case <-timer.C:
				return fmt.Errorf("only %d of %d peers read the message within %s", i, peers, broadcastTimeout)
			}
		}
		return nil
	}
	for range broadcastWarmup {
		if err := broadcast(); err != nil {
			b.Fatal(fmt.Errorf("warm-up: %w", err))
		}
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	for range b.N {
		if err := broadcast(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(peers), UnitNsPerPeer)
}
