package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
	"github.com/switchyard-p2p/switchyard/p2p"
	"github.com/switchyard-p2p/switchyard/transport"
)

// TestMain checks that no goroutine outlives the tests but CometBFT's rate
// monitors' clock, which runs once for the whole process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/cometbft/cometbft/internal/flowrate.runClockUpdates"))
}

// runOnce runs body through testing.Benchmark for a fixed number of
// iterations (no timing) and fails t if the body failed: every body checks
// the size, sequence number and count of the messages it receives.
func runOnce(t *testing.T, iterations string, body func(*testing.B)) testing.BenchmarkResult {
	t.Helper()
	keepBenchtime(t)
	if err := flag.Set("test.benchtime", iterations); err != nil {
		t.Fatal(err)
	}
	r := testing.Benchmark(body)
	if r.N == 0 {
		t.Fatal("the benchmark body failed: a message was lost, duplicated, reordered or changed, or the setup failed")
	}
	return r
}

// keepBenchtime restores -test.benchtime, which runOnce and run change.
func keepBenchtime(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	t.Cleanup(func() { f.Value.Set(old) })
}

func TestEveryCaseRunsAndReports(t *testing.T) {
	for _, c := range allCases() {
		t.Run(c.name, func(t *testing.T) {
			r := runOnce(t, "64x", c.run)
			units := []string{suite.UnitMsgsPerSec}
			if strings.HasPrefix(c.name, "echo/") {
				units = []string{suite.UnitRoundTripsPerSec, suite.UnitP50, suite.UnitP99}
			}
			for _, u := range units {
				if v, ok := r.Extra[u]; !ok || v <= 0 {
					t.Errorf("%s = %v (reported: %t), want > 0", u, v, ok)
				}
			}
			if strings.HasPrefix(c.name, "throughput/") && r.Bytes == 0 {
				t.Error("no bytes per message reported")
			}
		})
	}
}

// TestMConnectionDeliversIntact sends messages of several sizes (one
// packet, many, and not a multiple of the packet size) through an
// MConnection pair and checks every byte of each, in order, and the count.
func TestMConnectionDeliversIntact(t *testing.T) {
	for _, size := range []int{256, 3000, 64 << 10} {
		for _, throttle := range []time.Duration{defaultFlushThrottle, 0} {
			runOnce(t, "300x", func(b *testing.B) { MConnThroughput(b, size, throttle, receiving{intact: true}) })
			runOnce(t, "300x", func(b *testing.B) { MConnThroughput(b, size, throttle, receiving{intact: true, copyEach: true}) })
		}
	}
}

// TestSwitchDeliversIntact sends messages whose every byte depends on their
// sequence number from one Switch to another, first to Receive, then to a
// lending handler, and checks each message whole, in order, and the count.
func TestSwitchDeliversIntact(t *testing.T) {
	const n = 200
	for _, size := range []int{256, 64 << 10} {
		descs := func() []*p2p.ChannelDescriptor {
			return []*p2p.ChannelDescriptor{{Id: 1, SendQueueCapacity: 16, RecvQueueCapacity: 16, RecvMessageCapacity: size}}
		}
		a, err := suite.NewSwitch(descs(), transport.SecurityTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Stop()
		b, err := suite.NewSwitch(descs(), transport.SecurityTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Stop()
		toB, _, err := suite.Connect(a, b)
		if err != nil {
			t.Fatal(err)
		}
		var senders sync.WaitGroup
		send := func(from int) {
			defer senders.Done()
			for i := from; i < from+n; i++ {
				if !toB.Send(1, p2p.ByteSlice(patterned(i, size))) { // a new slice each: Send keeps it
					t.Errorf("send %d failed", i)
					return
				}
			}
		}

		senders.Add(1)
		go send(0)
		for i := range n {
			m, ok := b.Receive(1)
			if !ok {
				t.Fatalf("%d B: Receive %d: switch stopped", size, i)
			}
			if !bytes.Equal(m.Bytes, patterned(i, size)) {
				t.Fatalf("%d B: message %d received through Receive differs from the one sent", size, i)
			}
		}

		var mu sync.Mutex
		got, bad := 0, -1
		done := make(chan struct{})
		if err := b.SetChannelHandler(1, func(in p2p.InboundBytes) {
			mu.Lock()
			defer mu.Unlock()
			if bad < 0 && !bytes.Equal(in.Bytes, patterned(n+got, size)) {
				bad = n + got
			}
			if got++; got == n {
				close(done)
			}
		}); err != nil {
			t.Fatal(err)
		}
		senders.Add(1)
		go send(n)
		select {
		case <-done:
		case <-time.After(time.Minute): // a bound on a hang, not a timing check
			t.Fatalf("%d B: the lending handler had %d of %d messages after a minute", size, got, n)
		}
		mu.Lock()
		if bad >= 0 {
			t.Errorf("%d B: message %d lent to the handler differs from the one sent", size, bad)
		}
		mu.Unlock()
		a.Stop()
		b.Stop()
		senders.Wait()
	}
}

// patterned is message i of size bytes: its sequence number, then bytes
// that depend on it and on their position.
func patterned(i, size int) []byte {
	msg := make([]byte, size)
	binary.LittleEndian.PutUint64(msg, uint64(i))
	for j := 8; j < size; j++ {
		msg[j] = byte(i*31 + j*7 + j>>8)
	}
	return msg
}

func TestRunPrintsFiguresAndRatiosPerRound(t *testing.T) {
	keepBenchtime(t)
	var out, progress bytes.Buffer
	args := []string{"-benchtime", "20x", "-count", "2", "-only", "^(throughput/256B/(mconn|switch)|echo/256B/(mconn-throttle-0|raw))$"}
	if err := run(args, &out, &progress); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(progress.String(), "throughput/256B/mconn "); got != 2 {
		t.Errorf("the MConnection case ran %d times, want 2:\n%s", got, progress.String())
	}
	table := out.String()
	for _, want := range []string{
		"CometBFT v1.0.1",
		"256 B  MConnection",
		"256 B  Switch, 2014 Receive",
		"256 B: Switch Receive / MConnection ",
		"≥ 2.4×",
		"echo 256 B p50: MConnection throttle 0 / raw stream",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, absent := range []string{"64 KiB", "lending", "copying", "FAILED"} {
		if strings.Contains(table, absent) {
			t.Errorf("table shows %q, which did not run:\n%s", absent, table)
		}
	}
}
