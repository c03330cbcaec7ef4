package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

var log = logging.Logger("switchyard/node")

// txEvent is a transaction that entered the pool.
type txEvent struct {
	hash mempool.TxHash
	tx   []byte
}

// run starts a node as cfg says and runs it until ctx is done: it prints
// the node's identity and addresses, peers coming and going, transactions
// entering the pool and a periodic status line to stdout, and gossips each
// line read from stdin as a transaction. When ctx is done it stops the
// agents and the Switch and saves the address book, then returns nil; it
// returns an error if the node cannot start (nothing is left running then).
//
// The goroutine reading stdin ends at the end of stdin (or at the first line
// after run returned): a blocked read cannot be interrupted.
func run(ctx context.Context, cfg *config, stdin io.Reader, stdout io.Writer) (err error) {
	// Everything started is stopped, in reverse order, on the way out.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	book := p2p.NewAddrBook(cfg.BookFile, p2p.WithBookRoutabilityStrict(cfg.BookStrict))
	if err := book.Start(); err != nil {
		return fmt.Errorf("address book: %w", err)
	}
	stops = append(stops, func() {
		if cfg.BookFile == "" {
			book.Stop()
			return
		}
		n := book.Size()
		saveErr := book.Save()
		book.Stop()
		if saveErr != nil {
			fmt.Fprintf(stdout, "address book NOT saved to %s: %s (its %d addresses are lost)\n", cfg.BookFile, saveErr, n)
			if err == nil {
				err = fmt.Errorf("save the address book: %w", saveErr)
			}
			return
		}
		fmt.Fprintf(stdout, "address book saved to %s (%d addresses)\n", cfg.BookFile, n)
	})
	if err := book.LoadErr(); err != nil {
		fmt.Fprintf(stdout, "address book: %s (starting with what could be kept)\n", err)
	}
	if cfg.BookFile != "" {
		fmt.Fprintf(stdout, "address book %s: %d addresses\n", cfg.BookFile, book.Size())
	}
	hostOpts := []transport.Option{transport.WithListenAddrs(cfg.ListenAddrs...)}
	if cfg.SharePort {
		hostOpts = append(hostOpts, transport.WithPortSharing())
	}
	if cfg.KeyFile != "" {
		hostOpts = append(hostOpts, transport.WithKeyFile(cfg.KeyFile))
	}
	switch cfg.NAT {
	case "on":
		hostOpts = append(hostOpts, transport.WithNAT(true))
	case "off":
		hostOpts = append(hostOpts, transport.WithNAT(false))
	}
	hostOpts = append(hostOpts, traversalOptions(cfg)...)
	swOpts := []p2p.Option{p2p.WithHostOptions(hostOpts...), p2p.WithNetwork(cfg.Network), p2p.WithMetrics(reg)}
	if len(cfg.PersistentPeers) > 0 {
		swOpts = append(swOpts, p2p.WithPersistentPeers(cfg.PersistentPeers...))
	}
	sw := p2p.NewSwitch([]*p2p.ChannelDescriptor{mempool.ChannelDescriptor(0)}, swOpts...)
	stops = append(stops, sw.Stop) // also after a failed Start: it ends the listener below
	events := make(chan interface{}, 64)
	sw.AddEventListener("node", events) // before Start: no peer is missed
	stops = append(stops, func() { sw.RemoveEventListener("node") })
	if err := sw.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Fprintf(stdout, "node %s on network %q\n", sw.Host().ID(), sw.Network())
	if cfg.KeyFile != "" {
		fmt.Fprintf(stdout, "identity key: %s\n", cfg.KeyFile)
	}
	for _, a := range sw.Host().Addrs() {
		fmt.Fprintf(stdout, "listening on %s/p2p/%s\n", a, sw.Host().ID())
	}

	for _, seed := range cfg.Seeds {
		if err := book.AddAddress(seed, nil); err != nil {
			fmt.Fprintf(stdout, "seed %s not added: %s\n", seed, err)
		}
	}
	// Dial the seeds now, to say at once whether they answer (PEX keeps
	// dialing from the book afterwards).
	seedResults := make(chan string, len(cfg.Seeds))
	for _, seed := range cfg.Seeds {
		go func() {
			if _, err := sw.DialPeerContext(ctx, seed); err != nil && !errors.Is(err, p2p.ErrSwitchDuplicatePeer) {
				seedResults <- fmt.Sprintf("seed %s not reached: %s", seed, err)
			} else {
				seedResults <- fmt.Sprintf("seed %s connected", seed)
			}
		}()
	}

	// Connect to the -connect peers (relayed addresses included: they are
	// no NetAddress, so the host connects and the Switch admits the peer
	// once identified).
	connectResults := make(chan string, len(cfg.Connect))
	for _, ai := range cfg.Connect {
		go func() {
			if err := sw.Host().Connect(ctx, ai); err != nil {
				connectResults <- fmt.Sprintf("%s not reached: %s", ai, err)
			} else {
				connectResults <- fmt.Sprintf("connected to %s", ai)
			}
		}()
	}
	// Say when the host becomes reachable through a relay (-relays).
	addrSub, err := sw.Host().EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return fmt.Errorf("subscribe to address updates: %w", err)
	}
	stops = append(stops, func() { addrSub.Close() })

	pex := p2p.NewPEXAgent(sw, book, p2p.WithSeedMode(cfg.SeedMode),
		p2p.WithMinOutboundPeers(cfg.MinOutbound), p2p.WithEnsurePeersPeriod(cfg.EnsurePeersPeriod))
	if err := pex.Start(); err != nil {
		return fmt.Errorf("pex: %w", err)
	}
	stops = append(stops, pex.Stop)

	// The validator is the pool's only hook into new transactions: it runs,
	// under the pool's lock, for each transaction about to enter the pool
	// (local or from a peer), after the duplicate and size checks. It hands
	// them to the loop below without blocking.
	admitted := make(chan txEvent, 1024)
	mem := mempool.NewMempool(mempool.WithValidator(func(tx []byte) error {
		select {
		case admitted <- txEvent{hash: mempool.HashTx(tx), tx: tx}:
		default: // the printer is behind; the tx still enters the pool
		}
		return nil
	}))
	agent := mempool.NewMempoolAgent(sw, mem)
	agent.Start()
	stops = append(stops, agent.Stop)

	if cfg.MetricsAddr != "" {
		stop, addr, err := serveMetrics(cfg.MetricsAddr, reg)
		if err != nil {
			return err
		}
		stops = append(stops, stop)
		fmt.Fprintf(stdout, "metrics on http://%s/metrics\n", addr)
	}

	lines := make(chan input)
	done := make(chan struct{})
	stops = append(stops, func() { close(done) })
	go readLines(stdin, lines, done)

	var status <-chan time.Time
	if cfg.StatusInterval > 0 {
		t := time.NewTicker(cfg.StatusInterval)
		defer t.Stop()
		status = t.C
	}
	fmt.Fprintln(stdout, "ready: type a line to send it as a transaction; Ctrl-C to stop")
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stdout, "shutting down")
			return nil
		case in, ok := <-lines:
			switch {
			case !ok:
				lines = nil // stdin ended; keep running
			case in.err != nil:
				fmt.Fprintf(stdout, "stdin: %s; no more transactions are read\n", in.err)
			default:
				if err := agent.BroadcastTx([]byte(in.line)); err != nil {
					fmt.Fprintf(stdout, "tx not added: %s\n", err)
				}
			}
		case ev := <-events:
			printEvent(stdout, sw, ev)
		case res := <-seedResults:
			fmt.Fprintln(stdout, res)
		case res := <-connectResults:
			fmt.Fprintln(stdout, res)
		case e := <-addrSub.Out():
			for _, a := range e.(event.EvtLocalAddressesUpdated).Current {
				if _, err := a.Address.ValueForProtocol(ma.P_CIRCUIT); err == nil && a.Action == event.Added {
					fmt.Fprintf(stdout, "reachable through a relay at %s/p2p/%s\n", a.Address, sw.Host().ID())
				}
			}
		case tx := <-admitted:
			fmt.Fprintf(stdout, "tx %x (%d bytes): %s\n", tx.hash[:6], len(tx.tx), preview(tx.tx))
		case <-status:
			out, in, dialing := sw.NumPeers()
			st := mem.Stats()
			fmt.Fprintf(stdout, "status: peers %d out, %d in, %d dialing; book %d; mempool %d txs (received %d, duplicate %d, invalid %d, gossiped %d, evicted %d, over budget %d)\n",
				out, in, dialing, book.Size(), mem.Size(), st.Received.Load(), st.Duplicate.Load(), st.Invalid.Load(), st.Gossiped.Load(), st.Evicted.Load(), st.OverBudget.Load())
		}
	}
}

// input is a line of stdin, or the error that ended it.
type input struct {
	line string
	err  error
}

// readLines sends each non-empty line of r on lines until r ends (then it
// sends the read error, if any, and closes lines) or done is closed.
func readLines(r io.Reader, lines chan<- input, done <-chan struct{}) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), mempool.DefaultMaxTxBytes)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		select {
		case lines <- input{line: line}:
		case <-done:
			return
		}
	}
	if err := sc.Err(); err != nil {
		select {
		case lines <- input{err: err}:
		case <-done:
		}
	}
}

// printEvent prints a peer that came or went.
func printEvent(w io.Writer, sw *p2p.Switch, ev interface{}) {
	out, in, _ := sw.NumPeers()
	switch ev := ev.(type) {
	case p2p.SwitchEventNewPeer:
		fmt.Fprintf(w, "peer + %s (%d out, %d in)\n", ev.Peer, out, in)
	case p2p.SwitchEventDonePeer:
		if ev.Error != nil {
			fmt.Fprintf(w, "peer - %s: %v (%d out, %d in)\n", ev.Peer, ev.Error, out, in)
		} else {
			fmt.Fprintf(w, "peer - %s (%d out, %d in)\n", ev.Peer, out, in)
		}
	}
}

// preview quotes the start of a transaction for the log.
func preview(tx []byte) string {
	const max = 64
	if len(tx) > max {
		return fmt.Sprintf("%q…", tx[:max])
	}
	return fmt.Sprintf("%q", tx)
}

// serveMetrics serves reg on addr at /metrics. It returns a function that
// shuts the server down (waiting for it) and the address it listens on.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), bound net.Addr, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("metrics server: %s", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
	}, ln.Addr(), nil
}

// traversalOptions returns the host options of the NAT traversal flags.
func traversalOptions(cfg *config) []transport.Option {
	var opts []transport.Option
	if cfg.QUIC {
		opts = append(opts, transport.WithQUIC())
	}
	if cfg.AutoNATv2 {
		opts = append(opts, transport.WithAutoNATv2())
	}
	if cfg.RelayService {
		var relayOpts []relayv2.Option
		if cfg.RelayUnlimited {
			relayOpts = append(relayOpts, relayv2.WithInfiniteLimits())
		}
		opts = append(opts, transport.WithRelayService(relayOpts...))
	}
	if len(cfg.Relays) > 0 {
		opts = append(opts, transport.WithStaticRelays(cfg.Relays...))
	}
	if cfg.HolePunch {
		opts = append(opts, transport.WithHolePunching())
	}
	switch cfg.Reachability {
	case "public":
		opts = append(opts, transport.WithReachability(network.ReachabilityPublic))
	case "private":
		opts = append(opts, transport.WithReachability(network.ReachabilityPrivate))
	}
	return opts
}
