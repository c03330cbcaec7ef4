package pexcompat_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	mh "github.com/multiformats/go-multihash"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	a, b := fixedID(t, 1), fixedID(t, 2)
	many := make([]peer.AddrInfo, pexcompat.MaxAddrs)
	for i := range many {
		many[i] = peer.AddrInfo{ID: fixedID(t, byte(i)), Addrs: maddrs(t,
			fmt.Sprintf("/ip4/10.0.%d.%d/tcp/26656", i/256, i%256),
			fmt.Sprintf("/ip6/2001:db8::%x/udp/26656/quic-v1", i))}
	}
	longName := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) // 253 bytes
	tests := []struct {
		name  string
		addrs []peer.AddrInfo
	}{
		{"no entries", nil},
		{"one entry with one multiaddr", []peer.AddrInfo{{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")}}},
		{"an entry without multiaddrs", []peer.AddrInfo{{ID: a}}},
		{"MaxMultiaddrsPerPeer multiaddrs of every common kind", []peer.AddrInfo{{ID: a, Addrs: maddrs(t,
			"/ip4/192.0.2.1/tcp/26656",
			"/ip6/2001:db8::1/tcp/26656",
			"/ip4/192.0.2.1/udp/26656/quic-v1",
			"/ip6/2001:db8::1/udp/26656/quic-v1",
			"/dns4/seed.example.com/tcp/26656",
			"/dns6/seed.example.com/udp/26656/quic-v1",
			"/dns/seed.example.com/tcp/443/tls/ws",
			"/ip4/192.0.2.1/udp/26657/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
		)}}},
		{"two entries", []peer.AddrInfo{
			{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")},
			{ID: b, Addrs: maddrs(t, "/dns4/seed.example.com/tcp/26656")},
		}},
		{"MaxAddrs entries", many},
		{"peer IDs of every key type", []peer.AddrInfo{
			{ID: randomID(t, crypto.Ed25519), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/1")},
			{ID: randomID(t, crypto.Secp256k1), Addrs: maddrs(t, "/ip4/192.0.2.2/tcp/2")},
			{ID: randomID(t, crypto.ECDSA), Addrs: maddrs(t, "/ip4/192.0.2.3/tcp/3")},
			{ID: randomID(t, crypto.RSA), Addrs: maddrs(t, "/ip4/192.0.2.4/tcp/4")},
		}},
		{"a maximal DNS name", []peer.AddrInfo{{ID: a, Addrs: maddrs(t, "/dns/"+longName+"/udp/65535/quic-v1")}}},
		{"the same peer twice (duplicates are the receiver's business)", []peer.AddrInfo{
			{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")},
			{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := pexcompat.Marshal(&pexcompat.Addrs{Addrs: tt.addrs})
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(enc) > pexcompat.MaxMessageSize {
				t.Fatalf("Marshal produced %d bytes, over MaxMessageSize", len(enc))
			}
			msg, err := pexcompat.Unmarshal(enc)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got, ok := msg.(*pexcompat.Addrs)
			if !ok {
				t.Fatalf("Unmarshal returned %T, want *Addrs", msg)
			}
			if !equalAddrInfos(got.Addrs, tt.addrs) {
				t.Fatalf("round trip changed the addresses:\n got %v\nwant %v", got.Addrs, tt.addrs)
			}
			again, err := pexcompat.Marshal(got)
			if err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("re-encoding differs (err %v):\n got %x\nwant %x", err, again, enc)
			}
		})
	}
}

func TestRequestEncodesAsOneTypeByte(t *testing.T) {
	enc, err := pexcompat.Marshal(&pexcompat.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, []byte{0x01}) {
		t.Fatalf("Request encodes as %x, want 01", enc)
	}
	msg, err := pexcompat.Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := msg.(*pexcompat.Request); !ok {
		t.Fatalf("Unmarshal(01) returned %T, want *Request", msg)
	}
}

func TestUnmarshalResultDoesNotAliasInput(t *testing.T) {
	want := []peer.AddrInfo{{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656")}}
	enc, err := pexcompat.Marshal(&pexcompat.Addrs{Addrs: want})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := pexcompat.Unmarshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0xAA
	}
	if got := msg.(*pexcompat.Addrs).Addrs; !equalAddrInfos(got, want) {
		t.Fatalf("overwriting the input changed the decoded message: %v", got)
	}
}

type badMessage struct {
	name string
	in   []byte
	want error
}

// badMessages is the catalogue of malformed messages and the sentinel error
// each one gives; the fuzz corpora hold them too.
func badMessages(t testing.TB) []badMessage {
	a, b := fixedID(t, 1), fixedID(t, 2)
	ip4 := ma.StringCast("/ip4/192.0.2.1/tcp/26656").Bytes()
	withOwnP2P := ma.StringCast("/ip4/192.0.2.1/tcp/26656/p2p/" + a.String()).Bytes()
	withOtherP2P := ma.StringCast("/ip4/192.0.2.1/tcp/26656/p2p/" + b.String()).Bytes()
	relay := ma.StringCast("/ip4/192.0.2.1/tcp/26656/p2p/" + b.String() + "/p2p-circuit").Bytes()
	sha512, err := mh.Sum([]byte("x"), mh.SHA2_512, -1)
	if err != nil {
		t.Fatal(err)
	}
	addrs := func(count uint64, rest ...[]byte) []byte { return cat(append([][]byte{{0x02}, uv(count)}, rest...)...) }
	endless := bytes.Repeat([]byte{0xff}, 20)

	return []badMessage{
		{"empty message", nil, pexcompat.ErrTruncated},
		{"type 0x00", []byte{0x00}, pexcompat.ErrUnknownType},
		{"type 0x03", []byte{0x03}, pexcompat.ErrUnknownType},
		{"type 0xff with a body", []byte{0xff, 0x00}, pexcompat.ErrUnknownType},
		{"Request with a body", []byte{0x01, 0x00}, pexcompat.ErrTrailingBytes},
		{"Addrs without entry count", []byte{0x02}, pexcompat.ErrTruncated},
		{"Addrs with trailing bytes", addrs(1, rawEntry([]byte(a), ip4), []byte{0x00}), pexcompat.ErrTrailingBytes},
		{"Addrs with 0 entries and trailing bytes", addrs(0, []byte{0x00}), pexcompat.ErrTrailingBytes},
		{"entry count MaxAddrs+1", addrs(pexcompat.MaxAddrs + 1), pexcompat.ErrTooManyAddrs},
		{"entry count 2^63-1", addrs(1<<63 - 1), pexcompat.ErrTooManyAddrs},
		{"entry count 2^63 (10-byte varint)", addrs(1 << 63), pexcompat.ErrBadVarint},
		{"entry count 2^64-1", addrs(1<<64 - 1), pexcompat.ErrBadVarint},
		{"entry count larger than the bytes left", addrs(5, []byte{0x00, 0x00}), pexcompat.ErrTruncated},
		{"entry count is an endless varint", cat([]byte{0x02}, endless), pexcompat.ErrBadVarint},
		{"entry count is a non-minimal 0 (80 00)", []byte{0x02, 0x80, 0x00}, pexcompat.ErrBadVarint},
		{"entry count is a non-minimal 1 (81 00)", cat([]byte{0x02, 0x81, 0x00}, rawEntry([]byte(a), ip4)), pexcompat.ErrBadVarint},
		{"peer ID length is an endless varint", addrs(1, endless), pexcompat.ErrBadVarint},
		{"peer ID length is non-minimal", addrs(1, []byte{0xa6, 0x00}, []byte(a), uv(0)), pexcompat.ErrBadVarint},
		{"peer ID length MaxPeerIDLen+1", addrs(1, uv(pexcompat.MaxPeerIDLen+1), make([]byte, pexcompat.MaxPeerIDLen+1), uv(0)), pexcompat.ErrFieldTooLong},
		{"peer ID length 2^62", addrs(1, uv(1<<62), make([]byte, 8)), pexcompat.ErrFieldTooLong},
		{"peer ID length beyond the end", addrs(1, uv(38), []byte(a)[:10], uv(0)), pexcompat.ErrTruncated},
		{"empty peer ID", addrs(1, rawEntry(nil)), pexcompat.ErrBadPeerID},
		{"peer ID that is not a multihash", addrs(1, rawEntry([]byte{0x12, 0x20, 0x01})), pexcompat.ErrBadPeerID},
		{"peer ID with a multihash of the wrong length", addrs(1, rawEntry(append([]byte(a), 0x00))), pexcompat.ErrBadPeerID},
		{"valid multihash longer than MaxPeerIDLen", addrs(1, rawEntry(sha512)), pexcompat.ErrFieldTooLong},
		{"multiaddr count MaxMultiaddrsPerPeer+1", addrs(1, uv(uint64(len(a))), []byte(a), uv(pexcompat.MaxMultiaddrsPerPeer+1)), pexcompat.ErrTooManyMultiaddrs},
		{"multiaddr count 2^63-1", addrs(1, uv(uint64(len(a))), []byte(a), uv(1<<63-1)), pexcompat.ErrTooManyMultiaddrs},
		{"multiaddr count 2^63", addrs(1, uv(uint64(len(a))), []byte(a), uv(1<<63)), pexcompat.ErrBadVarint},
		{"multiaddr count larger than the bytes left", addrs(1, uv(uint64(len(a))), []byte(a), uv(3), []byte{0x00}), pexcompat.ErrTruncated},
		{"multiaddr length MaxMultiaddrLen+1", addrs(1, uv(uint64(len(a))), []byte(a), uv(1), uv(pexcompat.MaxMultiaddrLen+1), make([]byte, pexcompat.MaxMultiaddrLen+1)), pexcompat.ErrFieldTooLong},
		{"multiaddr length beyond the end", addrs(1, uv(uint64(len(a))), []byte(a), uv(1), uv(uint64(len(ip4))), ip4[:3]), pexcompat.ErrTruncated},
		{"multiaddr length is an endless varint", addrs(1, uv(uint64(len(a))), []byte(a), uv(1), endless), pexcompat.ErrBadVarint},
		{"empty multiaddr", addrs(1, rawEntry([]byte(a), nil)), pexcompat.ErrBadMultiaddr},
		{"multiaddr with an unknown protocol code", addrs(1, rawEntry([]byte(a), []byte{0x7f, 0x01, 0x02})), pexcompat.ErrBadMultiaddr},
		{"multiaddr with a cut-off ip4 value", addrs(1, rawEntry([]byte(a), []byte{0x04, 0xc0, 0x00})), pexcompat.ErrBadMultiaddr},
		{"multiaddr with bytes after its last component", addrs(1, rawEntry([]byte(a), append(append([]byte{}, ip4...), 0x06))), pexcompat.ErrBadMultiaddr},
		{"multiaddr with a non-minimal protocol code", addrs(1, rawEntry([]byte(a), cat([]byte{0x84, 0x00}, ip4[1:]))), pexcompat.ErrBadMultiaddr},
		{"multiaddr ending in the entry's own /p2p", addrs(1, rawEntry([]byte(a), withOwnP2P)), pexcompat.ErrBadMultiaddr},
		{"multiaddr with a /p2p naming another peer", addrs(1, rawEntry([]byte(a), withOtherP2P)), pexcompat.ErrBadMultiaddr},
		{"relay multiaddr (/p2p/<relay>/p2p-circuit)", addrs(1, rawEntry([]byte(a), relay)), pexcompat.ErrBadMultiaddr},
		{"bad second multiaddr after a good one", addrs(1, rawEntry([]byte(a), ip4, []byte{0x7f})), pexcompat.ErrBadMultiaddr},
		{"bad second entry after a good one", addrs(2, rawEntry([]byte(a), ip4), rawEntry([]byte{0x01})), pexcompat.ErrBadPeerID},
		{"message over MaxMessageSize", cat([]byte{0x02}, make([]byte, pexcompat.MaxMessageSize)), pexcompat.ErrMessageTooLarge},
	}
}

// TestUnmarshalRejectsBadInput: every malformed message gives its sentinel
// error and no message.
func TestUnmarshalRejectsBadInput(t *testing.T) {
	for _, tt := range badMessages(t) {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := pexcompat.Unmarshal(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%x) = %v, %v; want error %v", tt.in, msg, err, tt.want)
			}
			if msg != nil {
				t.Fatalf("Unmarshal returned a message (%v) with its error", msg)
			}
		})
	}
}

// TestUnmarshalEveryPrefixIsTruncated cuts a valid message at every offset:
// each prefix must be reported as truncated, never as something else and
// never accepted.
func TestUnmarshalEveryPrefixIsTruncated(t *testing.T) {
	enc, err := pexcompat.Marshal(&pexcompat.Addrs{Addrs: []peer.AddrInfo{
		{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")},
		{ID: fixedID(t, 2)},
		{ID: randomID(t, crypto.RSA), Addrs: maddrs(t, "/dns4/seed.example.com/tcp/26656")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(enc); i++ {
		if _, err := pexcompat.Unmarshal(enc[:i]); !errors.Is(err, pexcompat.ErrTruncated) {
			t.Errorf("prefix of %d/%d bytes: got %v, want ErrTruncated", i, len(enc), err)
		}
	}
}

// foreign implements Message by embedding it, the only way another package
// can: Marshal must refuse it.
type foreign struct{ pexcompat.Message }

func TestMarshalRefusesWhatUnmarshalWouldReject(t *testing.T) {
	a, b := fixedID(t, 1), fixedID(t, 2)
	ok := maddrs(t, "/ip4/192.0.2.1/tcp/26656")
	sha512, err := mh.Sum([]byte("x"), mh.SHA2_512, -1)
	if err != nil {
		t.Fatal(err)
	}
	tooMany := make([]peer.AddrInfo, pexcompat.MaxAddrs+1)
	for i := range tooMany {
		tooMany[i] = peer.AddrInfo{ID: a, Addrs: ok}
	}
	// MaxAddrs entries of MaxMultiaddrsPerPeer 100-byte DNS multiaddrs are
	// about 210 KB: every count is in range but the total is not.
	bulky := make([]peer.AddrInfo, pexcompat.MaxAddrs)
	for i := range bulky {
		bulky[i].ID = a
		for j := 0; j < pexcompat.MaxMultiaddrsPerPeer; j++ {
			bulky[i].Addrs = append(bulky[i].Addrs, ma.StringCast("/dns/"+strings.Repeat("x", 90)+".example/tcp/1"))
		}
	}
	tests := []struct {
		name string
		msg  pexcompat.Message
		want error
	}{
		{"nil Message", nil, pexcompat.ErrUnknownType},
		{"nil *Request", (*pexcompat.Request)(nil), pexcompat.ErrUnknownType},
		{"nil *Addrs", (*pexcompat.Addrs)(nil), pexcompat.ErrUnknownType},
		{"a foreign Message", foreign{&pexcompat.Request{}}, pexcompat.ErrUnknownType},
		{"MaxAddrs+1 entries", &pexcompat.Addrs{Addrs: tooMany}, pexcompat.ErrTooManyAddrs},
		{"MaxMultiaddrsPerPeer+1 multiaddrs", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: maddrs(t,
			"/ip4/192.0.2.1/tcp/1", "/ip4/192.0.2.1/tcp/2", "/ip4/192.0.2.1/tcp/3", "/ip4/192.0.2.1/tcp/4", "/ip4/192.0.2.1/tcp/5",
			"/ip4/192.0.2.1/tcp/6", "/ip4/192.0.2.1/tcp/7", "/ip4/192.0.2.1/tcp/8", "/ip4/192.0.2.1/tcp/9")}}}, pexcompat.ErrTooManyMultiaddrs},
		{"empty peer ID", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{Addrs: ok}}}, pexcompat.ErrBadPeerID},
		{"peer ID that is not a multihash", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: peer.ID("not a multihash"), Addrs: ok}}}, pexcompat.ErrBadPeerID},
		{"peer ID longer than MaxPeerIDLen", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: peer.ID(sha512), Addrs: ok}}}, pexcompat.ErrFieldTooLong},
		{"empty multiaddr", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: []ma.Multiaddr{nil}}}}, pexcompat.ErrBadMultiaddr},
		{"multiaddr with the entry's own /p2p", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/1/p2p/"+a.String())}}}, pexcompat.ErrBadMultiaddr},
		{"multiaddr with another peer's /p2p", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/1/p2p/"+b.String())}}}, pexcompat.ErrBadMultiaddr},
		{"multiaddr longer than MaxMultiaddrLen", &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: maddrs(t, "/dns/"+strings.Repeat("x", pexcompat.MaxMultiaddrLen)+"/tcp/1")}}}, pexcompat.ErrFieldTooLong},
		{"message over MaxMessageSize", &pexcompat.Addrs{Addrs: bulky}, pexcompat.ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := pexcompat.Marshal(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Marshal = %d bytes, %v; want error %v", len(enc), err, tt.want)
			}
			if enc != nil {
				t.Fatalf("Marshal returned %d bytes with its error", len(enc))
			}
		})
	}
}

func TestErrorsSayWhere(t *testing.T) {
	a := fixedID(t, 1)
	ip4 := ma.StringCast("/ip4/192.0.2.1/tcp/26656").Bytes()
	in := cat([]byte{0x02}, uv(2), rawEntry([]byte(a), ip4), rawEntry([]byte(a), ip4, []byte{0x7f}))
	_, err := pexcompat.Unmarshal(in)
	if err == nil || !strings.Contains(err.Error(), "entry 1: multiaddr 1") {
		t.Fatalf("error %q does not name entry 1, multiaddr 1", err)
	}
}

func TestMessageTypeString(t *testing.T) {
	for typ, want := range map[pexcompat.MessageType]string{
		pexcompat.TypeRequest: "Request", pexcompat.TypeAddrs: "Addrs", 0x07: "MessageType(0x07)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("MessageType(%d).String() = %q, want %q", byte(typ), got, want)
		}
	}
}
