// Command mconnbench measures, in one process and in alternating rounds,
// CometBFT's MConnection beside a Switchyard Switch and a raw go-libp2p
// stream, and prints their figures and ratios.
//
// Usage (from this directory, a module of its own so that Switchyard does
// not depend on CometBFT):
//
//	go run . [-benchtime 1s] [-count 1] [-only regexp]
//
// The workloads are one channel, one way, with 256 B and 64 KiB messages,
// and a 256 B echo, one round trip at a time. The stacks:
//
//   - CometBFT's MConnection (the version in go.mod) on plain TCP on
//     127.0.0.1, its send and receive rates lifted (1 TB/s), its default
//     1024-byte packets and 10 ms flush throttle, and for the echo also a
//     flush throttle of 0. Its receiver is its onReceive callback, which is
//     lent each message; a second variant copies each message into a new
//     slice, as a caller of the Switch's Receive gets it.
//   - A Switch, with the suite's benchmarks (examples/bench/suite): the 2014
//     Receive path and the lending SetChannelHandler path, TLS and yamux.
//   - The suite's raw go-libp2p stream baseline: TLS, varint frames through
//     64 KiB buffers, one reused receive buffer.
//
// Every round runs every case once, one after the other, so that each ratio
// compares runs on the same machine a few seconds apart; -count sets the
// rounds. Each stack's figures are shown as the median and range over the
// rounds; each ratio is computed in every round, then shown as the median
// and range. Progress lines go to stderr.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mconnbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mconnbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf suite.RunFlags
	rf.Register(fs, "run every case this many times, in rounds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cases, err := suite.Pick(&rf, fs, allCases(), func(c benchCase) string { return c.name })
	if err != nil {
		return err
	}

	loadBefore := suite.LoadAverage()
	fmt.Fprintf(stderr, "running %d cases x %d, -benchtime %s, %s, %d CPUs, load average %s\n",
		len(cases), rf.Count, rf.Benchtime, runtime.Version(), runtime.NumCPU(), loadBefore)
	rounds := make([]results, rf.Count)
	var failed []string
	for round := range rounds {
		rounds[round] = results{}
		for i, c := range cases {
			fmt.Fprintf(stderr, "[round %d/%d, %2d/%d] %-32s ", round+1, rf.Count, i+1, len(cases), c.name)
			start := time.Now()
			r := testing.Benchmark(c.run)
			took := time.Since(start).Round(100 * time.Millisecond)
			if r.N == 0 {
				fmt.Fprintf(stderr, "FAILED after %s (run `go test` in examples/mconnbench to see why)\n", took)
				failed = append(failed, fmt.Sprintf("%s (round %d)", c.name, round+1))
				continue
			}
			rounds[round][c.name] = r
			fmt.Fprintf(stderr, "%s  (%s)\n", describe(r), took)
		}
	}

	fmt.Fprintf(stdout, "mconnbench: %s, %d CPUs, -benchtime %s, -count %d, load average before %s, after %s\n",
		runtime.Version(), runtime.NumCPU(), rf.Benchtime, rf.Count, loadBefore, suite.LoadAverage())
	fmt.Fprintf(stdout, "%s; loopback TCP; Switch and raw stream: TLS, yamux\n\n", versions())
	printTables(stdout, rounds)
	for _, f := range failed {
		fmt.Fprintf(stdout, "\nFAILED: %s\n", f)
	}
	return nil
}

// versions names the versions of CometBFT and go-libp2p built in.
func versions() string {
	want := map[string]string{"github.com/cometbft/cometbft": "CometBFT", "github.com/libp2p/go-libp2p": "go-libp2p"}
	var parts []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if name, ok := want[d.Path]; ok {
				parts = append(parts, name+" "+d.Version)
			}
		}
	}
	if len(parts) == 0 {
		return "versions unknown"
	}
	return strings.Join(parts, ", ")
}
