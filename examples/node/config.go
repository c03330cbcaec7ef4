package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// errBadFlag is wrapped by parseFlags' errors for flag values that do not
// parse (each also wraps the parser's own sentinel error where there is one).
var errBadFlag = errors.New("bad flag value")

// config is what the flags set.
type config struct {
	ListenAddrs       []string          // -listen
	SharePort         bool              // -share-port
	KeyFile           string            // -key
	BookFile          string            // -book
	Seeds             []*p2p.NetAddress // -seeds
	PersistentPeers   []*p2p.NetAddress // -persistent-peers
	Network           string            // -network
	NAT               string            // -nat: "auto", "on" or "off"
	MetricsAddr       string            // -metrics
	SeedMode          bool              // -seed-mode
	BookStrict        bool              // -addr-book-strict
	MinOutbound       int               // -min-outbound
	EnsurePeersPeriod time.Duration     // -ensure-peers-period
	StatusInterval    time.Duration     // -status-interval
	QUIC              bool              // -quic
	AutoNATv2         bool              // -autonat-v2
	RelayService      bool              // -relay-service
	RelayUnlimited    bool              // -relay-unlimited
	Relays            []string          // -relays: multiaddrs ending in /p2p/<peer ID>
	HolePunch         bool              // -hole-punch
	Reachability      string            // -reachability: "auto", "public" or "private"
	Connect           []peer.AddrInfo   // -connect: peers to connect to at start, any transport
}

// defaultConfig is the configuration with no flags given.
func defaultConfig() *config {
	return &config{
		ListenAddrs:       []string{transport.DefaultListenAddr},
		Network:           p2p.DefaultNetwork,
		NAT:               "auto",
		Reachability:      "auto",
		BookStrict:        true,
		MinOutbound:       10,
		EnsurePeersPeriod: 30 * time.Second,
		StatusInterval:    30 * time.Second,
	}
}

// parseFlags parses the command line (without the program name). Usage and
// flag errors are written to stderr. It returns flag.ErrHelp for -h, and an
// error wrapping errBadFlag for a value that does not parse.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: node [flags]

A Switchyard node: a Switch with the PEX and mempool agents. Every line typed
on stdin is a transaction, gossiped to the network; peers coming and going and
transactions arriving are printed. Ctrl-C stops it and saves the address book.

Flags:
`)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", strings.Join(cfg.ListenAddrs, ","),
		`listen addresses, comma-separated: multiaddrs ("/ip4/127.0.0.1/tcp/26656") or host:port ("127.0.0.1:0")`)
	fs.BoolVar(&cfg.SharePort, "share-port", false, "listen even if another process holds the port (the kernel then splits incoming connections between them)")
	fs.StringVar(&cfg.KeyFile, "key", "", "identity key file, created if missing (default: a new identity every run)")
	fs.StringVar(&cfg.BookFile, "book", "", "address book file, loaded at start and saved at exit (default: in memory only)")
	seeds := fs.String("seeds", "", `seed addresses, comma-separated ("<peerID>@ip:port", "ip:port" or a multiaddr); added to the address book`)
	persistent := fs.String("persistent-peers", "", "peers to stay connected to, comma-separated, same forms as -seeds")
	fs.StringVar(&cfg.Network, "network", cfg.Network, "network name (chain ID); nodes of different networks never connect")
	fs.StringVar(&cfg.NAT, "nat", cfg.NAT, `UPnP/NAT-PMP port mapping: "on", "off", or "auto" (on when listening on all interfaces)`)
	fs.StringVar(&cfg.MetricsAddr, "metrics", "", `serve Prometheus metrics at http://<address>/metrics, e.g. "127.0.0.1:26660" (default: off)`)
	fs.BoolVar(&cfg.SeedMode, "seed-mode", false, "run as a seed: crawl the network and hand out addresses instead of keeping peers")
	fs.BoolVar(&cfg.BookStrict, "addr-book-strict", cfg.BookStrict, "keep only publicly routable addresses in the book (false for a LAN or loopback network)")
	fs.IntVar(&cfg.MinOutbound, "min-outbound", cfg.MinOutbound, "outbound peers PEX keeps")
	fs.DurationVar(&cfg.EnsurePeersPeriod, "ensure-peers-period", cfg.EnsurePeersPeriod, "how often PEX tops up outbound peers and asks for addresses")
	fs.DurationVar(&cfg.StatusInterval, "status-interval", cfg.StatusInterval, "how often to print a status line (0: never)")
	fs.BoolVar(&cfg.QUIC, "quic", false, "also listen on QUIC (UDP) at each TCP listen address's port; hole punching works best over it")
	fs.BoolVar(&cfg.AutoNATv2, "autonat-v2", false, "AutoNAT v2: learn which of our addresses peers can reach, and check theirs for them")
	fs.BoolVar(&cfg.RelayService, "relay-service", false, "serve as a circuit relay v2 for nodes behind NATs (runs while publicly reachable: see -reachability)")
	fs.BoolVar(&cfg.RelayUnlimited, "relay-unlimited", false, "with -relay-service: relay connections without go-libp2p's default limits (2 minutes and 128 KiB each way, after which the relay ends them), for peers whose NATs defeat hole punching")
	relays := fs.String("relays", "", `circuit relays to reserve a slot on while not publicly reachable, comma-separated multiaddrs ending in /p2p/<peer ID>`)
	fs.BoolVar(&cfg.HolePunch, "hole-punch", false, "DCUtR hole punching: turn a connection through a relay into a direct one (both sides need it)")
	fs.StringVar(&cfg.Reachability, "reachability", cfg.Reachability, `"public" (a relay on a public address), "private" (behind a NAT: reserve relay slots at once), or "auto" (AutoNAT decides)`)
	connect := fs.String("connect", "", `peers to connect to at start, comma-separated multiaddrs ending in /p2p/<peer ID>, of any transport, e.g. through a relay: "<relay's multiaddr>/p2p-circuit/p2p/<peer ID>"`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected arguments %q", errBadFlag, fs.Args())
	}

	cfg.ListenAddrs = splitList(*listen)
	if len(cfg.ListenAddrs) == 0 {
		return nil, fmt.Errorf("%w: -listen: no address", errBadFlag)
	}
	for _, a := range cfg.ListenAddrs {
		if _, err := transport.ParseListenAddr(a); err != nil {
			return nil, fmt.Errorf("%w: -listen: %w", errBadFlag, err)
		}
	}
	var err error
	if cfg.Seeds, err = parseAddrs("-seeds", *seeds); err != nil {
		return nil, err
	}
	if cfg.PersistentPeers, err = parseAddrs("-persistent-peers", *persistent); err != nil {
		return nil, err
	}
	if err := p2p.ValidateNetworkName(cfg.Network); err != nil {
		return nil, fmt.Errorf("%w: -network: %w", errBadFlag, err)
	}
	switch cfg.NAT {
	case "auto", "on", "off":
	default:
		return nil, fmt.Errorf(`%w: -nat: %q is not "auto", "on" or "off"`, errBadFlag, cfg.NAT)
	}
	if cfg.RelayUnlimited && !cfg.RelayService {
		return nil, fmt.Errorf("%w: -relay-unlimited needs -relay-service", errBadFlag)
	}
	switch cfg.Reachability {
	case "auto", "public", "private":
	default:
		return nil, fmt.Errorf(`%w: -reachability: %q is not "auto", "public" or "private"`, errBadFlag, cfg.Reachability)
	}
	cfg.Relays = splitList(*relays)
	for _, r := range cfg.Relays {
		if _, err := peer.AddrInfoFromString(r); err != nil {
			return nil, fmt.Errorf("%w: -relays: %q: %w (want a multiaddr ending in /p2p/<peer ID>)", errBadFlag, r, err)
		}
	}
	for _, c := range splitList(*connect) {
		ai, err := peer.AddrInfoFromString(c)
		if err != nil {
			return nil, fmt.Errorf("%w: -connect: %q: %w (want a multiaddr ending in /p2p/<peer ID>)", errBadFlag, c, err)
		}
		cfg.Connect = append(cfg.Connect, *ai)
	}
	if cfg.MinOutbound < 0 || cfg.EnsurePeersPeriod <= 0 || cfg.StatusInterval < 0 {
		return nil, fmt.Errorf("%w: -min-outbound, -ensure-peers-period and -status-interval must not be negative (the period not 0)", errBadFlag)
	}
	return cfg, nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseAddrs parses a comma-separated list of peer addresses.
func parseAddrs(flagName, s string) ([]*p2p.NetAddress, error) {
	var out []*p2p.NetAddress
	for _, item := range splitList(s) {
		na, err := p2p.ParseNetAddress(item)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errBadFlag, flagName, err)
		}
		if !na.Valid() {
			return nil, fmt.Errorf("%w: %s: %s is not a valid peer address", errBadFlag, flagName, item)
		}
		out = append(out, na)
	}
	return out, nil
}
