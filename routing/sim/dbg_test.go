package sim

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"lethe/crypto"
	"lethe/routing"
)

func TestDebugKill(t *testing.T) {
	var mu sync.Mutex
	var log []string
	on := false
	debugTrace = func(s *Sim, n int, e routing.Event) {
		if !on || (e.Kind != routing.EventRequest && e.Kind != routing.EventStemExit) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		from := -1
		if i, ok := s.tr.index[e.Peer]; ok {
			from = i
		}
		st, _ := s.nodes[n].store.Has(crypto.CHK, e.Key)
		log = append(log, fmt.Sprintf("kind %d at %d (d=%.5f, %d peers, holds %v) from %d htl %d id %x", e.Kind, n, s.nodes[n].r.Location().Distance(e.Key.Location()), len(s.nodes[n].r.Peers()), st, from, e.HTL, e.ID&0xfff))
	}
	debugAfterKill = func(s *Sim, probes []crypto.RoutingKey) {
		shown := 0
		for _, k := range probes {
			if shown >= 2 {
				break
			}
			alive := s.alive()
			from := alive[(int(k[0])*7)%len(alive)]
			mu.Lock()
			log = nil
			on = true
			mu.Unlock()
			_, err := from.r.GetBlock(context.Background(), crypto.CHK, k)
			mu.Lock()
			on = false
			mu.Unlock()
			if err == nil || s.whereIs(k) != "held elsewhere" {
				continue
			}
			shown++
			holders := ""
			for _, n := range alive {
				if st, _ := n.store.Has(crypto.CHK, k); st {
					holders += fmt.Sprintf(" %d(d=%.5f)", n.idx, n.r.Location().Distance(k.Location()))
				}
			}
			t.Logf("key %.5f failed (%v); held by%s", k.Location(), err, holders)
			for _, l := range log {
				t.Log("  ", l)
			}
		}
	}
	Run(Config{Nodes: 1000, Degree: 20, Seed: 1, Kill: []float64{0.3}, ProbeRequests: 200, PopularKeys: 1, PopularRequests: 2})
}
