package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// syntheticResult is a run of 4 nodes and 3 transactions, every one
// injected: tx 0 at node 0 reached everyone, tx 1 at node 1 never reached
// node 3, tx 2 at node 3 reached everyone.
func syntheticResult() *Result {
	m := time.Millisecond
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Txs, cfg.Seed = 4, 3, 7
	return &Result{
		Config: cfg, Transport: "mocknet", TargetOutbound: 1, Discovery: 20 * m, DiscoveryDone: true,
		Txs: 3, Complete: 2, Missing: map[int][]int{3: {1}},
		Nodes:   []NodeResult{{Out: 0, In: 3, Txs: 3}, {Out: 1, In: 0, Txs: 3}, {Out: 1, In: 0, Txs: 3}, {Out: 1, In: 0, Txs: 2}},
		Origins: []int{0, 1, 3},
		Arrivals: [][]time.Duration{
			{0, 10 * m, 20 * m, 30 * m},
			{5 * m, 0, 25 * m, -1},
			{40 * m, 50 * m, 60 * m, 0},
		},
		Links:    []Link{{1, 0}, {2, 0}, {3, 0}},
		Timeline: []Sample{{0, []int{0, 0, 0, 0}}, {10 * m, []int{0, 1, 1, 0}}, {30 * m, []int{0, 1, 1, 1}}},
	}
}

// ptr is v as a pointer, for comparing optional times.
func ptr(v float64) *float64 { return &v }

func eqOpt(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestSpreadsTimeEachShareOfTheNodes(t *testing.T) {
	rep := newReport(syntheticResult())
	want := []TxSpread{
		{Tx: 0, Origin: 0, Reached: 4, Injected: true, P50MS: ptr(10), P90MS: ptr(30), P99MS: ptr(30), ToAllMS: ptr(30)},
		{Tx: 1, Origin: 1, Reached: 3, Injected: true, P50MS: ptr(5)},
		{Tx: 2, Origin: 3, Reached: 4, Injected: true, P50MS: ptr(40), P90MS: ptr(60), P99MS: ptr(60), ToAllMS: ptr(60)},
	}
	if len(rep.Spread) != len(want) {
		t.Fatalf("%d spreads, want %d", len(rep.Spread), len(want))
	}
	for i, w := range want {
		g := rep.Spread[i]
		if g.Tx != w.Tx || g.Origin != w.Origin || g.Reached != w.Reached || g.Injected != w.Injected ||
			!eqOpt(g.P50MS, w.P50MS) || !eqOpt(g.P90MS, w.P90MS) || !eqOpt(g.P99MS, w.P99MS) || !eqOpt(g.ToAllMS, w.ToAllMS) {
			t.Errorf("spread %d = %+v, want %+v", i, g, w)
		}
	}
	if rep.Injected != 3 || rep.Complete != 2 || rep.OK || rep.Failure == "" {
		t.Errorf("injected %d, complete %d, ok %v, failure %q", rep.Injected, rep.Complete, rep.OK, rep.Failure)
	}
}

func TestCurvesAreSortedAndCountTheTxsThatNeverGotThere(t *testing.T) {
	rep := newReport(syntheticResult())
	want := []Curve{
		{Name: "50% of nodes", Share: 0.5, MS: []float64{5, 10, 40}},
		{Name: "90% of nodes", Share: 0.9, MS: []float64{30, 60}, Never: 1},
		{Name: "99% of nodes", Share: 0.99, MS: []float64{30, 60}, Never: 1},
		{Name: "all nodes", Share: 1, MS: []float64{30, 60}, Never: 1},
	}
	if len(rep.Curves) != len(want) {
		t.Fatalf("%d curves", len(rep.Curves))
	}
	for i, w := range want {
		g := rep.Curves[i]
		if g.Name != w.Name || g.Share != w.Share || !slices.Equal(g.MS, w.MS) || g.Never != w.Never {
			t.Errorf("curve %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestNodeRowsMarkTheLackingAndTheSlowest(t *testing.T) {
	rows := newReport(syntheticResult()).NodeRows
	type row struct {
		role         string
		missing      int
		p50, p90     *float64
		slowest      bool
		out, in, txs int
	}
	want := []row{
		{"seed", 0, ptr(5), ptr(40), false, 0, 3, 3}, // got tx 1 at 5 ms, tx 2 at 40 ms
		{"", 0, ptr(10), ptr(50), false, 1, 0, 3},    // tx 0 at 10, tx 2 at 50
		{"", 0, ptr(25), ptr(60), true, 1, 0, 3},     // the slowest median of the complete nodes
		{"", 1, ptr(30), ptr(30), true, 1, 0, 2},     // lacks tx 1
	}
	for i, w := range want {
		g := rows[i]
		if g.Node != i || g.Role != w.role || g.Missing != w.missing || !eqOpt(g.ArrivalP50MS, w.p50) ||
			!eqOpt(g.ArrivalP90MS, w.p90) || g.Slowest != w.slowest || g.Out != w.out || g.In != w.in || g.Txs != w.txs {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestMarkSlowestTakesATenthOfTheCompleteNodes(t *testing.T) {
	// 25 nodes: node 3 lacks a tx, node 4 got nothing from a peer; of the
	// other 23, the 3 with the highest medians are marked.
	rows := make([]NodeRow, 25)
	medians := make([]time.Duration, 25)
	for i := range rows {
		medians[i] = time.Duration(i)
	}
	rows[3].Missing, medians[3] = 1, 1000
	medians[4] = -1
	medians[24], medians[10], medians[0] = 100, 99, 98 // node 24 would be slowest anyway
	markSlowest(rows, medians)
	var got []int
	for i, r := range rows {
		if r.Slowest {
			got = append(got, i)
		}
	}
	if want := []int{0, 3, 10, 24}; !slices.Equal(got, want) {
		t.Fatalf("slowest %v, want %v", got, want)
	}
	// Every node lacking: all marked, nothing to rank.
	rows = []NodeRow{{Missing: 1}, {Missing: 2}}
	markSlowest(rows, []time.Duration{-1, -1})
	if !rows[0].Slowest || !rows[1].Slowest {
		t.Fatalf("lacking nodes not marked: %+v", rows)
	}
}

func TestReportSummaryAndTimeline(t *testing.T) {
	res := syntheticResult()
	res.Latency = []time.Duration{30 * time.Millisecond, 60 * time.Millisecond}
	res.P50, res.P99, res.Max = res.Latency[0], res.Latency[1], res.Latency[1]
	rep := newReport(res)
	if !eqOpt(rep.ToAllP50MS, ptr(30)) || !eqOpt(rep.ToAllP99MS, ptr(60)) || !eqOpt(rep.ToAllMaxMS, ptr(60)) || rep.PropagationMS != nil {
		t.Errorf("to all p50 %v p99 %v max %v, propagation %v", rep.ToAllP50MS, rep.ToAllP99MS, rep.ToAllMaxMS, rep.PropagationMS)
	}
	if len(rep.Discovery) != 3 || rep.Discovery[1].AtMS != 10 || !slices.Equal(rep.Discovery[2].Outbound, []int{0, 1, 1, 1}) {
		t.Errorf("discovery samples %+v", rep.Discovery)
	}
	if rep.Nodes != 4 || rep.Txs != 3 || rep.Seed != 7 || rep.DiscoveryMS != 20 || !slices.Equal(rep.Links, res.Links) {
		t.Errorf("report %+v", rep)
	}
}

func TestTimelineKeepsChangesAndSpansTheRun(t *testing.T) {
	var r Result
	out := []int{0, 1}
	r.sample(0, out)
	out[1] = 2 // the sample holds a copy
	r.sample(time.Millisecond, []int{0, 1})
	r.sample(2*time.Millisecond, []int{1, 1})
	r.endTimeline(5 * time.Millisecond)
	r.endTimeline(4 * time.Millisecond) // earlier than the last: nothing
	want := []Sample{{0, []int{0, 1}}, {2 * time.Millisecond, []int{1, 1}}, {5 * time.Millisecond, []int{1, 1}}}
	if len(r.Timeline) != len(want) {
		t.Fatalf("timeline %+v", r.Timeline)
	}
	for i, w := range want {
		if r.Timeline[i].At != w.At || !slices.Equal(r.Timeline[i].Outbound, w.Outbound) {
			t.Errorf("sample %d = %+v, want %+v", i, r.Timeline[i], w)
		}
	}
	var empty Result
	empty.endTimeline(time.Second)
	if len(empty.Timeline) != 0 {
		t.Fatal("endTimeline made a sample out of nothing")
	}
}

func TestTrackerRecordsArrivalsOncePerNode(t *testing.T) {
	tr := newTracker(3, 2, 32, rand.New(rand.NewPCG(1, 2)))
	tr.markInjected(0, 2)
	for _, node := range []int{2, 0, 0} { // node 0 takes tx 0 twice (evicted between)
		if err := tr.validator(node)(tr.txs[0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.validator(1)([]byte("not one of ours")); err != nil {
		t.Fatal(err)
	}
	arr, origins := tr.arrivals(), tr.origins()
	if !slices.Equal(origins, []int{2, -1}) {
		t.Fatalf("origins %v", origins)
	}
	if arr[0][0] < 0 || arr[0][2] < 0 || arr[0][1] != -1 || !slices.Equal(arr[1], []time.Duration{-1, -1, -1}) {
		t.Fatalf("arrivals %v", arr)
	}
	if tr.deliveries.Load() != 2 || tr.complete.Load() != 0 {
		t.Fatalf("deliveries %d, complete %d", tr.deliveries.Load(), tr.complete.Load())
	}
}
