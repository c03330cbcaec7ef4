package mempool

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeTx(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"tx", []byte{msgTypeTx, 'h', 'i'}, []byte("hi"), nil},
		{"one-byte tx", []byte{msgTypeTx, 0}, []byte{0}, nil},
		{"empty message", nil, nil, ErrBadMessage},
		{"type byte only", []byte{msgTypeTx}, nil, ErrBadMessage},
		{"unknown type", []byte{0x11, 'h', 'i'}, nil, ErrUnknownMessage},
		{"zero type", []byte{0x00, 'h', 'i'}, nil, ErrUnknownMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeTx(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("decodeTx(%x) error = %v, want %v", tc.in, err, tc.err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("decodeTx(%x) = %x, want %x", tc.in, got, tc.want)
			}
		})
	}
}

func TestTxMessageRoundTrips(t *testing.T) {
	for _, tx := range [][]byte{{0}, []byte("a transaction"), bytes.Repeat([]byte{0xff}, 4096)} {
		var buf bytes.Buffer
		n, err := txMessage(tx).WriteTo(&buf)
		if err != nil || n != int64(len(tx)+1) {
			t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(tx)+1)
		}
		got, err := decodeTx(buf.Bytes())
		if err != nil || !bytes.Equal(got, tx) {
			t.Fatalf("decodeTx(encode(%x)) = %x, %v", tx[:1], got, err)
		}
	}
}

func FuzzDecodeTx(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{msgTypeTx})
	f.Add([]byte{msgTypeTx, 1, 2, 3})
	f.Add([]byte{0x42, 1})
	f.Fuzz(func(t *testing.T, bz []byte) {
		tx, err := decodeTx(bz)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrUnknownMessage) {
				t.Fatalf("error %v wraps neither ErrBadMessage nor ErrUnknownMessage", err)
			}
			return
		}
		var buf bytes.Buffer
		txMessage(tx).WriteTo(&buf)
		if !bytes.Equal(buf.Bytes(), bz) {
			t.Fatalf("re-encoding %x gave %x", bz, buf.Bytes())
		}
	})
}
