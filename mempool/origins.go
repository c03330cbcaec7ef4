package mempool

import "container/heap"

// origin is what one origin holds in the pool.
type origin struct {
	count, bytes int
	entries      []*entry // by seq; may also hold entries no longer in the pool
	index        int      // in origins
}

// origins orders the pool's origins so that the one holding the most bytes
// (then the most transactions) is first: eviction finds it at once, however
// many origins (peers that each left a transaction or two) the pool holds.
type origins []*origin

func (h origins) Len() int { return len(h) }

func (h origins) Less(i, j int) bool {
	if h[i].bytes != h[j].bytes {
		return h[i].bytes > h[j].bytes
	}
	return h[i].count > h[j].count
}

func (h origins) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *origins) Push(x any) {
	o := x.(*origin)
	o.index = len(*h)
	*h = append(*h, o)
}

func (h *origins) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return o
}

// add counts a transaction of size bytes for o, a new origin when isNew.
func (h *origins) add(o *origin, size int, isNew bool) {
	o.count++
	o.bytes += size
	if isNew {
		heap.Push(h, o)
	} else {
		heap.Fix(h, o.index)
	}
}

// remove uncounts a transaction of size bytes of o, and o itself when it
// holds none any more (then it returns true).
func (h *origins) remove(o *origin, size int) (gone bool) {
	o.bytes -= size
	if o.count--; o.count == 0 {
		heap.Remove(h, o.index)
		return true
	}
	heap.Fix(h, o.index)
	return false
}
