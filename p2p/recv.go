package p2p

import (
	"bufio"
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

// serveRecv reads the frames the peer writes on s, its stream for channel
// desc, into the Switch's receive queue for that channel, until the stream
// ends or the peer stops. A clean end of stream (at a frame boundary) is the
// peer's graceful close and is answered by closing our side; anything
// malformed stops the peer.
func (m *MConnection) serveRecv(desc *ChannelDescriptor, s network.Stream) {
	if !m.track(s) {
		s.Reset()
		return
	}
	defer m.untrack(s)
	q := m.sw.recvQueues[desc.Id]
	stats := m.sw.metrics.channel(desc.Id)
	br := bufio.NewReaderSize(s, desc.RecvBufferSize)
	var msgs, size int // counted, then added to the metrics before the reader blocks
	defer func() { stats.received(msgs, size) }()
	for {
		if msgs > 0 && br.Buffered() == 0 {
			stats.received(msgs, size)
			msgs, size = 0, 0
		}
		msg, err := readFrame(br, desc.RecvMessageCapacity)
		if err != nil {
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
		msgs++
		size += len(msg)
		in := InboundBytes{MConn: m, Bytes: msg}
		select {
		case q <- in: // the common case: room in the queue
			continue
		default:
		}
		select {
		case q <- in:
		case <-m.quit:
			return
		}
	}
}

// readFrame reads one varint-length-prefixed message of at most max bytes.
// It returns io.EOF only at a frame boundary; ErrBadFrame and
// ErrMessageTooLarge for what a well-behaved peer never sends; other errors
// from the stream as they are.
func readFrame(br *bufio.Reader, max int) ([]byte, error) {
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
	if n, err := io.ReadFull(br, msg); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: stream ended %d bytes into a %d-byte message", ErrBadFrame, n, size)
		}
		return nil, err
	}
	return msg, nil
}
