package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// The hostile-peer tests attack a victim node in a child process (this
// test binary again, with victimEnv set), so that its memory is measured
// apart from the attackers' and the honest nodes' in the test process.
// The victim is a Switch on a real TCP host on 127.0.0.1 with the default
// limits, a mempool agent and a PEX agent, as examples/node runs. It
// prints, on stdout:
//
//	ADDR <multiaddr with /p2p/>                      once, when it is up
//	STAT heap=<B> rss=<B> peers=<n> conns=<n> pool=<n> poolbytes=<B> evicted=<n> overbudget=<n> catchup=<B> received=<n> closed=<n>
//	                                                 every victimStatEvery
//	DONE <peer ID> <reason, or "-">                  for every peer it removes
//
// It reads commands, one per line, on stdin: "gc" runs the garbage
// collector and returns memory to the system (the next STAT shows the
// live heap); the end of stdin stops it.
const (
	victimEnv       = "SWITCHYARD_VICTIM"        // set: run as the victim
	victimStallEnv  = "SWITCHYARD_VICTIM_STALL"  // WithStallTimeouts for both, default the library's
	victimPEXEnv    = "SWITCHYARD_VICTIM_PEX"    // ensure-peers period, default the library's
	victimMinOutEnv = "SWITCHYARD_VICTIM_MINOUT" // minimum outbound peers, default the library's
	victimConnsEnv  = "SWITCHYARD_VICTIM_CONNS"  // the resource manager's inbound connection limit, default the library's
	victimIngestEnv = "SWITCHYARD_VICTIM_INGEST" // "bytes/s,msgs/s", the mempool agent's ingest budget, default the library's
	victimStatEvery = 100 * time.Millisecond
)

func victimMain() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		cancel()
	}()
	if err := runVictim(ctx, cmds); err != nil {
		fmt.Printf("FAIL %s\n", err)
		return 1
	}
	if leak := goleak.Find(); leak != nil {
		fmt.Fprintf(os.Stderr, "goroutines left after Stop: %s\n", leak)
		return 1
	}
	return 0
}

func runVictim(ctx context.Context, cmds <-chan string) error {
	hostOpts := []transport.Option{transport.WithListenAddrs(loopback), transport.WithNAT(false)}
	if s := os.Getenv(victimConnsEnv); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil {
			return err
		}
		limits := rcmgr.DefaultLimits
		libp2p.SetDefaultServiceLimits(&limits)
		partial := rcmgr.PartialLimitConfig{System: rcmgr.ResourceLimits{ConnsInbound: rcmgr.LimitVal(n)}}
		rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(partial.Build(limits.AutoScale())))
		if err != nil {
			return err
		}
		hostOpts = append(hostOpts, transport.WithResourceManager(rm))
	}
	swOpts := []p2p.Option{p2p.WithHostOptions(hostOpts...)}
	if s := os.Getenv(victimStallEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		swOpts = append(swOpts, p2p.WithStallTimeouts(d, d))
	}
	var pexOpts []p2p.PEXOption
	if s := os.Getenv(victimPEXEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		pexOpts = append(pexOpts, p2p.WithEnsurePeersPeriod(d))
	}
	if s := os.Getenv(victimMinOutEnv); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil {
			return err
		}
		pexOpts = append(pexOpts, p2p.WithMinOutboundPeers(n))
	}
	sw := p2p.NewSwitch(mempoolChannels(), swOpts...)
	events := make(chan interface{}, 1024)
	sw.AddEventListener("victim", events)
	if err := sw.Start(); err != nil {
		return err
	}
	defer sw.Stop()
	book := p2p.NewAddrBook("", p2p.WithBookRoutabilityStrict(false))
	if err := book.Start(); err != nil {
		return err
	}
	defer book.Stop()
	var agentOpts []mempool.AgentOption
	if s := os.Getenv(victimIngestEnv); s != "" {
		var b, m int
		if _, err := fmt.Sscanf(s, "%d,%d", &b, &m); err != nil {
			return err
		}
		agentOpts = append(agentOpts, mempool.WithIngestBudget(b, m))
	}
	agent := mempool.NewMempoolAgent(sw, nil, agentOpts...)
	agent.Start()
	defer agent.Stop()
	pex := p2p.NewPEXAgent(sw, book, pexOpts...)
	if err := pex.Start(); err != nil {
		return err
	}
	defer pex.Stop()
	fmt.Printf("ADDR %s/p2p/%s\n", sw.Host().Addrs()[0], sw.Host().ID())

	closed := 0
	tick := time.NewTicker(victimStatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case cmd := <-cmds:
			if cmd == "gc" {
				runtime.GC()
				debug.FreeOSMemory()
			}
		case ev := <-events:
			if d, ok := ev.(p2p.SwitchEventDonePeer); ok {
				reason := "-"
				if d.Error != nil {
					reason = strings.ReplaceAll(fmt.Sprint(d.Error), "\n", " ")
				}
				fmt.Printf("DONE %s %s\n", d.Peer.ID, reason)
				closed++
			}
		case <-tick.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			st := agent.Mempool().Stats()
			fmt.Printf("STAT heap=%d rss=%d peers=%d conns=%d pool=%d poolbytes=%d evicted=%d overbudget=%d catchup=%d received=%d closed=%d\n",
				ms.HeapInuse, rss(), sw.Peers().Size(), len(sw.Host().Network().Conns()), agent.Mempool().Size(), agent.Mempool().Bytes(),
				st.Evicted.Load(), st.OverBudget.Load(), st.CatchUp.Load(), st.Received.Load(), closed)
		}
	}
}

// rss is the resident set size of this process, from /proc (0 where there
// is none).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}
