package mempool

import "container/list"

// hashCache remembers the most recent n transaction hashes.
type hashCache struct {
	size  int
	order *list.List // of TxHash, most recent at the back
	index map[TxHash]*list.Element
}

func newHashCache(size int) *hashCache {
	return &hashCache{size: max(size, 1), order: list.New(), index: map[TxHash]*list.Element{}}
}

func (c *hashCache) has(h TxHash) bool {
	_, ok := c.index[h]
	return ok
}

func (c *hashCache) add(h TxHash) {
	if el, ok := c.index[h]; ok {
		c.order.MoveToBack(el)
		return
	}
	c.index[h] = c.order.PushBack(h)
	if c.order.Len() > c.size {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.index, oldest.Value.(TxHash))
	}
}
