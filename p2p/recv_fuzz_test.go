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
// The lending reader (nextLent) reads the same messages and fails the same
// way, and holds no reservation after a failure.
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
		var msgs [][]byte
		var last error
		for {
			msg, err := readFrame(br, src, max, nil)
			last = err
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
			msgs = append(msgs, msg)
		}
		fr := newFrameReader(bytes.NewReader(data), 16, max, 0)
		held := 0
		fr.reserve = func(n int) error { held += n; return nil }
		fr.release = func(n int) { held -= n }
		for i := 0; ; i++ {
			msg, err := fr.nextLent()
			if err != nil {
				if (err == io.EOF) != (last == io.EOF) || errors.Is(err, ErrBadFrame) != errors.Is(last, ErrBadFrame) || i != len(msgs) || held != 0 {
					t.Fatalf("lending reader: %v after %d messages (%d bytes held); readFrame: %v after %d", err, i, held, last, len(msgs))
				}
				break
			}
			if i >= len(msgs) || !bytes.Equal(msg, msgs[i]) {
				t.Fatalf("lending reader: message %d differs", i)
			}
			fr.releaseLent()
		}
		bw.Flush()
		if !bytes.HasPrefix(data, again.Bytes()) {
			t.Fatalf("frames read from %x re-encode to %x", data, again.Bytes())
		}
	})
}
