package p2p

import (
	"testing"
	"time"
)

// stalledChannels has a channel whose receiver will not drain (tiny receive
// queue) beside a normal one.
func stalledChannels() []*ChannelDescriptor {
	return []*ChannelDescriptor{
		{Id: 0x10, SendQueueCapacity: 10, RecvQueueCapacity: 1},
		{Id: 0x20, SendQueueCapacity: 10, RecvQueueCapacity: 100},
	}
}

func TestStalledChannelDoesNotStallAnother(t *testing.T) {
	sws := mockSwitches(t, 2, stalledChannels)
	a, b := sws[0], sws[1]
	connectSwitches(t, a, b)
	pb := a.Peers().List()[0]

	// b never reads 0x10: its receive queue, then the stream, then a's send
	// queue fill up, and a's writer for 0x10 blocks.
	big := ByteSlice(make([]byte, 64<<10))
	go func() {
		for pb.Send(0x10, big) {
		}
	}()
	waitFor(t, 5*time.Second, func() bool { return !pb.CanSend(0x10) })
	time.Sleep(50 * time.Millisecond) // let the writer block in the stream

	const n = 200
	go func() {
		for i := 0; i < n; i++ {
			if !pb.Send(0x20, numbered(i)) {
				return
			}
		}
	}()
	for i, m := range receiveN(t, b, 0x20, n, 5*time.Second) {
		mustEqual(t, m.Bytes, numbered(i))
	}
	if pb.CanSend(0x10) {
		t.Fatal("channel 0x10 drained although its receiver never read")
	}
}
