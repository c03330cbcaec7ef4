package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
)

// The hostile-peer tests play, one at a time, the attacks a node must
// survive (README, "Limits and defences"). Each attacker is a plain
// go-libp2p host with a fresh identity (plainHost); an honest pair of
// Switchyard nodes, both connected to the victim only, measures delivery
// through it; the victim runs in a child process so that its memory is
// its own. Every test asserts the bound the attack would break.

// heapBound is what the victim's heap must stay under during every attack.
const heapBound = 256 << 20

// gossipRate is the honest load, in bytes per second of 1 MiB transactions:
// 45 MB/s, or 12 MB/s under the race detector, which makes everything 5-10
// times slower.
func gossipRate() int {
	if raceEnabled {
		return 12 << 20
	}
	return 45 << 20
}

// neverReader connects h to the victim as a peer that speaks the mempool
// channel but never reads what it is sent, and reconnects whenever the
// victim drops it, until ctx ends.
func neverReader(ctx context.Context, t *testing.T, h host.Host, v *victim) {
	h.SetStreamHandler(wireMempoolCh, func(s network.Stream) {
		<-ctx.Done()
		s.Reset()
	})
	for ctx.Err() == nil {
		if h.Network().Connectedness(v.info.ID) != network.Connected {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			h.Connect(cctx, v.info)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestAttackPeersThatNeverRead: three peers that speak the mempool channel
// but never read, and come back whenever they are dropped, while 1 MiB
// transactions are gossiped through the victim. Their queues are bounded
// (bytes, and a transaction queued to all of them is held once), each is
// disconnected when its writes stall, and honest delivery goes on.
func TestAttackPeersThatNeverRead(t *testing.T) {
	const stall = 3 * time.Second
	v := startVictim(t, victimStallEnv+"="+stall.String())
	idle, _ := v.idleHeap()
	sender, d := honestPair(t, v)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var attackers []host.Host
	for range 3 {
		h := plainHost(t, false)
		attackers = append(attackers, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			neverReader(ctx, t, h, v)
		}()
	}
	v.waitStat(func(s victimStat) bool { return s.peers == 5 }, 10*time.Second)
	start := time.Now()
	gctx, stopGossip := context.WithTimeout(ctx, 4*stall)
	defer stopGossip()
	gossip(gctx, sender, 1<<20, gossipRate())
	sent := time.Since(start)
	time.Sleep(time.Second) // the last transactions arrive

	during := v.since(start)
	peak := maxHeap(during)
	stalled := 0
	for _, h := range attackers {
		if r, ok := v.doneReason(h.ID()); ok && strings.Contains(r, "peer stalled") {
			stalled++
		}
	}
	cancel()
	wg.Wait()
	after, pool := v.idleHeap()
	t.Logf("%d MiB of txs in %s through the victim beside 3 never-reading peers: %d delivered, p50 %s, p99 %s; victim heap idle %s, peak %s, after %s (its pool %s); %d of 3 dropped for stalling",
		int64(gossipRate())*int64(sent/time.Millisecond)/1000>>20, sent.Round(time.Millisecond), d.count(), d.percentile(50), d.percentile(99), mib(idle), mib(peak), mib(after), mib(pool), stalled)
	if peak > heapBound {
		t.Errorf("victim heap reached %s, above %s", mib(peak), mib(heapBound))
	}
	if p99 := d.percentile(99); p99 > time.Second {
		t.Errorf("honest p99 delivery %s, above 1 s", p99)
	}
	if want := int(float64(sent) / float64(time.Second) * float64(gossipRate()) / (1 << 20) * 0.9); d.count() < want {
		t.Errorf("only %d transactions delivered, want at least %d", d.count(), want)
	}
	if stalled != 3 {
		t.Errorf("%d of 3 never-reading peers were disconnected for stalling", stalled)
	}
	if after > idle+pool+16<<20 {
		t.Errorf("victim heap %s after the attack, idle was %s and the pool holds %s", mib(after), mib(idle), mib(pool))
	}
}
