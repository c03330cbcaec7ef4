// Package pexcompat is Switchyard's peer exchange (PEX) wire protocol: the
// two messages of the 2014 p2p package's PEX channel (a request for
// addresses, and the Addrs message that answers it or announces addresses
// unasked), their binary codec with hard size limits, and a libp2p
// stream-handler Service that serves and asks them.
//
// PEX is its own libp2p protocol, ProtocolID(network) =
// "/switchyard/<network>/pex/1.1.0", so peers of another network (chain
// ID) never negotiate it. Each exchange is one stream: the opener writes one
// frame and closes its write side; a Request is answered by one Addrs frame,
// an accepted announcement by an empty Addrs frame (its acknowledgement);
// then the responder closes the stream, or resets it on any error (and on a
// refused announcement). Version 1.0.0 (LegacyProtocolID), which a Service
// also serves and speaks with WithLegacyProtocol, differs only in that an
// accepted announcement is closed without an acknowledgement.
//
// Wire format (PROTOCOL.md, section "PEX", has the byte-level
// specification with an annotated example):
//
//	frame   = uvarint(len(message)) message      ; len <= MaxMessageSize
//	message = 0x01                               ; Request
//	        | 0x02 uvarint(n) entry*n            ; Addrs, n <= MaxAddrs
//	entry   = uvarint(len(id)) id                ; binary peer ID (multihash)
//	          uvarint(m) (uvarint(len(addr)) addr)*m ; binary multiaddrs, no /p2p
//
// All varints are multiformats unsigned varints: minimally encoded, at most
// 9 bytes. Every count and length is checked against its limit and against
// the bytes that remain before anything is allocated, and the encoding is
// canonical: a message that decodes re-encodes to the same bytes.
//
// The p2p package's PEX agent implements Handler, converts peer.AddrInfo to
// and from its NetAddress, and decides which addresses to trust; this
// package only guarantees that what it hands over is well-formed and within
// the limits.
package pexcompat
