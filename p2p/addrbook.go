// Modified for Switchyard.
// Originally Copyright (c) 2013-2014 Conformal Systems LLC (btcd's addrmanager),
// by way of Tendermint's 2014 p2p package.

package p2p

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Errors of AddAddress, telling why an address was refused.
var (
	// ErrAddrBookInvalidAddr: the address (or its source) is nil or not Valid.
	ErrAddrBookInvalidAddr = errors.New("addrbook: invalid address")
	// ErrAddrBookOurAddress: the address, or its peer ID, is ours.
	ErrAddrBookOurAddress = errors.New("addrbook: our own address")
	// ErrAddrBookNonRoutable: the book is strict and the address not Routable.
	ErrAddrBookNonRoutable = errors.New("addrbook: non-routable address")
	// ErrAddrBookBanned: the address was marked bad and its ban has not ended.
	ErrAddrBookBanned = errors.New("addrbook: banned address")
)

// Errors of the book's life cycle.
var (
	// ErrAddrBookStopped is returned by Start after Stop.
	ErrAddrBookStopped = errors.New("addrbook: stopped")
	// ErrAddrBookNotStarted is returned by Save before Start (saving then
	// would overwrite a file that was not loaded).
	ErrAddrBookNotStarted = errors.New("addrbook: not started")
)

// AddrBook keeps the addresses of peers, to dial and to share by PEX. It is
// btcd's address manager as the seed kept it, with its bugs fixed.
//
// Entries are keyed by peer ID when the address has one (one entry per peer)
// and by "ip:port" (the multiaddr for QUIC) otherwise; an entry with ID and
// one without for the same ip:port are two entries. An address with an ID given to MarkGood,
// MarkAttempt, MarkBad, RemoveAddress or HasAddress refers to the entry of that
// ID or, when there is none, to the entry without ID of the same ip:port (a
// seed address learnt before the peer's ID was known).
//
// Addresses never connected to are "new"; they live in 256 new buckets of 64.
// One placed by AddAddress goes into the bucket
// hash(secret, group(source), hash(secret, group(addr), group(source)) % 32),
// so the addresses learnt from one source group fill at most 32 buckets (2048
// entries) and those of one address group from one source group one bucket
// (64): no single source or network can fill the book (eclipse resistance).
// An address announced again by another source may gain a bucket, up to 4.
// MarkGood moves an address to the "old" table, 64 buckets of 64, in bucket
// hash(secret, group(addr), hash(secret, addr) % 4): one group holds at most
// 256 old entries. A full new bucket evicts a bad entry (see isBad), else the
// one seen longest ago; a full old bucket sends its entry connected to longest
// ago back to the new table.
//
// Groups are btcd's: the /16 of an IPv4 address (also one carried in 6to4,
// Teredo or NAT64 IPv6), the /32 of an IPv6 address (/36 in he.net's
// 2001:470::/32). A non-routable address groups as "local" or "unroutable";
// in a book made with WithBookRoutabilityStrict(false) it is its own group
// instead, because on loopback, mocknet or a private network all addresses
// would share one group and thus a single bucket: the group limits then apply
// to routable addresses only.
//
// The book is saved as JSON with its secret, periodically and on Stop, and
// loaded by Start (see Start and LoadErr). All methods are safe for
// concurrent use.
type AddrBook struct {
	cfg      addrBookConfig
	filePath string
	fs       fileOps

	lifeMu  sync.Mutex
	started bool
	stopped bool
	quit    chan struct{}
	done    chan struct{}

	saveMu sync.Mutex // orders saves

	mtx          sync.Mutex
	rand         *rand.Rand
	key          []byte
	ourAddrs     map[string]*NetAddress
	ourIDs       map[peer.ID]struct{}
	ourHosts     map[string]struct{} // transportString of our addresses
	entries      map[string]*knownAddress
	bucketsNew   [newBucketCount][]*knownAddress
	bucketsOld   [oldBucketCount][]*knownAddress
	nNew, nOld   int
	newBySource  map[string]int       // new entries by source group
	bans         map[string]time.Time // entry key -> end of ban
	changes      uint64               // bumped by every change
	savedChanges uint64               // changes at the last save or load
	loaded       bool                 // Start has read the file: saving may replace it
	loadErr      error
	saveDisabled error // why saving is disabled, if it is
}

// NewAddrBook returns an empty book that will be loaded from and saved to
// filePath once started ("" keeps it in memory only). It does no I/O.
func NewAddrBook(filePath string, opts ...AddrBookOption) *AddrBook {
	cfg := defaultAddrBookConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.seeded {
		var b [8]byte
		_, _ = crand.Read(b[:]) // never fails (crypto/rand panics instead)
		cfg.seed = binary.LittleEndian.Uint64(b[:])
	}
	key := cfg.key
	if key == nil {
		key = make([]byte, 32)
		_, _ = crand.Read(key)
	}
	a := &AddrBook{
		cfg:      cfg,
		filePath: filePath,
		fs:       osFileOps,
		rand:     rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
		key:      key,
		ourAddrs: make(map[string]*NetAddress),
		ourIDs:   make(map[peer.ID]struct{}),
		ourHosts: make(map[string]struct{}),
		entries:  make(map[string]*knownAddress),
		bans:     make(map[string]time.Time),

		newBySource: make(map[string]int),
	}
	return a
}

// AddOurAddress records one of our own addresses: it, any address with its
// peer ID and any address with its ip:port (transport) are never stored,
// handed out or picked. Entries already in the book that match are removed.
// A nil address is ignored.
func (a *AddrBook) AddOurAddress(addr *NetAddress) {
	if addr == nil {
		return
	}
	addr = addr.clone()
	a.mtx.Lock()
	defer a.mtx.Unlock()
	log.Infow("adding our address to the book", "addr", addr)
	a.ourAddrs[addr.String()] = addr
	if addr.ID != "" {
		a.ourIDs[addr.ID] = struct{}{}
	}
	if len(addr.IP) != 0 {
		a.ourHosts[addr.transportString()] = struct{}{}
	}
	for _, ka := range a.entries {
		if a.isOurs(ka.Addr) {
			a.removeEntry(ka)
			a.changed()
		}
	}
}

// OurAddresses returns copies of the addresses given to AddOurAddress, sorted
// by String.
func (a *AddrBook) OurAddresses() []*NetAddress {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	out := make([]*NetAddress, 0, len(a.ourAddrs))
	for _, na := range a.ourAddrs {
		out = append(out, na.clone())
	}
	slices.SortFunc(out, func(x, y *NetAddress) int {
		switch s, t := x.String(), y.String(); {
		case s < t:
			return -1
		case s > t:
			return 1
		}
		return 0
	})
	return out
}

func (a *AddrBook) isOurs(na *NetAddress) bool {
	if na.ID != "" {
		if _, ok := a.ourIDs[na.ID]; ok {
			return true
		}
	}
	_, ok := a.ourHosts[na.transportString()]
	return ok
}

// AddAddress adds addr, learnt from src, to a new bucket (src nil: addr is
// its own source). It returns an error wrapping why it refused the address:
// ErrAddrBookInvalidAddr, ErrAddrBookOurAddress, ErrAddrBookBanned or
// ErrAddrBookNonRoutable. A full bucket makes room by evicting (see AddrBook).
//
// An address already in the book is marked seen and, if new, may gain another
// bucket (with probability 1/(2*buckets), up to 4). An address with a known
// peer ID but another multiaddr replaces the entry's address when the entry is
// new, or old but failing (its last 3 attempts failed); the entry of a peer we
// connected to and still reach is not redirected by announcements.
// AddAddress keeps a copy of addr and src.
func (a *AddrBook) AddAddress(addr *NetAddress, src *NetAddress) error {
	if addr == nil {
		return fmt.Errorf("%w: nil", ErrAddrBookInvalidAddr)
	}
	if !addr.Valid() {
		return fmt.Errorf("%w: %s", ErrAddrBookInvalidAddr, addr)
	}
	addr = canonical(addr)
	if src == nil {
		src = addr
	} else {
		if !validSource(src) {
			return fmt.Errorf("%w: source %s", ErrAddrBookInvalidAddr, src)
		}
		src = canonical(src)
	}

	a.mtx.Lock()
	defer a.mtx.Unlock()
	if a.isOurs(addr) {
		return fmt.Errorf("%w: %s", ErrAddrBookOurAddress, addr)
	}
	key := entryKey(addr)
	now := a.cfg.now()
	if a.banned(key, now) {
		return fmt.Errorf("%w: %s", ErrAddrBookBanned, addr)
	}
	if a.cfg.strict && !addr.Routable() {
		return fmt.Errorf("%w: %s", ErrAddrBookNonRoutable, addr)
	}

	ka := a.entries[key]
	switch {
	case ka == nil:
		ka = &knownAddress{key: key, Addr: addr, Src: src, srcGroup: a.groupKey(src), LastSeen: now, Type: bucketNew}
		a.makeRoomForSource(ka.srcGroup)
		a.addToNewBucket(ka, a.calcNewBucket(addr, src))
		log.Debugw("added address", "addr", addr, "src", src, "size", a.size())
	case ka.Addr.Equals(addr):
		ka.LastSeen = now
		if ka.isOld() || len(ka.Buckets) >= maxNewBucketsPerAddress {
			break
		}
		// The more buckets it is in, the less likely it gains another.
		if a.rand.IntN(2*len(ka.Buckets)) == 0 {
			a.addToNewBucket(ka, a.calcNewBucket(addr, src))
		}
	case ka.isNew() || ka.Attempts >= numRetries:
		log.Debugw("replacing address of known peer", "old", ka.Addr, "new", addr, "src", src)
		a.removeEntry(ka)
		ka.Addr, ka.Src, ka.srcGroup, ka.Type = addr, src, a.groupKey(src), bucketNew
		ka.Attempts, ka.LastAttempt, ka.LastSeen = 0, time.Time{}, now
		a.makeRoomForSource(ka.srcGroup)
		a.addToNewBucket(ka, a.calcNewBucket(addr, src))
	default:
		log.Debugw("ignoring new address of a peer we reach", "known", ka.Addr, "announced", addr, "src", src)
		return nil
	}
	a.changed()
	return nil
}

// canonical returns a copy of na with its multiaddr filled in.
func canonical(na *NetAddress) *NetAddress {
	c := na.clone()
	c.Multiaddr = c.transport()
	return c
}

// validSource reports whether src can be grouped and saved: it has a 4- or
// 16-byte IP and, if any, a valid peer ID.
func validSource(src *NetAddress) bool {
	if len(src.IP) != net.IPv4len && len(src.IP) != net.IPv6len {
		return false
	}
	return src.ID == "" || validID(src.ID)
}

// idKeyPrefix starts the entry key of an address with peer ID; it cannot
// start a transport string (a digit, '[' or '/').
const idKeyPrefix = "id:"

// entryKey is the (raw) peer ID, or the transport ("ip:port") for an address
// without ID.
func entryKey(na *NetAddress) string {
	if na.ID != "" {
		return idKeyPrefix + string(na.ID)
	}
	return na.transportString()
}

// keyText is the readable form of an entry key, as saved in the file: the
// peer ID in base58, or the transport.
func keyText(key string) string {
	if id, ok := strings.CutPrefix(key, idKeyPrefix); ok {
		return peer.ID(id).String()
	}
	return key
}

// keyFromText is the inverse of keyText; false if s is neither a peer ID nor
// a transport without ID.
func keyFromText(s string) (string, bool) {
	if id, err := peer.Decode(s); err == nil {
		return idKeyPrefix + string(id), true
	}
	if na, err := ParseNetAddress(s); err == nil && na.ID == "" {
		return na.transportString(), true
	}
	return "", false
}

// lookup finds the entry an address refers to (see AddrBook).
func (a *AddrBook) lookup(na *NetAddress) *knownAddress {
	if na == nil {
		return nil
	}
	if ka := a.entries[entryKey(na)]; ka != nil {
		return ka
	}
	if na.ID != "" {
		if ka := a.entries[na.transportString()]; ka != nil && ka.Addr.ID == "" {
			return ka
		}
	}
	return nil
}

// NeedMoreAddrs reports whether the book holds fewer than 1000 addresses.
// Since the book keeps at most 62 new addresses per source group, it keeps
// needing more until it has heard from many groups of peers.
func (a *AddrBook) NeedMoreAddrs() bool {
	return a.Size() < needAddressThreshold
}

// Size returns the number of addresses in the book (new and old).
func (a *AddrBook) Size() int {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return a.size()
}

func (a *AddrBook) size() int { return a.nNew + a.nOld }

// RemoveAddress removes addr from the book, if it is there (no ban).
func (a *AddrBook) RemoveAddress(addr *NetAddress) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	if ka := a.lookup(addr); ka != nil {
		a.removeEntry(ka)
		a.changed()
	}
}

// HasAddress reports whether the book holds an entry for addr (see AddrBook
// for how an address refers to an entry).
func (a *AddrBook) HasAddress(addr *NetAddress) bool {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	return a.lookup(addr) != nil
}

func (a *AddrBook) changed() { a.changes++ }
