package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchyard-p2p/switchyard/mempool"
)

// Result is what a run measured.
type Result struct {
	Config         Config
	Transport      string
	Started        time.Duration // building and starting the nodes
	TargetOutbound int           // outbound peers each non-seed node had to reach
	Discovery      time.Duration // from PEX start until the target was met (or given up)
	DiscoveryDone  bool
	Propagation    time.Duration // from the first injection until every node had every tx
	Stopped        time.Duration // stopping every node
	Elapsed        time.Duration

	Txs      int
	Complete int             // txs that reached every node
	P50, P99 time.Duration   // of the time from a tx's injection until the last node had it
	Max      time.Duration   //
	Nodes    []NodeResult    // per node
	Missing  map[int][]int   // node → txs (by number) it lacks; empty when OK
	Latency  []time.Duration // per complete tx, sorted

	Received, Duplicates, Gossiped uint64  // sums over the nodes
	BytesSent, MsgsSent            float64 // mempool channel, sums over the nodes

	// What the -report and -report-json files show.
	Timeline []Sample          // outbound peers per node, from PEX start to the end
	Origins  []int             // per tx, the node it was injected at; -1: not injected
	Arrivals [][]time.Duration // [tx][node]: from injection until the node's pool took it; -1: never
	Links    []Link            // the peer graph at the end
}

// NodeResult is one node's share.
type NodeResult struct {
	Out, In                        int
	Txs                            int // in its pool
	Received, Duplicates, Gossiped uint64
	BytesSent                      float64
}

// OK reports whether every node got every transaction.
func (r *Result) OK() bool { return r.Txs > 0 && r.Complete == r.Txs }

// DuplicatesPerTx is the mean number of copies of a transaction that nodes
// received while already having it (0 would be a perfect gossip tree).
func (r *Result) DuplicatesPerTx() float64 { return float64(r.Duplicates) / float64(max(r.Txs, 1)) }

// Failure says what went wrong, "" when OK.
func (r *Result) Failure() string {
	if r.OK() {
		return ""
	}
	var parts []string
	nodes := make([]int, 0, len(r.Missing))
	for n := range r.Missing {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		parts = append(parts, fmt.Sprintf("node %d lacks %d", n, len(r.Missing[n])))
	}
	return fmt.Sprintf("%d of %d txs did not reach every node within %s (%s)",
		r.Txs-r.Complete, r.Txs, r.Config.Timeout, strings.Join(parts, ", "))
}

// collect reads the counters of the running network.
func (r *Result) collect(net *network, tr *tracker) {
	r.Txs = len(tr.txs)
	r.Complete = int(tr.complete.Load())
	r.Latency = tr.latencies()
	r.Arrivals, r.Origins = tr.arrivals(), tr.origins()
	r.Links = peerLinks(net)
	slices.Sort(r.Latency)
	if n := len(r.Latency); n > 0 {
		r.P50, r.P99, r.Max = percentile(r.Latency, 50), percentile(r.Latency, 99), r.Latency[n-1]
	}
	r.Missing = map[int][]int{}
	for i, n := range net.nodes {
		out, in, _ := n.sw.NumPeers()
		st := n.mem.Stats()
		nr := NodeResult{
			Out: out, In: in, Txs: n.mem.Size(),
			Received: st.Received.Load(), Duplicates: st.Duplicate.Load(), Gossiped: st.Gossiped.Load(),
		}
		var msgs float64
		nr.BytesSent, msgs = n.sentOnMempoolCh()
		r.Nodes = append(r.Nodes, nr)
		r.Received += nr.Received
		r.Duplicates += nr.Duplicates
		r.Gossiped += nr.Gossiped
		r.BytesSent += nr.BytesSent
		r.MsgsSent += msgs
		if r.Complete < r.Txs {
			for j, tx := range tr.txs {
				if !n.mem.Has(mempool.HashTx(tx)) {
					r.Missing[i] = append(r.Missing[i], j)
				}
			}
		}
	}
}

// percentile returns the nearest-rank p-th percentile of sorted.
func percentile[T any](sorted []T, p int) T {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// print writes the summary and the per-node table.
func (r *Result) print(w io.Writer) {
	n := len(r.Nodes)
	fmt.Fprintf(w, "\nSummary: %d nodes on %s, seed %d\n", n, r.Transport, r.Config.Seed)
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	disc := "(every node >= %d outbound peers, graph connected)"
	if !r.DiscoveryDone {
		disc = "TARGET NOT REACHED (every node >= %d outbound peers, graph connected)"
	}
	fmt.Fprintf(tw, "  start\t%s\t\n", round(r.Started))
	fmt.Fprintf(tw, "  discovery\t%s\t"+disc+"\n", round(r.Discovery), r.TargetOutbound)
	fmt.Fprintf(tw, "  txs on every node\t%d / %d\t\n", r.Complete, r.Txs)
	if len(r.Latency) > 0 {
		fmt.Fprintf(tw, "  latency to all nodes\tp50 %s  p99 %s  max %s\t(injection to the last node's pool; %d txs)\n",
			round(r.P50), round(r.P99), round(r.Max), len(r.Latency))
	}
	if r.Propagation > 0 {
		fmt.Fprintf(tw, "  propagation\t%s\t(first injection until every node had every tx; %.0f txs/s injected)\n", round(r.Propagation), r.Config.Rate)
	}
	fmt.Fprintf(tw, "  duplicates per tx\t%.2f\t(copies received by nodes that had the tx; %d receipts for %d needed)\n",
		r.DuplicatesPerTx(), r.Received, r.Txs*max(n-1, 0))
	fmt.Fprintf(tw, "  bytes sent\t%s\t(mempool channel, all nodes; %s per tx, %.0f messages)\n",
		bytesString(r.BytesSent), bytesString(r.BytesSent/float64(max(r.Txs, 1))), r.MsgsSent)
	fmt.Fprintf(tw, "  stop\t%s\t\n", round(r.Stopped))
	fmt.Fprintf(tw, "  total\t%s\t\n", round(r.Elapsed))
	tw.Flush()
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			fmt.Fprintln(w, strings.TrimRight(line, " \n"))
		}
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "node\trole\tout\tin\tpeers\ttxs\treceived\tdup\tgossiped\tsent\t")
	for i, nr := range r.Nodes {
		role := ""
		switch {
		case i == 0:
			role = "seed"
		case i >= n-r.Config.Isolated:
			role = "isolated"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
			i, role, nr.Out, nr.In, nr.Out+nr.In, nr.Txs, nr.Received, nr.Duplicates, nr.Gossiped, bytesString(nr.BytesSent))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.OK() {
		fmt.Fprintf(w, "OK: every node got every tx (%d txs x %d nodes)\n", r.Txs, n)
	} else {
		fmt.Fprintf(w, "FAIL: %s\n", r.Failure())
	}
}

// bytesString formats a byte count with a binary unit.
func bytesString(b float64) string {
	const unit = 1024
	switch {
	case b >= unit*unit*unit:
		return fmt.Sprintf("%.1f GiB", b/(unit*unit*unit))
	case b >= unit*unit:
		return fmt.Sprintf("%.1f MiB", b/(unit*unit))
	case b >= unit:
		return fmt.Sprintf("%.1f KiB", b/unit)
	}
	return fmt.Sprintf("%.0f B", b)
}
