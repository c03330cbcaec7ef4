package p2p

import "time"

// MarkGood records a successful connection to addr: its failed attempts are
// reset and, if it was new, it moves to the old table (see AddrBook). An
// address not in the book is ignored (add it first).
func (a *AddrBook) MarkGood(addr *NetAddress) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	ka := a.lookup(addr)
	if ka == nil {
		return
	}
	ka.markGood(a.cfg.now())
	if ka.isNew() {
		a.moveToOld(ka)
	}
	a.changed()
}

// MarkAttempt records a dial attempt to addr (counted as failed until
// MarkGood). An address not in the book is ignored.
func (a *AddrBook) MarkAttempt(addr *NetAddress) {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	ka := a.lookup(addr)
	if ka == nil {
		return
	}
	ka.markAttempt(a.cfg.now())
	a.changed()
}

// MarkBad removes addr from the book and bans it: AddAddress refuses its key
// (its peer ID, or its ip:port if it has none) with ErrAddrBookBanned until
// the ban duration (WithBookBanDuration) has passed. It bans an address not in
// the book too. Bans are saved with the book.
func (a *AddrBook) MarkBad(addr *NetAddress) {
	if addr == nil {
		return
	}
	a.mtx.Lock()
	defer a.mtx.Unlock()
	key := entryKey(addr)
	if ka := a.lookup(addr); ka != nil {
		log.Infow("removing bad address", "addr", addr)
		a.removeEntry(ka)
		a.ban(ka.key)
	}
	a.ban(key)
	a.changed()
}

func (a *AddrBook) ban(key string) {
	if a.cfg.banDuration <= 0 {
		return
	}
	until := a.cfg.now().Add(a.cfg.banDuration)
	if until.After(a.bans[key]) {
		a.bans[key] = until
	}
	a.pruneBans()
}

// pruneBans drops ended bans and, past maxBans, those ending first.
func (a *AddrBook) pruneBans() {
	if len(a.bans) <= maxBans {
		return
	}
	now := a.cfg.now()
	for k, until := range a.bans {
		if !until.After(now) {
			delete(a.bans, k)
		}
	}
	for len(a.bans) > maxBans {
		var first string
		for k, until := range a.bans {
			if first == "" || until.Before(a.bans[first]) {
				first = k
			}
		}
		delete(a.bans, first)
	}
}

func (a *AddrBook) banned(key string, now time.Time) bool {
	until, ok := a.bans[key]
	if !ok {
		return false
	}
	if !until.After(now) {
		delete(a.bans, key)
		return false
	}
	return true
}
