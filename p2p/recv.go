package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-varint"
)

// InboundBytes is a message received on a channel, with the MConnection
// (and so the Peer) it came from.
type InboundBytes struct {
	MConn *MConnection
	Bytes []byte
}

// release gives the memory of in, a message of channel chID, back to its
// peer's budget: the Switch no longer holds it.
func (in InboundBytes) release(chID byte) {
	if in.MConn != nil {
		in.MConn.recvHeld[chID].Add(-int64(len(in.Bytes)))
		in.MConn.budget.release(len(in.Bytes))
	}
}

// recvBatch is how many messages a stream reader hands to the receive
// queue at once, at most.
const recvBatch = 8

// maxInboundStreamsPerChannel is how many streams of one channel a peer may
// have open towards us at once (PROTOCOL.md §4.1: one, and a second while
// the first ends); further ones are reset unread.
const maxInboundStreamsPerChannel = 2

// ErrStreamLimit is why a peer's channel stream is reset unread: the peer
// already has maxInboundStreamsPerChannel streams of that channel open.
var ErrStreamLimit = errors.New("too many streams for one channel")

// serveRecv reads the frames the peer writes on s, its stream for channel
// desc, into the Switch's receive queue for that channel, until the stream
// ends or the peer stops. The messages of one read go to the queue
// together, before the reader waits for more. A clean end of stream (at a
// frame boundary) is the peer's graceful close and is answered by closing
// our side; anything malformed stops the peer.
//
// Every frame's length is reserved in the peer's memory budget before its
// body is read, and stays reserved until Receive takes the message; the
// body is allocated as its bytes arrive, never ahead of them.
func (m *MConnection) serveRecv(desc *ChannelDescriptor, s network.Stream) {
	fr := newFrameReader(s, desc.RecvBufferSize, desc.RecvMessageCapacity, m.sw.cfg.readStall)
	fr.reserve, fr.release = m.reserveRecv, m.budget.release
	if err := m.addReader(desc.Id, fr); err != nil {
		if errors.Is(err, ErrStreamLimit) {
			m.sw.Penalize(m.Peer, PenaltyDrop, fmt.Errorf("channel %#02x: %w", desc.Id, err))
		}
		s.Reset()
		return
	}
	defer m.removeReader(desc.Id, fr)
	q := m.sw.recvQueues[desc.Id]
	handler := m.sw.handlers[desc.Id]
	stats := m.sw.metrics.channel(desc.Id)
	held := &m.recvHeld[desc.Id]
	var batch [recvBatch]InboundBytes
	n, size := 0, 0 // messages in batch, and their bytes
	// flush hands the batch to the receive queue; false if the peer stopped
	// first (what was not delivered is then released).
	flush := func() bool {
		held.Add(int64(size))
		ok := m.deliver(q, desc.Id, batch[:n])
		if ok {
			stats.received(n, size)
		}
		clear(batch[:n])
		n, size = 0, 0
		if ok && handler.on() { // set since we chose the queue
			m.sw.drainToHandler(desc.Id)
		}
		return ok
	}
	for {
		if n == len(batch) || (n > 0 && !fr.frameBuffered()) {
			if !flush() {
				return
			}
		}
		// The peer's messages of this channel that wait for Receive bound
		// how far ahead of Receive it may get (backpressure on this
		// channel only: the others keep their share of its memory budget).
		if n == 0 && !m.awaitRecvRoom(held, desc.RecvQueueBytes) {
			s.Reset()
			return
		}
		// With a handler set and none of this stream's messages waiting
		// in the queue (they go first), the message is lent to it.
		lend := n == 0 && handler.on() && held.Load() == 0
		var msg []byte
		var err error
		if lend {
			msg, err = fr.nextLent()
		} else {
			msg, err = fr.next()
		}
		if err != nil {
			if n > 0 {
				flush()
			}
			if err == io.EOF {
				s.Close()
				return
			}
			select {
			case <-m.quit: // our own stop reset the stream
			default:
				m.fail(s, fmt.Errorf("channel %#02x: %w", desc.Id, err))
			}
			s.Reset()
			return
		}
		if lend {
			if handler.call(InboundBytes{MConn: m, Bytes: msg}) {
				stats.received(1, len(msg))
				fr.releaseLent()
				continue
			}
			msg = fr.keepLent(msg) // the handler was unset meanwhile: Receive gets it
		}
		batch[n] = InboundBytes{MConn: m, Bytes: msg}
		n++
		size += len(msg)
	}
}

// deliver puts msgs on q, waiting while it is full. It returns false if
// the peer stopped first; the messages not delivered are then released.
func (m *MConnection) deliver(q *recvQueue, chID byte, msgs []InboundBytes) bool {
	for {
		msgs = msgs[q.push(msgs):]
		if len(msgs) == 0 {
			return true
		}
		space := q.spaceSignal()
		msgs = msgs[q.push(msgs):]
		if len(msgs) == 0 {
			return true
		}
		select {
		case <-space:
		case <-m.quit:
			for _, in := range msgs {
				in.release(chID)
			}
			return false
		}
	}
}

// awaitRecvRoom waits while held, the bytes of the peer's messages of one
// channel that wait for Receive, is at limit or more. It returns false if
// the peer stopped first. Waiting for Receive is not the peer's fault: it
// may last for ever.
func (m *MConnection) awaitRecvRoom(held *atomic.Int64, limit int) bool {
	backoff := time.Millisecond
	for held.Load() >= int64(limit) {
		if !m.pause(backoff) {
			return false
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	return true
}

// pause waits d, or until the peer stops (then it returns false).
func (m *MConnection) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-m.quit:
		return false
	}
}

// reserveRecv reserves size bytes of a frame in the peer's memory budget,
// waiting while the budget is used up. While some of the peer's messages
// wait for Receive, their release will make room and the wait is ours (it
// may last for ever: backpressure). Otherwise the memory is held by what we
// queued to the peer, by its stream windows or by other peers; a frame that
// waits so for longer than the read stall timeout disconnects the peer
// with ErrPeerMemory (a frame larger than the budget can ever hold ends so).
func (m *MConnection) reserveRecv(size int) error {
	var waited time.Duration
	backoff := time.Millisecond
	for {
		err := m.budget.reserve(size, recvPriority)
		if err == nil || err == ErrPeerStopped {
			return err
		}
		if m.recvHeldTotal() > 0 {
			waited = 0
		} else if waited >= m.sw.cfg.readStall {
			return fmt.Errorf("%w: %d bytes, waited %s: %w", ErrPeerMemory, size, waited, err)
		}
		if !m.pause(backoff) {
			return ErrPeerStopped
		}
		waited += backoff
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// recvHeldTotal is the bytes of the peer's messages that wait for Receive.
func (m *MConnection) recvHeldTotal() int64 {
	var n int64
	for _, c := range m.chans {
		n += m.recvHeld[c.desc.Id].Load()
	}
	return n
}

// frameReader reads the frames of one inbound channel stream. It knows
// when it waits for the stream in the middle of a frame (the watchdog
// disconnects a peer whose frame makes no progress for the read stall
// timeout) and, through reserve, accounts for each frame before reading its
// body.
type frameReader struct {
	src     io.Reader
	br      *bufio.Reader // reads from the frameReader, so that it sees every wait
	max     int
	stall   time.Duration        // the read stall timeout (0: none)
	reserve func(size int) error // nil: nothing to account
	release func(size int)       // gives back what reserve took, for a frame that failed
	pending int                  // reserved for the frame being read

	// The message lent by nextLent, until releaseLent or keepLent.
	lentPeeked int     // its bytes in br's buffer, to discard
	lentBuf    *[]byte // the pooled buffer it is in
	lentSize   int     // its reservation

	// Used by the reader's goroutine only.
	inFrame     bool          // a frame has begun
	windowTime  time.Duration // time spent waiting for the stream inside frames, this window
	windowBytes int           // bytes read inside frames, this window

	waitingSince atomic.Int64 // unix nanoseconds a read inside a frame began, 0 when none
}

// minFrameProgress is how many bytes a frame must bring per read stall
// timeout of waiting for the stream (about 0.5 KiB/s at 30 s): a peer that
// drips a frame slower than that is stalled.
const minFrameProgress = 16 << 10

func newFrameReader(src io.Reader, bufSize, max int, stall time.Duration) *frameReader {
	r := &frameReader{src: src, max: max, stall: stall}
	r.br = bufio.NewReaderSize(r, bufSize)
	return r
}

// Read reads from the stream for br, noting the wait when inside a frame,
// and fails with ErrPeerStalled when the time spent waiting inside frames
// adds up to the stall timeout with fewer than minFrameProgress bytes come.
func (r *frameReader) Read(p []byte) (int, error) {
	if !r.inFrame {
		return r.src.Read(p)
	}
	start := time.Now()
	r.waitingSince.Store(start.UnixNano())
	n, err := r.src.Read(p)
	r.waitingSince.Store(0)
	r.windowTime += time.Since(start)
	r.windowBytes += n
	if r.stall > 0 && r.windowTime >= r.stall {
		if r.windowBytes < minFrameProgress && err == nil {
			err = fmt.Errorf("%w: %d bytes of frames in %s of waiting (at least %d wanted)", ErrPeerStalled, r.windowBytes, r.windowTime.Round(time.Millisecond), minFrameProgress)
		}
		r.windowTime, r.windowBytes = 0, 0
	}
	return n, err
}

// stalledFor returns how long a read inside a frame has waited, as of now.
func (r *frameReader) stalledFor(now int64) time.Duration {
	if t := r.waitingSince.Load(); t != 0 {
		return time.Duration(now - t)
	}
	return 0
}

// next reads the next message; see readFrame. Waiting for the first byte of
// a frame is idleness, not a stall: a channel may be quiet for ever.
func (r *frameReader) next() ([]byte, error) {
	r.inFrame = false
	if _, err := r.br.Peek(1); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, err
	}
	r.inFrame = true
	msg, err := readFrame(r.br, r, r.max, r.reserveFrame)
	if err != nil && r.pending > 0 {
		r.release(r.pending)
	}
	r.pending = 0
	return msg, err
}

// reserveFrame reserves n more bytes of the frame being read.
func (r *frameReader) reserveFrame(n int) error {
	if r.reserve == nil {
		return nil
	}
	if err := r.reserve(n); err != nil {
		return err
	}
	r.pending += n
	return nil
}

// frameBuffered reports whether a whole frame is buffered.
func (r *frameReader) frameBuffered() bool { return frameBuffered(r.br) }

// frameBuffered reports whether br holds a whole frame, so that reading it
// will not wait for the stream. A frame that is not whole yet may wait long
// (its sender may be paused by its send scheduler), and the messages read
// before it must not wait with it.
func frameBuffered(br *bufio.Reader) bool {
	head, _ := br.Peek(min(br.Buffered(), binary.MaxVarintLen64))
	size, n := binary.Uvarint(head)
	return n > 0 && uint64(br.Buffered()-n) >= size
}

// readFrame reads one varint-length-prefixed message of at most max bytes
// from br, a buffered reader of src. Once the length is known and checked,
// the body is allocated as it arrives, at most bodyStep bytes or as many as
// have arrived, whichever is more, ahead of the bytes read, so a declared
// length costs nothing until its bytes come; reserve (if not nil) is called
// before each allocation with its size (the calls add up to the body's
// length), and its error is returned as it is.
// It returns io.EOF only at a frame boundary; ErrBadFrame and
// ErrMessageTooLarge for what a well-behaved peer never sends; other errors
// from the stream as they are. When it fails after reserve succeeded, it
// releases nothing: the caller that gave reserve does.
func readFrame(br *bufio.Reader, src io.Reader, max int, reserve func(int) error) ([]byte, error) {
	size, err := readFrameSize(br, max)
	if err != nil {
		return nil, err
	}
	if reserve == nil {
		reserve = func(int) error { return nil }
	}
	msg, err := readBody(br, src, size, reserve)
	if err != nil {
		return nil, bodyError(err, len(msg), size)
	}
	return msg, nil
}

// readFrameSize reads a frame's length prefix and checks it against max;
// see readFrame for its errors.
func readFrameSize(br *bufio.Reader, max int) (int, error) {
	size, err := varint.ReadUvarint(br)
	switch {
	case err == io.EOF:
		return 0, io.EOF
	case errors.Is(err, varint.ErrOverflow), errors.Is(err, varint.ErrNotMinimal):
		return 0, fmt.Errorf("%w: length prefix: %w", ErrBadFrame, err)
	case err == io.ErrUnexpectedEOF:
		return 0, fmt.Errorf("%w: stream ended inside a length prefix", ErrBadFrame)
	case err != nil:
		return 0, err
	}
	if size > uint64(max) {
		return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrMessageTooLarge, size, max)
	}
	return int(size), nil
}

// bodyError is the error of a frame body that failed after got of its size
// bytes: an end of stream inside it is ErrBadFrame.
func bodyError(err error, got, size int) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: stream ended %d bytes into a %d-byte message", ErrBadFrame, got, size)
	}
	return err
}

// directReadMin is the smallest part of a message body, beyond what the
// read buffer holds, that readBody reads straight from the stream.
const directReadMin = 4 << 10

// bodyStep is how much of a large body readBody allocates ahead of the
// bytes that have arrived, at first; it then at most doubles what it holds.
const bodyStep = 64 << 10

// readBody reads a body of size bytes from br, whose underlying reader is
// src. A small body (what br holds plus less than directReadMin) is read
// through br. A large one is taken from br's buffer as far as buffered and
// the rest read from src straight into the message, so its bytes are copied
// once, not through the buffer (bufio itself does so only for reads of at
// least its whole size); its memory grows with the bytes read, each growth
// reserved first. On error it returns the bytes read so far.
func readBody(br *bufio.Reader, src io.Reader, size int, reserve func(int) error) ([]byte, error) {
	if size-br.Buffered() < directReadMin {
		if err := reserve(size); err != nil {
			return nil, err
		}
		msg := make([]byte, size)
		n, err := io.ReadFull(br, msg)
		return msg[:n], err
	}
	first := min(size, br.Buffered()+bodyStep)
	if err := reserve(first); err != nil {
		return nil, err
	}
	msg := make([]byte, 0, first)
	if br.Buffered() > 0 {
		n, _ := br.Read(msg[:br.Buffered()]) // copies the buffered bytes only: no read of src
		msg = msg[:n]
	}
	for len(msg) < size {
		if len(msg) == cap(msg) {
			next := min(size, 2*cap(msg))
			if err := reserve(next - cap(msg)); err != nil {
				return msg, err
			}
			grown := make([]byte, len(msg), next)
			copy(grown, msg)
			msg = grown
		}
		n, err := src.Read(msg[len(msg):min(cap(msg), size)])
		msg = msg[:len(msg)+n]
		if err != nil && len(msg) < size {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return msg, err
		}
	}
	return msg, nil
}
