package yamux4

import (
	"context"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-yamux/v4"
)

// conn is a network.MuxedConn over a yamux v4 session.
type conn yamux.Session

var _ network.MuxedConn = &conn{}

// As exposes the underlying *yamux.Session.
func (c *conn) As(target any) bool {
	if t, ok := target.(**yamux.Session); ok {
		*t = c.yamux()
		return true
	}
	return false
}

// Close closes the session and the connection under it.
func (c *conn) Close() error {
	return c.yamux().Close()
}

// CloseWithError closes the session. yamux v4 cannot carry an error code in
// its GoAway frame, so the code is dropped and this is a plain Close.
func (c *conn) CloseWithError(network.ConnErrorCode) error {
	return c.yamux().Close()
}

// IsClosed reports whether the session has shut down.
func (c *conn) IsClosed() bool {
	return c.yamux().IsClosed()
}

// OpenStream opens a new stream; it blocks until the remote acknowledges it
// or ctx is done.
func (c *conn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	s, err := c.yamux().OpenStream(ctx)
	if err != nil {
		return nil, parseError(err)
	}
	return (*stream)(s), nil
}

// AcceptStream blocks until the remote opens a stream or the session ends.
func (c *conn) AcceptStream() (network.MuxedStream, error) {
	s, err := c.yamux().AcceptStream()
	if err != nil {
		return nil, parseError(err)
	}
	return (*stream)(s), nil
}

func (c *conn) yamux() *yamux.Session {
	return (*yamux.Session)(c)
}

// GoAway sends a yamux GoAway frame on c, a connection (network.Conn or
// network.MuxedConn) muxed by this package, and reports whether it could:
// false for another muxer's connection (or mocknet's). The remote then opens
// no new streams on c; streams already open go on. The frame is queued
// after everything written on c so far and before anything written after:
// a stream FIN sent after it, once answered, shows that it was delivered.
func GoAway(c interface{ As(target any) bool }) bool {
	var s *yamux.Session
	if !c.As(&s) {
		return false
	}
	return s.GoAway() == nil
}
