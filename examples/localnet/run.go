package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"
)

// errInterrupted is returned by run when its context ends first.
var errInterrupted = errors.New("interrupted")

// run starts the network cfg describes, waits for PEX to connect it,
// injects the transactions, waits until every node has every one (or the
// timeout), prints progress and the summary to out, stops everything, and
// returns the measurements. The Result says whether every node got every
// transaction; the error is for a network that could not be started or a
// canceled ctx (the network is stopped either way).
func run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	transportName := "tcp 127.0.0.1"
	switch {
	case cfg.Mocknet:
		transportName = "mocknet"
	case cfg.WAN:
		transportName = "a simulated WAN (QUIC, 20-300 ms, 20 Mbit/s)"
	}
	fmt.Fprintf(out, "localnet: %d nodes on %s, %d txs of %d bytes, seed %d\n", cfg.Nodes, transportName, cfg.Txs, cfg.TxSize, cfg.Seed)

	tr := newTracker(cfg.Nodes, cfg.Txs, cfg.TxSize, rng)
	began := time.Now()
	net, err := startNetwork(cfg, tr.validator, rng)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	fmt.Fprintf(out, "started %d nodes in %s; node 0 is the seed the others know\n", cfg.Nodes, round(started.Sub(began)))

	res := &Result{Config: cfg, Transport: transportName, Started: started.Sub(began), TargetOutbound: cfg.targetOutbound()}
	deadline := started.Add(cfg.Timeout)
	runErr := measure(ctx, cfg, net, tr, rng, res, deadline, out)

	// Counters are read before the Switches stop (Stop unregisters them).
	res.collect(net, tr)
	stopBegan := time.Now()
	stopped := make(chan struct{})
	go func() { net.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(stopTimeout):
		fmt.Fprintf(out, "stopping takes longer than %s; still waiting\n", stopTimeout)
		<-stopped
	}
	res.Stopped = time.Since(stopBegan)
	res.Elapsed = time.Since(began)
	res.print(out)
	return res, runErr
}

// measure runs the discovery and propagation phases, filling res.
func measure(ctx context.Context, cfg Config, net *network, tr *tracker, rng *rand.Rand, res *Result, deadline time.Time, out io.Writer) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	progress := newProgress(out, cfg.Progress)

	// Discovery: until every node but the seed has the target outbound
	// peers and the peer graph is one component, or the discovery timeout.
	discoveryEnd := minTime(deadline, time.Now().Add(cfg.DiscoveryTimeout))
	t0 := time.Now()
	defer func() { res.endTimeline(time.Since(t0)) }()
	for {
		d := discoveryState(net, res.TargetOutbound)
		res.sample(time.Since(t0), d.outbound)
		progress.line(func() string { return d.String(t0, cfg.Verbose) })
		if d.done() {
			res.Discovery, res.DiscoveryDone = time.Since(t0), true
			progress.force(func() string { return d.String(t0, cfg.Verbose) })
			fmt.Fprintf(out, "discovery done in %s\n", round(res.Discovery))
			break
		}
		if time.Now().After(discoveryEnd) {
			res.Discovery = time.Since(t0)
			progress.force(func() string { return d.String(t0, cfg.Verbose) })
			fmt.Fprintf(out, "discovery did not reach its target in %s; injecting anyway\n", round(res.Discovery))
			break
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-tick.C:
		}
	}

	// Injection, paced at cfg.Rate, in a goroutine of its own; then the wait
	// until every node has every tx.
	injectDone := make(chan struct{})
	stopInject := make(chan struct{})
	defer func() { close(stopInject); <-injectDone }()
	origins := make([]int, cfg.Txs)
	for i := range origins {
		origins[i] = rng.IntN(cfg.Nodes)
	}
	var injectErrs int
	t1 := time.Now()
	go func() {
		defer close(injectDone)
		for i, at := range origins {
			if cfg.Rate > 0 {
				wait := time.Until(t1.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second))))
				if wait > 0 {
					select {
					case <-time.After(wait):
					case <-stopInject:
						return
					}
				}
			}
			tr.markInjected(i, at)
			if err := net.nodes[at].agent.BroadcastTx(tr.txs[i]); err != nil {
				injectErrs++
			}
		}
	}()
	txLine := func() string {
		injected := 0
		for i := range tr.injected {
			if tr.injected[i].Load() > 0 {
				injected++
			}
		}
		return fmt.Sprintf("[%6s] txs: injected %d/%d, on every node %d/%d, deliveries %d/%d (%.1f%%)",
			round(time.Since(t0)), injected, cfg.Txs, tr.complete.Load(), cfg.Txs,
			tr.deliveries.Load(), cfg.Txs*cfg.Nodes, 100*float64(tr.deliveries.Load())/float64(cfg.Txs*cfg.Nodes))
	}
	for int(tr.complete.Load()) < cfg.Txs {
		res.sample(time.Since(t0), discoveryState(net, res.TargetOutbound).outbound)
		progress.line(txLine)
		if time.Now().After(deadline) {
			progress.force(txLine)
			return nil // the summary says what is missing
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-tick.C:
		}
	}
	res.Propagation = time.Since(t1)
	progress.force(txLine)
	<-injectDone
	if injectErrs > 0 {
		fmt.Fprintf(out, "%d injections failed\n", injectErrs)
	}
	settle(ctx, net)
	return nil
}

// settle waits, at most a second, until every tx message the agents queued
// was received (so the duplicate counts are final) and the counts hold still.
func settle(ctx context.Context, net *network) {
	var last [2]uint64
	stable := time.Now()
	for end := time.Now().Add(time.Second); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
		var sent, recv uint64
		for _, n := range net.nodes {
			sent += n.mem.Stats().Gossiped.Load()
			recv += n.mem.Stats().Received.Load()
		}
		if now := [2]uint64{sent, recv}; now != last {
			last, stable = now, time.Now()
		}
		if sent == recv && time.Since(stable) >= 50*time.Millisecond {
			return
		}
	}
}

// discovery is a snapshot of the peer graph.
type discovery struct {
	outbound, total []int
	target          int
	connected       bool
}

func discoveryState(net *network, target int) discovery {
	d := discovery{target: target, outbound: make([]int, len(net.nodes)), total: make([]int, len(net.nodes))}
	index := map[string]int{}
	for i, n := range net.nodes {
		index[n.sw.Host().ID().String()] = i
	}
	adj := make([][]int, len(net.nodes))
	for i, n := range net.nodes {
		out, in, _ := n.sw.NumPeers()
		d.outbound[i], d.total[i] = out, out+in
		for _, k := range n.peerKeys() {
			if j, ok := index[k]; ok {
				adj[i] = append(adj[i], j)
				adj[j] = append(adj[j], i) // a peer set may lag the other side's
			}
		}
	}
	seen := make([]bool, len(net.nodes))
	seen[0] = true
	stack, count := []int{0}, 1
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range adj[i] {
			if !seen[j] {
				seen[j] = true
				count++
				stack = append(stack, j)
			}
		}
	}
	d.connected = count == len(net.nodes)
	return d
}

// done reports whether every node but the seed has the target outbound
// peers and the graph is connected.
func (d discovery) done() bool {
	for _, out := range d.outbound[1:] {
		if out < d.target {
			return false
		}
	}
	return d.connected
}

func (d discovery) String(t0 time.Time, verbose bool) string {
	ok, lo, hi, sum := 0, 1<<30, 0, 0
	for i, t := range d.total {
		if i > 0 && d.outbound[i] >= d.target {
			ok++
		}
		lo, hi, sum = min(lo, t), max(hi, t), sum+t
	}
	conn := "not yet connected"
	if d.connected {
		conn = "connected"
	}
	s := fmt.Sprintf("[%6s] discovery: %d/%d nodes have >=%d outbound peers; peers per node min %d avg %.1f max %d; graph %s",
		round(time.Since(t0)), ok, len(d.total)-1, d.target, lo, float64(sum)/float64(len(d.total)), hi, conn)
	if verbose {
		var b strings.Builder
		for i := range d.total {
			fmt.Fprintf(&b, " %d:%d/%d", i, d.outbound[i], d.total[i])
		}
		s += "\n         out/total per node:" + b.String()
	}
	return s
}

// progress prints a line at most once per interval.
type progress struct {
	out      io.Writer
	interval time.Duration
	last     time.Time
	lastLine string
}

func newProgress(out io.Writer, interval time.Duration) *progress {
	return &progress{out: out, interval: interval}
}

// line prints the line f makes if the interval has passed since the last.
func (p *progress) line(f func() string) {
	if time.Since(p.last) < p.interval {
		return
	}
	p.force(f)
}

// force prints the line now, unless it is the one printed last.
func (p *progress) force(f func() string) {
	p.last = time.Now()
	s := f()
	if s == p.lastLine {
		return
	}
	p.lastLine = s
	fmt.Fprintln(p.out, s)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// round shortens a duration for display.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
