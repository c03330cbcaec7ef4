// Command localnet runs a whole Switchyard network in one process and
// measures it: N nodes (default 20) on real TCP on 127.0.0.1, or on
// go-libp2p's in-memory mocknet with -mocknet, or on a simulated WAN with
// -wan (transport.NewSimNet: QUIC, 10-150 ms from each node to the core,
// 20 Mbit/s links; the simulation runs in real time). Node 0 is the seed: the
// others know only its address, and PEX connects them. Once every node has
// its outbound peers and the peer graph is connected, M transactions
// (default 200) are injected at random nodes; the mempool agents gossip
// them. Progress lines show peers and transactions as they spread, and a
// summary table gives the discovery time, per-node peer counts, the
// latency until every node had a transaction (p50, p99, max), duplicates
// per transaction and the bytes sent.
//
//	go run ./examples/localnet            # 20 nodes, TCP
//	go run ./examples/localnet -mocknet -n 50 -txs 1000
//	go run ./examples/localnet -wan
//	go run ./examples/localnet -report report.html -report-json report.json
//
// -report writes one self-contained HTML file (inline SVG and CSS, no
// script, nothing fetched: it opens offline) with the peer graph at the
// end, the outbound peers of every node over time, the propagation CDF and
// a per-node table with the slowest nodes highlighted; -report-json writes
// the same data for scripts.
//
// The exit status is 0 only if every node got every transaction; 1 if not
// (the last line says which nodes lack what), 2 for bad flags or a network
// that could not start or a report that could not be written, 130 when
// interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	logging "github.com/ipfs/go-log/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain is the program but for signals and the exit: it parses args,
// creates the report files, runs the network, writes the reports and
// returns the exit status. The reports are written for every run that
// ended (OK or not), not for one that was interrupted or could not start.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 2
	}
	if cfg.Verbose {
		logging.SetLogLevelRegex("switchyard/.*", "info")
	}
	reps, err := openReports(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 2
	}
	res, err := run(ctx, cfg, stdout)
	code := exitCode(res, err, stderr)
	if res == nil || err != nil {
		reps.discard()
		return code
	}
	if err := reps.write(newReport(res), stdout); err != nil {
		fmt.Fprintln(stderr, "localnet:", err)
		return 2
	}
	return code
}

// exitCode is the process status for a run's outcome, with the reason
// written to stderr: 0 when every node got every transaction, 1 when some
// did not, 2 when the network could not run, 130 when interrupted.
func exitCode(res *Result, err error, stderr io.Writer) int {
	switch {
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "localnet: interrupted")
		return 130
	case err != nil:
		fmt.Fprintln(stderr, "localnet:", err)
		return 2
	case res == nil || !res.OK():
		if res != nil {
			fmt.Fprintln(stderr, "localnet: FAIL:", res.Failure())
		}
		return 1
	}
	return 0
}
