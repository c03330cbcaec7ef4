// Package suite holds Switchyard's benchmarks: each body is an exported
// function taking a *testing.B, so that both `go test -bench` (through the
// wrappers in suite_test.go) and the table printer in examples/bench (through
// testing.Benchmark) run the same code.
//
// Every body compares, on one machine and in one process, the Switch channel
// path with a raw go-libp2p stream carrying the same framing (an
// unsigned-varint length prefix, written through a 64 KiB bufio.Writer), or
// with a stream-per-message design. All hosts listen on 127.0.0.1 over TCP,
// with TLS (or Noise where the body takes a transport.Security) and
// Switchyard's yamux v4, built by transport.New: nothing leaves loopback.
//
// The bodies report, besides ns/op, custom metrics through b.ReportMetric:
// msgs/s, latency percentiles (p50-ns, p99-ns), per-peer costs. They never
// assert timings; they fail only when messages are lost, duplicated or
// corrupted, or when the setup fails. Every host, Switch and goroutine a body
// starts is stopped before it returns.
package suite
