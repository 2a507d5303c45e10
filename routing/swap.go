package routing

import (
	"crypto/sha256"
	"encoding/binary"
	"math"

	"lethe/crypto"
)

// Darknet location swapping (spec §18.9). Two nodes that meet at the end of a random walk
// exchange their locations and their neighbours' locations, and swap locations with the
// Metropolis–Hastings probability
//
//	P = min(1, Π d(a, A's peers)·Π d(b, B's peers) / (Π d(b, A's peers)·Π d(a, B's peers)))
//
// which, repeated across the network, makes each node's location close to its friends' and
// lets greedy routing work on a social graph that knows nothing of locations.

// minSwapDistance keeps a zero distance (two equal locations) from making a product zero.
const minSwapDistance = 1e-9

// swapProbability is the Metropolis–Hastings acceptance probability for nodes at a and b
// with neighbour locations peersA and peersB. If a and b are neighbours, their distance to
// each other is the same before and after, so each may appear in the other's list or not.
func swapProbability(a crypto.Location, peersA []crypto.Location, b crypto.Location, peersB []crypto.Location) float64 {
	logD := func(x, y crypto.Location) float64 { return math.Log(math.Max(x.Distance(y), minSwapDistance)) }
	var before, after float64
	for _, p := range peersA {
		before += logD(a, p)
		after += logD(b, p)
	}
	for _, p := range peersB {
		before += logD(b, p)
		after += logD(a, p)
	}
	return math.Min(1, math.Exp(before-after))
}

// swapCommitment is what a swap initiator sends first: a hash of its random value, so that
// it cannot pick the value after seeing the responder's (spec §18.9).
func swapCommitment(random [32]byte) [32]byte {
	return sha256.Sum256(append([]byte("lethe/v1/swap-commitment\x00"), random[:]...))
}

// swapCoin is the shared random number in [0,1) both sides derive from their two random
// values; each side decides the swap alone and both reach the same decision.
func swapCoin(initiator, responder [32]byte) float64 {
	h := sha256.New()
	h.Write([]byte("lethe/v1/swap-coin\x00"))
	h.Write(initiator[:])
	h.Write(responder[:])
	return float64(binary.BigEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

// Defence against location pulling (spec §18.9, the "pitch black" attack): an attacker
// advertises neighbour locations bunched around a point so that honest nodes swap towards it
// and the location space collapses. A swap partner whose claimed neighbour locations are
// implausibly bunched is refused, and every node also takes a fresh random location with a
// small probability per swap attempt, so a pulled cluster disperses again.
const (
	// clusterRadius and maxClustered: more than maxClustered of a partner's neighbour
	// locations (and at least 3) within clusterRadius of one another is implausible for
	// honest nodes, whose neighbours are spread along the circle.
	clusterRadius = 1e-4
	// randomizeProbability is the chance per swap attempt of resetting to a random location.
	randomizeProbability = 1.0 / 2000
)

// plausiblePeerLocations reports whether a swap partner's claimed neighbour locations look
// like an honest node's: all valid, and not bunched (more than half, and at least three,
// within clusterRadius of one of them).
func plausiblePeerLocations(own crypto.Location, peers []crypto.Location) bool {
	if !own.Valid() {
		return false
	}
	for _, p := range peers {
		if !p.Valid() {
			return false
		}
	}
	limit := max(2, len(peers)/2)
	for _, p := range peers {
		near := 0
		for _, q := range peers {
			if p.Distance(q) < clusterRadius {
				near++
			}
		}
		if near > limit {
			return false
		}
	}
	return true
}
