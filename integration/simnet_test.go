package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// The simulated-WAN tests run Switchyard nodes, with the library's default
// settings, on transport.NewSimNet (QUIC over a simulated IP network with
// latency and bandwidth per host), inside a testing/synctest bubble: the
// times they report are simulated, and minutes of them take seconds. They
// skip themselves under the race detector, like every simulated test (see
// skipSimulatedUnderRace), and .ci/run runs them without it.

// skipSimulatedUnderRace: Go 1.26's race-enabled runtime crashes now and
// then in a synctest bubble's timer code (see p2p's test of the same name);
// .ci/run runs these tests without -race.
func skipSimulatedUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("simulated networks under testing/synctest crash Go 1.26's race-enabled runtime now and then; .ci/run runs this test without -race")
	}
}

// wanLinks are n access links with one-way latencies spread over 10-150 ms
// (so two hosts are 20-300 ms apart, one way) and 20 Mbit/s each.
func wanLinks(n int, r *rand.Rand) []transport.SimLink {
	links := make([]transport.SimLink, n)
	for i := range links {
		links[i] = transport.SimLink{Latency: time.Duration(10+r.IntN(141)) * time.Millisecond, BitsPerSecond: 20_000_000}
	}
	return links
}

// simWorld is a network of nodes on a SimNet, node 0 the seed every other
// node knows; it records when each transaction reached each node.
type simWorld struct {
	t     *testing.T
	sn    *transport.SimNet
	nodes []*node // nil once a node has left

	mu      sync.Mutex
	arrived map[string]map[int]time.Time // tx -> node -> when it entered its pool
	sent    map[string]time.Time
	joined  map[int]time.Time      // when each node was made
	regs    []*prometheus.Registry // each node's metrics
	pexOpts []p2p.PEXOption        // beyond the defaults
}

// newSimWorld builds the network and starts every node's PEX agent.
func newSimWorld(t *testing.T, links []transport.SimLink, pexOpts ...p2p.PEXOption) *simWorld {
	t.Helper()
	sn, hosts, err := transport.NewSimNet(links)
	if err != nil {
		t.Fatal(err)
	}
	w := &simWorld{t: t, sn: sn, arrived: map[string]map[int]time.Time{}, sent: map[string]time.Time{}, joined: map[int]time.Time{}, pexOpts: pexOpts}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, n := range w.nodes {
			if n != nil {
				wg.Go(n.stop)
			}
		}
		wg.Wait()
		sn.Close()
	})
	for i, h := range hosts {
		w.addNode(i, p2p.WithHost(h))
	}
	for _, n := range w.nodes {
		n.startPEX(t)
	}
	return w
}

// addNode makes node i on host opt (the seed is given no seed).
func (w *simWorld) addNode(i int, hostOpt p2p.Option) {
	reg := prometheus.NewRegistry()
	cfg := nodeConfig{swOpts: []p2p.Option{hostOpt, p2p.WithMetrics(reg)}, mempool: true, pexOpts: append([]p2p.PEXOption{}, w.pexOpts...),
		pool: mempool.NewMempool(mempool.WithValidator(func(tx []byte) error {
			w.mu.Lock()
			if m := w.arrived[string(tx)]; m != nil {
				m[i] = time.Now()
			}
			w.mu.Unlock()
			return nil
		}))}
	if i == 0 {
		cfg.swOpts = append(cfg.swOpts, p2p.WithMaxPeers(len(w.nodes)+200, 10))
	} else {
		cfg.seeds = []*p2p.NetAddress{w.nodes[0].addr(w.t)}
	}
	n := newNode(w.t, cfg)
	w.mu.Lock()
	w.joined[i] = time.Now()
	w.regs = append(w.regs, reg)
	w.mu.Unlock()
	if i < len(w.nodes) {
		w.nodes[i] = n
	} else {
		w.nodes = append(w.nodes, n)
	}
}

// live returns the nodes that have not left.
func (w *simWorld) live() []*node {
	var out []*node
	for _, n := range w.nodes {
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// settled waits (in simulated time) until every live node but the seed has
// min(minOut, live-1) outbound peers and the live graph is connected, and
// returns how long it took.
func (w *simWorld) settled(minOut int, timeout time.Duration) time.Duration {
	w.t.Helper()
	start := time.Now()
	for {
		live := w.live()
		target := max(1, min(minOut, (len(live)-1)/3)) // each link is outbound for one side only
		ok := connected(live)
		for _, n := range live[1:] {
			if out, _, _ := n.sw.NumPeers(); out < target {
				ok = false
				break
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			w.t.Fatalf("after %s of simulated time: %s", timeout, underConnected(live, target))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inject adds a transaction at a random live node and records its time.
func (w *simWorld) inject(r *rand.Rand, k int) {
	tx := []byte(fmt.Sprintf("sim-tx-%06d-%s", k, time.Now().Format(time.RFC3339Nano)))
	live := w.live()
	w.mu.Lock()
	w.arrived[string(tx)] = map[int]time.Time{}
	w.sent[string(tx)] = time.Now()
	w.mu.Unlock()
	if err := live[r.IntN(len(live))].mem.BroadcastTx(tx); err != nil {
		w.t.Errorf("inject: %s", err)
	}
}

// spread waits until every transaction injected reached every node that
// was live when it was injected and still is, and returns the p50 and p99
// of the time each took to reach all of them.
func (w *simWorld) spread(timeout time.Duration) (p50, p99 time.Duration) {
	w.t.Helper()
	start := time.Now()
	for {
		var toAll []time.Duration
		missing := 0
		w.mu.Lock()
		for tx, sent := range w.sent {
			var last time.Time
			for i, n := range w.nodes {
				if n == nil || w.joined[i].After(sent) {
					continue
				}
				at, ok := w.arrived[tx][i] // the validator sees every tx that enters a pool
				if !ok {
					missing++
					continue
				}
				if at.After(last) {
					last = at
				}
			}
			toAll = append(toAll, last.Sub(sent))
		}
		w.mu.Unlock()
		if missing == 0 {
			slices.Sort(toAll)
			return toAll[len(toAll)/2], toAll[len(toAll)*99/100]
		}
		if time.Since(start) > timeout {
			w.t.Fatalf("after %s of simulated time, %d (tx, node) pairs still missing", timeout, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mempoolBytesSent adds up the message bytes every node sent on the
// mempool channel (switchyard_p2p_channel_bytes_total, frames excluded).
func (w *simWorld) mempoolBytesSent() float64 {
	w.t.Helper()
	want := fmt.Sprintf("%02x", mempool.MempoolCh)
	sum := 0.0
	for _, reg := range w.regs {
		mfs, err := reg.Gather()
		if err != nil {
			w.t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "switchyard_p2p_channel_bytes_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["channel"] == want && labels["direction"] == "sent" {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// firstTx returns one of the transactions injected.
func (w *simWorld) firstTx() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for tx := range w.sent {
		return tx
	}
	return ""
}

// noPenalties fails the test if any live node stopped a peer for an error.
func (w *simWorld) noPenalties() {
	w.t.Helper()
	checkNoPeerErrors(w.t, w.live())
}

// TestSimulatedWANOf200NodesDiscoversAndGossips: 200 nodes (100 in CI, see
// below) that know only a seed, on a WAN of 20-300 ms between hosts and 20 Mbit/s links, all reach
// their outbound target in one connected network, and 200 transactions
// reach every node.
func TestSimulatedWANOf200NodesDiscoversAndGossips(t *testing.T) {
	skipSimulatedUnderRace(t)
	// 200 nodes take about 75 s of wall time on a 2-core machine (the
	// simulation of every QUIC packet is most of it), 100 nodes 30 s: CI
	// runs 100, SWITCHYARD_LARGE=1 runs 200.
	n := 100
	switch {
	case os.Getenv("SWITCHYARD_LARGE") != "":
		n = 200
	case testing.Short():
		n = 50
	}
	synctest.Test(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		w := newSimWorld(t, wanLinks(n, r))
		took := w.settled(10, 5*time.Minute)
		for k := range 200 {
			w.inject(r, k)
			time.Sleep(5 * time.Millisecond) // 200 tx/s
		}
		p50, p99 := w.spread(5 * time.Minute)
		var received uint64
		for _, nd := range w.live() {
			received += nd.mem.Mempool().Stats().Received.Load()
		}
		sent := w.mempoolBytesSent()
		t.Logf("%d nodes on a simulated WAN (20-300 ms, 20 Mbit/s): discovery %s; 200 txs (%d bytes each) reached every node, time to all p50 %s, p99 %s; each node received each tx %.1f times, %.0f mempool message bytes sent per tx per node",
			n, took.Round(time.Millisecond), len(w.firstTx()), p50.Round(time.Millisecond), p99.Round(time.Millisecond),
			float64(received)/float64(200*n), sent/float64(200*n))
		w.noPenalties()
	})
}

// hasAll reports whether every live node's pool holds every transaction
// injected so far.
func (w *simWorld) hasAll() (missing int) {
	w.mu.Lock()
	txs := make([]string, 0, len(w.sent))
	for tx := range w.sent {
		txs = append(txs, tx)
	}
	w.mu.Unlock()
	for _, n := range w.live() {
		for _, tx := range txs {
			if !n.mem.Mempool().Has(mempool.HashTx([]byte(tx))) {
				missing++
			}
		}
	}
	return missing
}

// leave stops node i and closes its host, as a process that exits.
func (w *simWorld) leave(i int) {
	n := w.nodes[i]
	w.nodes[i] = nil
	n.stop()
	n.sw.Host().Close()
}

// TestSimulatedWANChurn: while transactions are gossiped, 30% of the nodes
// leave and as many new ones join. Every live node is back at its outbound
// target within a minute, and every transaction reaches every live node,
// the new ones too (by catch-up).
func TestSimulatedWANChurn(t *testing.T) {
	skipSimulatedUnderRace(t)
	const n, churn = 60, 18
	synctest.Test(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		links := wanLinks(n+churn, r)
		sn, hosts, err := transport.NewSimNet(links)
		if err != nil {
			t.Fatal(err)
		}
		w := &simWorld{t: t, sn: sn, arrived: map[string]map[int]time.Time{}, sent: map[string]time.Time{}, joined: map[int]time.Time{}}
		t.Cleanup(func() {
			for _, nd := range w.live() {
				nd.stop()
			}
			sn.Close()
		})
		for i := range n {
			w.addNode(i, p2p.WithHost(hosts[i]))
		}
		for _, nd := range w.nodes {
			nd.startPEX(t)
		}
		w.settled(10, 5*time.Minute)
		leavers := r.Perm(n - 1)[:churn] // never the seed
		for k := range 100 {
			switch k {
			case 25:
				for _, i := range leavers {
					w.leave(i + 1)
				}
			case 50:
				for i := n; i < n+churn; i++ {
					w.addNode(i, p2p.WithHost(hosts[i]))
					w.nodes[i].startPEX(t)
				}
			}
			// Inject at a node that stays.
			stays := w.live()
			tx := []byte(fmt.Sprintf("churn-tx-%03d", k))
			w.mu.Lock()
			w.sent[string(tx)] = time.Now()
			w.mu.Unlock()
			if err := stays[r.IntN(len(stays))].mem.BroadcastTx(tx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		back := w.settled(10, time.Minute)
		start := time.Now()
		for w.hasAll() > 0 {
			if time.Since(start) > 2*time.Minute {
				t.Fatalf("after 2 min of simulated time, %d (tx, node) pairs missing", w.hasAll())
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%d nodes, %d left (5 s into 20 s of gossip) and %d joined (10 s in): every live node back at its target %s after the gossip ended; all 100 txs at every live node %s later",
			n, churn, churn, back.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		w.noPenalties()
	})
}

// TestSimulatedWANPartitionHeals: a network is cut in two for five minutes
// and then made whole again. Each half keeps working on its own (its nodes
// keep 4 outbound peers, which a half can give them all, so nothing makes
// them look for more); after the heal, the halves find each other again,
// with no operator, because outbound rotation (every 10 min by default)
// makes nodes try new addresses; a transaction from one half then reaches
// the other.
func TestSimulatedWANPartitionHeals(t *testing.T) {
	skipSimulatedUnderRace(t)
	const n = 40
	synctest.Test(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		w := newSimWorld(t, wanLinks(n, r), p2p.WithMinOutboundPeers(4))
		w.settled(4, 5*time.Minute)
		var half []int
		for i := n / 2; i < n; i++ {
			half = append(half, i)
		}
		w.sn.Partition(half)
		time.Sleep(5 * time.Minute)
		a, b := w.nodes[:n/2], w.nodes[n/2:]
		if !connected(a) || !connected(b) {
			t.Fatalf("during the partition a half fell apart (connected: %v, %v)", connected(a), connected(b))
		}
		cross := func() (links int) {
			for _, nd := range b {
				for _, p := range nd.sw.Peers().List() {
					for _, o := range a {
						if o.id() == p.Key {
							links++
						}
					}
				}
			}
			return links
		}
		t.Logf("after 5 min cut apart: %d links between the halves", cross())
		w.sn.Heal()
		start := time.Now()
		for !connected(w.nodes) {
			if time.Since(start) > 30*time.Minute {
				t.Fatalf("30 min after the heal the halves are still apart")
			}
			time.Sleep(time.Second)
		}
		healed := time.Since(start)
		tx := []byte("across the healed cut")
		w.mu.Lock()
		w.sent[string(tx)] = time.Now()
		w.arrived[string(tx)] = map[int]time.Time{}
		w.mu.Unlock()
		if err := w.nodes[0].mem.BroadcastTx(tx); err != nil {
			t.Fatal(err)
		}
		p50, _ := w.spread(time.Minute)
		t.Logf("%d nodes cut in two for 5 min: reconnected %s after the heal (%d links across), a tx then reached all in %s",
			n, healed.Round(time.Second), cross(), p50.Round(time.Millisecond))
		w.noPenalties()
	})
}
