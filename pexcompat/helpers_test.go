package pexcompat_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// fixedID returns the Ed25519 peer ID whose private key seed is 32 bytes of
// seed: the same ID in every run.
func fixedID(t testing.TB, seed byte) peer.ID {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// randomID returns a fresh peer ID for a key of type keyType.
func randomID(t testing.TB, keyType int) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateKeyPairWithReader(keyType, 2048, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func maddrs(t testing.TB, ss ...string) []ma.Multiaddr {
	t.Helper()
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("multiaddr %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

// uv is the unsigned varint encoding of x (for x >= 2^63 it is 10 bytes
// long, which PEX rejects).
func uv(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rawEntry encodes one Addrs entry by hand, bypassing Marshal's checks.
func rawEntry(id []byte, addrs ...[]byte) []byte {
	b := cat(uv(uint64(len(id))), id, uv(uint64(len(addrs))))
	for _, a := range addrs {
		b = cat(b, uv(uint64(len(a))), a)
	}
	return b
}

func equalAddrInfos(a, b []peer.AddrInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || len(a[i].Addrs) != len(b[i].Addrs) {
			return false
		}
		for j := range a[i].Addrs {
			if !a[i].Addrs[j].Equal(b[i].Addrs[j]) {
				return false
			}
		}
	}
	return true
}
