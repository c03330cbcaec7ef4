package pexcompat

import (
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"
)

const (
	// DefaultTimeout is how long one PEX exchange may take, in either
	// direction, unless WithTimeout says otherwise.
	DefaultTimeout = 10 * time.Second

	// DefaultMaxInboundStreams is how many inbound PEX streams a Service
	// serves at once unless WithMaxInboundStreams says otherwise.
	DefaultMaxInboundStreams = 16

	// DefaultMaxInboundStreamsPerPeer is how many inbound PEX streams of one
	// remote a Service serves at once unless WithMaxInboundStreamsPerPeer
	// says otherwise.
	DefaultMaxInboundStreamsPerPeer = 2
)

// Option configures a Service (see NewService).
type Option func(*config)

type config struct {
	legacy            protocol.ID // "" for none
	timeout           time.Duration
	maxInboundStreams int
	maxStreamsPerPeer int
}

func defaultConfig() config {
	return config{
		timeout:           DefaultTimeout,
		maxInboundStreams: DefaultMaxInboundStreams,
		maxStreamsPerPeer: DefaultMaxInboundStreamsPerPeer,
	}
}

// WithTimeout bounds each exchange: an outbound Request or Announce returns
// an error wrapping context.DeadlineExceeded once d has passed (if its
// context has no earlier deadline), and an inbound stream is reset if it
// has not been served within d. It covers opening the stream, protocol
// negotiation, both messages and the Handler call. Default DefaultTimeout
// (10 s); d <= 0 keeps the default.
func WithTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithMaxInboundStreams sets how many inbound PEX messages the Service
// answers at once (Handler calls in progress); a message read while n are
// being answered has its stream reset, so a flood of streams cannot queue
// work for the Handler. A message is read before it takes one of these
// slots: a remote that sends slowly holds only its own per-peer slots
// (WithMaxInboundStreamsPerPeer), and one the Handler's Admit refuses holds
// nothing. The resource manager's limits for the ServiceName scope apply as
// well. Default DefaultMaxInboundStreams (16); n <= 0 keeps the default.
func WithMaxInboundStreams(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxInboundStreams = n
		}
	}
}

// WithMaxInboundStreamsPerPeer sets how many inbound PEX streams of one
// remote the Service serves at once; a further stream of that remote is
// reset at once, without being read, so that one remote cannot take the
// slots of WithMaxInboundStreams from the others. Default
// DefaultMaxInboundStreamsPerPeer (2); n <= 0 keeps the default.
func WithMaxInboundStreamsPerPeer(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.maxStreamsPerPeer = n
		}
	}
}

// WithLegacyProtocol makes the Service serve id as well (normally
// LegacyProtocolID(network)), and open its streams with it to a peer that
// does not speak the Service's own protocol ID, so that nodes that speak
// only the older version still exchange addresses with it. On a stream of
// a 1.0.0 protocol ID an accepted announcement is not acknowledged (see
// Announce). Default: none.
func WithLegacyProtocol(id protocol.ID) Option { return func(c *config) { c.legacy = id } }
