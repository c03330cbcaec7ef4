package p2p

import (
	"bytes"
	"io"
	"math/bits"
	"sync"
)

// The lending receive path (SetChannelHandler) reads a message into memory
// the stream reader keeps using: a frame that fits the stream's read
// buffer is lent from it as it is; a larger one, up to maxPooledLend, from
// a buffer of a node-wide pool; a still larger one is allocated, as for
// Receive. The message's length is reserved in the peer's memory budget
// until the loan ends.

// maxPooledLend is the largest buffer of the lending pools.
const maxPooledLend = 64 << 10

// lendPools holds free lending buffers by the log2 of their size (1 KiB
// to maxPooledLend).
var lendPools [bits.UintSize]sync.Pool

// minLendShift is the log2 of the smallest pooled buffer.
const minLendShift = 10

// getLendBuf returns a pooled buffer of at least size bytes (size at most
// maxPooledLend).
func getLendBuf(size int) *[]byte {
	k := max(bits.Len(uint(size-1)), minLendShift)
	if b, ok := lendPools[k].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<k)
	return &b
}

// putLendBuf gives b, from getLendBuf, back to its pool.
func putLendBuf(b *[]byte) { lendPools[bits.Len(uint(len(*b)-1))].Put(b) }

// nextLent reads the next message like next, but lends it: it is valid
// until releaseLent or keepLent, one of which must be called before the
// next read.
func (r *frameReader) nextLent() ([]byte, error) {
	r.inFrame = false
	if _, err := r.br.Peek(1); err != nil {
		return nil, err // io.EOF at a frame boundary, as next
	}
	r.inFrame = true
	size, err := readFrameSize(r.br, r.max)
	if err != nil {
		return nil, err
	}
	msg, err := r.readLent(size)
	if err != nil {
		if r.pending > 0 {
			r.release(r.pending)
		}
		r.pending = 0
		return nil, err
	}
	r.lentSize, r.pending = r.pending, 0
	return msg, nil
}

// readLent reads a body of size bytes into memory it lends, reserving it
// first; see nextLent.
func (r *frameReader) readLent(size int) ([]byte, error) {
	if size > r.br.Size() && size > maxPooledLend {
		msg, err := readBody(r.br, r, size, r.reserveFrame)
		if err != nil {
			return nil, bodyError(err, len(msg), size)
		}
		return msg, nil
	}
	if err := r.reserveFrame(size); err != nil {
		return nil, err
	}
	if size <= r.br.Size() {
		msg, err := r.br.Peek(size) // waits for the rest of the frame
		if err != nil {
			return nil, bodyError(err, len(msg), size)
		}
		r.lentPeeked = size
		return msg, nil
	}
	buf := getLendBuf(size)
	n, err := io.ReadFull(r.br, (*buf)[:size])
	if err != nil {
		putLendBuf(buf)
		return nil, bodyError(err, n, size)
	}
	r.lentBuf = buf
	return (*buf)[:size], nil
}

// releaseLent ends the loan of the message nextLent returned: its memory
// goes back to the peer's budget and its buffer is reused.
func (r *frameReader) releaseLent() {
	if r.lentSize > 0 {
		r.release(r.lentSize)
	}
	r.endLoan()
}

// keepLent ends the loan of msg, the message nextLent returned, by
// returning a copy of it that the caller owns (or msg itself if it was
// allocated), with its reservation.
func (r *frameReader) keepLent(msg []byte) []byte {
	if r.lentPeeked > 0 || r.lentBuf != nil {
		msg = bytes.Clone(msg)
	}
	r.endLoan()
	return msg
}

// endLoan frees what the lent message occupies.
func (r *frameReader) endLoan() {
	if r.lentPeeked > 0 {
		r.br.Discard(r.lentPeeked) // buffered: no read of the stream
		r.lentPeeked = 0
	}
	if r.lentBuf != nil {
		putLendBuf(r.lentBuf)
		r.lentBuf = nil
	}
	r.lentSize = 0
}
