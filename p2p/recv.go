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

// release gives the message's memory back to its peer's budget: the Switch
// no longer holds it.
func (in InboundBytes) release() {
	if in.MConn != nil {
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
	fr := newFrameReader(s, desc.RecvBufferSize, desc.RecvMessageCapacity)
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
	stats := m.sw.metrics.channel(desc.Id)
	var batch [recvBatch]InboundBytes
	n, size := 0, 0 // messages in batch, and their bytes
	for {
		if n == len(batch) || (n > 0 && !fr.frameBuffered()) {
			if !m.deliver(q, batch[:n]) {
				return
			}
			stats.received(n, size)
			clear(batch[:n])
			n, size = 0, 0
		}
		msg, err := fr.next()
		if err != nil {
			if n > 0 && m.deliver(q, batch[:n]) {
				stats.received(n, size)
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
		batch[n] = InboundBytes{MConn: m, Bytes: msg}
		n++
		size += len(msg)
	}
}

// deliver puts msgs on q, waiting while it is full. It returns false if
// the peer stopped first; the messages not delivered are then released.
func (m *MConnection) deliver(q *recvQueue, msgs []InboundBytes) bool {
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
				m.budget.release(len(in.Bytes))
			}
			return false
		}
	}
}

// reserveRecv reserves a frame of size bytes in the peer's memory budget,
// waiting while the budget is used up (until Receive takes some of the
// peer's messages, or queued sends go out). A peer whose frame waits longer
// than the read stall timeout is disconnected with ErrPeerMemory.
func (m *MConnection) reserveRecv(size int) error {
	var waited time.Duration
	backoff := time.Millisecond
	for {
		err := m.budget.reserve(size, recvPriority)
		if err == nil || err == ErrPeerStopped {
			return err
		}
		if waited >= m.sw.cfg.readStall {
			return fmt.Errorf("%w: %d bytes, waited %s: %w", ErrPeerMemory, size, waited, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-m.quit:
			t.Stop()
			return ErrPeerStopped
		}
		waited += backoff
		backoff = min(2*backoff, 50*time.Millisecond)
	}
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
	reserve func(size int) error // nil: nothing to account
	release func(size int)       // gives back what reserve took, for a frame that failed
	pending int                  // reserved for the frame being read

	inFrame      bool         // a frame has begun; used by the reader's goroutine only
	waitingSince atomic.Int64 // unix nanoseconds a read inside a frame began, 0 when none
}

func newFrameReader(src io.Reader, bufSize, max int) *frameReader {
	r := &frameReader{src: src, max: max}
	r.br = bufio.NewReaderSize(r, bufSize)
	return r
}

// Read reads from the stream for br, noting the wait when inside a frame.
func (r *frameReader) Read(p []byte) (int, error) {
	if !r.inFrame {
		return r.src.Read(p)
	}
	r.waitingSince.Store(time.Now().UnixNano())
	n, err := r.src.Read(p)
	r.waitingSince.Store(0)
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

func (r *frameReader) reserveFrame(size int) error {
	if r.reserve == nil {
		return nil
	}
	if err := r.reserve(size); err != nil {
		return err
	}
	r.pending = size
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
// reserve (if not nil) is called with it; its error is returned as it is.
// The body is then allocated as it arrives, at most bodyStep bytes or as
// many as have arrived, whichever is more, ahead of the bytes read, so a
// declared length costs nothing until its bytes come.
// It returns io.EOF only at a frame boundary; ErrBadFrame and
// ErrMessageTooLarge for what a well-behaved peer never sends; other errors
// from the stream as they are. When it fails after reserve succeeded, it
// releases nothing: the caller that gave reserve does.
func readFrame(br *bufio.Reader, src io.Reader, max int, reserve func(int) error) ([]byte, error) {
	size, err := varint.ReadUvarint(br)
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, varint.ErrOverflow), errors.Is(err, varint.ErrNotMinimal):
		return nil, fmt.Errorf("%w: length prefix: %w", ErrBadFrame, err)
	case err == io.ErrUnexpectedEOF:
		return nil, fmt.Errorf("%w: stream ended inside a length prefix", ErrBadFrame)
	case err != nil:
		return nil, err
	}
	if size > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrMessageTooLarge, size, max)
	}
	if reserve != nil {
		if err := reserve(int(size)); err != nil {
			return nil, err
		}
	}
	msg, err := readBody(br, src, int(size))
	if err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: stream ended %d bytes into a %d-byte message", ErrBadFrame, len(msg), size)
		}
		return nil, err
	}
	return msg, nil
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
// least its whole size); its memory grows with the bytes read. On error it
// returns the bytes read so far.
func readBody(br *bufio.Reader, src io.Reader, size int) ([]byte, error) {
	if size-br.Buffered() < directReadMin {
		msg := make([]byte, size)
		n, err := io.ReadFull(br, msg)
		return msg[:n], err
	}
	msg := make([]byte, 0, min(size, br.Buffered()+bodyStep))
	if br.Buffered() > 0 {
		n, _ := br.Read(msg[:br.Buffered()]) // copies the buffered bytes only: no read of src
		msg = msg[:n]
	}
	for len(msg) < size {
		if len(msg) == cap(msg) {
			grown := make([]byte, len(msg), min(size, 2*cap(msg)))
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
