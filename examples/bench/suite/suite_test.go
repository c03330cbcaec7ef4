package suite

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-p2p/switchyard/transport"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	tls   = transport.SecurityTLS
	noise = transport.SecurityNoise
)

func BenchmarkSwitchThroughput256(b *testing.B)        { SwitchThroughput(b, 256, tls) }
func BenchmarkSwitchThroughput1K(b *testing.B)         { SwitchThroughput(b, 1<<10, tls) }
func BenchmarkSwitchThroughput64K(b *testing.B)        { SwitchThroughput(b, 64<<10, tls) }
func BenchmarkSwitchThroughputLending256(b *testing.B) { SwitchThroughputLending(b, 256, tls) }
func BenchmarkSwitchThroughputLending64K(b *testing.B) { SwitchThroughputLending(b, 64<<10, tls) }
func BenchmarkRawThroughput256(b *testing.B)           { RawThroughput(b, 256, tls) }
func BenchmarkRawThroughput1K(b *testing.B)            { RawThroughput(b, 1<<10, tls) }
func BenchmarkRawThroughputAllocating256(b *testing.B) { RawThroughputAllocating(b, 256, tls) }
func BenchmarkRawThroughputAllocating64K(b *testing.B) { RawThroughputAllocating(b, 64<<10, tls) }
func BenchmarkRawThroughput64K(b *testing.B)           { RawThroughput(b, 64<<10, tls) }
func BenchmarkSwitchThroughputNoise256(b *testing.B)   { SwitchThroughput(b, 256, noise) }
func BenchmarkSwitchThroughputNoise64K(b *testing.B)   { SwitchThroughput(b, 64<<10, noise) }
func BenchmarkRawThroughputNoise256(b *testing.B)      { RawThroughput(b, 256, noise) }
func BenchmarkRawThroughputNoise64K(b *testing.B)      { RawThroughput(b, 64<<10, noise) }
func BenchmarkRawThroughputAllocatingNoise64K(b *testing.B) {
	RawThroughputAllocating(b, 64<<10, noise)
}

func BenchmarkSwitchEcho256(b *testing.B)                 { SwitchEcho(b, 256) }
func BenchmarkSwitchEchoLending256(b *testing.B)          { SwitchEchoLending(b, 256) }
func BenchmarkRawEcho256(b *testing.B)                    { RawEcho(b, 256) }
func BenchmarkStreamPerMessageEcho256(b *testing.B)       { StreamPerMessageEcho(b, 256) }
func BenchmarkStreamPerMessageThroughput256(b *testing.B) { StreamPerMessageThroughput(b, 256) }

func BenchmarkSwitchBroadcast8(b *testing.B)  { SwitchBroadcast(b, 8, 1<<10) }
func BenchmarkSwitchBroadcast32(b *testing.B) { SwitchBroadcast(b, 32, 1<<10) }
func BenchmarkRawBroadcast8(b *testing.B)     { RawBroadcast(b, 8, 1<<10) }
func BenchmarkRawBroadcast32(b *testing.B)    { RawBroadcast(b, 32, 1<<10) }
func BenchmarkIdlePeerHeap32(b *testing.B)    { IdlePeerHeap(b, 32) }

func BenchmarkSendPath256(b *testing.B)           { SendPath(b, 256) }
func BenchmarkSendPath64K(b *testing.B)           { SendPath(b, 64<<10) }
func BenchmarkReceivePath256(b *testing.B)        { ReceivePath(b, 256, false) }
func BenchmarkReceivePath64K(b *testing.B)        { ReceivePath(b, 64<<10, false) }
func BenchmarkReceivePathLending256(b *testing.B) { ReceivePath(b, 256, true) }
func BenchmarkReceivePathLending64K(b *testing.B) { ReceivePath(b, 64<<10, true) }
