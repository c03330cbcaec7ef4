package pexcompat

// Hard limits of PEX protocol version 1.0.0. They are part of the wire
// protocol: a sender must never exceed them (Marshal refuses to) and a
// receiver rejects a message that does (Unmarshal and ReadMessage return the
// matching sentinel error; the Service resets the stream). Changing any of
// them needs a new protocol version.
const (
	// MaxMessageSize is the largest message (type byte plus body, i.e. the
	// frame payload, not counting the length prefix) in bytes: 128 KiB. The
	// length prefix of a valid frame is therefore at most 3 bytes. With
	// typical entries (a 38-byte Ed25519 peer ID and two 10–25 byte
	// multiaddrs) a full MaxAddrs message is about 20 KiB; the cap only bites
	// for adversarial or oversized entries, and it is what bounds the memory
	// one message can make a receiver hold.
	MaxMessageSize = 128 << 10

	// MaxAddrs is the largest number of entries (peers) in one Addrs message.
	MaxAddrs = 250

	// MaxMultiaddrsPerPeer is the largest number of multiaddrs in one entry.
	MaxMultiaddrsPerPeer = 8

	// MaxMultiaddrLen is the longest binary multiaddr in bytes. 256 would not
	// fit a maximal DNS name (253 bytes) plus its code, length and a
	// /tcp/<port> or /udp/<port>/quic-v1 suffix, so the limit is 512.
	MaxMultiaddrLen = 512

	// MaxPeerIDLen is the longest binary peer ID (a multihash) in bytes.
	// go-libp2p's peer IDs are 34 bytes (sha2-256 multihash, RSA and ECDSA
	// keys) or at most 44 bytes (identity multihash of a protobuf public key
	// of at most 42 bytes: Ed25519 IDs are 38 bytes, secp256k1 IDs 39).
	// 64 leaves headroom and no more.
	MaxPeerIDLen = 64
)

// maxFramePrefix is the length of the varint prefix of a MaxMessageSize
// frame: the longest prefix a valid frame can have.
const maxFramePrefix = 3
