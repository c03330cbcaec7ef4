package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/p2p/conn"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
)

// mconnCh is the channel every MConnection benchmark sends on.
const mconnCh = byte(0x01)

// unlimitedRate is the send and receive rate given to MConnection: 1 TB/s,
// far above what loopback carries, so its rate limiter never waits.
const unlimitedRate = int64(1) << 40

// defaultFlushThrottle is CometBFT's default flush throttle (10 ms).
var defaultFlushThrottle = conn.DefaultMConnConfig().FlushThrottle

// mconnConfig is CometBFT's default MConnection configuration with the rate
// limits lifted and the given flush throttle. Packets keep the default
// payload size (1024 bytes), as CometBFT nodes use.
func mconnConfig(flushThrottle time.Duration) conn.MConnConfig {
	cfg := conn.DefaultMConnConfig()
	cfg.SendRate = unlimitedRate
	cfg.RecvRate = unlimitedRate
	cfg.FlushThrottle = flushThrottle
	return cfg
}

// queueFor is the send queue capacity for messages of size bytes, as the
// suite's Switch throughput benchmarks use: up to 1000 messages, at most
// about 4 MiB, at least 16 messages.
func queueFor(size int) int { return min(1000, max(16, (4<<20)/max(size, 1))) }

// mconnChannel is the one channel of the benchmarks.
func mconnChannel(size int) []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{{
		ID:                  mconnCh,
		Priority:            1,
		SendQueueCapacity:   queueFor(size),
		RecvMessageCapacity: max(size, 1024),
	}}
}

// mconnPair is two MConnections on the two ends of one TCP connection on
// 127.0.0.1 (no encryption); close (idempotent) stops both.
type mconnPair struct {
	a, b *conn.MConnection
	once sync.Once
}

// newMConnPair connects two MConnections with cfg and chDescs over loopback
// TCP and starts them; the messages a receives go to recvA, b's to recvB
// (each lent, valid until the call returns). onError gets either side's
// connection error.
func newMConnPair(cfg conn.MConnConfig, chDescs func() []*conn.ChannelDescriptor, recvA, recvB func(chID byte, msg []byte), onError func(any)) (*mconnPair, error) {
	ca, cb, err := tcpPair()
	if err != nil {
		return nil, err
	}
	p := &mconnPair{
		a: conn.NewMConnectionWithConfig(ca, chDescs(), recvA, onError, cfg),
		b: conn.NewMConnectionWithConfig(cb, chDescs(), recvB, onError, cfg),
	}
	p.a.SetLogger(log.NewNopLogger())
	p.b.SetLogger(log.NewNopLogger())
	if err := p.a.Start(); err != nil {
		ca.Close()
		cb.Close()
		return nil, fmt.Errorf("start MConnection: %w", err)
	}
	if err := p.b.Start(); err != nil {
		p.a.Stop()
		cb.Close()
		return nil, fmt.Errorf("start MConnection: %w", err)
	}
	return p, nil
}

func (p *mconnPair) close() {
	p.once.Do(func() {
		p.a.Stop() // closes its TCP connection
		p.b.Stop()
	})
}

// tcpPair returns the two ends of a TCP connection on 127.0.0.1.
func tcpPair() (net.Conn, net.Conn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	acceptErr := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			acceptErr <- err
			return
		}
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		l.Close() // ends the Accept
		<-acceptErr
		return nil, nil, err
	}
	select {
	case b := <-accepted:
		return a, b, nil
	case err := <-acceptErr:
		a.Close()
		return nil, nil, err
	}
}

// putSeq and seqOf write and read a message's sequence number in bytes 8-15,
// where the suite's benchmarks carry it (after an 8-byte timestamp, which
// these benchmarks leave zero).
func putSeq(msg []byte, i uint64) { binary.LittleEndian.PutUint64(msg[8:], i) }

func seqOf(msg []byte) uint64 {
	if len(msg) < 16 {
		return ^uint64(0)
	}
	return binary.LittleEndian.Uint64(msg[8:])
}

// warmupMessages is how many messages a throughput benchmark sends before
// its timer starts, as in the suite: at least 4 MiB and 1000 messages.
func warmupMessages(size int) int { return max(1000, (4<<20)/max(size, 1)) }

// fill writes a pattern of msg's position into msg[16:], which the intact
// check compares.
func fill(msg []byte) {
	for j := 16; j < len(msg); j++ {
		msg[j] = byte(j*7 + j>>8)
	}
}

// receiving is how MConnThroughput's receiver treats each message.
type receiving struct {
	// copyEach copies each message into a new slice, which the receiver
	// keeps, as a caller of the Switch's Receive gets one (and as
	// CometBFT's Peer does, unmarshalling into a new message).
	copyEach bool
	// intact checks every byte of each message, not only its size and
	// sequence number (for the tests).
	intact bool
}

// MConnThroughput measures one channel of an MConnection pair, one way: a
// sender goroutine calls Send for b.N messages of size bytes (at least
// suite.MinMessageSize) after a warm-up, and the receiving MConnection's
// onReceive checks each message's size and sequence number on its receive
// goroutine (lent, as MConnection lends it to its owner; with rc.copyEach
// copied first into a new slice). The time runs
// from the end of the warm-up until the receiver has every message. It
// reports bytes per message (so MB/s) and msgs/s, and fails b if a message
// is lost, reordered, duplicated or changed in length (or, with rc.intact,
// changed in content).
func MConnThroughput(b *testing.B, size int, flushThrottle time.Duration, rc receiving) {
	size = max(size, suite.MinMessageSize)
	b.ReportAllocs()
	warm := warmupMessages(size)
	total := warm + b.N
	var want []byte
	if rc.intact {
		want = make([]byte, size)
		fill(want)
	}
	warmedUp := make(chan struct{})
	recvDone := make(chan error, 1)
	finish := func(err error) {
		select {
		case recvDone <- err:
		default:
		}
	}
	next := 0       // onReceive runs on one goroutine
	var kept []byte // the last message copied (escapes: a real allocation)
	recv := func(_ byte, msg []byte) {
		if rc.copyEach {
			kept = bytes.Clone(msg)
			msg = kept
		}
		if next >= total { // after a failure, or a message never sent
			finish(fmt.Errorf("a message beyond the %d expected", total))
			return
		}
		if len(msg) != size || seqOf(msg) != uint64(next) {
			finish(fmt.Errorf("message %d: got %d bytes with sequence %d", next, len(msg), seqOf(msg)))
			next = total
			return
		}
		if rc.intact && !bytes.Equal(msg[16:], want[16:]) {
			finish(fmt.Errorf("message %d: content changed", next))
			next = total
			return
		}
		if next++; next == warm {
			close(warmedUp)
		}
		if next == total {
			finish(nil)
		}
	}
	onError := func(r any) { finish(fmt.Errorf("connection error: %v", r)) }
	ignore := func(byte, []byte) {}
	pair, err := newMConnPair(mconnConfig(flushThrottle), func() []*conn.ChannelDescriptor { return mconnChannel(size) }, ignore, recv, onError)
	if err != nil {
		b.Fatal(err)
	}
	defer pair.close()

	// The sender cycles through more buffers than the queue holds plus
	// the message being written: Send keeps the slice until then.
	ring := make([][]byte, 2*queueFor(size)+3)
	for i := range ring {
		ring[i] = make([]byte, size)
		fill(ring[i])
	}
	send := func(from, to int) error {
		for i := from; i < to; i++ {
			msg := ring[i%len(ring)]
			putSeq(msg, uint64(i))
			if !pair.a.Send(mconnCh, msg) {
				return fmt.Errorf("send %d of %d failed", i, total)
			}
		}
		return nil
	}
	start, stop := make(chan struct{}), make(chan struct{})
	sendDone := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendDone <- func() error {
			if err := send(0, warm); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			select {
			case <-start:
			case <-stop:
				return nil
			}
			return send(warm, total)
		}()
	}()
	fail := func(err error) {
		close(stop)
		pair.close()
		wg.Wait()
		b.Fatal(err)
	}
	select {
	case <-warmedUp:
	case err := <-recvDone:
		fail(fmt.Errorf("warm-up: %w", orEnded(err)))
	case err := <-sendDone: // only on error: the sender waits for start
		fail(orEnded(err))
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	close(start)
	err = <-recvDone
	b.StopTimer()
	if err != nil {
		fail(err)
	}
	if err := <-sendDone; err != nil {
		fail(err)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), suite.UnitMsgsPerSec)
}

// errEnded is reported when a side ends before the benchmark is done.
var errEnded = errors.New("ended early")

func orEnded(err error) error {
	if err != nil {
		return err
	}
	return errEnded
}

// echoTimeout bounds one MConnection round trip.
const echoTimeout = 10 * time.Second

// MConnEcho measures b.N round trips of a size-byte message through an
// MConnection pair: A sends on the channel, B's onReceive sends a copy back
// (Send keeps the slice it is given), A's onReceive checks the reply's size
// and sequence number; one round trip at a time. It reports the p50 and p99
// round-trip times and round trips per second, as the suite's echo
// benchmarks do. Each hop waits for the flush throttle; warm-up is shorter
// when it is long.
func MConnEcho(b *testing.B, size int, flushThrottle time.Duration) {
	size = max(size, suite.MinMessageSize)
	var pair *mconnPair // B's onReceive runs only after the pair is set
	echo := func(_ byte, msg []byte) { pair.b.Send(mconnCh, bytes.Clone(msg)) }
	var want atomic.Uint64 // the sequence number of the request in flight
	replies := make(chan error, 1)
	reply := func(_ byte, msg []byte) {
		var err error
		if len(msg) != size || seqOf(msg) != want.Load() {
			err = fmt.Errorf("reply of %d bytes with sequence %d, want %d bytes with %d", len(msg), seqOf(msg), size, want.Load())
		}
		select {
		case replies <- err:
		default: // a reply nobody waits for shows as a wrong sequence next
		}
	}
	connErr := make(chan error, 1)
	onError := func(r any) {
		select {
		case connErr <- fmt.Errorf("connection error: %v", r):
		default:
		}
	}
	var err error
	pair, err = newMConnPair(mconnConfig(flushThrottle), func() []*conn.ChannelDescriptor { return mconnChannel(size) }, reply, echo, onError)
	if err != nil {
		b.Fatal(err)
	}
	defer pair.close()
	msg := make([]byte, size)
	timer := time.NewTimer(echoTimeout)
	defer timer.Stop()
	roundTrip := func(i int) error {
		putSeq(msg, uint64(i))
		want.Store(uint64(i))
		if !pair.a.Send(mconnCh, msg) {
			return fmt.Errorf("round trip %d: send failed", i)
		}
		timer.Reset(echoTimeout)
		select {
		case err := <-replies:
			if err != nil {
				return fmt.Errorf("round trip %d: %w", i, err)
			}
			return nil
		case err := <-connErr:
			return fmt.Errorf("round trip %d: %w", i, err)
		case <-timer.C:
			return fmt.Errorf("round trip %d: no reply within %s", i, echoTimeout)
		}
	}
	warm := 100
	if flushThrottle >= time.Millisecond {
		warm = 5
	}
	for i := range warm {
		if err := roundTrip(i); err != nil {
			b.Fatal(fmt.Errorf("warm-up: %w", err))
		}
	}
	rtts := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := roundTrip(warm + i); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), suite.UnitRoundTripsPerSec)
	slices.Sort(rtts)
	b.ReportMetric(float64(quantile(rtts, 0.50)), suite.UnitP50)
	b.ReportMetric(float64(quantile(rtts, 0.99)), suite.UnitP99)
}

// quantile is the q-quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(rank, 1), len(sorted))-1]
}
