package p2p

import "math"

// PickAddress returns a copy of a random address to dial, or nil when the book
// is empty. newBias (clamped to 0..100) is the preference for the new table
// over the old one, weighed as in btcd by the square roots of their sizes:
// with 0 it picks from the old table, with 100 from the new one, unless that
// table is empty. Within a table it picks a random non-empty bucket, then a
// random entry of it.
func (a *AddrBook) PickAddress(newBias int) *NetAddress {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	if a.size() == 0 {
		return nil
	}
	newBias = min(max(newBias, 0), 100)
	oldCorrelation := math.Sqrt(float64(a.nOld)) * float64(100-newBias)
	newCorrelation := math.Sqrt(float64(a.nNew)) * float64(newBias)
	var fromOld bool
	switch {
	case a.nNew == 0:
		fromOld = true
	case a.nOld == 0:
		fromOld = false
	default:
		fromOld = (oldCorrelation+newCorrelation)*a.rand.Float64() < oldCorrelation
	}
	var buckets [][]*knownAddress
	if fromOld {
		buckets = a.bucketsOld[:]
	} else {
		buckets = a.bucketsNew[:]
	}
	nonEmpty := make([]int, 0, len(buckets))
	for i, b := range buckets {
		if len(b) > 0 {
			nonEmpty = append(nonEmpty, i)
		}
	}
	if len(nonEmpty) == 0 {
		return nil // unreachable while nNew and nOld are right
	}
	b := buckets[nonEmpty[a.rand.IntN(len(nonEmpty))]]
	return b[a.rand.IntN(len(b))].Addr.clone()
}

// GetSelection returns copies of randomly chosen addresses, new and old, for a
// PEX answer: 23% of the book, but at least 32 (or the whole book if smaller)
// and at most 250; nil when the book is empty. Our own addresses are never in
// the book, so never in a selection.
func (a *AddrBook) GetSelection() []*NetAddress {
	a.mtx.Lock()
	defer a.mtx.Unlock()
	all := a.allEntries()
	if len(all) == 0 {
		return nil
	}
	n := max(min(minGetSelection, len(all)), len(all)*getSelectionPercent/100)
	n = min(n, maxGetSelection)
	out := make([]*NetAddress, n)
	for i := range n {
		j := i + a.rand.IntN(len(all)-i)
		all[i], all[j] = all[j], all[i]
		out[i] = all[i].Addr.clone()
	}
	return out
}

// allEntries returns every entry once, in bucket order (old, then new).
func (a *AddrBook) allEntries() []*knownAddress {
	out := make([]*knownAddress, 0, a.size())
	for _, b := range a.bucketsOld {
		out = append(out, b...)
	}
	seen := make(map[*knownAddress]struct{}, a.nNew)
	for _, b := range a.bucketsNew {
		for _, ka := range b {
			if len(ka.Buckets) > 1 {
				if _, ok := seen[ka]; ok {
					continue
				}
				seen[ka] = struct{}{}
			}
			out = append(out, ka)
		}
	}
	return out
}
