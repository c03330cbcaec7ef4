package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a ChannelHandler that keeps a copy of every message.
type recorder struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (r *recorder) handle(in InboundBytes) {
	r.mu.Lock()
	r.msgs = append(r.msgs, bytes.Clone(in.Bytes))
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) all() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.msgs...)
}

// sized is message i of n bytes (at least 7): its number, then filler.
func sized(i, n int) []byte {
	msg := bytes.Repeat([]byte{byte(i)}, n)
	copy(msg, fmt.Sprintf("%06d:", i))
	return msg
}

// sendNumbered sends numbered(0..n-1) to p on chID in a goroutine of its
// own; the channel returned is closed when it is done.
func sendNumbered(t *testing.T, p *Peer, chID byte, n int) <-chan struct{} {
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range n {
			if !p.Send(chID, numbered(i)) {
				t.Errorf("send %d failed", i)
				return
			}
		}
	}()
	return sent
}

// A handler gets every message of its channel, of every size (lent from
// the read buffer, from a pooled buffer, or allocated), whole and in order;
// Receive gets none of them.
func TestChannelHandlerGetsEveryMessageInOrder(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	var rec recorder
	if err := b.SetChannelHandler(0x30, rec.handle); err != nil {
		t.Fatal(err)
	}
	connectSwitches(t, a, b)
	p := a.Peers().(*PeerSet).Get(b.Host().ID().String())
	sizes := []int{10, 20000, 100000, 7, maxPooledLend, 4096}
	const n = 300
	for i := range n {
		if !p.Send(0x30, ByteSlice(sized(i, sizes[i%len(sizes)]))) {
			t.Fatalf("send %d failed", i)
		}
	}
	waitFor(t, 10*time.Second, func() bool { return rec.count() == n })
	for i, msg := range rec.all() {
		if want := sized(i, sizes[i%len(sizes)]); !bytes.Equal(msg, want) {
			t.Fatalf("message %d: %d bytes starting %q, want %d starting %q", i, len(msg), msg[:7], len(want), want[:7])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if in, err := b.ReceiveContext(ctx, 0x30); err == nil {
		t.Fatalf("Receive got %q while a handler is set", in.Bytes)
	}
	if held := b.Peers().List()[0].mconn.budget.held(); held != 0 {
		t.Fatalf("%d bytes of the peer's budget held after every loan ended", held)
	}
}

// Messages that wait for Receive when a handler is set go to it first:
// a stream that keeps sending meanwhile loses or reorders nothing.
func TestSettingAHandlerHandsItTheQueuedMessagesFirst(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	p := a.Peers().(*PeerSet).Get(b.Host().ID().String())
	const n = 2000
	sent := sendNumbered(t, p, 0x30, n)
	waitFor(t, 5*time.Second, func() bool { return b.recvQueues[0x30].len() >= 100 })
	var rec recorder
	if err := b.SetChannelHandler(0x30, rec.handle); err != nil {
		t.Fatal(err)
	}
	<-sent
	waitFor(t, 10*time.Second, func() bool { return rec.count() == n })
	for i, msg := range rec.all() {
		mustEqual(t, msg, numbered(i))
	}
}

// Unsetting the handler gives the channel back to Receive: once
// SetChannelHandler(nil) returns the handler is not called again, and the
// messages continue, in order, from Receive.
func TestUnsettingAHandlerGivesMessagesBackToReceive(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	p := a.Peers().(*PeerSet).Get(b.Host().ID().String())
	var rec recorder
	var unset atomic.Bool
	if err := b.SetChannelHandler(0x30, func(in InboundBytes) {
		if unset.Load() {
			t.Error("handler called after SetChannelHandler(nil) returned")
		}
		time.Sleep(10 * time.Microsecond) // be inside the handler when it is unset
		rec.handle(in)
	}); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	sent := sendNumbered(t, p, 0x30, n)
	waitFor(t, 5*time.Second, func() bool { return rec.count() >= 100 })
	if err := b.SetChannelHandler(0x30, nil); err != nil {
		t.Fatal(err)
	}
	unset.Store(true)
	got := rec.all()
	for _, in := range receiveN(t, b, 0x30, n-len(got), 10*time.Second) {
		got = append(got, in.Bytes)
	}
	<-sent
	for i, msg := range got {
		mustEqual(t, msg, numbered(i))
	}
}

func TestChannelHandlerOnAnUnknownChannel(t *testing.T) {
	sw := NewSwitch(testChannels())
	if err := sw.SetChannelHandler(0x77, func(InboundBytes) {}); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("%v, want ErrUnknownChannel", err)
	}
}

// A lent message counts against its peer's memory budget until the
// handler returns; a handler that holds on to it holds back that peer's
// channel only.
func TestALentMessageIsChargedToItsPeerUntilTheHandlerReturns(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	entered, proceed := make(chan int, 1), make(chan struct{})
	var rec recorder
	if err := b.SetChannelHandler(0x30, func(in InboundBytes) {
		if rec.count() == 0 {
			entered <- len(in.Bytes)
			<-proceed
		}
		rec.handle(in)
	}); err != nil {
		t.Fatal(err)
	}
	connectSwitches(t, a, b)
	p := a.Peers().(*PeerSet).Get(b.Host().ID().String())
	p.Send(0x30, ByteSlice(sized(0, 20000)))
	p.Send(0x10, ByteSlice("another channel"))
	size := <-entered
	bp := b.Peers().List()[0]
	if held := bp.mconn.budget.held(); held < int64(size) {
		t.Fatalf("%d bytes of the peer's budget held while a %d-byte message is lent", held, size)
	}
	receiveN(t, b, 0x10, 1, 5*time.Second) // the other channel flows
	close(proceed)
	waitFor(t, 5*time.Second, func() bool { return rec.count() == 1 && bp.mconn.budget.held() == 0 })
}
