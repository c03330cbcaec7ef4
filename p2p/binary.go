package p2p

import (
	"bytes"
	"fmt"
	"io"
)

// Binary is anything that can write itself as bytes: the message type of
// Send, TrySend and Broadcast, as in the 2014 package.
type Binary interface {
	WriteTo(w io.Writer) (n int64, err error)
}

// ByteSlice is a Binary made of raw bytes. The Switch keeps the slice until
// it is written, without copying it: do not modify it after sending.
type ByteSlice []byte

// WriteTo writes the bytes to w.
func (bs ByteSlice) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(bs)
	return int64(n), err
}

// TypedMessage is a message prefixed with a one-byte type, the seed's usual
// envelope for a channel that carries several message kinds.
type TypedMessage struct {
	Type byte
	Msg  Binary
}

// WriteTo writes the type byte, then the message.
func (tm TypedMessage) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write([]byte{tm.Type})
	if err != nil {
		return int64(n), err
	}
	if tm.Msg == nil {
		return int64(n), nil
	}
	m, err := tm.Msg.WriteTo(w)
	return int64(n) + m, err
}

// String describes the message for logs.
func (tm TypedMessage) String() string {
	return fmt.Sprintf("TypedMessage{%X:%v}", tm.Type, tm.Msg)
}

// encodeMessage turns msg into the bytes carried by one frame. A ByteSlice is
// used as it is; anything else is written into a new buffer once, so that
// Broadcast encodes a message a single time for all peers.
func encodeMessage(msg Binary) ([]byte, error) {
	switch m := msg.(type) {
	case nil:
		return nil, fmt.Errorf("nil message")
	case ByteSlice:
		return m, nil
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode message: %w", err)
	}
	return buf.Bytes(), nil
}
