package suite

import (
	"flag"
	"testing"
)

// runOnce runs body through testing.Benchmark with a fixed, small number of
// iterations (no timing), and fails t if the body failed.
func runOnce(t *testing.T, iterations string, body func(*testing.B)) testing.BenchmarkResult {
	t.Helper()
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	if err := f.Value.Set(iterations); err != nil {
		t.Fatal(err)
	}
	defer f.Value.Set(old)
	r := testing.Benchmark(body)
	if r.N == 0 {
		t.Fatal("the benchmark failed (run it with go test -bench to see why)")
	}
	return r
}

// metric returns a reported metric, failing t if it is missing.
func metric(t *testing.T, r testing.BenchmarkResult, unit string) float64 {
	t.Helper()
	v, ok := r.Extra[unit]
	if !ok {
		t.Fatalf("metric %q not reported (have %v)", unit, r.Extra)
	}
	return v
}

// TestEveryBodyRunsAndReports runs each benchmark body a few iterations:
// the bodies check every message themselves (count, order, content); this
// checks that they report their metrics with sane (not timed) values.
func TestEveryBodyRunsAndReports(t *testing.T) {
	peers := 8
	if testing.Short() {
		peers = 3
	}
	for _, tc := range []struct {
		name  string
		body  func(*testing.B)
		units []string
	}{
		{"SwitchThroughput256TLS", func(b *testing.B) { SwitchThroughput(b, 256, tls) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"SwitchThroughput64KNoise", func(b *testing.B) { SwitchThroughput(b, 64<<10, noise) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"SwitchThroughputLending256TLS", func(b *testing.B) { SwitchThroughputLending(b, 256, tls) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"SwitchThroughputLending64KTLS", func(b *testing.B) { SwitchThroughputLending(b, 64<<10, tls) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"SendPath256", func(b *testing.B) { SendPath(b, 256) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"ReceivePath64K", func(b *testing.B) { ReceivePath(b, 64<<10, false) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"ReceivePathLending256", func(b *testing.B) { ReceivePath(b, 256, true) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"RawThroughput256TLS", func(b *testing.B) { RawThroughput(b, 256, tls) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"RawThroughputAllocating256TLS", func(b *testing.B) { RawThroughputAllocating(b, 256, tls) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"RawThroughput64KNoise", func(b *testing.B) { RawThroughput(b, 64<<10, noise) }, []string{UnitMsgsPerSec, UnitP50, UnitP99}},
		{"SwitchEcho", func(b *testing.B) { SwitchEcho(b, 256) }, []string{UnitRoundTripsPerSec, UnitP50, UnitP99}},
		{"SwitchEchoLending", func(b *testing.B) { SwitchEchoLending(b, 256) }, []string{UnitRoundTripsPerSec, UnitP50, UnitP99}},
		{"RawEcho", func(b *testing.B) { RawEcho(b, 256) }, []string{UnitRoundTripsPerSec, UnitP50, UnitP99}},
		{"StreamPerMessageEcho", func(b *testing.B) { StreamPerMessageEcho(b, 256) }, []string{UnitRoundTripsPerSec, UnitP50, UnitP99}},
		{"StreamPerMessageThroughput", func(b *testing.B) { StreamPerMessageThroughput(b, 256) }, []string{UnitMsgsPerSec}},
		{"SwitchBroadcast", func(b *testing.B) { SwitchBroadcast(b, peers, 1<<10) }, []string{UnitNsPerPeer, UnitEncodesPerOp}},
		{"RawBroadcast", func(b *testing.B) { RawBroadcast(b, peers, 1<<10) }, []string{UnitNsPerPeer}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runOnce(t, "64x", tc.body)
			for _, u := range tc.units {
				if v := metric(t, r, u); v <= 0 {
					t.Errorf("%s = %v, want > 0", u, v)
				}
			}
			if _, ok := r.Extra[UnitP50]; ok && metric(t, r, UnitP50) > metric(t, r, UnitP99) {
				t.Errorf("p50 %v above p99 %v", r.Extra[UnitP50], r.Extra[UnitP99])
			}
			if enc, ok := r.Extra[UnitEncodesPerOp]; ok && enc != 1 {
				t.Errorf("a Broadcast encoded its message %v times, want once", enc)
			}
		})
	}
}

func TestIdlePeerHeapReportsEveryFigure(t *testing.T) {
	r := runOnce(t, "1x", func(b *testing.B) { IdlePeerHeap(b, 4) })
	for _, u := range []string{UnitHeapPerPeer, UnitRawHeapPerPeer, UnitStackPerPeer, UnitGoroutinesPerPeer} {
		if v := metric(t, r, u); v <= 0 {
			t.Errorf("%s = %v, want > 0 (a connected peer costs something)", u, v)
		}
	}
	if got, want := metric(t, r, UnitSwitchHeapPerPeer), r.Extra[UnitHeapPerPeer]-r.Extra[UnitRawHeapPerPeer]; got != want {
		t.Errorf("Switch share %v, want whole minus raw = %v", got, want)
	}
}

func TestMeasureIdleHeapRefusesNoPeers(t *testing.T) {
	if _, err := MeasureIdleHeap(0); err == nil {
		t.Fatal("MeasureIdleHeap(0) succeeded")
	}
}
