package mempool

import (
	"errors"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// ErrIngestFlood is the reason a peer is disconnected (not banned) when it
// keeps sending on MempoolCh at about twice its ingest budget or more (see
// WithIngestBudget).
var ErrIngestFlood = errors.New("mempool: peer sends far over its ingest budget")

func init() {
	p2p.RegisterPenaltyReason(ErrIngestFlood, "mempool_flood")
	p2p.RegisterPenaltyReason(ErrBadMessage, "mempool_bad_message")
}

// ingestState is one peer's ingest budget (of one connection of it: it is
// kept on the Peer). Messages within the budget are processed; those over
// it are dropped, and fill an excess bucket that drains at a tenth of the
// budget's rate and holds ingestWindow of it: a peer that overflows it is
// far over its budget. One at 1.1 times the budget is only trimmed; one at
// twice the budget overflows it in about ingestWindow.
type ingestState struct {
	bytes, msgs             *rate.Limiter
	excessBytes, excessMsgs *rate.Limiter
}

func newIngestState(cfg agentConfig, maxMsg int) *ingestState {
	window := ingestWindow.Seconds()
	bytesBurst := max(cfg.ingestBytes, maxMsg)
	return &ingestState{
		bytes:       rate.NewLimiter(rate.Limit(cfg.ingestBytes), bytesBurst),
		msgs:        rate.NewLimiter(rate.Limit(cfg.ingestMsgs), max(cfg.ingestMsgs, 1)),
		excessBytes: rate.NewLimiter(rate.Limit(cfg.ingestBytes)/10, max(int(window*float64(cfg.ingestBytes)), 2*maxMsg)),
		excessMsgs:  rate.NewLimiter(rate.Limit(cfg.ingestMsgs)/10, max(int(window*float64(cfg.ingestMsgs)), 1)),
	}
}

// admit counts a message of n bytes: ok if it is within the budget; if not,
// farOver once the peer is far over it.
func (s *ingestState) admit(n int, now time.Time) (ok, farOver bool) {
	if s.bytes.AllowN(now, n) && s.msgs.AllowN(now, 1) {
		return true, false
	}
	return false, !s.excessBytes.AllowN(now, n) || !s.excessMsgs.AllowN(now, 1)
}

const ingestKey = "switchyard/mempool.ingest"

// ingest returns p's ingest state, made on first use.
func (a *MempoolAgent) ingest(p *p2p.Peer) *ingestState {
	if st, ok := p.Get(ingestKey).(*ingestState); ok {
		return st
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, ok := p.Get(ingestKey).(*ingestState); ok {
		return st
	}
	st := newIngestState(a.cfg, a.mem.maxTxBytes+1)
	p.Set(ingestKey, st)
	return st
}
