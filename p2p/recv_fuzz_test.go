package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds the channel-stream frame reader arbitrary bytes: it
// must never panic, never return a message above the limit, and return only
// the documented errors; whatever it reads re-encodes to the same bytes.
func FuzzReadFrame(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0x00}, {0x05, 'h', 'e', 'l', 'l', 'o'}, {0x05, 'h', 'e'},
		{0x81}, {0x85, 0x00}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x80, 0x01}, {0x03, 'a', 'b', 'c', 0x01, 'd'}, {0xac, 0x02},
	} {
		f.Add(seed)
	}
	const max = 2 * directReadMin // bodies on both sides of the direct-read size
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, 16)
		var again bytes.Buffer
		bw := bufio.NewWriter(&again)
		for {
			msg, err := readFrame(br, src, max, nil)
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrMessageTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(msg) > max {
				t.Fatalf("message of %d bytes above the limit", len(msg))
			}
			if err := writeFrame(bw, msg); err != nil {
				t.Fatal(err)
			}
		}
		bw.Flush()
		if !bytes.HasPrefix(data, again.Bytes()) {
			t.Fatalf("frames read from %x re-encode to %x", data, again.Bytes())
		}
	})
}
