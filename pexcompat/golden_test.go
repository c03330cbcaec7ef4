package pexcompat_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// The example frames of the protocol document. If a test here fails, the
// wire format changed: that needs a new protocol version, not a new golden.
const (
	goldenRequestFrameHex = "0101"
	goldenAddrsFrameHex   = "89010202260024080112208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c020804c0000201066820172920010db800000000000000000000000191026820cd03260024080112208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39401153610736565642e6578616d706c652e636f6d066820"
)

// protocolDocs are the documents that must show the golden frames.
var protocolDocs = []string{"../PROTOCOL.md"}

// goldenAddrs is the example Addrs message of the protocol document.
func goldenAddrs(t testing.TB) *pexcompat.Addrs {
	return &pexcompat.Addrs{Addrs: []peer.AddrInfo{
		{ID: fixedID(t, 1), Addrs: maddrs(t, "/ip4/192.0.2.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")},
		{ID: fixedID(t, 2), Addrs: maddrs(t, "/dns4/seed.example.com/tcp/26656")},
	}}
}

func TestGoldenFrames(t *testing.T) {
	for _, g := range []struct {
		name string
		msg  pexcompat.Message
		hex  string
	}{
		{"Request", &pexcompat.Request{}, goldenRequestFrameHex},
		{"Addrs", goldenAddrs(t), goldenAddrsFrameHex},
	} {
		t.Run(g.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := pexcompat.WriteMessage(&buf, g.msg); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(buf.Bytes()); got != g.hex {
				t.Fatalf("frame\n got %s\nwant %s\nannotated:\n%s", got, g.hex, annotate(t, buf.Bytes()))
			}
			wire, _ := hex.DecodeString(g.hex)
			got, err := pexcompat.ReadMessage(bytes.NewReader(wire))
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := g.msg.(*pexcompat.Addrs); ok && !equalAddrInfos(got.(*pexcompat.Addrs).Addrs, want.Addrs) {
				t.Fatalf("decoded %v, want %v", got, want)
			}
		})
	}
}

// TestProtocolDocShowsTheGoldenFrames keeps the document's examples and the
// code from drifting apart: the hex strings and the annotated dump in the
// document are the ones generated here.
func TestProtocolDocShowsTheGoldenFrames(t *testing.T) {
	wire, _ := hex.DecodeString(goldenAddrsFrameHex)
	want := []string{"`" + goldenRequestFrameHex + "`", goldenAddrsFrameHex, annotate(t, wire)}
	var tried []string
	for _, path := range protocolDocs {
		doc, err := os.ReadFile(path)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		missing := 0
		for _, w := range want {
			if !strings.Contains(string(doc), w) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		tried = append(tried, fmt.Sprintf("%s lacks %d of the %d examples", path, missing, len(want)))
	}
	t.Fatalf("no protocol document shows the golden frames (%s); the annotated Addrs frame is:\n%s", strings.Join(tried, "; "), annotate(t, wire))
}

// TestProtocolDocVectors checks the verdicts of the document's table of
// test vectors.
func TestProtocolDocVectors(t *testing.T) {
	for _, v := range []struct {
		hex  string
		want error // nil: valid
	}{
		{"01", nil},
		{"02 00", nil},
		{"01 00", pexcompat.ErrTrailingBytes},
		{"03", pexcompat.ErrUnknownType},
		{"02 80 00", pexcompat.ErrBadVarint},
		{"02 ff ff ff ff ff ff ff ff 7f", pexcompat.ErrTooManyAddrs},
		{"02 ff ff ff ff ff ff ff ff ff 01", pexcompat.ErrBadVarint},
		{"02 05 00 00", pexcompat.ErrTruncated},
		{"02 01 00 00", pexcompat.ErrBadPeerID},
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(v.hex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		_, err = pexcompat.Unmarshal(b)
		if (v.want == nil && err != nil) || !errors.Is(err, v.want) {
			t.Errorf("%s: got %v, want %v", v.hex, err, v.want)
		}
	}
}

// annotate explains a frame byte by byte, with its own reading of the
// layout (so it also cross-checks the decoder).
func annotate(t testing.TB, frame []byte) string {
	t.Helper()
	var sb strings.Builder
	off := 0
	line := func(n int, format string, args ...any) {
		t.Helper()
		if off+n > len(frame) {
			t.Fatalf("annotate: field of %d bytes at offset %d overruns the frame", n, off)
		}
		note := fmt.Sprintf(format, args...)
		for i := 0; i < n || i == 0; i += 16 {
			end := min(i+16, n)
			l := fmt.Sprintf("%04x  %-47s  %s", off+i, hexBytes(frame[off+i:off+end]), note)
			sb.WriteString(strings.TrimRight(l, " ") + "\n")
			note = ""
		}
		off += n
	}
	uvar := func() (uint64, int) {
		v, n := binary.Uvarint(frame[off:])
		if n <= 0 {
			t.Fatalf("annotate: bad varint at offset %d", off)
		}
		return v, n
	}
	length, n := uvar()
	line(n, "frame length: %d bytes follow", length)
	typ := pexcompat.MessageType(frame[off])
	line(1, "type 0x%02x: %s", byte(typ), typ)
	if typ != pexcompat.TypeAddrs {
		return sb.String()
	}
	count, n := uvar()
	line(n, "entry count: %d", count)
	for i := 0; i < int(count); i++ {
		idLen, n := uvar()
		line(n, "entry %d: peer ID length: %d", i, idLen)
		id, err := peer.IDFromBytes(frame[off : off+int(idLen)])
		if err != nil {
			t.Fatalf("annotate: entry %d: %v", i, err)
		}
		line(int(idLen), "entry %d: peer ID %s", i, id)
		addrCount, n := uvar()
		line(n, "entry %d: multiaddr count: %d", i, addrCount)
		for j := 0; j < int(addrCount); j++ {
			addrLen, n := uvar()
			addr, err := ma.NewMultiaddrBytes(frame[off+n : off+n+int(addrLen)])
			if err != nil {
				t.Fatalf("annotate: entry %d multiaddr %d: %v", i, j, err)
			}
			line(n, "entry %d: multiaddr %d length: %d (%s)", i, j, addrLen, addr)
			for _, c := range addr {
				code := binary.AppendUvarint(nil, uint64(c.Code()))
				line(len(c.Bytes()), "  %s: code %s (%d)%s", c.Protocol().Name, hexBytes(code), c.Code(), componentValue(c))
			}
		}
	}
	if off != len(frame) {
		t.Fatalf("annotate: %d bytes left over", len(frame)-off)
	}
	return sb.String()
}

func componentValue(c ma.Component) string {
	switch {
	case c.Value() == "":
		return ""
	case c.Protocol().Size == ma.LengthPrefixedVarSize:
		return fmt.Sprintf(", value length %d, value %s", len(c.RawValue()), c.Value())
	default:
		return ", value " + c.Value()
	}
}

func hexBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02x", x)
	}
	return strings.Join(parts, " ")
}
