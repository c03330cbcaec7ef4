package mempool

import (
	"fmt"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// Defences lists the defences of the pool and its agent, with this
// version's defaults (see p2p.Defences).
func Defences() []p2p.Defence {
	cfg := defaultAgentConfig()
	mib := func(n int) string { return fmt.Sprintf("%d MiB", n>>20) }
	return []p2p.Defence{
		{Limit: "transactions in the pool",
			Default:  fmt.Sprintf("%d and %s (WithLimits)", DefaultMaxTxs, mib(DefaultMaxBytes)),
			Exceeded: "the oldest of the origin (the peer that sent them first, or this node) that holds the most are evicted: a flood replaces the flooder's own (evicted ones stay in the seen-cache)"},
		{Limit: "size of one transaction",
			Default:  fmt.Sprintf("%s (ChannelDescriptor(maxTxBytes), WithLimits)", mib(DefaultMaxTxBytes)),
			Exceeded: "a larger message is over MempoolCh's size: ban; a tx over this pool's own, smaller cap: dropped"},
		{Limit: "what one peer sends on MempoolCh (duplicates, invalid and unknown messages count)",
			Default:  fmt.Sprintf("%s/s and %d messages/s, bursts of a second's worth (WithIngestBudget)", mib(cfg.ingestBytes), cfg.ingestMsgs),
			Exceeded: fmt.Sprintf("dropped unread; at about twice the budget for %d s: disconnect", int(ingestWindow.Seconds()))},
		{Limit: "a transaction the validator rejects, a message of an unknown type",
			Default:  "PROTOCOL.md §5",
			Exceeded: "dropped and counted (Stats.Invalid, Stats.Unknown)"},
		{Limit: "a malformed message: empty, or a type byte without a transaction",
			Default:  "PROTOCOL.md §5",
			Exceeded: "ban"},
		{Limit: "catch-up: the pool sent to a new peer",
			Default:  fmt.Sprintf("its newest %s, at %s/s for all new peers together (WithCatchUp)", mib(cfg.catchUpBytes), mib(cfg.catchUpRate)),
			Exceeded: "older transactions are not sent; new peers wait their turn"},
		{Limit: "transactions remembered as seen",
			Default:  fmt.Sprintf("%d hashes (WithCacheSize)", DefaultCacheSize),
			Exceeded: "a duplicate is dropped and counted (Stats.Duplicate)"},
	}
}
