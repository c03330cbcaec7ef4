package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/transport"
)

// Protocols of the stream-per-message baselines: a request (answered, in the
// echo, on a new stream of spmReplyProto) and a one-way message.
const (
	spmEchoProto  = protocol.ID("/switchyard-bench/spm-echo/1.0.0")
	spmReplyProto = protocol.ID("/switchyard-bench/spm-reply/1.0.0")
	spmSinkProto  = protocol.ID("/switchyard-bench/spm-sink/1.0.0")
)

// spmTimeout bounds one stream-per-message send (open, write, close).
const spmTimeout = 10 * time.Second

// sendOnNewStream is the stream-per-message design (as CometBFT's libp2p
// backend sends): open a new stream to p for the message, write it as one
// frame, close the stream.
func sendOnNewStream(h host.Host, p peer.ID, proto protocol.ID, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), spmTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	bw := bufio.NewWriterSize(s, len(msg)+8)
	if err := writeFrame(bw, msg); err != nil {
		s.Reset()
		return fmt.Errorf("write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		s.Reset()
		return fmt.Errorf("write: %w", err)
	}
	return s.Close()
}

// readOneFrame reads the single frame of a stream-per-message stream and
// closes the stream.
func readOneFrame(s network.Stream, limit int) ([]byte, error) {
	msg, err := readFrame(bufio.NewReader(s), nil, limit)
	if err != nil {
		s.Reset()
		return nil, err
	}
	s.Close()
	return msg, nil
}

// StreamPerMessageEcho is the echo of a stream-per-message design: A opens
// a new stream to B for each request and closes it after writing one frame;
// B's handler reads it and sends the reply to A the same way, on a new
// stream; A's handler hands the reply to the benchmark. It reports the same
// metrics as SwitchEcho.
func StreamPerMessageEcho(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	pair := newHostPair(b, transport.SecurityTLS)
	var handlers handlerGroup
	defer func() { pair.close(); handlers.wait() }()
	replies := make(chan []byte, 1)
	var failures atomic.Int64
	pair.b.SetStreamHandler(spmEchoProto, handlers.wrap(func(s network.Stream) {
		msg, err := readOneFrame(s, size)
		if err == nil {
			err = sendOnNewStream(pair.b, pair.a.ID(), spmReplyProto, msg)
		}
		if err != nil {
			failures.Add(1)
		}
	}))
	pair.a.SetStreamHandler(spmReplyProto, handlers.wrap(func(s network.Stream) {
		msg, err := readOneFrame(s, size)
		if err != nil {
			failures.Add(1)
			return
		}
		select {
		case replies <- msg:
		default: // a reply nobody waits for: counted as a failure
			failures.Add(1)
		}
	}))
	if err := waitProtocols(pair.a, pair.b.ID(), spmEchoProto); err != nil {
		b.Fatal(err)
	}
	if err := waitProtocols(pair.b, pair.a.ID(), spmReplyProto); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	timer := time.NewTimer(spmTimeout)
	defer timer.Stop()
	runEcho(b, func(i int) error {
		putSeq(msg, uint64(i))
		if err := sendOnNewStream(pair.a, pair.b.ID(), spmEchoProto, msg); err != nil {
			return fmt.Errorf("round trip %d: %w", i, err)
		}
		timer.Reset(spmTimeout)
		select {
		case reply := <-replies:
			if !bytes.Equal(reply, msg) {
				return fmt.Errorf("round trip %d: reply differs from the request", i)
			}
			return nil
		case <-timer.C:
			return fmt.Errorf("round trip %d: no reply within %s (%d handler failures)", i, spmTimeout, failures.Load())
		}
	})
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d stream-per-message handler failures", n)
	}
}

// StreamPerMessageThroughput measures one sender sending b.N messages of
// size bytes, each on a new stream (open, write one frame, close), to a host
// whose handler reads each; the time runs until every message was read. It
// reports msgs/s and bytes per message, like SwitchThroughput.
func StreamPerMessageThroughput(b *testing.B, size int) {
	size = max(size, MinMessageSize)
	pair := newHostPair(b, transport.SecurityTLS)
	var handlers handlerGroup
	defer func() { pair.close(); handlers.wait() }()
	f := newFlow(echoWarmup, b.N)
	var got, failures atomic.Int64
	pair.b.SetStreamHandler(spmSinkProto, handlers.wrap(func(s network.Stream) {
		msg, err := readOneFrame(s, size)
		if err != nil || len(msg) != size {
			failures.Add(1)
			f.finish(fmt.Errorf("a stream-per-message read failed: %v", err))
			return
		}
		// Handlers run concurrently: messages may be read out of order.
		i := int(got.Add(1)) - 1
		f.received(i)
		if i == f.total-1 {
			f.finish(nil)
		}
	}))
	if err := waitProtocols(pair.a, pair.b.ID(), spmSinkProto); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, size)
	send := func(from, to int) error {
		for i := from; i < to; i++ {
			putSeq(msg, uint64(i))
			if err := sendOnNewStream(pair.a, pair.b.ID(), spmSinkProto, msg); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
		return nil
	}
	f.run(b, size, send, pair.close)
}

// waitProtocols waits until h's peerstore shows that p speaks proto (learned
// through identify), so that h.NewStream negotiates lazily, without a round
// trip, as it does in a long-running node.
func waitProtocols(h host.Host, p peer.ID, proto protocol.ID) error {
	deadline := time.Now().Add(setupTimeout)
	for {
		if ok, _ := h.Peerstore().SupportsProtocols(p, proto); len(ok) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not learn that %s speaks %s", h.ID(), p, proto)
		}
		time.Sleep(time.Millisecond)
	}
}
