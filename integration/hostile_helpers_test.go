package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/mempool"
	"github.com/switchyard-p2p/switchyard/p2p"
)

// The wire names the attackers use, written out as PROTOCOL.md gives them:
// the attackers are plain go-libp2p programs and use no Switchyard code.
const (
	wireMempoolCh = "/switchyard/switchyard/ch/30/1.0.0"
	wireTestCh    = "/switchyard/switchyard/ch/10/1.0.0"
	wirePEX       = "/switchyard/switchyard/pex/1.1.0"
)

// victim is the node under attack, in a child process (victim_child_test.go).
type victim struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	info   peer.AddrInfo

	mu      sync.Mutex
	cond    *sync.Cond
	stats   []victimStat // every STAT line, in order
	done    map[peer.ID]string
	ended   bool
	failure string
}

// victimStat is one STAT line.
type victimStat struct {
	at                                     time.Time
	heap, rss                              int64
	peers, conns, pool                     int
	poolBytes                              int64
	evicted, overBudget, catchUp, received int64
	closed                                 int
}

// startVictim starts the victim with env added to this process's, and
// stops it when the test ends; the victim must then exit cleanly.
func startVictim(t *testing.T, env ...string) *victim {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	v := &victim{t: t, done: map[peer.ID]string{}}
	v.cond = sync.NewCond(&v.mu)
	v.cmd = exec.Command(exe, "-test.run=^$")
	v.cmd.Env = append(append(os.Environ(), victimEnv+"=1"), env...)
	v.cmd.Stderr = &v.stderr
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go v.read(stdout, addr)
	t.Cleanup(func() {
		v.stdin.Close()
		err := v.cmd.Wait()
		v.mu.Lock()
		defer v.mu.Unlock()
		if err != nil || v.failure != "" {
			t.Errorf("victim exited: %v %s; its stderr:\n%s", err, v.failure, tail(v.stderr.String(), 20000))
		}
	})
	select {
	case a := <-addr:
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			t.Fatal(err)
		}
		info, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			t.Fatal(err)
		}
		v.info = *info
	case <-time.After(30 * time.Second):
		t.Fatalf("the victim did not start; its stderr:\n%s", tail(v.stderr.String(), 5000))
	}
	v.waitStat(func(victimStat) bool { return true }, 10*time.Second) // it reports
	return v
}

func (v *victim) read(stdout io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		v.mu.Lock()
		switch kind {
		case "ADDR":
			addr <- rest
		case "STAT":
			s := victimStat{at: time.Now()}
			if _, err := fmt.Sscanf(rest, "heap=%d rss=%d peers=%d conns=%d pool=%d poolbytes=%d evicted=%d overbudget=%d catchup=%d received=%d closed=%d",
				&s.heap, &s.rss, &s.peers, &s.conns, &s.pool, &s.poolBytes, &s.evicted, &s.overBudget, &s.catchUp, &s.received, &s.closed); err == nil {
				v.stats = append(v.stats, s)
			}
		case "DONE":
			id, reason, _ := strings.Cut(rest, " ")
			if p, err := peer.Decode(id); err == nil {
				v.done[p] = reason
			}
		case "FAIL":
			v.failure = rest
		}
		v.cond.Broadcast()
		v.mu.Unlock()
	}
	v.mu.Lock()
	v.ended = true
	v.cond.Broadcast()
	v.mu.Unlock()
}

// last returns the latest STAT.
func (v *victim) last() victimStat {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.stats[len(v.stats)-1]
}

// since returns the STATs from t on.
func (v *victim) since(t time.Time) []victimStat {
	v.mu.Lock()
	defer v.mu.Unlock()
	i := slices.IndexFunc(v.stats, func(s victimStat) bool { return !s.at.Before(t) })
	if i < 0 {
		return nil
	}
	return slices.Clone(v.stats[i:])
}

// waitStat waits for a STAT, later than any seen, that satisfies cond, and
// returns it.
func (v *victim) waitStat(cond func(victimStat) bool, timeout time.Duration) victimStat {
	v.t.Helper()
	deadline := time.Now().Add(timeout)
	stop := time.AfterFunc(timeout, func() { v.mu.Lock(); v.cond.Broadcast(); v.mu.Unlock() })
	defer stop.Stop()
	v.mu.Lock()
	defer v.mu.Unlock()
	seen := len(v.stats)
	for {
		for ; seen < len(v.stats); seen++ {
			if cond(v.stats[seen]) {
				return v.stats[seen]
			}
		}
		if v.ended || time.Now().After(deadline) {
			last := victimStat{}
			if len(v.stats) > 0 {
				last = v.stats[len(v.stats)-1]
			}
			v.t.Fatalf("the victim's state did not come to pass within %s; last %+v", timeout, last)
		}
		v.cond.Wait()
	}
}

// idleHeap collects the victim's garbage and returns its heap once it has,
// and the bytes of transactions its pool holds (honest data, not the
// attack's).
func (v *victim) idleHeap() (heap, pool int64) {
	v.t.Helper()
	after := time.Now()
	fmt.Fprintln(v.stdin, "gc")
	s := v.waitStat(func(s victimStat) bool { return s.at.After(after.Add(victimStatEvery)) }, 10*time.Second)
	return s.heap, s.poolBytes
}

// doneReason returns why the victim removed peer id, if it has.
func (v *victim) doneReason(id peer.ID) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r, ok := v.done[id]
	return r, ok
}

// maxHeap is the largest heap of stats.
func maxHeap(stats []victimStat) int64 {
	var m int64
	for _, s := range stats {
		m = max(m, s.heap)
	}
	return m
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// plainHost is a go-libp2p host as any libp2p program makes one, with a
// fresh identity and go-libp2p's own defaults for security (TLS, Noise) and
// muxer (yamux), TCP only, listening on loopback if listen. It is closed
// when the test ends.
func plainHost(t testing.TB, listen bool) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableRelay(), libp2p.NoListenAddrs}
	if listen {
		opts[2] = libp2p.ListenAddrStrings(loopback)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// deliveries measures how long transactions took from their sender's
// BroadcastTx to a receiving pool: each stamped transaction carries its
// send time, and the receiving pool's validator notes its arrival.
type deliveries struct {
	mu   sync.Mutex
	lat  []time.Duration
	seen map[string]bool
}

func newDeliveries() *deliveries { return &deliveries{seen: map[string]bool{}} }

// validator is the receiving pool's validator.
func (d *deliveries) validator(tx []byte) error {
	if len(tx) >= 24 && string(tx[8:14]) == honestMark {
		sent := time.Unix(0, int64(binary.BigEndian.Uint64(tx)))
		d.mu.Lock()
		d.lat = append(d.lat, time.Since(sent))
		d.seen[string(tx[:24])] = true
		d.mu.Unlock()
	}
	return nil
}

// stampedTx is a transaction of size bytes (at least 24) carrying its send
// time, honestMark and 10 random bytes.
func stampedTx(size int) []byte {
	tx := make([]byte, max(size, 24))
	binary.BigEndian.PutUint64(tx, uint64(time.Now().UnixNano()))
	copy(tx[8:], honestMark)
	rand.Read(tx[14:24])
	return tx
}

// honestMark tells the honest pair's transactions from the attackers'.
const honestMark = "honest"

func (d *deliveries) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lat)
}

// percentile returns the p-th percentile (0..100) of the latencies.
func (d *deliveries) percentile(p float64) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.lat) == 0 {
		return 0
	}
	s := slices.Clone(d.lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// honestPair starts two honest TCP nodes with mempools, each connected to
// the victim only; the second measures the deliveries of the first's
// transactions through the victim.
func honestPair(t *testing.T, v *victim) (sender *node, d *deliveries) {
	t.Helper()
	d = newDeliveries()
	sender = newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, mempool: true})
	recv := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}, mempool: true,
		pool: mempool.NewMempool(mempool.WithValidator(d.validator))})
	for _, n := range []*node{sender, recv} {
		na, err := p2p.NetAddressFromAddrInfo(v.info)
		if err != nil || len(na) == 0 {
			t.Fatalf("victim's address: %v", err)
		}
		if _, err := n.sw.DialPeerWithAddress(na[0]); err != nil {
			t.Fatalf("dial the victim: %s", err)
		}
	}
	return sender, d
}

// gossip makes n broadcast stamped transactions of size bytes at rate bytes
// per second until ctx ends.
func gossip(ctx context.Context, n *node, size, rate int) {
	every := time.Duration(float64(time.Second) * float64(size) / float64(rate))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.mem.BroadcastTx(stampedTx(size))
		}
	}
}

// connectTo connects h to the victim, failing the test if it cannot.
func connectTo(t testing.TB, h host.Host, v *victim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, v.info); err != nil {
		t.Fatalf("connect to the victim: %s", err)
	}
}
