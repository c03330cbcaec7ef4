// Package integration holds Switchyard's multi-node tests; it has no API.
//
// The tests run the real parts together — p2p Switches, address books and
// PEX agents, the mempool agent, transport's hosts — on go-libp2p's mocknet
// (for scale), on real TCP hosts on 127.0.0.1, on network namespaces the
// tests create and remove themselves (skipped where that is not possible),
// and against stock go-libp2p hosts that speak PROTOCOL.md by hand. No test
// sends traffic anywhere but loopback, mocknet or its own namespaces.
//
// Run them with
//
//	go test -race ./integration/
//
// The network-namespace test needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)
// and iproute2's ip command; without them it is skipped with a message.
package integration
