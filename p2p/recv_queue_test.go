package p2p

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func inbound(s string) InboundBytes { return InboundBytes{Bytes: []byte(s)} }

func TestRecvQueueKeepsOrderAndCapacity(t *testing.T) {
	q := newRecvQueue(3)
	if n := q.push([]InboundBytes{inbound("a"), inbound("b")}); n != 2 {
		t.Fatalf("pushed %d of 2 into an empty queue of 3", n)
	}
	if n := q.push([]InboundBytes{inbound("c"), inbound("d")}); n != 1 {
		t.Fatalf("pushed %d into a queue with room for 1", n)
	}
	if q.len() != 3 {
		t.Fatalf("len %d, want 3", q.len())
	}
	space := q.spaceSignal()
	for _, want := range []string{"a", "b"} {
		m, ok := q.pop()
		if !ok || string(m.Bytes) != want {
			t.Fatalf("pop = %q, %v; want %q", m.Bytes, ok, want)
		}
	}
	select {
	case <-space:
	default:
		t.Fatal("taking a message did not signal space")
	}
	// The ring wraps around.
	if n := q.push([]InboundBytes{inbound("d"), inbound("e")}); n != 2 {
		t.Fatalf("pushed %d of 2 after making room for 2", n)
	}
	for _, want := range []string{"c", "d", "e"} {
		if m, ok := q.pop(); !ok || string(m.Bytes) != want {
			t.Fatalf("pop = %q, %v; want %q", m.Bytes, ok, want)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop from an empty queue returned a message")
	}
}

// TestRecvQueueWakesEveryReceiver starts several Receive calls on one
// channel and checks that one push of as many messages wakes them all.
func TestRecvQueueWakesEveryReceiver(t *testing.T) {
	sws := mockSwitches(t, 1, testChannels)
	sw := sws[0]
	const n = 4
	var wg sync.WaitGroup
	got := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			m, err := sw.ReceiveContext(ctx, 0x10)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(m.Bytes)
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them wait
	var msgs []InboundBytes
	for i := range n {
		msgs = append(msgs, inbound(fmt.Sprint(i)))
	}
	if pushed := sw.recvQueues[0x10].push(msgs); pushed != n {
		t.Fatalf("pushed %d of %d", pushed, n)
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for s := range got {
		seen[s] = true
	}
	for i := range n {
		if !seen[fmt.Sprint(i)] {
			t.Fatalf("message %d not received; got %v", i, seen)
		}
	}
}

func TestFrameBuffered(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"empty", nil, false},
		{"whole frame", []byte{3, 'a', 'b', 'c'}, true},
		{"whole empty frame", []byte{0}, true},
		{"part of a message", []byte{3, 'a', 'b'}, false},
		{"part of a prefix", []byte{0x81}, false},
		{"endless prefix", bytes.Repeat([]byte{0xff}, 11), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReader(bytes.NewReader(tc.data))
			br.Peek(len(tc.data)) // fill the buffer
			if got := frameBuffered(br); got != tc.want {
				t.Fatalf("frameBuffered(%x) = %v, want %v", tc.data, got, tc.want)
			}
		})
	}
}

// TestMessagesBeforeAPartialFrameAreDelivered writes two whole frames and
// the start of a third in one write, and checks that the two are received
// while the third is still incomplete: a reader does not hold messages back
// while it waits for the rest of a frame.
func TestMessagesBeforeAPartialFrameAreDelivered(t *testing.T) {
	sws, mn := mockSwitchesNet(t, 1, testChannels)
	sw := sws[0]
	h := rawHost(t, mn, ChannelProtocolID(DefaultNetwork, 0x10))
	connectRaw(t, h, sw)
	s, err := h.NewStream(context.Background(), sw.Host().ID(), ChannelProtocolID(DefaultNetwork, 0x10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	if _, err := s.Write([]byte{1, 'a', 1, 'b', 3, 'c'}); err != nil {
		t.Fatal(err)
	}
	got := receiveN(t, sw, 0x10, 2, 5*time.Second)
	mustEqual(t, got[0].Bytes, []byte("a"))
	mustEqual(t, got[1].Bytes, []byte("b"))
	if _, err := s.Write([]byte{'d', 'e'}); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, receiveN(t, sw, 0x10, 1, 5*time.Second)[0].Bytes, []byte("cde"))
}

// TestConcurrentReceiversGetEveryMessageOnce has several goroutines call
// Receive on one channel while a peer sends more messages than the receive
// queue holds: together they get each message exactly once.
func TestConcurrentReceiversGetEveryMessageOnce(t *testing.T) {
	chans := func() []*ChannelDescriptor {
		return []*ChannelDescriptor{{Id: 0x10, SendQueueCapacity: 50, RecvQueueCapacity: 20}}
	}
	sws := mockSwitches(t, 2, chans)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	const n, receivers = 5000, 4
	got := make(chan string, n)
	var wg sync.WaitGroup
	for range receivers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, ok := b.Receive(0x10)
				if !ok {
					return
				}
				got <- string(m.Bytes)
			}
		}()
	}
	p := a.Peers().List()[0]
	for i := range n {
		if !p.Send(0x10, numbered(i)) {
			t.Fatalf("send %d failed", i)
		}
	}
	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case s := <-got:
			if seen[s] {
				t.Fatalf("%s received twice", s)
			}
			seen[s] = true
		case <-timeout:
			t.Fatalf("received %d of %d messages", len(seen), n)
		}
	}
	b.Stop()
	wg.Wait()
	if len(got) > 0 {
		t.Fatalf("%d messages more than were sent", len(got))
	}
}
