package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// sendChannel is one channel of one peer, outbound side: a bounded queue of
// encoded messages and the goroutine that writes them, framed, on the stream
// we opened for the channel.
type sendChannel struct {
	mconn *MConnection
	desc  *ChannelDescriptor
	proto protocol.ID
	queue *sendQueue
	stats *channelStats

	// writingSince is when the write in progress on the stream began (unix
	// nanoseconds), 0 when none is: the watchdog disconnects a peer whose
	// write makes no progress for the send stall timeout.
	writingSince atomic.Int64
	// refusedAt is the peer budget's release count when the channel last
	// refused a message for the budget, or -1: until the budget releases
	// memory again, a send would be refused again (see canSend).
	refusedAt atomic.Int64

	// scheduler state, guarded by mconn.sched.mu
	priority     float64
	recentlySent float64
	grant        chan struct{}
	stallTimer   *time.Timer // used only by this channel's writer

	// move is signalled when a direct connection to the peer appears: a
	// stream on a relayed connection then moves to it.
	move chan struct{}
}

func newSendChannel(m *MConnection, desc *ChannelDescriptor, proto protocol.ID, stats *channelStats) *sendChannel {
	c := &sendChannel{
		mconn:    m,
		desc:     desc,
		proto:    proto,
		queue:    newSendQueue(desc.SendQueueCapacity, desc.SendQueueBytes),
		stats:    stats,
		priority: float64(desc.DefaultPriority),
		grant:    make(chan struct{}, 1),
		move:     make(chan struct{}, 1),
	}
	c.refusedAt.Store(-1)
	return c
}

// writerPool holds the write buffers of busy channels; an idle channel holds
// none, which keeps an idle peer small.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeQuantum) }}

// run opens the channel's stream and writes queued messages until the peer
// stops. It drains the queue into the buffer and flushes when the queue is
// empty (or the buffer is full), so a burst of small messages shares writes
// while a lone message goes out at once.
func (c *sendChannel) run() {
	m := c.mconn
	defer m.wg.Done()
	defer c.drop()
	c.writingSince.Store(time.Now().UnixNano())
	s, err := m.openStream(c.proto)
	c.writingSince.Store(0)
	if err != nil {
		m.fail(s, fmt.Errorf("channel %#02x: open stream: %w", c.desc.Id, err))
		return
	}
	out := &permitWriter{s: s, c: c}
	for {
		select {
		case <-c.queue.ready:
		case <-c.move:
			if !isRelayed(s.Conn()) || !m.hasDirectConn() {
				continue
			}
			moved, err := c.moveStream(s, out)
			if err != nil {
				m.fail(s, fmt.Errorf("channel %#02x: move off a relayed connection: %w", c.desc.Id, err))
				return
			}
			s, out = moved, &permitWriter{s: moved, c: c}
			continue
		case <-m.quit:
			return // stop resets the stream
		case <-m.closing:
			select {
			case <-m.quit:
				return
			default:
			}
			if err := c.finish(s, out); err != nil {
				m.fail(s, fmt.Errorf("channel %#02x: final flush: %w", c.desc.Id, err))
			}
			return
		}
		if err := c.writeQueued(out); err != nil {
			m.fail(s, fmt.Errorf("channel %#02x: write: %w", c.desc.Id, err))
			return
		}
	}
}

// writeQueued writes batches from the queue until it is empty, then
// flushes: a burst shares writes, a lone message goes out at once.
func (c *sendChannel) writeQueued(out *permitWriter) error {
	batch := c.queue.take()
	if batch == nil {
		return nil
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(out)
	defer func() {
		out.done()
		bw.Reset(nil)
		writerPool.Put(bw)
	}()
	for batch != nil {
		size, err := c.writeBatch(bw, batch)
		c.mconn.budget.release(size)
		c.queue.written(size)
		if err != nil {
			return err
		}
		c.stats.sent(len(batch), size)
		c.queue.recycle(batch)
		batch = c.queue.take()
	}
	return bw.Flush()
}

// writeBatch frames batch into bw and returns the size of its messages (all
// of them: the batch is done with, written or not). Once it returns, bw holds
// copies of what it has not written yet, so the messages can be released.
func (c *sendChannel) writeBatch(bw *bufio.Writer, batch [][]byte) (int, error) {
	var err error
	size := 0
	for _, msg := range batch {
		if err == nil {
			err = writeFrame(bw, msg)
		}
		size += len(msg)
	}
	return size, err
}

// drop ends the queue and releases the memory of what it still held: the
// channel's writer has ended.
func (c *sendChannel) drop() {
	size := 0
	for _, msg := range c.queue.close() {
		size += len(msg)
	}
	c.mconn.budget.release(size)
}

// finish writes what is queued, half-closes the stream, and waits for the
// remote to close its side: it does so once it has read everything (see
// PROTOCOL.md, "Closing"), so the data is known to be delivered before the
// connection is closed. The wait ends at the peer's quit.
func (c *sendChannel) finish(s network.Stream, out *permitWriter) error {
	if err := c.writeQueued(out); err != nil {
		return err
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	var b [1]byte
	for {
		if _, err := s.Read(b[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// moveStream ends stream s, which runs through a relay, as finish does:
// what is queued is written, the stream half-closed, and the remote has read
// all of it when it closes its side; only then does the channel open its
// new stream, which go-libp2p puts on the peer's best connection, a direct
// one. So the remote delivers the messages of the old stream before any of
// the new one: the channel's order holds across the move.
func (c *sendChannel) moveStream(s network.Stream, out *permitWriter) (network.Stream, error) {
	m := c.mconn
	if err := c.writeQueued(out); err != nil {
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	if err := c.awaitRemoteClose(s); err != nil {
		return nil, err
	}
	m.untrack(s)
	s.Close()
	c.writingSince.Store(time.Now().UnixNano())
	moved, err := m.openStream(c.proto)
	c.writingSince.Store(0)
	if err != nil {
		return nil, err
	}
	log.Debugf("%s: channel %#02x moved from a relayed connection to %s", m.Peer, c.desc.Id, moved.Conn().RemoteMultiaddr())
	return moved, nil
}

// movePoll is how often a channel waiting for the remote to finish reading
// its old stream looks whether messages wait to be sent.
const movePoll = time.Second

// awaitRemoteClose reads s until the remote closes its side, which it does
// once it has read everything, however long its application takes. While
// messages wait in the channel's queue, the wait counts as a write in
// progress, so the watchdog disconnects the peer after the send stall
// timeout, as for a stream the remote does not read. It ends with an error
// when s is reset (at the peer's stop, for one).
func (c *sendChannel) awaitRemoteClose(s network.Stream) error {
	defer c.writingSince.Store(0)
	var b [1]byte
	for {
		deadline := time.Now().Add(movePoll)
		if err := s.SetReadDeadline(deadline); err != nil {
			return err
		}
		_, err := s.Read(b[:])
		var ne net.Error
		switch {
		case err == io.EOF:
			return nil
		// Only our deadline is a reason to poll again: a connection that
		// died reports a timeout too (QUIC's idle timeout), at once and
		// every time.
		case errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(deadline):
			if c.queue.len() > 0 && c.writingSince.Load() == 0 {
				c.writingSince.Store(time.Now().UnixNano())
			}
		case err != nil:
			return err
		}
	}
}

// writeFrame writes one message with its unsigned-varint length prefix.
func writeFrame(bw *bufio.Writer, msg []byte) error {
	// Appending to AvailableBuffer encodes the prefix in place, allocation free.
	if _, err := bw.Write(binary.AppendUvarint(bw.AvailableBuffer(), uint64(len(msg)))); err != nil {
		return err
	}
	_, err := bw.Write(msg)
	return err
}

// permitWriter writes to the channel's stream in chunks of at most
// writeQuantum, holding the peer's send-scheduler permit; between chunks it
// lets a channel that sent less for its priority go first. done releases
// the permit when the writer has nothing more to write.
type permitWriter struct {
	s       network.Stream
	c       *sendChannel
	held    bool
	pending int // bytes written under the permit and not yet accounted
}

func (w *permitWriter) Write(p []byte) (int, error) {
	sched, quit := &w.c.mconn.sched, w.c.mconn.quit
	written := 0
	for len(p) > 0 {
		var ok bool
		if w.held {
			ok = sched.requeue(w.c, w.pending, quit)
		} else {
			ok = sched.acquire(w.c, quit)
		}
		w.held, w.pending = ok, 0
		if !ok {
			return written, ErrPeerStopped
		}
		w.c.writingSince.Store(time.Now().UnixNano())
		n, err := w.s.Write(p[:min(len(p), writeQuantum)])
		w.c.writingSince.Store(0)
		w.pending = n
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// done releases the permit, if held.
func (w *permitWriter) done() {
	if w.held {
		w.c.mconn.sched.release(w.c, w.pending)
		w.held, w.pending = false, 0
	}
}

// enqueue puts bz on the queue, waiting while it is full (or the peer's
// memory budget is) until ctx is done or timeout passes (0: no timeout).
// The common case, room in the queue, allocates nothing.
func (c *sendChannel) enqueue(ctx context.Context, timeout time.Duration, bz []byte) error {
	err := c.tryEnqueue(bz)
	if err != ErrSendQueueFull && err != errNoSendMemory {
		return err
	}
	m := c.mconn
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		space := c.queue.spaceSignal()
		if err = c.tryEnqueue(bz); err != ErrSendQueueFull && err != errNoSendMemory {
			return err
		}
		// Memory comes back from any side of the peer (its messages being
		// received, other channels writing), so poll as well as wait.
		var retry *time.Timer
		var retried <-chan time.Time
		if err == errNoSendMemory {
			retry = time.NewTimer(memoryRetry)
			retried = retry.C
		}
		select {
		case <-space:
		case <-retried:
		case <-m.closing:
			return ErrPeerStopped
		case <-m.sw.quit:
			return ErrSwitchStopped
		case <-expired:
			return fmt.Errorf("%w: queue full for %s", ErrSendTimeout, timeout)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%w: %w", ErrSendTimeout, ctx.Err())
			}
			return ctx.Err()
		}
		if retry != nil {
			retry.Stop()
		}
	}
}

// memoryRetry is how often a sender waiting for the peer's memory budget
// tries again.
const memoryRetry = 20 * time.Millisecond

// errNoSendMemory: the peer's memory budget has no room for the message.
var errNoSendMemory = fmt.Errorf("%w: the peer's memory budget is used up", ErrSendQueueFull)

// tryEnqueue reserves bz's size in the peer's memory budget and puts bz on
// the queue, if there is room for both.
func (c *sendChannel) tryEnqueue(bz []byte) error {
	m := c.mconn
	if m.stopping.Load() {
		return ErrPeerStopped
	}
	if err := m.budget.reserve(len(bz), sendPriority); err != nil {
		if err == ErrPeerStopped {
			return err
		}
		c.refusedAt.Store(m.budget.releaseCount())
		return errNoSendMemory
	}
	if !c.queue.tryPush(bz) {
		m.budget.release(len(bz))
		if m.stopping.Load() {
			return ErrPeerStopped
		}
		return ErrSendQueueFull
	}
	return nil
}
