package p2p

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns at most chunk bytes per Read, and records the length
// of every buffer it is asked to fill.
type chunkReader struct {
	r        io.Reader
	chunk    int
	requests []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.requests = append(c.requests, len(p))
	return c.r.Read(p[:min(len(p), c.chunk)])
}

// framed encodes one frame per size, each message filled with its index.
func framed(t *testing.T, sizes []int) (data []byte, msgs [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	for i, n := range sizes {
		msg := bytes.Repeat([]byte{byte(i + 1)}, n)
		msgs = append(msgs, msg)
		if err := writeFrame(bw, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), msgs
}

// chunkings are ways a stream may cut what it is sent.
func chunkings() map[string]func(io.Reader) io.Reader {
	return map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data+EOF": iotest.DataErrReader,
		"1000":     func(r io.Reader) io.Reader { return &chunkReader{r: r, chunk: 1000} },
	}
}

func TestReadFrameReadsSmallAndLargeBodiesWhateverTheChunking(t *testing.T) {
	sizes := []int{0, 1, 100, directReadMin - 1, directReadMin, directReadMin + 1, 70000, 3, 65536, 9000, 2}
	data, want := framed(t, sizes)
	for name, wrap := range chunkings() {
		for _, bufSize := range []int{16, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%d", name, bufSize), func(t *testing.T) {
				src := wrap(bytes.NewReader(data))
				br := bufio.NewReaderSize(src, bufSize)
				for i, w := range want {
					got, err := readFrame(br, src, 1<<20, nil)
					if err != nil {
						t.Fatalf("message %d: %s", i, err)
					}
					if !bytes.Equal(got, w) {
						t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(w))
					}
				}
				if _, err := readFrame(br, src, 1<<20, nil); err != io.EOF {
					t.Fatalf("after the last frame: %v, want io.EOF", err)
				}
			})
		}
	}
}

// With a read buffer as large as the message, bufio alone would fill its
// buffer and copy; readFrame asks the stream for the rest of the body
// straight into the message.
func TestReadFrameReadsTheRestOfALargeBodyStraightIntoTheMessage(t *testing.T) {
	data, _ := framed(t, []int{65536})
	src := &chunkReader{r: bytes.NewReader(data), chunk: 1000}
	br := bufio.NewReaderSize(src, 64<<10)
	msg, err := readFrame(br, src, 1<<20, nil)
	if err != nil || len(msg) != 65536 {
		t.Fatalf("read %d bytes, %v", len(msg), err)
	}
	rest := 65536 - (1000 - 3) // the first read brought the 3-byte prefix and 997 bytes of body
	for _, n := range src.requests {
		if n == rest {
			return
		}
	}
	t.Fatalf("read requests %v: none for the %d bytes of body left after the buffer", src.requests, rest)
}

func TestReadFrameReportsWhereATruncatedLargeBodyEnded(t *testing.T) {
	data, _ := framed(t, []int{10000})
	for _, cut := range []int{2, 1000, 6002} { // the prefix is 2 bytes
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			src := bytes.NewReader(data[:cut])
			_, err := readFrame(bufio.NewReaderSize(src, 4096), src, 1<<20, nil)
			want := fmt.Sprintf("stream ended %d bytes into a 10000-byte message", cut-2)
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want ErrBadFrame saying %q", err, want)
			}
		})
	}
}

// errAfter returns data and then err, in place of io.EOF.
type errAfter struct {
	r   io.Reader
	err error
}

func (e errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		err = e.err
	}
	return n, err
}

func TestReadFrameReturnsAStreamErrorInsideALargeBodyAsItIs(t *testing.T) {
	data, _ := framed(t, []int{10000})
	reset := errors.New("stream reset")
	src := errAfter{r: bytes.NewReader(data[:5000]), err: reset}
	_, err := readFrame(bufio.NewReaderSize(src, 4096), src, 1<<20, nil)
	if err != reset {
		t.Fatalf("got %v, want the stream's error", err)
	}
}
