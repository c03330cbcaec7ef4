package pexcompat_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite the seed corpora under testdata/fuzz/ (go test -run TestWriteFuzzCorpus -write-corpus)")

// fuzzSeeds are added with f.Add to both targets; the files under
// testdata/fuzz/ hold more (valid messages of every shape and the edge
// cases of TestUnmarshalRejectsBadInput).
func fuzzSeeds(f *testing.F) [][]byte {
	golden, _ := hex.DecodeString(goldenAddrsFrameHex)
	return [][]byte{
		nil,
		{0x01},
		{0x02, 0x00},
		golden[2:], // the golden Addrs message without its frame prefix
		{0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x02, 0x81, 0x00},
	}
}

// FuzzUnmarshal: Unmarshal never panics, and whatever it accepts is in
// canonical form: Marshal re-encodes it to exactly the same bytes (varints
// are minimal, multiaddrs are re-encoded from their parsed components, and
// nothing is optional), and decoding that again gives an equal message.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := pexcompat.Unmarshal(b)
		if err != nil {
			if msg != nil {
				t.Fatalf("message %v returned with error %v", msg, err)
			}
			return
		}
		enc, err := pexcompat.Marshal(msg)
		if err != nil {
			t.Fatalf("Marshal refuses what Unmarshal accepted: %v\ninput %x", err, b)
		}
		if !bytes.Equal(enc, b) {
			t.Fatalf("not canonical:\n  in %x\n out %x", b, enc)
		}
		again, err := pexcompat.Unmarshal(enc)
		if err != nil {
			t.Fatal(err)
		}
		if a, ok := msg.(*pexcompat.Addrs); ok && !equalAddrInfos(a.Addrs, again.(*pexcompat.Addrs).Addrs) {
			t.Fatalf("decode(encode(m)) != m for input %x", b)
		}
	})
}

// FuzzReadMessage: reading a frame from arbitrary bytes never panics, never
// reads past the frame, and a frame it accepts is exactly what
// WriteMessage writes for the decoded message.
func FuzzReadMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(cat(uv(uint64(len(s))), s))
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		msg, err := pexcompat.ReadMessage(r)
		if err != nil {
			if msg != nil {
				t.Fatalf("message %v returned with error %v", msg, err)
			}
			if len(b) == 0 && !errors.Is(err, io.EOF) {
				t.Fatalf("empty input: got %v, want io.EOF", err)
			}
			return
		}
		consumed := len(b) - r.Len()
		var buf bytes.Buffer
		if err := pexcompat.WriteMessage(&buf, msg); err != nil {
			t.Fatalf("WriteMessage refuses what ReadMessage accepted: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), b[:consumed]) {
			t.Fatalf("frame not canonical or over-read:\n  in %x\n out %x", b[:consumed], buf.Bytes())
		}
	})
}

// TestFuzzCorpusHasValidMessages guards the checked-in corpus: it must keep
// valid messages (so the fuzzer starts from the interesting part of the
// input space), not only garbage.
func TestFuzzCorpusHasValidMessages(t *testing.T) {
	valid := 0
	for _, b := range corpusInputs(t, "testdata/fuzz/FuzzUnmarshal") {
		if m, err := pexcompat.Unmarshal(b); err == nil {
			if a, ok := m.(*pexcompat.Addrs); ok && len(a.Addrs) > 0 {
				valid++
			}
		}
	}
	if valid < 3 {
		t.Fatalf("the FuzzUnmarshal corpus has %d valid non-empty Addrs messages, want at least 3", valid)
	}
}

// corpusInputs reads the inputs of the "go test fuzz v1" files in dir.
func corpusInputs(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files in %s (%v)", dir, err)
	}
	var out [][]byte
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		header, value, ok := strings.Cut(strings.TrimSpace(string(data)), "\n")
		if !ok || header != "go test fuzz v1" || !strings.HasPrefix(value, "[]byte(") || !strings.HasSuffix(value, ")") {
			t.Fatalf("%s is not a one-[]byte go test fuzz v1 file", name)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(value, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, []byte(s))
	}
	return out
}

// validMessages are well-formed messages of many shapes, for the corpora.
func validMessages(t testing.TB) map[string]pexcompat.Message {
	a := fixedID(t, 1)
	return map[string]pexcompat.Message{
		"request":        &pexcompat.Request{},
		"addrs-empty":    &pexcompat.Addrs{},
		"addrs-golden":   goldenAddrs(t),
		"addrs-no-maddr": &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a}}},
		"addrs-key-types": &pexcompat.Addrs{Addrs: []peer.AddrInfo{
			{ID: randomID(t, crypto.Secp256k1), Addrs: maddrs(t, "/ip4/192.0.2.2/tcp/2")},
			{ID: randomID(t, crypto.ECDSA), Addrs: maddrs(t, "/ip6/::1/tcp/3")},
			{ID: randomID(t, crypto.RSA), Addrs: maddrs(t, "/dns6/x.example/udp/4/quic-v1")},
		}},
		"addrs-8-maddrs": &pexcompat.Addrs{Addrs: []peer.AddrInfo{{ID: a, Addrs: maddrs(t,
			"/ip4/192.0.2.1/tcp/26656", "/ip6/2001:db8::1/tcp/26656",
			"/ip4/192.0.2.1/udp/26656/quic-v1", "/ip6/2001:db8::1/udp/26656/quic-v1",
			"/dns4/seed.example.com/tcp/26656", "/dns6/seed.example.com/udp/26656/quic-v1",
			"/dns/seed.example.com/tcp/443/tls/ws", "/ip4/192.0.2.1/udp/1/quic-v1/webtransport")}}},
	}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/ when run with
// -write-corpus; otherwise it only checks that it could.
func TestWriteFuzzCorpus(t *testing.T) {
	unmarshal := map[string][]byte{}
	read := map[string][]byte{}
	for name, m := range validMessages(t) {
		enc, err := pexcompat.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		unmarshal["valid-"+name] = enc
		read["valid-"+name] = cat(uv(uint64(len(enc))), enc)
	}
	for i, tt := range badMessages(t) {
		if len(tt.in) > 4096 {
			continue // the oversized case: the length check needs no corpus file
		}
		name := fmt.Sprintf("bad-%02d-%s", i, slug(tt.name))
		unmarshal[name] = tt.in
		read[name] = cat(uv(uint64(len(tt.in))), tt.in)
	}
	read["bad-endless-prefix"] = bytes.Repeat([]byte{0xff}, 16)
	read["bad-nonminimal-prefix"] = []byte{0x81, 0x00, 0x01}
	read["bad-oversized-prefix"] = uv(pexcompat.MaxMessageSize + 1)
	read["bad-short-body"] = []byte{0x05, 0x02, 0x00}
	read["bad-zero-length"] = []byte{0x00}
	read["valid-two-frames"] = []byte{0x01, 0x01, 0x01, 0x01}
	if !*writeCorpus {
		return
	}
	for dir, inputs := range map[string]map[string][]byte{"FuzzUnmarshal": unmarshal, "FuzzReadMessage": read} {
		dir = filepath.Join("testdata", "fuzz", dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, in := range inputs {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func slug(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return '-'
		}
	}, s)
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "-")
	}
	return strings.Trim(s, "-")
}
