package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-varint"
)

// InboundBytes is a message received on a channel, with the MConnection
// (and so the Peer) it came from.
type InboundBytes struct {
	MConn *MConnection
	Bytes []byte
}

// recvBatch is how many messages a stream reader hands to the receive
// queue at once, at most.
const recvBatch = 8

// serveRecv reads the frames the peer writes on s, its stream for channel
// desc, into the Switch's receive queue for that channel, until the stream
// ends or the peer stops. The messages of one read go to the queue
// together, before the reader waits for more. A clean end of stream (at a
// frame boundary) is the peer's graceful close and is answered by closing
// our side; anything malformed stops the peer.
func (m *MConnection) serveRecv(desc *ChannelDescriptor, s network.Stream) {
	if !m.track(s) {
		s.Reset()
		return
	}
	defer m.untrack(s)
	q := m.sw.recvQueues[desc.Id]
	stats := m.sw.metrics.channel(desc.Id)
	br := bufio.NewReaderSize(s, desc.RecvBufferSize)
	var batch [recvBatch]InboundBytes
	n, size := 0, 0 // messages in batch, and their bytes
	for {
		if n == len(batch) || (n > 0 && !frameBuffered(br)) {
			if !m.deliver(q, batch[:n]) {
				return
			}
			stats.received(n, size)
			clear(batch[:n])
			n, size = 0, 0
		}
		msg, err := readFrame(br, s, desc.RecvMessageCapacity)
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
// the peer stopped first.
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
			return false
		}
	}
}

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
// from br, a buffered reader of src.
// It returns io.EOF only at a frame boundary; ErrBadFrame and
// ErrMessageTooLarge for what a well-behaved peer never sends; other errors
// from the stream as they are.
func readFrame(br *bufio.Reader, src io.Reader, max int) ([]byte, error) {
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
	msg := make([]byte, size)
	if n, err := readBody(br, src, msg); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: stream ended %d bytes into a %d-byte message", ErrBadFrame, n, size)
		}
		return nil, err
	}
	return msg, nil
}

// directReadMin is the smallest part of a message body, beyond what the
// read buffer holds, that readBody reads straight from the stream.
const directReadMin = 4 << 10

// readBody fills msg from br, whose underlying reader is src. A large body
// is taken from br's buffer as far as buffered and the rest read from src
// into msg directly, so its bytes are copied once, not through the buffer
// (bufio itself does so only for reads of at least its whole size). It
// returns the number of bytes read, as io.ReadFull does.
func readBody(br *bufio.Reader, src io.Reader, msg []byte) (int, error) {
	if len(msg)-br.Buffered() < directReadMin {
		return io.ReadFull(br, msg)
	}
	n := 0
	if br.Buffered() > 0 {
		n, _ = br.Read(msg) // copies the buffered bytes only: no read of src
	}
	m, err := io.ReadFull(src, msg[n:])
	if err == io.EOF && n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n + m, err
}
