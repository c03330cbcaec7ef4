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
	// benchtime, if set, replaces -benchtime for this case (the heap
	// measurement runs a fixed number of times: it is not timed).
	benchtime string
}

// Names of the cases, as -only matches them.
const (
	tput256Switch      = "throughput/256B/tls/switch"
	tput256Lend        = "throughput/256B/tls/switch-lending"
	tput256Raw         = "throughput/256B/tls/raw"
	tput256RawAlloc    = "throughput/256B/tls/raw-allocating"
	tput1KSwitch       = "throughput/1KiB/tls/switch"
	tput1KRaw          = "throughput/1KiB/tls/raw"
	tput64KSwitch      = "throughput/64KiB/tls/switch"
	tput64KLend        = "throughput/64KiB/tls/switch-lending"
	tput64KRaw         = "throughput/64KiB/tls/raw"
	tput64KRawAlloc    = "throughput/64KiB/tls/raw-allocating"
	tput256NoiseSwitch = "throughput/256B/noise/switch"
	tput256NoiseRaw    = "throughput/256B/noise/raw"
	tput64KNoiseSwitch = "throughput/64KiB/noise/switch"
	tput64KNoiseRaw    = "throughput/64KiB/noise/raw"
	tput64KNoiseAlloc  = "throughput/64KiB/noise/raw-allocating"
	echoSwitch         = "echo/256B/switch"
	echoLend           = "echo/256B/switch-lending"
	echoRaw            = "echo/256B/raw"
	echoSPM            = "echo/256B/stream-per-msg"
	tput256SPM         = "throughput/256B/tls/stream-per-msg"
	broadcast8         = "broadcast/1KiB/8-peers"
	broadcast32        = "broadcast/1KiB/32-peers"
	broadcast8Raw      = "broadcast/1KiB/8-peers/raw"
	broadcast32Raw     = "broadcast/1KiB/32-peers/raw"
	idleHeap32         = "idle-heap/32-peers"
	sendPath256        = "path/256B/send"
	recvPath256        = "path/256B/receive"
	lendPath256        = "path/256B/receive-lending"
	sendPath64K        = "path/64KiB/send"
	recvPath64K        = "path/64KiB/receive"
	lendPath64K        = "path/64KiB/receive-lending"
)

// idlePeers is the number of idle peers of the heap measurement.
const idlePeers = 32

// allCases lists the cases in the order they run: each Switch case just
// before its baseline, so that both see the same machine.
func allCases() []benchCase {
	tls, noise := transport.SecurityTLS, transport.SecurityNoise
	return []benchCase{
		{name: tput256Switch, run: func(b *testing.B) { suite.SwitchThroughput(b, 256, tls) }},
		{name: tput256Lend, run: func(b *testing.B) { suite.SwitchThroughputLending(b, 256, tls) }},
		{name: tput256Raw, run: func(b *testing.B) { suite.RawThroughput(b, 256, tls) }},
		{name: tput256RawAlloc, run: func(b *testing.B) { suite.RawThroughputAllocating(b, 256, tls) }},
		{name: tput1KSwitch, run: func(b *testing.B) { suite.SwitchThroughput(b, 1<<10, tls) }},
		{name: tput1KRaw, run: func(b *testing.B) { suite.RawThroughput(b, 1<<10, tls) }},
		{name: tput64KSwitch, run: func(b *testing.B) { suite.SwitchThroughput(b, 64<<10, tls) }},
		{name: tput64KLend, run: func(b *testing.B) { suite.SwitchThroughputLending(b, 64<<10, tls) }},
		{name: tput64KRaw, run: func(b *testing.B) { suite.RawThroughput(b, 64<<10, tls) }},
		{name: tput64KRawAlloc, run: func(b *testing.B) { suite.RawThroughputAllocating(b, 64<<10, tls) }},
		{name: tput256NoiseSwitch, run: func(b *testing.B) { suite.SwitchThroughput(b, 256, noise) }},
		{name: tput256NoiseRaw, run: func(b *testing.B) { suite.RawThroughput(b, 256, noise) }},
		{name: tput64KNoiseSwitch, run: func(b *testing.B) { suite.SwitchThroughput(b, 64<<10, noise) }},
		{name: tput64KNoiseRaw, run: func(b *testing.B) { suite.RawThroughput(b, 64<<10, noise) }},
		{name: tput64KNoiseAlloc, run: func(b *testing.B) { suite.RawThroughputAllocating(b, 64<<10, noise) }},
		{name: echoSwitch, run: func(b *testing.B) { suite.SwitchEcho(b, 256) }},
		{name: echoLend, run: func(b *testing.B) { suite.SwitchEchoLending(b, 256) }},
		{name: echoRaw, run: func(b *testing.B) { suite.RawEcho(b, 256) }},
		{name: echoSPM, run: func(b *testing.B) { suite.StreamPerMessageEcho(b, 256) }},
		{name: tput256SPM, run: func(b *testing.B) { suite.StreamPerMessageThroughput(b, 256) }},
		{name: broadcast8, run: func(b *testing.B) { suite.SwitchBroadcast(b, 8, 1<<10) }},
		{name: broadcast8Raw, run: func(b *testing.B) { suite.RawBroadcast(b, 8, 1<<10) }},
		{name: broadcast32, run: func(b *testing.B) { suite.SwitchBroadcast(b, 32, 1<<10) }},
		{name: broadcast32Raw, run: func(b *testing.B) { suite.RawBroadcast(b, 32, 1<<10) }},
		{name: sendPath256, run: func(b *testing.B) { suite.SendPath(b, 256) }},
		{name: recvPath256, run: func(b *testing.B) { suite.ReceivePath(b, 256, false) }},
		{name: lendPath256, run: func(b *testing.B) { suite.ReceivePath(b, 256, true) }},
		{name: sendPath64K, run: func(b *testing.B) { suite.SendPath(b, 64<<10) }},
		{name: recvPath64K, run: func(b *testing.B) { suite.ReceivePath(b, 64<<10, false) }},
		{name: lendPath64K, run: func(b *testing.B) { suite.ReceivePath(b, 64<<10, true) }},
		{name: idleHeap32, run: func(b *testing.B) { suite.IdlePeerHeap(b, idlePeers) }, benchtime: "2x"},
	}
}
