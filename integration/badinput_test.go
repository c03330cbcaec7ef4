package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/p2p"
)

// tcpPort is the TCP port the node's host listens on.
func tcpPort(t testing.TB, n *node) string {
	t.Helper()
	a := n.addr(t)
	return net.JoinHostPort(a.IP.String(), fmt.Sprint(a.Port))
}

// steadyTraffic sends numbered messages from one node to another on testCh
// until the returned func is called; that func then fails the test if any
// message was lost, duplicated or reordered, and returns the messages that
// other peers sent meanwhile.
func steadyTraffic(t *testing.T, from, to *node) func() []p2p.InboundBytes {
	t.Helper()
	p := from.sw.Peers().(*p2p.PeerSet).Get(to.id())
	if p == nil {
		t.Fatal("not peers")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sent := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if p.SendContext(ctx, testCh, p2p.ByteSlice(fmt.Sprintf("steady-%06d", sent))) != nil {
				return
			}
			sent++
			time.Sleep(time.Millisecond)
		}
	}()
	return func() []p2p.InboundBytes {
		t.Helper()
		cancel()
		wg.Wait()
		var others []p2p.InboundBytes
		for i := 0; i < sent; {
			m := receive(t, to.sw, testCh, 5*time.Second)
			if m.MConn.Peer.Key != from.id() {
				others = append(others, m)
				continue
			}
			if want := fmt.Sprintf("steady-%06d", i); string(m.Bytes) != want {
				t.Fatalf("steady traffic: got %q, want %q", m.Bytes, want)
			}
			i++
		}
		t.Logf("the good peer's %d messages all arrived, in order", sent)
		return append(others, drainReceived(to.sw, testCh)...)
	}
}

func TestRawTCPGarbageAtTheListenPortIsRefusedAndPeersKeepWorking(t *testing.T) {
	sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	good := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	connectSwitches(t, good.sw, sw.sw)
	check := steadyTraffic(t, good, sw)
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(i*7919 + i>>8)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"random bytes", random},
		{"HTTP request", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"multistream header then junk", append([]byte("\x13/multistream/1.0.0\n"), random[:1000]...)},
		{"unknown security protocol", []byte("\x13/multistream/1.0.0\n\x0f/nonexistent/1\n")},
		{"endless varint", []byte(strings.Repeat("\xff", 100))},
		{"nothing, then end of stream", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tcpPort(t, sw), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(tc.payload) // the Switch may hang up before all is written
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			start := time.Now()
			n, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the Switch kept the garbage connection open for %s", time.Since(start).Round(time.Millisecond))
			}
			t.Logf("the Switch hung up after %s (sent %d bytes of its own handshake)", time.Since(start).Round(time.Millisecond), n)
		})
	}
	if out, in, _ := sw.sw.NumPeers(); out+in != 1 {
		t.Fatalf("the Switch has %d peers, want only the good one", out+in)
	}
	check()
	pingPong(t, good.sw, sw.sw)
}

func TestBadFramesOverTCPStopOnlyTheirSender(t *testing.T) {
	const max = 1 << 20 // testChannels' RecvMessageCapacity
	for _, tc := range []struct {
		name     string
		bytes    []byte
		closeAll bool // then close the write side
		want     error
	}{
		{"oversized frame", append(binary.AppendUvarint(nil, max+1), make([]byte, 1000)...), false, p2p.ErrMessageTooLarge},
		{"absurd length", binary.AppendUvarint(nil, 1<<62), false, p2p.ErrMessageTooLarge},
		{"endless varint", []byte(strings.Repeat("\xff", 20)), false, p2p.ErrBadFrame},
		{"non-minimal varint", []byte{0x85, 0x00, 1, 2, 3, 4, 5}, false, p2p.ErrBadFrame},
		{"truncated frame", append(binary.AppendUvarint(nil, 100), make([]byte, 10)...), true, p2p.ErrBadFrame},
		{"truncated varint", []byte{0x80}, true, p2p.ErrBadFrame},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
			good := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
			connectSwitches(t, good.sw, sw.sw)
			events := make(chan interface{}, 16)
			sw.sw.AddEventListener("test", events)
			check := steadyTraffic(t, good, sw)

			bad := newHandFramedPeer(t, p2p.DefaultNetwork, testCh)
			connectHost(t, bad.h, sw.sw.Host())
			waitFor(t, 5*time.Second, "the Switch admits the bad peer", func() bool { return sw.sw.Peers().Has(bad.h.ID().String()) })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := bad.h.NewStream(ctx, sw.sw.Host().ID(), p2p.ChannelProtocolID(p2p.DefaultNetwork, testCh))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			s.Write(tc.bytes)
			if tc.closeAll {
				s.CloseWrite()
			}
			d := doneEvent(t, events, bad.h.ID().String(), 10*time.Second)
			if err, _ := d.Error.(error); !errors.Is(err, tc.want) {
				t.Fatalf("the bad peer was stopped for %v, want %v", d.Error, tc.want)
			}
			waitFor(t, 5*time.Second, "the Switch closes the bad peer's connection", func() bool {
				return bad.h.Network().Connectedness(sw.sw.Host().ID()) != network.Connected
			})
			check()
			pingPong(t, good.sw, sw.sw)
		})
	}
}

func TestPeerThatDisconnectsMidMessageIsDroppedWithoutAPartialMessage(t *testing.T) {
	sw := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	good := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	connectSwitches(t, good.sw, sw.sw)
	events := make(chan interface{}, 16)
	sw.sw.AddEventListener("test", events)
	check := steadyTraffic(t, good, sw)

	quitter := newHandFramedPeer(t, p2p.DefaultNetwork, testCh)
	connectHost(t, quitter.h, sw.sw.Host())
	waitFor(t, 5*time.Second, "the Switch admits the peer", func() bool { return sw.sw.Peers().Has(quitter.h.ID().String()) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := quitter.h.NewStream(ctx, sw.sw.Host().ID(), p2p.ChannelProtocolID(p2p.DefaultNetwork, testCh))
	if err != nil {
		t.Fatal(err)
	}
	frame := binary.AppendUvarint(nil, 5)
	frame = append(frame, "whole"...)
	frame = binary.AppendUvarint(frame, 1000)
	frame = append(frame, "only the start of a message"...)
	if _, err := s.Write(frame); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the bytes arrive
	quitter.h.Network().ClosePeer(sw.sw.Host().ID())
	d := doneEvent(t, events, quitter.h.ID().String(), 10*time.Second)
	t.Logf("the Switch dropped the peer that hung up mid-message, reason: %v", d.Error)

	// Of the quitter's messages only the whole one was delivered.
	var got []string
	for _, m := range check() {
		got = append(got, string(m.Bytes))
	}
	if len(got) != 1 || got[0] != "whole" {
		t.Fatalf("the quitter's messages delivered: %q, want only the whole one", got)
	}

	// A connection that broke is no misbehaviour: the peer may come back.
	connectHost(t, quitter.h, sw.sw.Host())
	waitFor(t, 5*time.Second, "the peer that hung up is admitted again when it returns", func() bool {
		return sw.sw.Peers().Has(quitter.h.ID().String())
	})
	pingPong(t, good.sw, sw.sw)
}

// drainReceived returns the messages waiting on chID now.
func drainReceived(sw *p2p.Switch, chID byte) []p2p.InboundBytes {
	var out []p2p.InboundBytes
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		m, err := sw.ReceiveContext(ctx, chID)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

func TestStopDuringHeavyTrafficOnFivePeersReturnsQuicklyAndLeaksNothing(t *testing.T) {
	hub := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
	var spokes []*node
	for i := 0; i < 5; i++ {
		s := newNode(t, nodeConfig{swOpts: []p2p.Option{tcpHostOptions()}})
		connectSwitches(t, s.sw, hub.sw)
		spokes = append(spokes, s)
	}
	// Every node sends to each of its peers as fast as they take it, and
	// drains what it receives. The hub's goroutines and the spokes' senders
	// must end by themselves once the hub stops; the spokes' receivers are
	// ended by cancel.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mustEnd, spokeReceivers sync.WaitGroup
	var moved atomic.Int64
	msg := p2p.ByteSlice(make([]byte, 16<<10))
	for _, n := range append([]*node{hub}, spokes...) {
		for _, p := range n.sw.Peers().List() {
			mustEnd.Add(1)
			go func() {
				defer mustEnd.Done()
				for p.Send(testCh, msg) {
				}
			}()
		}
		wg := &spokeReceivers
		if n == hub {
			wg = &mustEnd
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := n.sw.ReceiveContext(ctx, testCh); err != nil {
					return
				}
				moved.Add(1)
			}
		}()
	}
	time.Sleep(time.Second)
	start := time.Now()
	hub.sw.Stop()
	took := time.Since(start)
	t.Logf("hub.Stop with 5 busy peers (%d messages of 16 KiB moved in 1 s) returned in %s", moved.Load(), took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("Stop during traffic took %s", took)
	}
	ended := make(chan struct{})
	go func() { mustEnd.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("blocked Send or Receive calls did not return after the hub stopped")
	}
	for _, s := range spokes {
		waitFor(t, 5*time.Second, "every spoke sees the hub go", func() bool { return s.sw.Peers().Size() == 0 })
	}
	cancel()
	spokeReceivers.Wait()
	for _, n := range append(spokes, hub) {
		n.stop()
	}
	goleak.VerifyNone(t)
}
