package pexcompat_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// plainReader hides every method but Read, so ReadMessage cannot use
// ReadByte and must read the length prefix byte by byte.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestWriteReadMessageFramesBackToBack(t *testing.T) {
	msgs := []pexcompat.Message{
		&pexcompat.Request{},
		&pexcompat.Addrs{},
		&pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")}}},
		&pexcompat.Request{},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		if err := pexcompat.WriteMessage(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	wire := buf.Bytes()
	readers := map[string]func() io.Reader{
		"bytes.Reader":  func() io.Reader { return bytes.NewReader(wire) },
		"bufio.Reader":  func() io.Reader { return bufio.NewReader(bytes.NewReader(wire)) },
		"plain reader":  func() io.Reader { return plainReader{bytes.NewReader(wire)} },
		"one byte/read": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			r := mk()
			for i, want := range msgs {
				got, err := pexcompat.ReadMessage(r)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if got.Type() != want.Type() {
					t.Fatalf("message %d is a %s, want %s", i, got.Type(), want.Type())
				}
				if w, ok := want.(*pexcompat.Addrs); ok && !equalAddrInfos(got.(*pexcompat.Addrs).Addrs, w.Addrs) {
					t.Fatalf("message %d: got %v, want %v", i, got, want)
				}
			}
			if _, err := pexcompat.ReadMessage(r); err != io.EOF {
				t.Fatalf("after the last frame: got %v, want io.EOF itself", err)
			}
		})
	}
}

func TestReadMessageDoesNotReadPastTheFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := pexcompat.WriteMessage(&buf, &pexcompat.Request{}); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("rest")
	r := bytes.NewReader(buf.Bytes())
	if _, err := pexcompat.ReadMessage(plainReader{r}); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "rest" {
		t.Fatalf("bytes after the frame: %q, want %q", rest, "rest")
	}
}

func TestWriteMessageIsOneWriteOfPrefixAndMessage(t *testing.T) {
	m := &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")}}}
	enc, err := pexcompat.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	w := &countingWriter{}
	if err := pexcompat.WriteMessage(w, m); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 {
		t.Fatalf("WriteMessage made %d writes, want 1", w.writes)
	}
	if want := cat(uv(uint64(len(enc))), enc); !bytes.Equal(w.buf.Bytes(), want) {
		t.Fatalf("frame %x, want %x", w.buf.Bytes(), want)
	}
}

func TestWriteMessageRefusesInvalidMessagesAndWritesNothing(t *testing.T) {
	w := &countingWriter{}
	err := pexcompat.WriteMessage(w, &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: "", Addrs: nil}}})
	if !errors.Is(err, pexcompat.ErrBadPeerID) {
		t.Fatalf("got %v, want ErrBadPeerID", err)
	}
	if w.writes != 0 {
		t.Fatalf("%d writes for a refused message", w.writes)
	}
}

func TestWriteMessageReportsWriterErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	err := pexcompat.WriteMessage(failingWriter{errDisk}, &pexcompat.Request{})
	if !errors.Is(err, errDisk) {
		t.Fatalf("got %v, want the writer's error", err)
	}
}

// TestReadMessageRejectsBadFrames is the catalogue of malformed frames and
// the error each one gives.
func TestReadMessageRejectsBadFrames(t *testing.T) {
	errPipe := errors.New("pipe broke")
	oversized := uv(pexcompat.MaxMessageSize + 1)
	tests := []struct {
		name string
		in   io.Reader
		want error
	}{
		{"no bytes at all", bytes.NewReader(nil), io.EOF},
		{"length prefix cut short", bytes.NewReader([]byte{0x80}), pexcompat.ErrTruncated},
		{"length prefix that never ends", bytes.NewReader(bytes.Repeat([]byte{0xff}, 64)), pexcompat.ErrBadVarint},
		{"length prefix that never ends, plain reader", plainReader{bytes.NewReader(bytes.Repeat([]byte{0xff}, 64))}, pexcompat.ErrBadVarint},
		{"non-minimal length prefix (81 00)", bytes.NewReader([]byte{0x81, 0x00, 0x01}), pexcompat.ErrBadVarint},
		{"length MaxMessageSize+1", bytes.NewReader(oversized), pexcompat.ErrMessageTooLarge},
		{"length 2^63-1", bytes.NewReader(uv(1<<63 - 1)), pexcompat.ErrMessageTooLarge},
		{"body shorter than its length", bytes.NewReader([]byte{0x05, 0x02, 0x00}), pexcompat.ErrTruncated},
		{"body shorter than its length (io.ErrUnexpectedEOF)", bytes.NewReader([]byte{0x05, 0x02, 0x00}), io.ErrUnexpectedEOF},
		{"zero-length frame", bytes.NewReader([]byte{0x00}), pexcompat.ErrTruncated},
		{"unknown message type", bytes.NewReader([]byte{0x01, 0x09}), pexcompat.ErrUnknownType},
		{"bad message inside a good frame", bytes.NewReader([]byte{0x02, 0x01, 0x00}), pexcompat.ErrTrailingBytes},
		{"reader error in the prefix", iotest.ErrReader(errPipe), errPipe},
		{"reader error in the body", io.MultiReader(bytes.NewReader([]byte{0x05, 0x02}), iotest.ErrReader(errPipe)), errPipe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := pexcompat.ReadMessage(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, %v; want error %v", msg, err, tt.want)
			}
		})
	}
}

// TestReadMessageRefusesAnOversizedFrameBeforeReadingIt: the length alone
// decides; the body is never read (or allocated).
func TestReadMessageRefusesAnOversizedFrameBeforeReadingIt(t *testing.T) {
	r := bytes.NewReader(cat(uv(1<<40), []byte("body")))
	if _, err := pexcompat.ReadMessage(r); !errors.Is(err, pexcompat.ErrMessageTooLarge) {
		t.Fatalf("got %v, want ErrMessageTooLarge", err)
	}
	if r.Len() != len("body") {
		t.Fatalf("ReadMessage consumed %d body bytes of an oversized frame", len("body")-r.Len())
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.writes++
	return w.buf.Write(b)
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }
