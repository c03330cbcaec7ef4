package suite

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// errReceiverEnded is reported when a receiver returns before the sender
// has sent everything.
var errReceiverEnded = errors.New("receiver ended early")

// flow drives a one-way throughput benchmark: a sender goroutine sends
// warm messages, waits for the timer to start, then sends the rest (b.N
// more); a receiver, started by the caller, closes warmedUp once it has the
// warm-up messages and sends its result on recvDone when it has them all.
type flow struct {
	warm, total int
	warmedUp    chan struct{}
	recvDone    chan error
}

func newFlow(warm, n int) *flow {
	return &flow{warm: warm, total: warm + n, warmedUp: make(chan struct{}), recvDone: make(chan error, 1)}
}

// received is what the receiver calls after message i arrived.
func (f *flow) received(i int) {
	if i == f.warm-1 {
		close(f.warmedUp)
	}
}

// finish reports the receiver's result; only the first call counts (for
// receivers made of concurrent handlers).
func (f *flow) finish(err error) {
	select {
	case f.recvDone <- err:
	default:
	}
}

// run times the flow: from when the warm-up messages have arrived until the
// receiver has every message. send(from, to) sends messages [from, to);
// abort must make both the sender and the receiver return (close the hosts).
// On failure run calls abort, waits for the sender, and fails b.
func (f *flow) run(b *testing.B, size int, send func(from, to int) error, abort func()) {
	start, stop := make(chan struct{}), make(chan struct{})
	sendDone := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sendDone <- func() error {
			if err := send(0, f.warm); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
			select {
			case <-start:
			case <-stop:
				return nil
			}
			return send(f.warm, f.total)
		}()
	}()
	fail := func(err error) {
		close(stop)
		abort()
		wg.Wait()
		b.Fatal(err)
	}
	select {
	case <-f.warmedUp:
	case err := <-f.recvDone:
		fail(fmt.Errorf("warm-up: %w", cmpOr(err, errReceiverEnded)))
	case err := <-sendDone: // only on error: the sender waits for start
		fail(cmpOr(err, errReceiverEnded))
	}
	b.SetBytes(int64(size))
	b.ResetTimer()
	close(start)
	err := <-f.recvDone
	b.StopTimer()
	if err != nil {
		fail(err)
	}
	if err := <-sendDone; err != nil {
		fail(err)
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), UnitMsgsPerSec)
}

// cmpOr returns err, or def if err is nil.
func cmpOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
