package pexcompat

import "errors"

// Sentinel errors. Every error returned by this package that callers may want
// to branch on wraps exactly one of these (test with errors.Is); the wrapping
// message says where the problem was (which entry, which field).
var (
	// ErrMessageTooLarge: a frame or message is longer than MaxMessageSize.
	// On read it is detected from the length prefix, before the body is read
	// or allocated.
	ErrMessageTooLarge = errors.New("pex: message too large")
	// ErrTruncated: the input ended before a field it announced (an empty
	// message, a varint cut short, a length or count larger than the bytes
	// that remain, or a stream that ended inside a frame).
	ErrTruncated = errors.New("pex: message truncated")
	// ErrUnknownType: the message type byte is not one of the protocol's
	// types (or a nil/foreign Message was given to Marshal).
	ErrUnknownType = errors.New("pex: unknown message type")
	// ErrTooManyAddrs: an Addrs message has more than MaxAddrs entries.
	ErrTooManyAddrs = errors.New("pex: too many address entries")
	// ErrTooManyMultiaddrs: an entry has more than MaxMultiaddrsPerPeer
	// multiaddrs.
	ErrTooManyMultiaddrs = errors.New("pex: too many multiaddrs for one peer")
	// ErrFieldTooLong: a peer ID is longer than MaxPeerIDLen or a multiaddr
	// longer than MaxMultiaddrLen.
	ErrFieldTooLong = errors.New("pex: field too long")
	// ErrBadPeerID: peer ID bytes that are not a valid multihash (including an
	// empty peer ID).
	ErrBadPeerID = errors.New("pex: invalid peer ID")
	// ErrBadMultiaddr: multiaddr bytes that do not parse, an empty multiaddr,
	// or a multiaddr carrying a /p2p component (see Addrs for why).
	ErrBadMultiaddr = errors.New("pex: invalid multiaddr")
	// ErrTrailingBytes: bytes left over after a complete message.
	ErrTrailingBytes = errors.New("pex: trailing bytes after message")
	// ErrBadVarint: a varint longer than 9 bytes (one that never ends or
	// exceeds 2^63-1) or one that is not minimally encoded.
	ErrBadVarint = errors.New("pex: invalid varint")

	// ErrUnexpectedMessage: the remote sent a message of the wrong type for
	// the exchange (a Request in answer to a Request, an acknowledgement of
	// an announcement that is not an empty Addrs message, or data on a
	// 1.0.0 announcement stream, which must stay silent).
	ErrUnexpectedMessage = errors.New("pex: unexpected message")
	// ErrNotAcknowledged: the remote closed an announcement stream without
	// acknowledging it (or the connection closed first): whether it took
	// the addresses is unknown.
	ErrNotAcknowledged = errors.New("pex: announcement not acknowledged")
	// ErrProtocolNotSupported: the remote peer does not speak the PEX protocol
	// ID the Service was built with (multistream-select refused it). The
	// underlying multistream error is wrapped as well.
	ErrProtocolNotSupported = errors.New("pex: protocol not supported by peer")
	// ErrServiceClosed: the Service was closed before or during the call.
	ErrServiceClosed = errors.New("pex: service closed")
)

// IsMalformed reports whether err is the codec's verdict on a message that
// broke the message rules (Unmarshal's and the frame's limits), as opposed
// to a stream that failed or timed out.
func IsMalformed(err error) bool {
	for _, e := range []error{
		ErrMessageTooLarge, ErrTruncated, ErrUnknownType, ErrTooManyAddrs, ErrTooManyMultiaddrs,
		ErrFieldTooLong, ErrBadPeerID, ErrBadMultiaddr, ErrTrailingBytes, ErrBadVarint,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
