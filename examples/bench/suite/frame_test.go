package suite

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/multiformats/go-varint"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	msgs := [][]byte{{}, []byte("x"), bytes.Repeat([]byte("y"), 300), bytes.Repeat([]byte("z"), 70000)}
	for _, m := range msgs {
		if err := writeFrame(bw, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(&buf)
	var reuse []byte
	for i, want := range msgs {
		got, err := readFrame(br, reuse, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
		reuse = got
	}
	if _, err := readFrame(br, reuse, 1<<20); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input []byte
		limit int
		want  error
	}{
		{"length above the limit", []byte{0x81, 0x01}, 100, errFrameTooLarge},
		{"truncated body", []byte{0x05, 'a', 'b'}, 100, io.ErrUnexpectedEOF},
		{"empty body cut at the start", []byte{0x05}, 100, io.ErrUnexpectedEOF},
		{"varint that never ends", bytes.Repeat([]byte{0xff}, 11), 100, varint.ErrOverflow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readFrame(bufio.NewReader(bytes.NewReader(tc.input)), nil, tc.limit)
			if err == nil {
				t.Fatal("bad frame accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStampMeasuresAge(t *testing.T) {
	msg := make([]byte, MinMessageSize)
	stamp(msg)
	putSeq(msg, 42)
	if seqOf(msg) != 42 {
		t.Fatalf("sequence %d, want 42", seqOf(msg))
	}
	if a := age(msg); a < 0 || a > 10e9 {
		t.Fatalf("age of a fresh stamp: %s", a)
	}
	if seqOf(msg[:5]) != ^uint64(0) {
		t.Fatal("a short message has a sequence number")
	}
}
