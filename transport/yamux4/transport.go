// Package yamux4 adapts github.com/libp2p/go-yamux/v4 to go-libp2p's
// network.Multiplexer, so a libp2p host can run yamux v4 under the standard
// "/yamux/1.0.0" protocol ID in place of go-libp2p's default go-yamux/v5.
//
// The wire protocol of v4 and v5 is the same yamux spec, so a host using this
// muxer interoperates with every stock libp2p node. What v4 lacks are the
// error codes that v5 carries in GoAway and RST frames: CloseWithError and
// ResetWithError fall back to a plain Close and Reset (the remote sees code 0).
//
// The adapter mirrors go-libp2p's own p2p/muxer/yamux: a Transport is a
// yamux.Config, a conn is a *yamux.Session, a stream is a *yamux.Stream.
package yamux4

import (
	"io"
	"math"
	"net"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-yamux/v4"
)

// ID is the multistream / ALPN protocol ID of yamux, shared by every libp2p
// implementation; registering under it keeps us wire-compatible.
const ID = "/yamux/1.0.0"

// MaxStreamWindow is the largest receive window one stream may grow to.
//
// A Switchyard peer keeps about one long-lived stream per channel per
// direction open for the connection's life: few streams, each of which must
// carry a channel's full throughput on its own. yamux's auto-tuning grows a
// stream's window towards this bound (as measured by the RTT), and a stream's
// throughput is at most window/RTT: 16 MiB is ~1.3 Gbit/s at 100 ms RTT. The
// memory behind a grown window is reserved from the resource manager's peer
// scope, so a slow reader cannot make us buffer more than the scope allows.
const MaxStreamWindow = 16 << 20

// DefaultTransport is the multiplexer with Switchyard's settings (see
// NewConfig). It is safe for concurrent use by any number of hosts.
var DefaultTransport = (*Transport)(NewConfig())

// NewConfig returns the yamux v4 configuration Switchyard uses:
//   - MaxStreamWindowSize MaxStreamWindow (16 MiB): long-lived per-channel
//     streams each need a window big enough for full throughput.
//   - MaxIncomingStreams unlimited: the number of inbound streams is bounded
//     by the resource manager (per peer, per protocol, per service), which
//     resets excess streams cleanly, instead of by a fixed yamux count.
//   - ReadBufSize 0: we always run over TLS or Noise, which already buffer
//     reads, so a second buffer would only copy bytes twice.
//   - LogOutput io.Discard: yamux's own logger writes to stderr outside of
//     go-log; its events surface as errors on the session anyway.
//
// Everything else keeps go-yamux's defaults (256 KiB initial window as the
// spec requires, 30 s keep-alive, 10 s connection write timeout).
func NewConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.MaxStreamWindowSize = MaxStreamWindow
	c.MaxIncomingStreams = math.MaxUint32
	c.ReadBufSize = 0
	c.LogOutput = io.Discard
	return c
}

// Transport is a network.Multiplexer that builds yamux v4 sessions from a
// yamux.Config. A Transport must not be modified once in use.
type Transport yamux.Config

var _ network.Multiplexer = &Transport{}

// NewConn runs yamux over nc, as the server side when isServer is true.
//
// Memory for streams and their windows is reserved from scope (the remote
// peer's resource-manager scope) through a span per stream, exactly as
// go-libp2p's v5 adapter does; a nil scope reserves nothing.
// It does not block: the session's loops run in goroutines that stop when
// the returned conn is closed or nc fails.
func (t *Transport) NewConn(nc net.Conn, isServer bool, scope network.PeerScope) (network.MuxedConn, error) {
	var newSpan func() (yamux.MemoryManager, error)
	if scope != nil {
		newSpan = func() (yamux.MemoryManager, error) { return scope.BeginSpan() }
	}
	var (
		s   *yamux.Session
		err error
	)
	if isServer {
		s, err = yamux.Server(nc, t.Config(), newSpan)
	} else {
		s, err = yamux.Client(nc, t.Config(), newSpan)
	}
	if err != nil {
		return nil, err
	}
	return (*conn)(s), nil
}

// Config returns the yamux configuration behind t (not a copy).
func (t *Transport) Config() *yamux.Config {
	return (*yamux.Config)(t)
}
