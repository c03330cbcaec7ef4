package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// smallConfig is a network small enough for a test, on TCP ("tcp"), a
// mocknet ("mocknet") or a simulated WAN ("wan").
func smallConfig(network string) Config {
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Txs, cfg.Seed = 6, 20, 42
	cfg.Mocknet, cfg.WAN = network == "mocknet", network == "wan"
	cfg.Timeout = 30 * time.Second
	cfg.EnsurePeersPeriod = 200 * time.Millisecond
	return cfg
}

func TestSmallNetworkDeliversEveryTxToEveryNode(t *testing.T) {
	for _, name := range []string{"tcp", "mocknet", "wan"} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := run(context.Background(), smallConfig(name), &out)
			if err != nil {
				t.Fatalf("run: %s\n%s", err, out.String())
			}
			if !res.OK() || res.Failure() != "" || exitCode(res, nil, io.Discard) != 0 {
				t.Fatalf("not OK: %s\n%s", res.Failure(), out.String())
			}
			if res.Complete != 20 || res.Txs != 20 || len(res.Nodes) != 6 || len(res.Missing) != 0 {
				t.Fatalf("complete %d/%d, %d nodes, missing %v", res.Complete, res.Txs, len(res.Nodes), res.Missing)
			}
			if !res.DiscoveryDone || res.Discovery <= 0 {
				t.Fatalf("discovery done %v in %s", res.DiscoveryDone, res.Discovery)
			}
			for i, nr := range res.Nodes {
				if nr.Txs != 20 {
					t.Errorf("node %d pool holds %d txs", i, nr.Txs)
				}
				if i > 0 && nr.Out < res.TargetOutbound {
					t.Errorf("node %d has %d outbound peers, target %d", i, nr.Out, res.TargetOutbound)
				}
			}
			if len(res.Latency) != 20 || !(0 < res.P50 && res.P50 <= res.P99 && res.P99 <= res.Max) {
				t.Fatalf("latencies p50 %s p99 %s max %s over %d", res.P50, res.P99, res.Max, len(res.Latency))
			}
			// On the WAN any two nodes are at least 20 ms apart, one way.
			if name == "wan" && res.P50 < 20*time.Millisecond {
				t.Fatalf("on the simulated WAN a tx reached every node in %s (p50)", res.P50)
			}
			// Every node took every tx once: 20 txs reached 5 nodes each from
			// a peer; the rest of the receipts are the duplicates.
			if res.Received-res.Duplicates != 20*5 {
				t.Fatalf("received %d, duplicates %d, want received-duplicates = 100", res.Received, res.Duplicates)
			}
			// PEX may still connect peers (the small network's target is below
			// -min-outbound), and a new peer gets the whole pool: so messages
			// can be in flight when the counters are read.
			if res.Received > res.Gossiped || res.MsgsSent < float64(res.Received) {
				t.Fatalf("gossiped %d, received %d, messages sent %v", res.Gossiped, res.Received, res.MsgsSent)
			}
			// Every message is a 256-byte tx plus the type byte, and the bytes
			// counter counts payload only: so it holds whole messages. The two
			// counters are read one after the other while a new peer may be
			// getting the pool, so their ratio is checked loosely.
			const msgSize = 257
			if rem := int(res.BytesSent) % msgSize; rem != 0 || res.MsgsSent == 0 {
				t.Fatalf("%v bytes sent for %v messages: not whole %d-byte messages", res.BytesSent, res.MsgsSent, msgSize)
			}
			if ratio := res.BytesSent / msgSize / res.MsgsSent; ratio < 0.8 || ratio > 1.25 {
				t.Fatalf("%v bytes sent for %v messages of %d bytes", res.BytesSent, res.MsgsSent, msgSize)
			}
			for _, want := range []string{
				"discovery done in", "txs: injected 20/20, on every node 20/20",
				"Summary: 6 nodes", "latency to all nodes  p50", "duplicates per tx",
				"node  role  out  in  peers  txs  received  dup  gossiped",
				"OK: every node got every tx (20 txs x 6 nodes)",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q", want)
				}
			}
			// The report of every mode shows the whole run.
			checkReport(t, newReport(res), 6, 20)
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
}

func TestRunFailsClearlyWhenANodeIsUnreachable(t *testing.T) {
	cfg := smallConfig("mocknet")
	cfg.Nodes, cfg.Txs, cfg.Isolated = 4, 5, 1
	cfg.DiscoveryTimeout, cfg.Timeout = 500*time.Millisecond, 1500*time.Millisecond
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %s", err)
	}
	if res.OK() || res.DiscoveryDone {
		t.Fatalf("OK %v, discovery done %v, with an isolated node\n%s", res.OK(), res.DiscoveryDone, out.String())
	}
	if len(res.Missing) != 1 || len(res.Missing[3]) != 5 {
		t.Fatalf("missing %v, want node 3 lacking all 5", res.Missing)
	}
	var stderr bytes.Buffer
	if code := exitCode(res, nil, &stderr); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{"discovery did not reach its target", "TARGET NOT REACHED", "isolated", "FAIL: ", "node 3 lacks 5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !regexp.MustCompile(`FAIL: .* txs did not reach every node within 1\.5s \(node 3 lacks 5\)`).MatchString(stderr.String()) {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestRunStopsEverythingWhenInterrupted(t *testing.T) {
	cfg := smallConfig("mocknet")
	cfg.Isolated = 1 // discovery never completes
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out bytes.Buffer
	res, err := run(ctx, cfg, &out)
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("run = %v, want errInterrupted", err)
	}
	if res == nil || res.OK() {
		t.Fatal("an interrupted run reported success")
	}
	if code := exitCode(res, err, io.Discard); code != 130 {
		t.Fatalf("exit code %d, want 130", code)
	}
}

func TestExitCode(t *testing.T) {
	ok := &Result{Txs: 3, Complete: 3}
	bad := &Result{Txs: 3, Complete: 2, Missing: map[int][]int{1: {2}}}
	tests := []struct {
		res  *Result
		err  error
		want int
	}{
		{ok, nil, 0},
		{bad, nil, 1},
		{nil, errors.New("cannot listen"), 2},
		{nil, nil, 1},
		{bad, errInterrupted, 130},
	}
	for _, tc := range tests {
		if got := exitCode(tc.res, tc.err, io.Discard); got != tc.want {
			t.Errorf("exitCode(%v, %v) = %d, want %d", tc.res, tc.err, got, tc.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-n", "7", "-txs", "9", "-mocknet", "-seed", "5", "-timeout", "3s", "-v", "-rate", "0", "-report", "r.html", "-report-json", "r.json"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes != 7 || cfg.Txs != 9 || !cfg.Mocknet || cfg.Seed != 5 || cfg.Timeout != 3*time.Second || !cfg.Verbose || cfg.Rate != 0 ||
		cfg.Report != "r.html" || cfg.ReportJSON != "r.json" {
		t.Fatalf("parsed %+v", cfg)
	}
	if def, err := parseFlags(nil, io.Discard); err != nil || def != DefaultConfig() {
		t.Fatalf("defaults %+v, %v", def, err)
	}
	for _, args := range [][]string{
		{"-n", "1"}, {"-n", "100000"}, {"-txs", "0"}, {"-tx-size", "8"}, {"-rate", "-1"}, {"-timeout", "0s"},
		{"-min-outbound", "0"}, {"-isolated", "20"}, {"-isolated", "-1"}, {"stray"}, {"-mocknet", "-wan"},
		{"-report", "r", "-report-json", "r"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errBadFlag) {
			t.Errorf("parseFlags(%q) = %v, want errBadFlag", args, err)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestTargetOutboundFitsSmallNetworks(t *testing.T) {
	for _, tc := range []struct{ nodes, min, want int }{{20, 4, 4}, {6, 4, 1}, {2, 4, 1}, {10, 4, 3}, {100, 8, 8}} {
		cfg := DefaultConfig()
		cfg.Nodes, cfg.MinOutbound = tc.nodes, tc.min
		if got := cfg.targetOutbound(); got != tc.want {
			t.Errorf("n=%d min=%d: target %d, want %d", tc.nodes, tc.min, got, tc.want)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i))
	}
	if percentile(d, 50) != 100 || percentile(d, 99) != 198 || percentile(d[:1], 99) != 1 {
		t.Fatalf("p50 %d p99 %d", percentile(d, 50), percentile(d, 99))
	}
}
