package mempool

import "time"

// Defaults of the agent's budgets (AgentOption). Each is far above what an
// honest peer of a network at its tx rate sends, and each bounds what a
// hostile one can make the node do.
const (
	// DefaultIngestBytesPerSec and DefaultIngestMsgsPerSec are one peer's
	// ingest budget: the bytes and messages per second of MempoolCh that
	// the agent processes from it (hashing, validating, gossiping on), with
	// bursts of one second's worth. Duplicates, invalid transactions and
	// unknown messages count like any other. Beyond the budget messages are
	// dropped unread; a peer that keeps sending at more than about twice
	// the budget is disconnected (not banned).
	DefaultIngestBytesPerSec = 64 << 20
	DefaultIngestMsgsPerSec  = 5000

	// DefaultCatchUpBytes is how much of the pool a new peer is sent on
	// joining (the newest transactions, up to this many bytes);
	// DefaultCatchUpBytesPerSec paces such catch-up for all new peers
	// together, so that fresh identities cannot pull the pool again and
	// again for the price of a handshake.
	DefaultCatchUpBytes       = 8 << 20
	DefaultCatchUpBytesPerSec = 2 << 20
)

// AgentOption configures a MempoolAgent; pass options to NewMempoolAgent.
type AgentOption func(*agentConfig)

type agentConfig struct {
	ingestBytes, ingestMsgs int // per second
	catchUpBytes            int
	catchUpRate             int // bytes per second
}

func defaultAgentConfig() agentConfig {
	return agentConfig{
		ingestBytes:  DefaultIngestBytesPerSec,
		ingestMsgs:   DefaultIngestMsgsPerSec,
		catchUpBytes: DefaultCatchUpBytes,
		catchUpRate:  DefaultCatchUpBytesPerSec,
	}
}

// WithIngestBudget sets one peer's ingest budget: bytes and messages per
// second, each with bursts of one second's worth (the bytes at least one
// largest message). Defaults: DefaultIngestBytesPerSec,
// DefaultIngestMsgsPerSec.
func WithIngestBudget(bytesPerSec, msgsPerSec int) AgentOption {
	return func(c *agentConfig) { c.ingestBytes, c.ingestMsgs = bytesPerSec, msgsPerSec }
}

// WithCatchUp sets how many bytes of the pool a new peer is sent, and the
// rate at which all new peers together are sent them (with bursts of one
// second's worth). Defaults: DefaultCatchUpBytes,
// DefaultCatchUpBytesPerSec.
func WithCatchUp(bytesPerPeer, bytesPerSec int) AgentOption {
	return func(c *agentConfig) { c.catchUpBytes, c.catchUpRate = bytesPerPeer, bytesPerSec }
}

// ingestWindow is the time over which a peer may be far over its ingest
// budget before it is disconnected (see ingestState).
const ingestWindow = 2 * time.Second
