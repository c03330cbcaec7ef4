package pexcompat

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-varint"
)

// Smallest possible encodings, used to bound counts by the bytes that remain
// before anything is allocated: an entry is at least a 1-byte peer ID length
// and a 1-byte multiaddr count; a multiaddr is at least its 1-byte length.
const (
	minEntrySize     = 2
	minMultiaddrSize = 1
)

// Marshal encodes m (a *Request or *Addrs) into its binary form, without the
// frame length prefix. It refuses to produce anything Unmarshal would reject:
// a nil or foreign Message (ErrUnknownType), more than MaxAddrs entries
// (ErrTooManyAddrs), more than MaxMultiaddrsPerPeer multiaddrs in an entry
// (ErrTooManyMultiaddrs), an over-long peer ID or multiaddr (ErrFieldTooLong),
// an invalid peer ID (ErrBadPeerID), an empty multiaddr or one with a /p2p
// component (ErrBadMultiaddr), or a result over MaxMessageSize
// (ErrMessageTooLarge). So for any m Marshal accepts, Unmarshal returns an
// equal message, and for any b Unmarshal accepts, Marshal reproduces b.
// Safe for concurrent use.
func Marshal(m Message) ([]byte, error) {
	return appendMessage(nil, m)
}

// marshalFrame returns m encoded as one frame: the varint length prefix
// followed by the message, built in a single buffer.
func marshalFrame(m Message) ([]byte, error) {
	buf := make([]byte, maxFramePrefix, maxFramePrefix+64)
	buf, err := appendMessage(buf, m)
	if err != nil {
		return nil, err
	}
	n := uint64(len(buf) - maxFramePrefix)
	start := maxFramePrefix - varint.UvarintSize(n)
	varint.PutUvarint(buf[start:], n)
	return buf[start:], nil
}

// appendMessage appends the encoding of m to dst. On error the returned
// slice must not be used.
func appendMessage(dst []byte, m Message) ([]byte, error) {
	switch m := m.(type) {
	case *Request:
		if m == nil {
			return nil, fmt.Errorf("marshal: nil *Request: %w", ErrUnknownType)
		}
		return append(dst, byte(TypeRequest)), nil
	case *Addrs:
		if m == nil {
			return nil, fmt.Errorf("marshal: nil *Addrs: %w", ErrUnknownType)
		}
		return appendAddrs(dst, m)
	default:
		return nil, fmt.Errorf("marshal: %T is not a PEX message: %w", m, ErrUnknownType)
	}
}

func appendAddrs(dst []byte, m *Addrs) ([]byte, error) {
	if len(m.Addrs) > MaxAddrs {
		return nil, fmt.Errorf("marshal Addrs: %d entries exceed %d: %w", len(m.Addrs), MaxAddrs, ErrTooManyAddrs)
	}
	start := len(dst)
	dst = append(dst, byte(TypeAddrs))
	dst = binary.AppendUvarint(dst, uint64(len(m.Addrs)))
	for i, ai := range m.Addrs {
		var err error
		if dst, err = appendEntry(dst, ai); err != nil {
			return nil, fmt.Errorf("marshal Addrs: entry %d: %w", i, err)
		}
		// Checked per entry so an oversized message is refused before it
		// grows far beyond the limit.
		if len(dst)-start > MaxMessageSize {
			return nil, fmt.Errorf("marshal Addrs: more than %d bytes after entry %d: %w", MaxMessageSize, i, ErrMessageTooLarge)
		}
	}
	return dst, nil
}

func appendEntry(dst []byte, ai peer.AddrInfo) ([]byte, error) {
	id := []byte(ai.ID)
	if err := checkPeerID(id); err != nil {
		return nil, err
	}
	if len(ai.Addrs) > MaxMultiaddrsPerPeer {
		return nil, fmt.Errorf("%d multiaddrs exceed %d: %w", len(ai.Addrs), MaxMultiaddrsPerPeer, ErrTooManyMultiaddrs)
	}
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	dst = binary.AppendUvarint(dst, uint64(len(ai.Addrs)))
	for j, addr := range ai.Addrs {
		b := addr.Bytes()
		if _, err := parseMultiaddr(b, ai.ID); err != nil {
			return nil, fmt.Errorf("multiaddr %d: %w", j, err)
		}
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst, nil
}

// Unmarshal decodes one message (without the frame length prefix). It checks
// every count and length against its limit and against the bytes that
// remain before allocating anything for it, and returns an error wrapping
// one of ErrMessageTooLarge, ErrTruncated, ErrUnknownType, ErrTooManyAddrs,
// ErrTooManyMultiaddrs, ErrFieldTooLong, ErrBadPeerID, ErrBadMultiaddr,
// ErrTrailingBytes or ErrBadVarint for bad input; it never panics. The
// result does not alias b. Safe for concurrent use.
func Unmarshal(b []byte) (Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("unmarshal: %d bytes exceed %d: %w", len(b), MaxMessageSize, ErrMessageTooLarge)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("unmarshal: empty message, no type byte: %w", ErrTruncated)
	}
	switch t := MessageType(b[0]); t {
	case TypeRequest:
		if len(b) > 1 {
			return nil, fmt.Errorf("unmarshal Request: %d bytes after the type byte: %w", len(b)-1, ErrTrailingBytes)
		}
		return &Request{}, nil
	case TypeAddrs:
		m, err := decodeAddrs(b)
		if err != nil {
			return nil, fmt.Errorf("unmarshal Addrs: %w", err)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("unmarshal: type byte 0x%02x: %w", byte(t), ErrUnknownType)
	}
}

func decodeAddrs(b []byte) (*Addrs, error) {
	d := decoder{b: b, off: 1}
	n, err := d.count("entry count", MaxAddrs, minEntrySize, ErrTooManyAddrs)
	if err != nil {
		return nil, err
	}
	m := &Addrs{Addrs: make([]peer.AddrInfo, 0, n)}
	for i := 0; i < n; i++ {
		ai, err := d.entry()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		m.Addrs = append(m.Addrs, ai)
	}
	if r := d.remaining(); r != 0 {
		return nil, fmt.Errorf("%d bytes after entry %d at offset %d: %w", r, n-1, d.off, ErrTrailingBytes)
	}
	return m, nil
}

// decoder reads fields from b starting at off. Errors name the offset so a
// bad message can be located in a hex dump.
type decoder struct {
	b   []byte
	off int
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) entry() (peer.AddrInfo, error) {
	idBytes, err := d.field("peer ID", MaxPeerIDLen)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	if err := checkPeerID(idBytes); err != nil {
		return peer.AddrInfo{}, err
	}
	id := peer.ID(idBytes)
	n, err := d.count("multiaddr count", MaxMultiaddrsPerPeer, minMultiaddrSize, ErrTooManyMultiaddrs)
	if err != nil {
		return peer.AddrInfo{}, err
	}
	ai := peer.AddrInfo{ID: id, Addrs: make([]ma.Multiaddr, 0, n)}
	for j := 0; j < n; j++ {
		b, err := d.field("multiaddr", MaxMultiaddrLen)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("multiaddr %d: %w", j, err)
		}
		addr, err := parseMultiaddr(b, id)
		if err != nil {
			return peer.AddrInfo{}, fmt.Errorf("multiaddr %d: %w", j, err)
		}
		ai.Addrs = append(ai.Addrs, addr)
	}
	return ai, nil
}

// uvarint reads one minimally encoded unsigned varint of at most 9 bytes.
func (d *decoder) uvarint(what string) (uint64, error) {
	v, n, err := varint.FromUvarint(d.b[d.off:])
	switch {
	case err == nil:
		d.off += n
		return v, nil
	case errors.Is(err, varint.ErrUnderflow):
		return 0, fmt.Errorf("%s at offset %d: input ends inside the varint: %w", what, d.off, ErrTruncated)
	default:
		return 0, fmt.Errorf("%s at offset %d: %v: %w", what, d.off, err, ErrBadVarint)
	}
}

// count reads a count, checks it against limit (limitErr) and against the
// bytes that remain given that each counted item takes at least minEach
// bytes (ErrTruncated).
func (d *decoder) count(what string, limit, minEach int, limitErr error) (int, error) {
	at := d.off
	v, err := d.uvarint(what)
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, fmt.Errorf("%s %d at offset %d exceeds %d: %w", what, v, at, limit, limitErr)
	}
	if need := v * uint64(minEach); need > uint64(d.remaining()) {
		return 0, fmt.Errorf("%s %d at offset %d needs at least %d bytes, %d remain: %w", what, v, at, need, d.remaining(), ErrTruncated)
	}
	return int(v), nil
}

// field reads a length-prefixed byte string of at most limit bytes. The
// result aliases d.b; callers copy what they keep.
func (d *decoder) field(what string, limit int) ([]byte, error) {
	at := d.off
	v, err := d.uvarint(what + " length")
	if err != nil {
		return nil, err
	}
	if v > uint64(limit) {
		return nil, fmt.Errorf("%s length %d at offset %d exceeds %d: %w", what, v, at, limit, ErrFieldTooLong)
	}
	if v > uint64(d.remaining()) {
		return nil, fmt.Errorf("%s length %d at offset %d, %d bytes remain: %w", what, v, at, d.remaining(), ErrTruncated)
	}
	b := d.b[d.off : d.off+int(v)]
	d.off += int(v)
	return b, nil
}

// checkPeerID applies the peer ID rules shared by Marshal and Unmarshal.
func checkPeerID(b []byte) error {
	if len(b) > MaxPeerIDLen {
		return fmt.Errorf("peer ID of %d bytes exceeds %d: %w", len(b), MaxPeerIDLen, ErrFieldTooLong)
	}
	if _, err := peer.IDFromBytes(b); err != nil {
		return fmt.Errorf("peer ID %x: %v: %w", b, err, ErrBadPeerID)
	}
	return nil
}

// parseMultiaddr applies the multiaddr rules shared by Marshal and
// Unmarshal to the binary multiaddr b of owner's entry. The result does not
// alias b.
func parseMultiaddr(b []byte, owner peer.ID) (ma.Multiaddr, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty multiaddr: %w", ErrBadMultiaddr)
	}
	if len(b) > MaxMultiaddrLen {
		return nil, fmt.Errorf("multiaddr of %d bytes exceeds %d: %w", len(b), MaxMultiaddrLen, ErrFieldTooLong)
	}
	addr, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return nil, fmt.Errorf("multiaddr %x: %v: %w", b, err, ErrBadMultiaddr)
	}
	for i := range addr {
		c := &addr[i]
		if c.Code() != ma.P_P2P {
			continue
		}
		if id, err := peer.IDFromBytes(c.RawValue()); err == nil && id == owner {
			return nil, fmt.Errorf("%s carries the entry's own peer ID; send it without /p2p: %w", addr, ErrBadMultiaddr)
		}
		return nil, fmt.Errorf("%s has a /p2p component naming another peer than %s: %w", addr, owner, ErrBadMultiaddr)
	}
	return addr, nil
}
