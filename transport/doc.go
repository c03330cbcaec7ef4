// Package transport builds the go-libp2p host that Switchyard runs on.
//
// New returns a listening host.Host: TCP (and QUIC v1 with WithQUIC), TLS
// and Noise offered in that order, yamux on go-yamux/v4 under the standard
// "/yamux/1.0.0" ID (interoperable with every stock libp2p node), go-libp2p's
// connection manager and resource manager, UPnP/NAT-PMP port mapping when
// listening on all interfaces, and an optional connection gater and
// Prometheus registry. Everything is a functional option whose doc comment
// states its default.
//
// Around the host:
//   - identity key files (LoadKey, SaveKey, LoadOrCreateKey): a versioned
//     PEM format, written crash-safely, never silently replaced;
//   - InjectConn, which turns an already established net.Conn into a libp2p
//     connection of a host built by New (the seed API's
//     AddPeerWithConnection);
//   - ExternalAddrs and MapPort for NAT-mapped public addresses;
//   - NewMocknet, go-libp2p's in-memory network for tests.
//
// Logging goes through go-log as subsystem "switchyard/transport"; importing
// this package also routes go-libp2p's own slog-based logs through go-log,
// so GOLOG_LOG_LEVEL governs both.
package transport
