package proxy

import (
	"container/list"
	"sync"
)

// lru is a map bounded by the total cost of its values, which forgets the least recently
// used first. It is safe for concurrent use.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int64
	size  int64               // guarded by mu
	order *list.List          // of *lruEntry, most recently used first; guarded by mu
	byKey map[K]*list.Element // guarded by mu
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](max int64) *lru[K, V] {
	return &lru[K, V]{max: max, order: list.New(), byKey: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[K, V]).val, true
}

// put keeps v under k unless k is already kept or v costs more than an eighth of the bound
// (one huge value would push out everything else).
func (c *lru[K, V]) put(k K, v V, cost int64) {
	if cost > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		return
	}
	c.byKey[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v, cost: cost})
	c.size += cost
	for c.size > c.max {
		last := c.order.Back()
		e := last.Value.(*lruEntry[K, V])
		c.order.Remove(last)
		delete(c.byKey, e.key)
		c.size -= e.cost
	}
}
