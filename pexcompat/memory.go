package pexcompat

import (
	"unsafe"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// decodedSize estimates the heap memory a decoded message holds: the entry
// array, the peer ID strings, each multiaddr's component array and the
// components' byte strings (each rounded up to 16 bytes), plus 1/8 for the
// allocator's size classes. The tests check that it is at least the heap
// measured, and at most 60% more. A decoded message holds about 5 (typical
// entries) to 20 (multiaddrs made of many 2-byte components; 26 under
// -race) times its wire size, so the frame size alone is not a fair
// resource-manager reservation for it.
func decodedSize(m Message) int {
	a, ok := m.(*Addrs)
	if !ok {
		return 0
	}
	const (
		entrySize     = int(unsafe.Sizeof(peer.AddrInfo{}))
		multiaddrSize = int(unsafe.Sizeof(ma.Multiaddr{}))
		componentSize = int(unsafe.Sizeof(ma.Component{}))
	)
	n := cap(a.Addrs) * entrySize
	for _, ai := range a.Addrs {
		n += allocSize(len(ai.ID)) + cap(ai.Addrs)*multiaddrSize
		for _, addr := range ai.Addrs {
			n += cap(addr) * componentSize
			for i := range addr {
				n += allocSize(len(addr[i].Bytes()))
			}
		}
	}
	return n + n/8
}

// allocSize rounds a small allocation up to 16 bytes, the granularity the
// Go allocator gives small strings when its tiny allocator cannot pack them
// (under -race it never does).
func allocSize(n int) int { return (n + 15) &^ 15 }
