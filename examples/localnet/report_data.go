package main

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Report is what the -report (HTML) and -report-json files hold: a run's
// summary, its peer graph, discovery over time, how each transaction spread
// and each node's share. Times are in milliseconds; a time that never came
// (a transaction that did not reach enough nodes) is null.
type Report struct {
	Transport       string   `json:"transport"`
	Nodes           int      `json:"nodes"`
	Txs             int      `json:"txs"`
	TxSize          int      `json:"tx_size"`
	Rate            float64  `json:"rate"`
	Seed            uint64   `json:"seed"`
	Isolated        int      `json:"isolated"`
	TimeoutMS       float64  `json:"timeout_ms"`
	OK              bool     `json:"ok"`
	Failure         string   `json:"failure,omitempty"`
	StartMS         float64  `json:"start_ms"`
	DiscoveryMS     float64  `json:"discovery_ms"`
	DiscoveryDone   bool     `json:"discovery_done"`
	TargetOutbound  int      `json:"target_outbound"`
	PropagationMS   *float64 `json:"propagation_ms"` // first injection until every node had every tx
	Injected        int      `json:"injected"`       // txs injected
	Complete        int      `json:"complete"`       // txs every node got
	ToAllP50MS      *float64 `json:"to_all_p50_ms"`  // over the complete txs
	ToAllP99MS      *float64 `json:"to_all_p99_ms"`
	ToAllMaxMS      *float64 `json:"to_all_max_ms"`
	DuplicatesPerTx float64  `json:"duplicates_per_tx"`
	BytesSent       float64  `json:"bytes_sent"` // mempool channel, all nodes
	MessagesSent    float64  `json:"messages_sent"`

	Links     []Link         `json:"links"`     // the peer graph at the end: from dialed to
	Discovery []SampleReport `json:"discovery"` // outbound peers per node, at each change, from PEX start to the end
	Spread    []TxSpread     `json:"spread"`    // per tx
	Curves    []Curve        `json:"curves"`    // the propagation CDF, one curve per share of nodes
	NodeRows  []NodeRow      `json:"node_rows"` // per node
}

// SampleReport is the outbound peer count of every node at one moment.
type SampleReport struct {
	AtMS     float64 `json:"at_ms"` // since PEX started
	Outbound []int   `json:"outbound"`
}

// TxSpread is how far and how fast one transaction spread: the time from
// its injection until 50%, 90%, 99% and all of the nodes had it.
type TxSpread struct {
	Tx       int      `json:"tx"`
	Origin   int      `json:"origin"` // -1: not injected
	Reached  int      `json:"reached"`
	P50MS    *float64 `json:"p50_ms"`
	P90MS    *float64 `json:"p90_ms"`
	P99MS    *float64 `json:"p99_ms"`
	ToAllMS  *float64 `json:"to_all_ms"`
	Injected bool     `json:"injected"`
}

// Curve is one curve of the propagation CDF: for each transaction that
// reached Share of the nodes, the time that took, sorted; Never counts the
// transactions that did not (the curve ends below 100% by that many).
type Curve struct {
	Name  string    `json:"name"`
	Share float64   `json:"share"`
	MS    []float64 `json:"ms"`
	Never int       `json:"never"`
}

// NodeRow is one node's share. ArrivalP50MS and ArrivalP90MS are over the
// transactions the node got from a peer (not those injected at it); Slowest
// marks every node that lacks a transaction and, among the others, the
// tenth with the highest median.
type NodeRow struct {
	Node         int      `json:"node"`
	Role         string   `json:"role"` // "seed", "isolated" or ""
	Out          int      `json:"out"`
	In           int      `json:"in"`
	Txs          int      `json:"txs"` // in its pool
	Missing      int      `json:"missing"`
	Received     uint64   `json:"received"`
	Duplicates   uint64   `json:"duplicates"`
	Gossiped     uint64   `json:"gossiped"`
	BytesSent    float64  `json:"bytes_sent"`
	ArrivalP50MS *float64 `json:"arrival_p50_ms"`
	ArrivalP90MS *float64 `json:"arrival_p90_ms"`
	Slowest      bool     `json:"slowest"`
}

// curveShares are the shares of the nodes the propagation CDF has a curve
// for.
var curveShares = []struct {
	name  string
	share float64
}{{"50% of nodes", 0.5}, {"90% of nodes", 0.9}, {"99% of nodes", 0.99}, {"all nodes", 1}}

// newReport builds the report of a run.
func newReport(r *Result) *Report {
	c := r.Config
	rep := &Report{
		Transport: r.Transport, Nodes: len(r.Nodes), Txs: r.Txs, TxSize: c.TxSize, Rate: c.Rate,
		Seed: c.Seed, Isolated: c.Isolated, TimeoutMS: ms(c.Timeout),
		OK: r.OK(), Failure: r.Failure(),
		StartMS: ms(r.Started), DiscoveryMS: ms(r.Discovery), DiscoveryDone: r.DiscoveryDone,
		TargetOutbound: r.TargetOutbound, Complete: r.Complete,
		DuplicatesPerTx: r.DuplicatesPerTx(), BytesSent: r.BytesSent, MessagesSent: r.MsgsSent,
		Links: r.Links, Discovery: []SampleReport{},
	}
	if rep.Links == nil {
		rep.Links = []Link{} // [] rather than null in the JSON, for scripts
	}
	if r.Propagation > 0 {
		rep.PropagationMS = msp(r.Propagation)
	}
	if len(r.Latency) > 0 {
		rep.ToAllP50MS, rep.ToAllP99MS, rep.ToAllMaxMS = msp(r.P50), msp(r.P99), msp(r.Max)
	}
	for _, s := range r.Timeline {
		rep.Discovery = append(rep.Discovery, SampleReport{AtMS: ms(s.At), Outbound: s.Outbound})
	}
	rep.Spread = spreads(r)
	for _, s := range rep.Spread {
		if s.Injected {
			rep.Injected++
		}
	}
	rep.Curves = curves(rep.Spread)
	rep.NodeRows = nodeRows(r)
	return rep
}

// spreads computes each transaction's TxSpread from the arrival times.
func spreads(r *Result) []TxSpread {
	out := make([]TxSpread, len(r.Arrivals))
	for i, arrivals := range r.Arrivals {
		s := TxSpread{Tx: i, Origin: -1}
		if i < len(r.Origins) {
			s.Origin = r.Origins[i]
		}
		var got []time.Duration
		for _, d := range arrivals {
			if d >= 0 {
				got = append(got, d)
			}
		}
		slices.Sort(got)
		s.Injected, s.Reached = s.Origin >= 0, len(got)
		n := len(arrivals)
		s.P50MS, s.P90MS, s.P99MS, s.ToAllMS = toShare(got, n, 0.5), toShare(got, n, 0.9), toShare(got, n, 0.99), toShare(got, n, 1)
		out[i] = s
	}
	return out
}

// toShare is the time until share of n nodes had a transaction, given the
// sorted times of the nodes that got it: nil if too few did.
func toShare(sorted []time.Duration, n int, share float64) *float64 {
	need := max(int(math.Ceil(share*float64(n)-1e-9)), 1)
	if need > len(sorted) {
		return nil
	}
	return msp(sorted[need-1])
}

// curves turns the per-transaction times into the CDF's curves.
func curves(spread []TxSpread) []Curve {
	out := make([]Curve, len(curveShares))
	for k, cs := range curveShares {
		c := Curve{Name: cs.name, Share: cs.share, MS: []float64{}}
		for _, s := range spread {
			if v := [...]*float64{s.P50MS, s.P90MS, s.P99MS, s.ToAllMS}[k]; v != nil {
				c.MS = append(c.MS, *v)
			} else {
				c.Never++
			}
		}
		slices.Sort(c.MS)
		out[k] = c
	}
	return out
}

// nodeRows computes each node's row, marking the slowest.
func nodeRows(r *Result) []NodeRow {
	n := len(r.Nodes)
	rows := make([]NodeRow, n)
	medians := make([]time.Duration, n)
	for i, nr := range r.Nodes {
		row := NodeRow{Node: i, Out: nr.Out, In: nr.In, Txs: nr.Txs, Received: nr.Received,
			Duplicates: nr.Duplicates, Gossiped: nr.Gossiped, BytesSent: nr.BytesSent}
		switch {
		case i == 0:
			row.Role = "seed"
		case i >= n-r.Config.Isolated:
			row.Role = "isolated"
		}
		var got []time.Duration
		for tx, arrivals := range r.Arrivals {
			switch {
			case arrivals[i] < 0:
				row.Missing++
			case tx >= len(r.Origins) || r.Origins[tx] != i:
				got = append(got, arrivals[i])
			}
		}
		slices.Sort(got)
		medians[i] = -1 // no arrival from a peer: not ranked among the slowest
		if len(got) > 0 {
			row.ArrivalP50MS, row.ArrivalP90MS = msp(percentile(got, 50)), msp(percentile(got, 90))
			medians[i] = percentile(got, 50)
		}
		rows[i] = row
	}
	markSlowest(rows, medians)
	return rows
}

// markSlowest marks every node that lacks a transaction, and the tenth of
// the other nodes (at least one, at most ten) with the highest median
// arrival; medians[i] < 0 means node i got nothing from a peer.
func markSlowest(rows []NodeRow, medians []time.Duration) {
	var order []int
	for i := range rows {
		switch {
		case rows[i].Missing > 0:
			rows[i].Slowest = true
		case medians[i] >= 0:
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(medians[b], medians[a]) })
	k := min(max((len(rows)+9)/10, 1), 10)
	for _, i := range order[:min(k, len(order))] {
		rows[i].Slowest = true
	}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// msp is ms(d) as a pointer, for times that may not exist.
func msp(d time.Duration) *float64 {
	v := ms(d)
	return &v
}
