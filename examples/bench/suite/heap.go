package suite

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// Metric units of IdlePeerHeap: bytes per connected peer, at one end.
const (
	UnitHeapPerPeer       = "heap-B/peer"        // whole: libp2p connection, yamux, Switch streams
	UnitRawHeapPerPeer    = "raw-heap-B/peer"    // the libp2p connection alone (raw hosts)
	UnitSwitchHeapPerPeer = "switch-heap-B/peer" // the Switch's share: the two above subtracted
	UnitStackPerPeer      = "stack-B/peer"       // goroutine stacks (not heap), whole
	UnitRawStackPerPeer   = "raw-stack-B/peer"   // goroutine stacks, raw hosts
	UnitGoroutinesPerPeer = "goroutines/peer"    // goroutines, whole
)

// identifyProto is libp2p identify's protocol: a peer that advertises it in
// our peerstore has been identified.
const identifyProto = protocol.ID("/ipfs/id/1.0.0")

// idleChannels are four channels with the default queues and buffers, as an
// application would declare them.
func idleChannels() []*p2p.ChannelDescriptor {
	return []*p2p.ChannelDescriptor{{Id: 0x10}, {Id: 0x11}, {Id: 0x12}, {Id: 0x13}}
}

// IdleHeap is what MeasureIdleHeap found, per connected peer at one end of
// its connection.
type IdleHeap struct {
	// Peers is the number of peers connected to the hub.
	Peers int
	// Heap is the heap an idle peer costs with Switches (the libp2p
	// connection, yamux, the Switch's peer, channel streams and buffers);
	// RawHeap the same with plain hosts; Heap - RawHeap is the Switch's share.
	Heap, RawHeap float64
	// Stack and RawStack are the goroutine stacks (not heap) per peer.
	Stack, RawStack float64
	// Goroutines is the number of goroutines per peer with Switches.
	Goroutines float64
}

// SwitchHeap is the Switch's own share of Heap.
func (r IdleHeap) SwitchHeap() float64 { return r.Heap - r.RawHeap }

// memSnapshot is the heap, stacks and goroutines in use after a full GC.
type memSnapshot struct {
	heap, stack uint64
	goroutines  int
}

func snapshot() memSnapshot {
	time.Sleep(100 * time.Millisecond) // let handshakes and identify finish
	runtime.GC()
	runtime.GC() // the second clears sync.Pool victims
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnapshot{heap: ms.HeapAlloc, stack: ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// perEnd divides the growth from before to after among the 2*n connection
// ends: all hosts run in this process, so a connection costs at both ends,
// and the hub's end and a leaf's are alike (each has every stream of the
// peer, one way or the other).
func perEnd(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(2*n)
}

// MeasureIdleHeap connects peers idle peers (4 channels) to one hub over
// loopback TCP with TLS, and measures the heap they cost per peer: once with
// Switches on both ends (each channel stream opened by exchanging one
// message), once with the same hosts without Switches, so that the Switch's
// share is the difference. It measures the whole process's heap, so nothing
// else should run in the process meanwhile (the figures would include it).
// It blocks for about a second and stops everything it started.
func MeasureIdleHeap(peers int) (IdleHeap, error) {
	if peers < 1 {
		return IdleHeap{}, errors.New("measure idle heap: need at least one peer")
	}
	r := IdleHeap{Peers: peers}
	rawBefore, rawAfter, err := measureRawHosts(peers)
	if err != nil {
		return r, err
	}
	swBefore, swAfter, err := measureSwitches(peers)
	if err != nil {
		return r, err
	}
	r.RawHeap = perEnd(rawBefore.heap, rawAfter.heap, peers)
	r.RawStack = perEnd(rawBefore.stack, rawAfter.stack, peers)
	r.Heap = perEnd(swBefore.heap, swAfter.heap, peers)
	r.Stack = perEnd(swBefore.stack, swAfter.stack, peers)
	r.Goroutines = perEnd(uint64(swBefore.goroutines), uint64(swAfter.goroutines), peers)
	return r, nil
}

// measureRawHosts snapshots peers+1 started hosts before and after the
// first connects to all others and identify has run both ways.
func measureRawHosts(peers int) (before, after memSnapshot, err error) {
	hosts := make([]host.Host, 0, peers+1)
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	for range peers + 1 {
		h, err := NewHost(transport.SecurityTLS)
		if err != nil {
			return before, after, err
		}
		hosts = append(hosts, h)
	}
	before = snapshot()
	hub := hosts[0]
	for _, h := range hosts[1:] {
		if err := connectHosts(hub, h); err != nil {
			return before, after, err
		}
	}
	for _, h := range hosts[1:] {
		if err := waitProtocols(hub, h.ID(), identifyProto); err != nil {
			return before, after, err
		}
		if err := waitProtocols(h, hub.ID(), identifyProto); err != nil {
			return before, after, err
		}
	}
	after = snapshot()
	return before, after, nil
}

// measureSwitches snapshots peers+1 started Switches before and after the
// first connects to all others and one message went each way on every
// channel (which proves every channel stream open, then leaves it idle).
func measureSwitches(peers int) (before, after memSnapshot, err error) {
	sws := make([]*p2p.Switch, 0, peers+1)
	defer func() {
		for _, sw := range sws {
			sw.Stop()
		}
	}()
	for i := range peers + 1 {
		var opts []p2p.Option
		if i == 0 {
			opts = append(opts, p2p.WithMaxPeers(peers, peers))
		}
		sw, err := NewSwitch(idleChannels(), transport.SecurityTLS, opts...)
		if err != nil {
			return before, after, err
		}
		sws = append(sws, sw)
	}
	before = snapshot()
	hub := sws[0]
	for _, sw := range sws[1:] {
		toLeaf, toHub, err := Connect(hub, sw)
		if err != nil {
			return before, after, err
		}
		for _, d := range idleChannels() {
			if !toLeaf.Send(d.Id, p2p.ByteSlice("ping")) || !toHub.Send(d.Id, p2p.ByteSlice("ping")) {
				return before, after, fmt.Errorf("ping on channel %#02x failed", d.Id)
			}
			if _, ok := sw.Receive(d.Id); !ok {
				return before, after, fmt.Errorf("leaf stopped")
			}
		}
	}
	for _, d := range idleChannels() {
		for range peers {
			if _, ok := hub.Receive(d.Id); !ok {
				return before, after, fmt.Errorf("hub stopped")
			}
		}
	}
	after = snapshot()
	return before, after, nil
}

// IdlePeerHeap runs MeasureIdleHeap b.N times and reports the means per
// peer (see the Unit… constants). ns/op is the time of a measurement and
// means nothing.
func IdlePeerHeap(b *testing.B, peers int) {
	var sum IdleHeap
	for range b.N {
		r, err := MeasureIdleHeap(peers)
		if err != nil {
			b.Fatal(err)
		}
		sum.Heap += r.Heap
		sum.RawHeap += r.RawHeap
		sum.Stack += r.Stack
		sum.RawStack += r.RawStack
		sum.Goroutines += r.Goroutines
	}
	n := float64(b.N)
	b.ReportMetric(sum.Heap/n, UnitHeapPerPeer)
	b.ReportMetric(sum.RawHeap/n, UnitRawHeapPerPeer)
	b.ReportMetric((sum.Heap-sum.RawHeap)/n, UnitSwitchHeapPerPeer)
	b.ReportMetric(sum.Stack/n, UnitStackPerPeer)
	b.ReportMetric(sum.RawStack/n, UnitRawStackPerPeer)
	b.ReportMetric(sum.Goroutines/n, UnitGoroutinesPerPeer)
}
