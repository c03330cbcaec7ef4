package pexcompat_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/switchyard-p2p/switchyard/pexcompat"
)

// TestDecodedSizeBoundsTheHeapAMessageHolds checks the estimate the Service
// reserves in the resource manager for a decoded message against the heap
// that decoded messages really hold, for typical entries and for the worst
// shape (multiaddrs of many 2-byte components, ~20 bytes of heap per wire
// byte).
func TestDecodedSizeBoundsTheHeapAMessageHolds(t *testing.T) {
	typical := &pexcompat.Addrs{}
	worst := &pexcompat.Addrs{}
	tiny := ma.StringCast("/ip4/192.0.2.1" + strings.Repeat("/quic-v1", 26))
	for i := 0; i < pexcompat.MaxAddrs; i++ {
		id := fixedID(t, byte(i))
		typical.Addrs = append(typical.Addrs, peer.AddrInfo{ID: id, Addrs: maddrs(t, "/ip4/10.0.0.1/tcp/26656", "/ip6/2001:db8::1/udp/26656/quic-v1")})
		w := peer.AddrInfo{ID: id}
		for j := 0; j < pexcompat.MaxMultiaddrsPerPeer; j++ {
			w.Addrs = append(w.Addrs, tiny)
		}
		worst.Addrs = append(worst.Addrs, w)
	}
	for name, m := range map[string]*pexcompat.Addrs{"typical": typical, "tiny components": worst} {
		t.Run(name, func(t *testing.T) {
			enc, err := pexcompat.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			keep := make([]pexcompat.Message, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range keep {
				if keep[i], err = pexcompat.Unmarshal(enc); err != nil {
					t.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			measured := int(after.HeapAlloc-before.HeapAlloc) / n
			estimate := pexcompat.DecodedSize(keep[0])
			runtime.KeepAlive(keep)
			t.Logf("%d wire bytes; decoded message holds %d heap bytes (%.1fx); estimate %d", len(enc), measured, float64(measured)/float64(len(enc)), estimate)
			if estimate < measured || estimate > measured*8/5 {
				t.Fatalf("estimate %d is not within [1, 1.6] x the measured %d bytes", estimate, measured)
			}
		})
	}
	if got := pexcompat.DecodedSize(&pexcompat.Request{}); got != 0 {
		t.Errorf("a Request holds nothing, estimate %d", got)
	}
}
