package suite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/multiformats/go-varint"
)

// rawBufferSize is the size of the raw baselines' bufio.Writer and
// bufio.Reader (and of the Switch's inbound read buffer in the throughput
// benchmarks): 64 KiB, the Switch's write quantum.
const rawBufferSize = 64 << 10

// errFrameTooLarge is returned by readFrame for a length above its limit.
var errFrameTooLarge = errors.New("frame too large")

// writeFrame writes msg with its unsigned-varint length prefix, exactly as
// the Switch frames channel messages (PROTOCOL.md). The prefix is encoded
// straight into the writer's free space, so a frame costs no allocation.
func writeFrame(bw *bufio.Writer, msg []byte) error {
	hdr := binary.AppendUvarint(bw.AvailableBuffer(), uint64(len(msg)))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	_, err := bw.Write(msg)
	return err
}

// readFrame reads one frame into buf, or into a new slice if buf is too
// small (nil: always a new one), and returns the message.
func readFrame(br *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	size, err := varint.ReadUvarint(br)
	if err != nil {
		return nil, err
	}
	if size > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errFrameTooLarge, size, limit)
	}
	if uint64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// epoch is the origin of the timestamps carried inside messages: all
// benchmarks run in one process, so a monotonic offset from it is exact.
var epoch = time.Now()

// stampLen is the length of the timestamp at the start of a stamped message.
const stampLen = 8

// stamp writes the current time into msg's first 8 bytes.
func stamp(msg []byte) {
	binary.LittleEndian.PutUint64(msg, uint64(time.Since(epoch)))
}

// age returns how long ago msg was stamped.
func age(msg []byte) time.Duration {
	return time.Since(epoch) - time.Duration(binary.LittleEndian.Uint64(msg))
}

// sampleEvery is how often (every how many messages) the throughput
// benchmarks stamp a message and measure its delivery latency: every
// message at 4 KiB and above, one in 16 at 256 B, so that reading the clock
// costs little next to the message itself.
func sampleEvery(size int) int {
	return max(1, 4096/max(size, 1))
}
