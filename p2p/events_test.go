package p2p

import (
	"testing"
	"time"
)

// collect reads events from ch until it has n or the timeout passes.
func collect(t *testing.T, ch <-chan interface{}, n int, timeout time.Duration) []interface{} {
	t.Helper()
	var out []interface{}
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case ev := <-ch:
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("got %d of %d events: %v", len(out), n, out)
		}
	}
	return out
}

func TestEveryListenerGetsNewThenDoneOnceInOrder(t *testing.T) {
	sws := mockSwitches(t, 3, testChannels)
	a := sws[0]
	l1, l2 := make(chan interface{}), make(chan interface{}, 10)
	a.AddEventListener("one", l1)
	a.AddEventListener("two", l2)
	connectSwitches(t, a, sws[1])
	connectSwitches(t, a, sws[2])
	pb := a.Peers().List()[0]
	a.StopPeerForError(pb, "testing")

	for _, l := range []chan interface{}{l1, l2} {
		evs := collect(t, l, 3, 5*time.Second)
		n1, ok1 := evs[0].(SwitchEventNewPeer)
		n2, ok2 := evs[1].(SwitchEventNewPeer)
		d, ok3 := evs[2].(SwitchEventDonePeer)
		if !ok1 || !ok2 || !ok3 {
			t.Fatalf("events %T %T %T, want New New Done", evs[0], evs[1], evs[2])
		}
		if n1.Peer != pb || n2.Peer == pb || d.Peer != pb {
			t.Fatal("events name the wrong peers")
		}
		if err, _ := d.Error.(error); err == nil || err.Error() != "testing" {
			t.Fatalf("done error %v, want testing", d.Error)
		}
		select {
		case ev := <-l:
			t.Fatalf("extra event %v", ev)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestSlowListenerDoesNotStallMessages(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a, b := sws[0], sws[1]
	b.AddEventListener("never-reads", make(chan interface{}))
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]
	for i := 0; i < 50; i++ {
		pb.Send(0x10, numbered(i))
	}
	receiveN(t, b, 0x10, 50, 5*time.Second)
}

func TestListenerThatClosesItsChannelIsDroppedNotFatal(t *testing.T) {
	// The 2014 template closes its listener channel in its own Stop.
	sws := mockSwitches(t, 3, testChannels)
	a := sws[0]
	ch := make(chan interface{}, 1)
	a.AddEventListener("closer", ch)
	connectSwitches(t, a, sws[1])
	<-ch
	close(ch)
	connectSwitches(t, a, sws[2]) // the Switch now sends on a closed channel
	a.Broadcast(0x10, ByteSlice("still fine"))
	receiveN(t, sws[1], 0x10, 1, 5*time.Second)
}

func TestRemovedListenerGetsNothingMore(t *testing.T) {
	sws := mockSwitches(t, 2, testChannels)
	a := sws[0]
	ch := make(chan interface{}, 10)
	a.AddEventListener("l", ch)
	a.RemoveEventListener("l")
	connectSwitches(t, a, sws[1])
	select {
	case ev := <-ch:
		t.Fatalf("removed listener got %v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestStopSendsDonePeerForEveryPeer(t *testing.T) {
	sws := mockSwitches(t, 3, testChannels)
	a := sws[0]
	ch := make(chan interface{}, 10)
	a.AddEventListener("l", ch)
	connectSwitches(t, a, sws[1])
	connectSwitches(t, a, sws[2])
	collect(t, ch, 2, 5*time.Second)
	a.Stop()
	for _, ev := range collect(t, ch, 2, 5*time.Second) {
		d, ok := ev.(SwitchEventDonePeer)
		if !ok || d.Error != nil {
			t.Fatalf("event %#v, want a clean SwitchEventDonePeer", ev)
		}
	}
}

func TestEventQueueLimitDropsAStuckListener(t *testing.T) {
	h := newEventHub(3)
	stuck := make(chan interface{})
	h.add("stuck", stuck)
	for i := 0; i < 10; i++ {
		h.publish(i)
	}
	h.mu.Lock()
	_, still := h.listeners["stuck"]
	h.mu.Unlock()
	if still {
		t.Fatal("stuck listener kept past the limit")
	}
	h.close(time.Second)
}
