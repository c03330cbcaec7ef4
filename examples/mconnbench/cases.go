package main

import (
	"testing"

	"github.com/switchyard-p2p/switchyard/examples/bench/suite"
	"github.com/switchyard-p2p/switchyard/transport"
)

// benchCase is one benchmark the command runs with testing.Benchmark.
type benchCase struct {
	name string
	run  func(*testing.B)
}

// Names of the cases, as -only matches them.
const (
	tput256MConn     = "throughput/256B/mconn"
	tput256MConnCopy = "throughput/256B/mconn-copying"
	tput256Switch    = "throughput/256B/switch"
	tput256Lend      = "throughput/256B/switch-lending"
	tput256Raw       = "throughput/256B/raw"
	tput64KMConn     = "throughput/64KiB/mconn"
	tput64KMConnCopy = "throughput/64KiB/mconn-copying"
	tput64KSwitch    = "throughput/64KiB/switch"
	tput64KLend      = "throughput/64KiB/switch-lending"
	tput64KRaw       = "throughput/64KiB/raw"
	echoMConn10ms    = "echo/256B/mconn-throttle-10ms"
	echoMConn0       = "echo/256B/mconn-throttle-0"
	echoSwitch       = "echo/256B/switch"
	echoLend         = "echo/256B/switch-lending"
	echoRaw          = "echo/256B/raw"
)

// allCases lists the cases in the order each round runs them: for each
// workload, MConnection (its receiver lent each message, then copying
// each), then the Switch on both receive paths, then the raw stream, one
// after the other on the same machine.
func allCases() []benchCase {
	tls := transport.SecurityTLS
	return []benchCase{
		{tput256MConn, func(b *testing.B) { MConnThroughput(b, 256, defaultFlushThrottle, receiving{}) }},
		{tput256MConnCopy, func(b *testing.B) { MConnThroughput(b, 256, defaultFlushThrottle, receiving{copyEach: true}) }},
		{tput256Switch, func(b *testing.B) { suite.SwitchThroughput(b, 256, tls) }},
		{tput256Lend, func(b *testing.B) { suite.SwitchThroughputLending(b, 256, tls) }},
		{tput256Raw, func(b *testing.B) { suite.RawThroughput(b, 256, tls) }},
		{tput64KMConn, func(b *testing.B) { MConnThroughput(b, 64<<10, defaultFlushThrottle, receiving{}) }},
		{tput64KMConnCopy, func(b *testing.B) { MConnThroughput(b, 64<<10, defaultFlushThrottle, receiving{copyEach: true}) }},
		{tput64KSwitch, func(b *testing.B) { suite.SwitchThroughput(b, 64<<10, tls) }},
		{tput64KLend, func(b *testing.B) { suite.SwitchThroughputLending(b, 64<<10, tls) }},
		{tput64KRaw, func(b *testing.B) { suite.RawThroughput(b, 64<<10, tls) }},
		{echoMConn10ms, func(b *testing.B) { MConnEcho(b, 256, defaultFlushThrottle) }},
		{echoMConn0, func(b *testing.B) { MConnEcho(b, 256, 0) }},
		{echoSwitch, func(b *testing.B) { suite.SwitchEcho(b, 256) }},
		{echoLend, func(b *testing.B) { suite.SwitchEchoLending(b, 256) }},
		{echoRaw, func(b *testing.B) { suite.RawEcho(b, 256) }},
	}
}
