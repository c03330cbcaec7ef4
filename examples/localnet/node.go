package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// node is one member of the local network: a Switch with PEX (and its
// address book) and the mempool agent, and the registry of its metrics.
type node struct {
	idx   int
	sw    *p2p.Switch
	book  *p2p.AddrBook
	pex   *p2p.PEXAgent
	mem   *mempool.Mempool
	agent *mempool.MempoolAgent
	reg   *prometheus.Registry
}

// network is the running nodes and what they run on.
type network struct {
	nodes []*node
	mn    mocknet.Mocknet   // nil on TCP
	sim   *transport.SimNet // nil but with -wan
}

// wanLinks are the simulated WAN's access links, one per node: one-way
// latencies spread over 10-150 ms (so two nodes are 20-300 ms apart) and
// 20 Mbit/s each way.
func wanLinks(n int, rng *rand.Rand) []transport.SimLink {
	links := make([]transport.SimLink, n)
	for i := range links {
		links[i] = transport.SimLink{Latency: time.Duration(10+rng.IntN(141)) * time.Millisecond, BitsPerSecond: 20_000_000}
	}
	return links
}

// startNetwork builds and starts cfg.Nodes Switches (on 127.0.0.1 TCP, on a
// mocknet or on a simulated WAN) and their agents; node i's pool uses
// validator(i). Node 0 is the seed: every other node but the last
// cfg.Isolated ones has its address, and only it, in its book.
// On error everything already started is stopped.
func startNetwork(cfg Config, validator func(node int) mempool.ValidateFunc, rng *rand.Rand) (_ *network, err error) {
	net := &network{}
	defer func() {
		if err != nil {
			net.stop()
		}
	}()
	var hosts []host.Host
	if cfg.Mocknet {
		mn, hs, err := transport.NewMocknet(cfg.Nodes)
		if err != nil {
			return nil, fmt.Errorf("mocknet: %w", err)
		}
		net.mn, hosts = mn, hs
	}
	if cfg.WAN {
		sim, hs, err := transport.NewSimNet(wanLinks(cfg.Nodes, rng))
		if err != nil {
			return nil, fmt.Errorf("simulated WAN: %w", err)
		}
		net.sim, hosts = sim, hs
	}
	net.nodes = make([]*node, cfg.Nodes)
	for i := range net.nodes {
		n := &node{idx: i, reg: prometheus.NewRegistry()}
		// The seed takes every node as an inbound peer; the others keep
		// the default limits.
		opts := []p2p.Option{p2p.WithMetrics(n.reg), p2p.WithMaxPeers(max(40, cfg.Nodes), 10)}
		if hosts != nil {
			opts = append(opts, p2p.WithHost(hosts[i]))
		} else {
			opts = append(opts, p2p.WithHostOptions(
				transport.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
				transport.WithNAT(false)))
		}
		n.sw = p2p.NewSwitch([]*p2p.ChannelDescriptor{mempool.ChannelDescriptor(0)}, opts...)
		net.nodes[i] = n
	}
	if err := startAll(net.nodes, func(n *node) error { return n.sw.Start() }); err != nil {
		return nil, fmt.Errorf("start switches: %w", err)
	}

	seed, err := addressOf(net.nodes[0].sw)
	if err != nil {
		return nil, err
	}
	for i, n := range net.nodes {
		// Loopback and mocknet addresses are not routable: the books must
		// not be strict.
		n.book = p2p.NewAddrBook("", p2p.WithBookRoutabilityStrict(false))
		if err := n.book.Start(); err != nil {
			return nil, err
		}
		if i > 0 && i < cfg.Nodes-cfg.Isolated {
			if err := n.book.AddAddress(seed, nil); err != nil {
				return nil, fmt.Errorf("node %d: seed address: %w", i, err)
			}
		}
		n.mem = mempool.NewMempool(mempool.WithValidator(validator(i)), mempool.WithLimits(max(mempool.DefaultMaxTxs, 2*cfg.Txs), mempool.DefaultMaxBytes, mempool.DefaultMaxTxBytes))
		n.agent = mempool.NewMempoolAgent(n.sw, n.mem)
		n.agent.Start()
		n.pex = p2p.NewPEXAgent(n.sw, n.book,
			p2p.WithMinOutboundPeers(cfg.MinOutbound),
			p2p.WithEnsurePeersPeriod(cfg.EnsurePeersPeriod))
	}
	// PEX last, all at once, so that discovery is timed from here.
	for i, n := range net.nodes {
		if err := n.pex.Start(); err != nil {
			return nil, fmt.Errorf("node %d: pex: %w", i, err)
		}
	}
	return net, nil
}

// startAll runs start for every node, a few at a time (building a TCP host
// takes a while), and returns the first error.
func startAll(nodes []*node, start func(*node) error) error {
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := start(n); err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// addressOf is a dialable address of sw: its first listen address and ID.
func addressOf(sw *p2p.Switch) (*p2p.NetAddress, error) {
	h := sw.Host()
	if len(h.Addrs()) == 0 {
		return nil, errors.New("the seed has no listen address")
	}
	na, err := p2p.NewNetAddressMultiaddr(h.Addrs()[0])
	if err != nil {
		return nil, fmt.Errorf("seed address: %w", err)
	}
	na.ID = h.ID()
	return na, nil
}

// stop stops every agent, then every Switch and book, then the mocknet or
// the simulated WAN,
// and returns when all their goroutines have ended. It is safe on a
// partly started network.
func (net *network) stop() {
	var wg sync.WaitGroup
	for _, n := range net.nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.pex != nil {
				n.pex.Stop() // a no-op when not started
			}
			if n.agent != nil {
				n.agent.Stop()
			}
		}()
	}
	wg.Wait()
	for _, n := range net.nodes {
		if n == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.sw.Stop()
			if n.book != nil {
				n.book.Stop()
			}
		}()
	}
	wg.Wait()
	if net.mn != nil {
		net.mn.Close()
	}
	if net.sim != nil {
		net.sim.Close()
	}
}

// sentOnMempoolCh returns the bytes and messages n's Switch has sent on
// the mempool channel (its counters switchyard_p2p_channel_bytes_total and
// switchyard_p2p_channel_messages_total, read in one Gather so that they
// agree); 0 if absent.
func (n *node) sentOnMempoolCh() (bytes, msgs float64) {
	families, err := n.reg.Gather()
	if err != nil {
		return 0, 0
	}
	ch := fmt.Sprintf("%02x", mempool.MempoolCh)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if label(m, "channel") != ch || label(m, "direction") != "sent" {
				continue
			}
			switch f.GetName() {
			case "switchyard_p2p_channel_bytes_total":
				bytes = m.GetCounter().GetValue()
			case "switchyard_p2p_channel_messages_total":
				msgs = m.GetCounter().GetValue()
			}
		}
	}
	return bytes, msgs
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// peerKeys returns the keys of n's peers.
func (n *node) peerKeys() []string {
	peers := n.sw.Peers().List()
	out := make([]string, len(peers))
	for i, p := range peers {
		out[i] = p.Key
	}
	return out
}

// stopTimeout is how long stopping the network may take before the
// program says it is still waiting.
const stopTimeout = 10 * time.Second
