package yamux4

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-yamux/v4"
)

// stream is a network.MuxedStream over a yamux v4 stream.
type stream yamux.Stream

var _ network.MuxedStream = &stream{}

// parseError makes a v4 reset recognisable to libp2p: callers test for it
// with errors.Is(err, network.ErrReset). v4 has no error codes, so unlike
// v5 there is no network.StreamError or network.ConnError to build.
func parseError(err error) error {
	if err != nil && errors.Is(err, yamux.ErrStreamReset) {
		return fmt.Errorf("%w: %w", network.ErrReset, err)
	}
	return err
}

func (s *stream) Read(b []byte) (int, error) {
	n, err := s.yamux().Read(b)
	return n, parseError(err)
}

func (s *stream) Write(b []byte) (int, error) {
	n, err := s.yamux().Write(b)
	return n, parseError(err)
}

func (s *stream) Close() error {
	return s.yamux().Close()
}

func (s *stream) Reset() error {
	return s.yamux().Reset()
}

// ResetWithError resets the stream. yamux v4 cannot send an error code with
// the RST flag, so the code is dropped and this is a plain Reset.
func (s *stream) ResetWithError(network.StreamErrorCode) error {
	return s.yamux().Reset()
}

func (s *stream) CloseRead() error {
	return s.yamux().CloseRead()
}

func (s *stream) CloseWrite() error {
	return s.yamux().CloseWrite()
}

func (s *stream) SetDeadline(t time.Time) error {
	return s.yamux().SetDeadline(t)
}

func (s *stream) SetReadDeadline(t time.Time) error {
	return s.yamux().SetReadDeadline(t)
}

func (s *stream) SetWriteDeadline(t time.Time) error {
	return s.yamux().SetWriteDeadline(t)
}

func (s *stream) yamux() *yamux.Stream {
	return (*yamux.Stream)(s)
}
