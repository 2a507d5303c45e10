package tunnel

// windowBits is how far below the highest sequence number seen a cell may still arrive (spec
// §18.11.5): cells of one tunnel can overtake each other on a link (a small message passes a
// large one) and answers come back in the order their searches end.
const windowBits = 2048

// window is a replay filter for one direction of one circuit: it admits each sequence number
// once, and none that falls below the window (RFC 6479's sliding bitmap, as WireGuard keeps
// one per peer).
type window struct {
	max   uint64 // highest number seen, valid once any is
	any   bool
	slots [windowBits / 64]uint64
}

// admit reports whether seq is new, and records it.
func (w *window) admit(seq uint64) bool {
	switch {
	case !w.any:
		w.any, w.max = true, seq
	case seq > w.max:
		// Clear the slots between the old highest and the new one, at most all of them.
		// A new number in the same slot as the old highest clears nothing.
		from, to := w.max/64+1, seq/64
		if to >= from && to-from >= uint64(len(w.slots)) {
			from = to - uint64(len(w.slots)) + 1
		}
		for i := from; i <= to; i++ {
			w.slots[i%uint64(len(w.slots))] = 0
		}
		w.max = seq
	case w.max-seq >= windowBits-64:
		// Too old: the slot that would hold it may already hold a newer number. (The last
		// slot's worth below the window is given up so that slots never overlap.)
		return false
	}
	slot, bit := &w.slots[(seq/64)%uint64(len(w.slots))], uint64(1)<<(seq%64)
	if *slot&bit != 0 {
		return false
	}
	*slot |= bit
	return true
}
