package p2p

import (
	"fmt"
	"time"

	"github.com/switchyard-p2p/switchyard/pexcompat"
	"github.com/switchyard-p2p/switchyard/transport"
)

// Defence is one budget or timeout that bounds what a remote can make a
// node hold or do, with its default and what a peer that goes beyond it
// gets (see Penalty). The README's "Limits and defences" table is made
// from Defences and the mempool's.
type Defence struct {
	Limit    string // what is bounded
	Default  string // its default, and where it is set
	Exceeded string // what happens beyond it
}

// Defences lists the defences of the Switch, the PEX agent and the PEX
// protocol, with this version's defaults.
func Defences() []Defence {
	cfg, pex, book := defaultConfig(), defaultPEXConfig(), defaultAddrBookConfig()
	ban := fmt.Sprintf("ban (%s, WithBanDuration; persistent peers are never banned)", dur(cfg.banDuration))
	mib := func(n int) string { return fmt.Sprintf("%d MiB", n>>20) }
	return []Defence{
		{"memory one peer makes the node hold: its yamux windows, messages queued to it, the frame it is sending, its messages waiting for Receive",
			mib(transport.DefaultPeerMemory) + " in the peer's resource-manager scope (transport.DefaultPeerMemory); sends take at most 60% of it, frames 80%",
			"sends wait (Send) or fail (TrySend, Broadcast); a frame waits to be read; a peer whose frame waits longer than the read stall timeout while none of its messages wait for Receive (the memory is not ours to free) is disconnected"},
		{"memory of all peers together",
			"the resource manager's system scope: 1/8 of the machine's memory (go-libp2p's default)",
			"as above, for every peer"},
		{"messages queued per peer and channel",
			fmt.Sprintf("%d messages and %s (ChannelDescriptor.SendQueueCapacity, SendQueueBytes)", DefaultSendQueueCapacity, mib(DefaultSendQueueBytes)),
			fmt.Sprintf("Send blocks, up to the send timeout (%s, WithSendTimeout); TrySend and Broadcast fail", dur(cfg.sendTimeout))},
		{"received messages waiting for Receive, per channel",
			fmt.Sprintf("%d messages from all peers, and %s of one peer's (ChannelDescriptor.RecvQueueCapacity, RecvQueueBytes)", DefaultRecvQueueCapacity, mib(DefaultRecvQueueBytes)),
			"the channel's streams (that peer's) are not read until Receive makes room: backpressure on that channel only, never a penalty"},
		{"size of one message",
			fmt.Sprintf("%s per channel (ChannelDescriptor.RecvMessageCapacity), checked before any of it is read", mib(DefaultRecvMessageCapacity)),
			ban},
		{"malformed frame: a varint that never ends or is not minimal, a stream that ends inside a frame",
			"PROTOCOL.md §4.3", ban},
		{"channel streams a peer has open towards us, per channel",
			fmt.Sprintf("%d", maxInboundStreamsPerChannel),
			"a further stream is reset unread (drop)"},
		{"streams (channel and PEX) of a remote that is not yet a peer, waiting for its admission",
			fmt.Sprintf("%d × our channels + %d in all; a channel stream waits at most %s (WithHandshakeTimeout), a PEX stream %s (WithPEXRequestTimeout)", maxInboundStreamsPerChannel, waitingPEXStreams, dur(cfg.handshakeTimeout), dur(pex.requestTimeout)),
			"a further stream is reset at once (drop)"},
		{"a write to a peer that makes no progress (the peer does not read)",
			fmt.Sprintf("%s (WithStallTimeouts)", dur(cfg.sendStall)),
			"disconnect"},
		{"a frame a peer has begun and does not continue, or drips",
			fmt.Sprintf("%s without a byte, or less than %d KiB per %s of waiting (WithStallTimeouts)", dur(cfg.readStall), minFrameProgress>>10, dur(cfg.readStall)),
			"disconnect"},
		{"a connection whose remote is not a peer (speaks none of our channels, or has not identified)",
			fmt.Sprintf("closed %s after identify showed no channel of ours, or %s after it connected (%d × WithHandshakeTimeout); WithNonPeerConnections(true) keeps them", dur(2*foreignGrace), dur(unidentifiedGrace*cfg.handshakeTimeout), unidentifiedGrace),
			"connection closed; no peer slot or PEX slot meanwhile"},
		{"peers",
			fmt.Sprintf("%d inbound, %d outbound (WithMaxPeers)", cfg.maxInbound, cfg.maxOutbound),
			"the connection of a peer over the limit is closed"},
		{"PEX streams",
			fmt.Sprintf("%d read at once per peer, %d answered at once in all; only peers may use PEX (pexcompat.WithMaxInboundStreamsPerPeer, WithMaxInboundStreams)", pexcompat.DefaultMaxInboundStreamsPerPeer, pexcompat.DefaultMaxInboundStreams),
			"a further stream is reset (drop)"},
		{"one PEX exchange",
			fmt.Sprintf("%s (WithPEXRequestTimeout)", dur(pex.requestTimeout)),
			"stream reset"},
		{"PEX message",
			fmt.Sprintf("%d KiB, %d entries, %d multiaddrs per entry (PROTOCOL.md §6.5)", pexcompat.MaxMessageSize>>10, pexcompat.MaxAddrs, pexcompat.MaxMultiaddrsPerPeer),
			"stream reset, and counted as a request; as the answer to our request: " + ban},
		{"PEX requests from one peer (malformed messages count as requests)",
			fmt.Sprintf("one per %s on average, bursts of %d (PEXRequestInterval, protocol-wide)", dur(PEXRequestInterval), PEXRequestBurst),
			fmt.Sprintf("refused (stream reset); after %d refusals, plus one per %s: %s", pexRefusalBurst, dur(pexRefusalInterval), ban)},
		{"PEX announcements from one peer",
			fmt.Sprintf("one per %s on average, bursts of %d, at most %d addresses, about the sender only (protocol-wide)", dur(PEXAnnounceInterval), PEXAnnounceBurst, PEXMaxAnnounceAddrs),
			"refused (stream reset); entries about others are ignored; far beyond the pace, as for requests: ban"},
		{"dials the PEX agent makes to one IP address",
			fmt.Sprintf("%d at once, then one per %s", dialsPerIPBurst, dur(dialsPerIPInterval)),
			"the address waits for a later round"},
		{"dials to one ip:port (whatever peer ID the address names)",
			fmt.Sprintf("one at a time; after a failed one (or one that found another identity there), none for %s, doubling up to %s, except dials naming the identity found (until one of those fails)", dur(endpointBackoffMin), dur(endpointBackoffMax)),
			"the address waits for a later round"},
		{"new addresses learnt from one source group",
			fmt.Sprintf("%d (the book asks for more below %d addresses)", maxNewPerSourceGroup, needAddressThreshold),
			"the group's stalest new address is evicted"},
		{"addresses marked bad (MarkBad: not a Switchyard node, a banned peer)",
			fmt.Sprintf("refused for %s", dur(book.banDuration)),
			"not added, not dialed"},
	}
}

// dur prints a duration the way people write it: 30s, 5m, 24h.
func dur(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d h", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return d.String()
}
