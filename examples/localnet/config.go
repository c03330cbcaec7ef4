package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// errBadFlag is wrapped by parseFlags' errors for values out of range.
var errBadFlag = errors.New("bad flag value")

// Config says what network to run and what to measure.
type Config struct {
	Nodes             int           // -n: nodes, node 0 being the seed
	Txs               int           // -txs: transactions injected
	TxSize            int           // -tx-size: bytes per transaction
	Rate              float64       // -rate: transactions injected per second (0: all at once)
	Mocknet           bool          // -mocknet: go-libp2p's in-memory network instead of TCP on 127.0.0.1
	WAN               bool          // -wan: a simulated WAN (QUIC, 10-150 ms per host, 20 Mbit/s) instead of TCP on 127.0.0.1
	Seed              uint64        // -seed: random seed (0: pick one, printed)
	Timeout           time.Duration // -timeout: bound on discovery plus propagation
	DiscoveryTimeout  time.Duration // -discovery-timeout: how long to wait for the discovery target
	MinOutbound       int           // -min-outbound: outbound peers each node's PEX keeps
	EnsurePeersPeriod time.Duration // -ensure-peers-period: PEX period
	Progress          time.Duration // -progress: interval of the progress lines
	Isolated          int           // -isolated: nodes given no seed address, to see a failure
	Verbose           bool          // -v: per-node progress and the library's info logs
	Report            string        // -report: the HTML report's path ("": none)
	ReportJSON        string        // -report-json: the JSON report's path ("": none)
}

// DefaultConfig is the configuration with no flags: 20 nodes on TCP, 200
// transactions of 256 bytes at 1000 per second.
func DefaultConfig() Config {
	return Config{
		Nodes:             20,
		Txs:               200,
		TxSize:            256,
		Rate:              1000,
		Timeout:           45 * time.Second,
		DiscoveryTimeout:  15 * time.Second,
		MinOutbound:       4,
		EnsurePeersPeriod: 300 * time.Millisecond,
		Progress:          250 * time.Millisecond,
	}
}

// parseFlags parses the command line (without the program name); usage
// and flag errors go to stderr. It returns flag.ErrHelp for -h and an error
// wrapping errBadFlag for a value out of range.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("localnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: localnet [flags]

Starts a network of Switchyard nodes in this process (one of them the seed the
others know), lets PEX connect them, injects transactions at random nodes,
and prints how discovery and gossip went. Exits 0 only if every node got every
transaction.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Nodes, "n", cfg.Nodes, "number of nodes (node 0 is the seed)")
	fs.IntVar(&cfg.Txs, "txs", cfg.Txs, "transactions to inject")
	fs.IntVar(&cfg.TxSize, "tx-size", cfg.TxSize, "bytes per transaction (at least 16)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "transactions injected per second (0: all at once)")
	fs.BoolVar(&cfg.Mocknet, "mocknet", cfg.Mocknet, "use go-libp2p's in-memory mocknet instead of TCP on 127.0.0.1")
	fs.BoolVar(&cfg.WAN, "wan", cfg.WAN, "use a simulated WAN instead of TCP on 127.0.0.1: QUIC, each host 10-150 ms (one way) from the others' core, 20 Mbit/s links; it runs in real time")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed for where transactions are injected (0: a random one, printed)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "give up if discovery and propagation take longer")
	fs.DurationVar(&cfg.DiscoveryTimeout, "discovery-timeout", cfg.DiscoveryTimeout, "inject anyway if discovery has not reached its target by then")
	fs.IntVar(&cfg.MinOutbound, "min-outbound", cfg.MinOutbound, "outbound peers each node's PEX keeps")
	fs.DurationVar(&cfg.EnsurePeersPeriod, "ensure-peers-period", cfg.EnsurePeersPeriod, "PEX period: how often nodes top up peers and ask for addresses")
	fs.DurationVar(&cfg.Progress, "progress", cfg.Progress, "interval between progress lines")
	fs.IntVar(&cfg.Isolated, "isolated", cfg.Isolated, "nodes that are given no seed address (to see what a failure looks like)")
	fs.BoolVar(&cfg.Verbose, "v", cfg.Verbose, "verbose: per-node progress and Switchyard's info logs on stderr")
	fs.StringVar(&cfg.Report, "report", cfg.Report, "write a self-contained HTML report of the run (peer graph, discovery, propagation, per node) to this file")
	fs.StringVar(&cfg.ReportJSON, "report-json", cfg.ReportJSON, "write the report's data as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%w: unexpected arguments %q", errBadFlag, fs.Args())
	}
	return cfg, cfg.validate()
}

// maxNodes is the most nodes -n accepts: the demo runs every node in this
// process.
const maxNodes = 1000

// validate checks that the configuration can run.
func (c Config) validate() error {
	switch {
	case c.Mocknet && c.WAN:
		return fmt.Errorf("%w: -mocknet and -wan: choose one network", errBadFlag)
	case c.Nodes < 2:
		return fmt.Errorf("%w: -n %d: need at least 2 nodes", errBadFlag, c.Nodes)
	case c.Nodes > maxNodes:
		return fmt.Errorf("%w: -n %d: at most %d nodes run in one process (each takes a few MiB and, over TCP, a few dozen file descriptors)", errBadFlag, c.Nodes, maxNodes)
	case c.Txs < 1:
		return fmt.Errorf("%w: -txs %d: need at least 1", errBadFlag, c.Txs)
	case c.TxSize < 16:
		return fmt.Errorf("%w: -tx-size %d: need at least 16 bytes (a transaction starts with its number)", errBadFlag, c.TxSize)
	case c.Rate < 0:
		return fmt.Errorf("%w: -rate %v is negative", errBadFlag, c.Rate)
	case c.Timeout <= 0, c.DiscoveryTimeout <= 0, c.EnsurePeersPeriod <= 0, c.Progress <= 0:
		return fmt.Errorf("%w: -timeout, -discovery-timeout, -ensure-peers-period and -progress must be positive", errBadFlag)
	case c.MinOutbound < 1:
		return fmt.Errorf("%w: -min-outbound %d: need at least 1", errBadFlag, c.MinOutbound)
	case c.Isolated < 0 || c.Isolated > c.Nodes-1:
		return fmt.Errorf("%w: -isolated %d: between 0 and n-1", errBadFlag, c.Isolated)
	case c.Report != "" && c.Report == c.ReportJSON:
		return fmt.Errorf("%w: -report and -report-json name the same file %q", errBadFlag, c.Report)
	}
	return nil
}

// targetOutbound is the outbound peer count every non-seed node must reach
// for discovery to count as done: MinOutbound, lowered for small networks
// where not every node can have that many outbound peers (each connection
// is outbound for one side only).
func (c Config) targetOutbound() int {
	return max(1, min(c.MinOutbound, (c.Nodes-1)/3))
}
