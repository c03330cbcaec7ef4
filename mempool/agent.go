package mempool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// gossipBatch is how many transactions a peer's gossip routine takes from
// the pool at a time.
const gossipBatch = 64

// MempoolAgent gossips transactions amongst peers: every transaction that
// enters the pool (locally or from a peer) is sent once to every peer that
// does not have it, and a new peer is also sent the newest part of the pool
// (the catch-up, bounded per peer and paced for all, see WithCatchUp). A
// transaction that is sent to many peers is held once.
//
// What a peer sends is processed within its ingest budget (WithIngestBudget):
// beyond it messages are dropped, and a peer far beyond it is disconnected.
// A transaction the validator rejects, or of a type this version does not
// know, is dropped and counted; a malformed message (PROTOCOL.md §5) stops
// and bans its sender.
type MempoolAgent struct {
	sw      *p2p.Switch
	mem     *Mempool
	cfg     agentConfig
	catchUp *rate.Limiter // all catch-up, in bytes

	swEvents chan interface{}
	ctx      context.Context // canceled by Stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	stopped  atomic.Bool

	mu    sync.Mutex
	peers map[string]gossiped // running gossip routines, by Peer.Key
	tags  atomic.Uint64
}

// gossiped is a peer the agent gossips to, and how to stop that.
type gossiped struct {
	peer   *p2p.Peer
	cancel context.CancelFunc
}

// reconcileEvery is how often the agent compares the peers it gossips to
// with the Switch's: the Switch's events tell it at once, but a listener
// that falls far behind is dropped, and the agent must not stop gossiping
// to new peers for that.
const reconcileEvery = time.Second

// peerTag names one connection of a peer in the pool's records: a peer that
// reconnects gets a new tag, so records made for its old connection (even
// after it was forgotten) never match it.
func (a *MempoolAgent) peerTag(p *p2p.Peer) string {
	const key = "switchyard/mempool.tag"
	if tag, ok := p.Get(key).(string); ok {
		return tag
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if tag, ok := p.Get(key).(string); ok {
		return tag
	}
	tag := fmt.Sprintf("%s#%d", p.Key, a.tags.Add(1))
	p.Set(key, tag)
	return tag
}

// NewMempoolAgent returns an agent for sw gossiping mem (a new default pool
// if nil). The Switch must have ChannelDescriptor() among its channels.
func NewMempoolAgent(sw *p2p.Switch, mem *Mempool, opts ...AgentOption) *MempoolAgent {
	if mem == nil {
		mem = NewMempool()
	}
	cfg := defaultAgentConfig()
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &MempoolAgent{
		sw:       sw,
		mem:      mem,
		cfg:      cfg,
		catchUp:  rate.NewLimiter(rate.Limit(cfg.catchUpRate), max(cfg.catchUpRate, 1)),
		swEvents: make(chan interface{}, 64),
		ctx:      ctx,
		cancel:   cancel,
		peers:    map[string]gossiped{},
	}
}

// Mempool returns the agent's pool.
func (a *MempoolAgent) Mempool() *Mempool { return a.mem }

// Start begins receiving and gossiping; peers already connected get the pool.
// Transactions are taken on the lending receive path (p2p's
// SetChannelHandler): a duplicate, the most common message, costs no
// allocation.
func (a *MempoolAgent) Start() {
	if !a.started.CompareAndSwap(false, true) {
		return
	}
	a.sw.AddEventListener(a.listenerName(), a.swEvents)
	if err := a.sw.SetChannelHandler(MempoolCh, a.handle); err != nil {
		log.Errorf("receive: %s", err)
	}
	a.wg.Add(1)
	go a.switchEventsRoutine()
	for _, p := range a.sw.Peers().List() {
		a.addPeer(p)
	}
}

// Stop ends the agent's goroutines and waits for them. Idempotent.
func (a *MempoolAgent) Stop() {
	if !a.started.Load() || !a.stopped.CompareAndSwap(false, true) {
		return
	}
	a.sw.RemoveEventListener(a.listenerName())
	if err := a.sw.SetChannelHandler(MempoolCh, nil); err != nil {
		log.Debugf("receive: %s", err)
	}
	a.cancel()
	a.wg.Wait()
}

func (a *MempoolAgent) listenerName() string { return fmt.Sprintf("MempoolAgent-%p", a) }

// BroadcastTx adds a local transaction to the pool; the gossip routines
// send it to every peer.
func (a *MempoolAgent) BroadcastTx(tx []byte) error { return a.mem.AddTx(tx) }

func (a *MempoolAgent) switchEventsRoutine() {
	defer a.wg.Done()
	tick := time.NewTicker(reconcileEvery)
	defer tick.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-tick.C:
			a.reconcile()
		case ev := <-a.swEvents:
			switch ev := ev.(type) {
			case p2p.SwitchEventNewPeer:
				a.addPeer(ev.Peer)
			case p2p.SwitchEventDonePeer:
				a.removePeer(ev.Peer)
			}
		}
	}
}

// handle takes a transaction from a peer into the pool; in.Bytes is lent
// (take copies a transaction it keeps).
func (a *MempoolAgent) handle(in p2p.InboundBytes) { a.take(in.MConn.Peer, in.Bytes) }

// take processes one message from peer, within peer's ingest budget.
func (a *MempoolAgent) take(peer *p2p.Peer, msg []byte) {
	if ok, farOver := a.ingest(peer).admit(len(msg), time.Now()); !ok {
		a.mem.stats.OverBudget.Add(1)
		if farOver {
			a.sw.Penalize(peer, p2p.PenaltyDisconnect, fmt.Errorf("%w of %.1f MiB/s and %d messages/s", ErrIngestFlood, float64(a.cfg.ingestBytes)/(1<<20), a.cfg.ingestMsgs))
		}
		return
	}
	tx, err := decodeTx(msg)
	switch {
	case errors.Is(err, ErrUnknownMessage):
		a.mem.stats.Unknown.Add(1)
		a.sw.Penalize(peer, p2p.PenaltyDrop, err)
		return
	case err != nil:
		a.sw.Penalize(peer, p2p.PenaltyBan, err)
		return
	}
	a.mem.stats.Received.Add(1)
	switch err := a.mem.addTx(tx, a.peerTag(peer)); {
	case err == nil:
	case errors.Is(err, ErrTxInCache):
		a.mem.stats.Duplicate.Add(1)
	default: // invalid, or too large for this pool: the application's verdict, not a fault
		a.sw.Penalize(peer, p2p.PenaltyDrop, err)
	}
}

func (a *MempoolAgent) addPeer(p *p2p.Peer) {
	tag := a.peerTag(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped.Load() || a.peers[p.Key].peer != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	a.peers[p.Key] = gossiped{peer: p, cancel: cancel}
	from, join := a.mem.catchUpRange(a.cfg.catchUpBytes)
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.gossipRoutine(ctx, p, tag, join)
	}()
	go func() {
		defer a.wg.Done()
		a.catchUpRoutine(ctx, p, tag, from, join)
	}()
}

func (a *MempoolAgent) removePeer(p *p2p.Peer) {
	a.mu.Lock()
	g := a.peers[p.Key]
	if g.peer != p { // another *Peer of the same key (or none) by now
		a.mu.Unlock()
		return
	}
	delete(a.peers, p.Key)
	a.mu.Unlock()
	g.cancel()
	a.mem.forget(a.peerTag(p))
}

// reconcile gossips to the Switch's peers that the agent missed, and stops
// gossiping to those it missed the removal of.
func (a *MempoolAgent) reconcile() {
	current := map[string]*p2p.Peer{}
	for _, p := range a.sw.Peers().List() {
		current[p.Key] = p
	}
	var gone []*p2p.Peer
	a.mu.Lock()
	for key, g := range a.peers {
		if current[key] != g.peer {
			gone = append(gone, g.peer)
		}
	}
	a.mu.Unlock()
	for _, p := range gone {
		a.removePeer(p)
	}
	for _, p := range current {
		a.addPeer(p)
	}
}

// gossipRoutine sends the peer, in arrival order, every transaction that
// enters the pool from seq next on and that the peer does not have; then it
// waits for more. Send blocks while the peer's queue is full.
func (a *MempoolAgent) gossipRoutine(ctx context.Context, p *p2p.Peer, tag string, next uint64) {
	for {
		entries, added := a.mem.after(next, gossipBatch)
		if len(entries) == 0 {
			select {
			case <-added:
				continue
			case <-ctx.Done():
				return
			}
		}
		for _, e := range entries {
			next = e.seq + 1
			if !a.send(ctx, p, tag, e) {
				return
			}
		}
	}
}

// catchUpRoutine sends a new peer the transactions of seq from to join
// (those in the pool when it joined, newest first up to the catch-up
// budget), in arrival order, at the pace all catch-up shares.
func (a *MempoolAgent) catchUpRoutine(ctx context.Context, p *p2p.Peer, tag string, from, join uint64) {
	for from < join {
		entries, _ := a.mem.after(from, gossipBatch)
		for _, e := range entries {
			if e.seq >= join {
				return
			}
			from = e.seq + 1
			if err := a.paceCatchUp(ctx, len(e.msg)); err != nil {
				return
			}
			if !a.send(ctx, p, tag, e) {
				return
			}
			a.mem.stats.CatchUp.Add(uint64(len(e.msg)))
		}
		if len(entries) == 0 {
			return
		}
	}
}

// paceCatchUp waits until n bytes of catch-up may go, in pieces of at most
// the pace's burst (a message may be larger than one second's worth).
func (a *MempoolAgent) paceCatchUp(ctx context.Context, n int) error {
	for n > 0 {
		k := min(n, a.catchUp.Burst())
		if err := a.catchUp.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// send queues e for p unless p has it, and reports false if p can no
// longer be sent to.
func (a *MempoolAgent) send(ctx context.Context, p *p2p.Peer, tag string, e *entry) bool {
	if !a.mem.claim(e, tag) {
		return true
	}
	if err := p.SendContext(ctx, MempoolCh, p2p.ByteSlice(e.msg)); err != nil {
		log.Debugf("gossip to %s: %s", p, err)
		return false
	}
	a.mem.stats.Gossiped.Add(1)
	return true
}
