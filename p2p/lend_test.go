package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// ledger is a frameReader's reserve and release, adding up what is held.
type ledger struct{ held int }

func (l *ledger) attach(fr *frameReader) {
	fr.reserve = func(n int) error { l.held += n; return nil }
	fr.release = func(n int) { l.held -= n }
}

func TestNextLentReadsEveryFrameWhateverTheChunking(t *testing.T) {
	sizes := []int{0, 1, 100, 4095, 4096, 4097, 20000, maxPooledLend, maxPooledLend + 1, 200000, 3, 9000, 2}
	data, want := framed(t, sizes)
	for name, wrap := range chunkings() {
		for _, bufSize := range []int{16, 4096, 64 << 10} {
			t.Run(fmt.Sprintf("%s/%d", name, bufSize), func(t *testing.T) {
				fr := newFrameReader(wrap(bytes.NewReader(data)), bufSize, 1<<20, 0)
				var l ledger
				l.attach(fr)
				for i, w := range want {
					got, err := fr.nextLent()
					if err != nil {
						t.Fatalf("message %d: %s", i, err)
					}
					if !bytes.Equal(got, w) {
						t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(w))
					}
					if l.held != len(w) {
						t.Fatalf("message %d: %d bytes reserved while lent, want %d", i, l.held, len(w))
					}
					fr.releaseLent()
					if l.held != 0 {
						t.Fatalf("message %d: %d bytes still reserved after the loan", i, l.held)
					}
				}
				if _, err := fr.nextLent(); err != io.EOF {
					t.Fatalf("after the last frame: %v, want io.EOF", err)
				}
			})
		}
	}
}

// A frame that fails, wherever it fails, leaves nothing reserved and no
// buffer lent, and fails as it does on the Receive path.
func TestNextLentReleasesWhatABadFrameReserved(t *testing.T) {
	frame := func(size, have int) []byte {
		data, _ := framed(t, []int{size})
		return data[:len(data)-(size-have)]
	}
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"small body cut short", frame(100, 40), ErrBadFrame},
		{"pooled body cut short", frame(20000, 9000), ErrBadFrame},
		{"large body cut short", frame(200000, 150000), ErrBadFrame},
		{"length prefix cut short", []byte{0x81}, ErrBadFrame},
		{"length prefix not minimal", []byte{0x85, 0x00}, ErrBadFrame},
		{"above the limit", frame(1<<20+1, 0), ErrMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(tc.data), 4096, 1<<20, 0)
			var l ledger
			l.attach(fr)
			if _, err := fr.nextLent(); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if l.held != 0 || fr.lentBuf != nil || fr.lentPeeked != 0 || fr.pending != 0 {
				t.Fatalf("after the error: %d reserved, buffer %v, %d peeked, %d pending", l.held, fr.lentBuf != nil, fr.lentPeeked, fr.pending)
			}
		})
	}
}

// A refused reservation fails the frame with the budget's error, before
// any of its body is read.
func TestNextLentFailsWhenTheBudgetRefuses(t *testing.T) {
	data, _ := framed(t, []int{20000})
	src := &chunkReader{r: bytes.NewReader(data), chunk: 1 << 20}
	fr := newFrameReader(src, 16, 1<<20, 0)
	fr.reserve = func(int) error { return ErrPeerMemory }
	fr.release = func(int) { t.Fatal("released what was never reserved") }
	if _, err := fr.nextLent(); !errors.Is(err, ErrPeerMemory) {
		t.Fatalf("%v, want ErrPeerMemory", err)
	}
	if fr.lentBuf != nil {
		t.Fatal("a buffer is lent after the refusal")
	}
}

// keepLent hands over a copy that outlives the loan, with the reservation.
func TestKeepLentReturnsACopyThatOutlivesTheLoan(t *testing.T) {
	for _, size := range []int{10, 20000, 200000} { // peeked, pooled, allocated
		data, want := framed(t, []int{size, size})
		fr := newFrameReader(bytes.NewReader(data), 4096, 1<<20, 0)
		var l ledger
		l.attach(fr)
		lent, err := fr.nextLent()
		if err != nil {
			t.Fatal(err)
		}
		kept := fr.keepLent(lent)
		if l.held != size {
			t.Fatalf("%d bytes: %d reserved after keepLent, want the message's", size, l.held)
		}
		next, err := fr.nextLent()
		if err != nil {
			t.Fatal(err)
		}
		for i := range next {
			next[i] = 0xee // the reader's memory may be reused at will
		}
		if !bytes.Equal(kept, want[0]) {
			t.Fatalf("%d bytes: the kept message changed with the next one", size)
		}
		fr.releaseLent()
	}
}
