package routing

import (
	"lethe/wire"
	"math/rand/v2"
)

// Caching thresholds (spec §18.4): a reply is cached, and an insert kept, only by a node that
// received the request or insert at HTL ≤ 16. The originator sends only at 18 (into the stem)
// or 17 (when its own link ends the stem), so a node at 16 or below is never its neighbour:
// neither the stem nor the node after it keeps anything. (Freenet, which has no stem, keeps
// inserts only from 15, since its originator's neighbours may see 16.)
const (
	maxCacheHTLRequest = 16
	maxCacheHTLInsert  = 16
)

// sinkTail is the HTL a node that stored an insert long-term passes on (spec §18.4). The
// insert then walks sinkTail more hops from peer to nearest peer around the key, and each node
// of that tail keeps a copy: sinkTail+1 copies on the nodes nearest the key, so that the block
// outlives its first homes (with 30% of nodes gone, all five are lost with probability 0.2%).
// Then the insert ends instead of wandering on.
const sinkTail = 4

// decrementAtMinProbability is the chance a link decrements HTL 1 to 0, so that a request at
// HTL 1 may still go on for a few hops and its receiver cannot know it is the last (Freenet's
// value).
const decrementAtMinProbability = 0.25

// StemKeepProbability is the chance that a link keeps HTL at its maximum, for a node whose
// target degree is degree (spec §18.2).
//
// Freenet keeps HTL 18 with probability 0.5, which lets a neighbour guess that a request at
// HTL 18 was originated by its sender with probability about 1/2: every request contributes
// one originator arrival and, on average, one more arrival at HTL 18. Lethe instead treats HTL
// 18 as a stem of random hops whose expected length is 3 + degree/2. With the originator
// obeying its own link coins, a request seen at HTL 18, or at 17 just after the stem, came
// from its originator with probability 1−q = 1/(3 + degree/2), below the 1/(1 + degree/2) of
// a sender hidden among half its neighbours; the extra hop leaves room for the originator's
// retries after a stem that failed, each of which is one more arrival from it.
func StemKeepProbability(degree int) float64 {
	if degree < 2 {
		degree = 2
	}
	return 1 - 1/(3+float64(degree)/2)
}

// linkCoins are drawn once when a link to a peer comes up and kept for its lifetime (spec
// §18.2). Drawing them per request instead would let a neighbour count the share of HTL-18
// requests a node sends and tell its own requests (always 18) from forwarded ones.
type linkCoins struct {
	keepAtMax bool // HTL 18 stays 18 over this link: the stem goes on
	decAtMin  bool // HTL 1 becomes 0 over this link
}

func drawCoins(r *rand.Rand, keep float64) linkCoins {
	return linkCoins{
		keepAtMax: r.Float64() < keep,
		decAtMin:  r.Float64() < decrementAtMinProbability,
	}
}

// next is the HTL a message received (or originated) at htl carries over this link.
func (c linkCoins) next(htl uint8) uint8 {
	switch {
	case htl >= wire.MaxHTL:
		if c.keepAtMax {
			return wire.MaxHTL
		}
		return wire.MaxHTL - 1
	case htl == 1:
		if c.decAtMin {
			return 0
		}
		return 1
	case htl == 0:
		return 0
	}
	return htl - 1
}
