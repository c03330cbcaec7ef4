package mempool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// gossipBatch is how many transactions a peer's gossip routine takes from
// the pool at a time.
const gossipBatch = 64

// MempoolAgent gossips transactions amongst peers: every transaction that
// enters the pool (locally or from a peer) is sent once to every peer that
// does not have it, and a new peer first gets the whole pool. A peer that
// sends a malformed or invalid transaction is stopped.
type MempoolAgent struct {
	sw  *p2p.Switch
	mem *Mempool

	swEvents chan interface{}
	ctx      context.Context // canceled by Stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	stopped  atomic.Bool

	mu    sync.Mutex
	peers map[string]context.CancelFunc // running gossip routines
	tags  atomic.Uint64
}

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
func NewMempoolAgent(sw *p2p.Switch, mem *Mempool) *MempoolAgent {
	if mem == nil {
		mem = NewMempool()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &MempoolAgent{
		sw:       sw,
		mem:      mem,
		swEvents: make(chan interface{}, 64),
		ctx:      ctx,
		cancel:   cancel,
		peers:    map[string]context.CancelFunc{},
	}
}

// Mempool returns the agent's pool.
func (a *MempoolAgent) Mempool() *Mempool { return a.mem }

// Start begins receiving and gossiping; peers already connected get the pool.
func (a *MempoolAgent) Start() {
	if !a.started.CompareAndSwap(false, true) {
		return
	}
	a.sw.AddEventListener(a.listenerName(), a.swEvents)
	a.wg.Add(2)
	go a.switchEventsRoutine()
	go a.receiveRoutine()
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
	a.cancel()
	a.wg.Wait()
}

func (a *MempoolAgent) listenerName() string { return fmt.Sprintf("MempoolAgent-%p", a) }

// BroadcastTx adds a local transaction to the pool; the gossip routines
// send it to every peer.
func (a *MempoolAgent) BroadcastTx(tx []byte) error { return a.mem.AddTx(tx) }

func (a *MempoolAgent) switchEventsRoutine() {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
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

// receiveRoutine takes transactions from peers into the pool.
func (a *MempoolAgent) receiveRoutine() {
	defer a.wg.Done()
	for {
		in, err := a.sw.ReceiveContext(a.ctx, MempoolCh)
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, p2p.ErrSwitchStopped) {
				log.Errorf("receive: %s", err)
			}
			return
		}
		peer := in.MConn.Peer
		tx, err := decodeTx(in.Bytes)
		if err != nil {
			a.sw.StopPeerForError(peer, err)
			continue
		}
		a.mem.stats.Received.Add(1)
		switch err := a.mem.addTx(tx, a.peerTag(peer)); {
		case err == nil:
		case errors.Is(err, ErrTxInCache):
			a.mem.stats.Duplicate.Add(1)
		case errors.Is(err, ErrInvalidTx), errors.Is(err, ErrTxTooLarge):
			a.sw.StopPeerForError(peer, err)
		default:
			log.Debugf("tx from %s: %s", peer, err)
		}
	}
}

func (a *MempoolAgent) addPeer(p *p2p.Peer) {
	tag := a.peerTag(p)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped.Load() || a.peers[p.Key] != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	a.peers[p.Key] = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.gossipRoutine(ctx, p, tag)
	}()
}

func (a *MempoolAgent) removePeer(p *p2p.Peer) {
	a.mu.Lock()
	cancel := a.peers[p.Key]
	delete(a.peers, p.Key)
	a.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	a.mem.forget(a.peerTag(p))
}

// gossipRoutine walks the pool in arrival order, from the oldest
// transaction, sending the peer each one it does not have; at the end it
// waits for more. Send blocks while the peer's queue is full.
func (a *MempoolAgent) gossipRoutine(ctx context.Context, p *p2p.Peer, tag string) {
	var next uint64
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
			if !a.mem.claim(e, tag) {
				continue
			}
			if err := p.SendContext(ctx, MempoolCh, txMessage(e.tx)); err != nil {
				log.Debugf("gossip to %s: %s", p, err)
				return
			}
			a.mem.stats.Gossiped.Add(1)
		}
	}
}
