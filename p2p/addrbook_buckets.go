package p2p

import (
	"crypto/sha256"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
)

// This file holds the bucket tables' invariants, kept by every function here
// (the book's mutex held):
//   - an entry is in a.entries iff it is in at least one bucket;
//   - a new entry is in 1..maxNewBucketsPerAddress new buckets, an old one in
//     exactly one old bucket, and ka.Buckets lists exactly those;
//   - nNew and nOld count the new and old entries, newBySource the new
//     entries by source group (no zero counts);
//   - no bucket holds more than its size.

// calcNewBucket returns the new bucket of addr learnt from src:
// hash(key, group(src), hash(key, group(addr), group(src)) % newBucketsPerGroup) % newBucketCount.
func (a *AddrBook) calcNewBucket(addr, src *NetAddress) int {
	srcGroup := a.groupKey(src)
	h1 := a.hash("new", a.groupKey(addr), srcGroup) % newBucketsPerGroup
	return int(a.hash("new", srcGroup, strconv.FormatUint(h1, 10)) % newBucketCount)
}

// calcOldBucket returns the old bucket of addr:
// hash(key, group(addr), hash(key, addr) % oldBucketsPerGroup) % oldBucketCount.
func (a *AddrBook) calcOldBucket(addr *NetAddress) int {
	h1 := a.hash("old", addr.String()) % oldBucketsPerGroup
	return int(a.hash("old", a.groupKey(addr), strconv.FormatUint(h1, 10)) % oldBucketCount)
}

// hash is SHA-256 of the secret and the length-prefixed parts (so that no two
// different part lists hash the same input), cut to 64 bits.
func (a *AddrBook) hash(parts ...string) uint64 {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(a.key)))
	h.Write(n[:])
	h.Write(a.key)
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

func (a *AddrBook) groupKey(na *NetAddress) string {
	return groupKey(na, a.cfg.strict)
}

// groupKey returns the network group of na (see AddrBook): btcd's GroupKey,
// except that with strict false a non-routable address is its own group.
func groupKey(na *NetAddress, strict bool) string {
	if !na.Routable() {
		switch {
		case na == nil || na.IP == nil:
			return "unroutable"
		case !strict:
			return "host:" + na.transportString()
		case na.Local():
			return "local"
		default:
			return "unroutable"
		}
	}
	cidr := func(ip net.IP, ones, bits int) string {
		return (&net.IPNet{IP: ip.Mask(net.CIDRMask(ones, bits)), Mask: net.CIDRMask(ones, bits)}).String()
	}
	ip := na.IP
	if ip4 := ip.To4(); ip4 != nil {
		return cidr(ip4, 16, 32)
	}
	// ip is 16 bytes from here on (Routable implies Valid).
	switch {
	case na.RFC6145() || na.RFC6052():
		// The last four bytes are the IPv4 address.
		return cidr(net.IP(ip[12:16]), 16, 32)
	case na.RFC3964():
		// 6to4: bytes 2..5 are the IPv4 address.
		return cidr(net.IP(ip[2:6]), 16, 32)
	case na.RFC4380():
		// Teredo: the last four bytes are the IPv4 address xor 0xff.
		v4 := make(net.IP, 4)
		for i, b := range ip[12:16] {
			v4[i] = b ^ 0xff
		}
		return cidr(v4, 16, 32)
	case heNet.Contains(ip):
		// bitcoind uses /36 for Hurricane Electric's range.
		return cidr(ip, 36, 128)
	}
	return cidr(ip, 32, 128)
}

// addToNewBucket puts the new entry ka in new bucket idx (no-op if it is
// there), first evicting from a full bucket, and enters ka in the book.
func (a *AddrBook) addToNewBucket(ka *knownAddress, idx int) {
	if slices.Contains(ka.Buckets, idx) {
		return
	}
	if len(a.bucketsNew[idx]) >= newBucketSize {
		a.expireNew(idx)
	}
	a.bucketsNew[idx] = append(a.bucketsNew[idx], ka)
	ka.Buckets = append(ka.Buckets, idx)
	if len(ka.Buckets) == 1 {
		a.countNew(ka, +1)
		a.entries[ka.key] = ka
	}
}

// countNew adds delta to the counts of new entries.
func (a *AddrBook) countNew(ka *knownAddress, delta int) {
	a.nNew += delta
	if a.newBySource[ka.srcGroup] += delta; a.newBySource[ka.srcGroup] <= 0 {
		delete(a.newBySource, ka.srcGroup)
	}
}

// makeRoomForSource removes the stalest new entry learnt from source group
// group (a bad one first) if the group has maxNewPerSourceGroup of them, so
// that one more fits.
func (a *AddrBook) makeRoomForSource(group string) {
	if a.newBySource[group] < maxNewPerSourceGroup {
		return
	}
	now := a.cfg.now()
	var victim *knownAddress
	for _, ka := range a.entries {
		if !ka.isNew() || ka.srcGroup != group {
			continue
		}
		if ka.isBad(now) {
			victim = ka
			break
		}
		if victim == nil || ka.LastSeen.Before(victim.LastSeen) {
			victim = ka
		}
	}
	if victim != nil {
		log.Debugw("evicting address: its source group has the most new addresses it may", "addr", victim.Addr, "group", group)
		a.removeEntry(victim)
	}
}

// expireNew makes room in new bucket idx: it removes a bad entry or, if none
// is bad, the one seen longest ago (removing an entry from the book when that
// was its last bucket).
func (a *AddrBook) expireNew(idx int) {
	now := a.cfg.now()
	var victim *knownAddress
	for _, ka := range a.bucketsNew[idx] {
		if ka.isBad(now) {
			victim = ka
			break
		}
		if victim == nil || ka.LastSeen.Before(victim.LastSeen) {
			victim = ka
		}
	}
	if victim == nil {
		return
	}
	log.Debugw("evicting address from full new bucket", "addr", victim.Addr, "bucket", idx)
	a.bucketsNew[idx] = removeFromBucket(a.bucketsNew[idx], victim)
	victim.Buckets = slices.DeleteFunc(victim.Buckets, func(i int) bool { return i == idx })
	if len(victim.Buckets) == 0 {
		a.countNew(victim, -1)
		delete(a.entries, victim.key)
	}
}

// moveToOld promotes the new entry ka to its old bucket. If that bucket is
// full, its entry connected to longest ago goes back to the new table (into
// the new bucket of its address and source, evicting there if full), so no
// entry is lost on the way, unlike the seed and CometBFT.
func (a *AddrBook) moveToOld(ka *knownAddress) {
	for _, idx := range ka.Buckets {
		a.bucketsNew[idx] = removeFromBucket(a.bucketsNew[idx], ka)
	}
	ka.Buckets = nil
	a.countNew(ka, -1)
	ka.Type = bucketOld

	idx := a.calcOldBucket(ka.Addr)
	if len(a.bucketsOld[idx]) >= oldBucketSize {
		var victim *knownAddress
		for _, o := range a.bucketsOld[idx] {
			if victim == nil || o.LastSuccess.Before(victim.LastSuccess) {
				victim = o
			}
		}
		log.Debugw("old bucket full: moving its oldest address back to new", "addr", victim.Addr, "bucket", idx)
		a.bucketsOld[idx] = removeFromBucket(a.bucketsOld[idx], victim)
		victim.Buckets = nil
		a.nOld--
		victim.Type = bucketNew
		a.addToNewBucket(victim, a.calcNewBucket(victim.Addr, victim.Src))
	}
	a.bucketsOld[idx] = append(a.bucketsOld[idx], ka)
	ka.Buckets = []int{idx}
	a.nOld++
}

// removeEntry takes ka out of all its buckets and out of the book.
func (a *AddrBook) removeEntry(ka *knownAddress) {
	if len(ka.Buckets) > 0 {
		for _, idx := range ka.Buckets {
			if ka.isOld() {
				a.bucketsOld[idx] = removeFromBucket(a.bucketsOld[idx], ka)
			} else {
				a.bucketsNew[idx] = removeFromBucket(a.bucketsNew[idx], ka)
			}
		}
		if ka.isOld() {
			a.nOld--
		} else {
			a.countNew(ka, -1)
		}
	}
	ka.Buckets = nil
	delete(a.entries, ka.key)
}

// removeFromBucket removes ka from b (swapping the last entry into its place).
func removeFromBucket(b []*knownAddress, ka *knownAddress) []*knownAddress {
	i := slices.Index(b, ka)
	if i < 0 {
		// Unreachable while the invariants hold (the tests check them); a bug
		// here must not crash the node.
		log.Errorw("address book invariant broken: address not in its bucket", "addr", ka.Addr)
		return b
	}
	last := len(b) - 1
	b[i] = b[last]
	b[last] = nil
	return b[:last]
}
