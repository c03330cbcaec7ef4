package pexcompat

import (
	"errors"
	"fmt"
	"io"

	"github.com/multiformats/go-varint"
)

// WriteMessage writes m to w as one frame (unsigned-varint length prefix,
// then the message) in a single Write call. It returns Marshal's error
// without writing anything if m is not valid, or the writer's error wrapped.
// It does not flush or close w.
func WriteMessage(w io.Writer, m Message) error {
	frame, err := marshalFrame(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("pex: writing %s frame: %w", m.Type(), err)
	}
	return nil
}

// ReadMessage reads exactly one frame from r and decodes it with Unmarshal.
// It never reads past the end of the frame, so further frames can be read
// from the same r (it uses r's ReadByte if r is an io.ByteReader such as a
// *bufio.Reader, and reads the length prefix one byte at a time otherwise).
// It blocks until the frame is complete or r fails.
//
// It returns io.EOF itself if r ends cleanly before the first byte of a
// frame. Bad input gives the sentinels of Unmarshal, and also: ErrBadVarint
// for a length prefix longer than 9 bytes or not minimally encoded,
// ErrMessageTooLarge for a length above MaxMessageSize (detected before the
// body is read or allocated), ErrTruncated if r ends inside the frame. Other
// errors from r are returned wrapped.
func ReadMessage(r io.Reader) (Message, error) {
	b, err := readFrame(r, nil)
	if err != nil {
		return nil, err
	}
	return Unmarshal(b)
}

// readFrame reads one frame's payload from r. If reserve is not nil it is
// called with the payload length, after the length was checked and before
// the payload is allocated; its error aborts the read.
func readFrame(r io.Reader, reserve func(n int) error) ([]byte, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = &byteReader{r: r}
	}
	n, err := varint.ReadUvarint(br)
	switch {
	case err == nil:
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("pex: input ends inside the frame length: %w", ErrTruncated)
	case errors.Is(err, varint.ErrOverflow), errors.Is(err, varint.ErrNotMinimal):
		return nil, fmt.Errorf("pex: frame length: %v: %w", err, ErrBadVarint)
	default:
		return nil, fmt.Errorf("pex: reading frame length: %w", err)
	}
	if n > MaxMessageSize {
		return nil, fmt.Errorf("pex: frame length %d exceeds %d: %w", n, MaxMessageSize, ErrMessageTooLarge)
	}
	if reserve != nil {
		if err := reserve(int(n)); err != nil {
			return nil, fmt.Errorf("pex: reserving %d bytes for a frame: %w", n, err)
		}
	}
	buf := make([]byte, n)
	if got, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("pex: input ends after %d of %d frame bytes: %w: %w", got, n, ErrTruncated, io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("pex: reading %d-byte frame: %w", n, err)
	}
	return buf, nil
}

// byteReader reads one byte at a time from r, so that reading a varint
// never consumes bytes beyond it.
type byteReader struct {
	r   io.Reader
	buf [1]byte
}

func (b *byteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(b.r, b.buf[:]); err != nil {
		return 0, err
	}
	return b.buf[0], nil
}
