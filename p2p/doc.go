// Package p2p keeps the peer-to-peer API of Tendermint's 2014 p2p package —
// a Switch that manages peers, Agents that react to messages, configurable
// Channels multiplexed over each peer connection, a PEX agent with an address
// book — and runs it on go-libp2p.
//
// A Peer is a libp2p peer ID. Each channel of each peer is carried on its own
// long-lived libp2p stream (one per direction): each side writes only on the
// streams it opened and reads only on the streams the remote opened, so a
// receiver that stops draining one channel never stalls another. Messages are
// framed with an unsigned-varint length prefix. PROTOCOL.md at the root of the
// repository is the wire specification; COMPAT.md lists every name of the 2014
// package and what became of it.
//
// A typical Agent (see examples/template) registers an event listener with
// AddEventListener, reads messages with Receive(chId) in a loop, and answers
// with Peer.Send or Switch.Broadcast.
package p2p
