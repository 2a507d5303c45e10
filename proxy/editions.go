package proxy

import (
	"context"
	"sync"
	"time"

	"lethe/crypto"
	"lethe/private"
)

// editionWait is how long a browser opening a site waits for the search for newer editions
// before it is served the edition it asked for; the search goes on, and the next visit is
// redirected to what it found.
const editionWait = 3 * time.Second

// editionSearches runs the searches for the newest editions of sites (spec §14.2): at most
// one per site at a time, and none for a site searched within editionRecheck.
type editionSearches struct {
	mu      sync.Mutex
	running map[string]chan struct{} // site → closed when its search ends; guarded by mu
	checked map[string]time.Time     // site → when its last search ended; guarded by mu
}

// newestEdition returns uri at the newest edition of its site known, after waiting a little
// for a search if one is due.
func (s *Server) newestEdition(ctx context.Context, uri crypto.RequestURI) crypto.RequestURI {
	if done := s.searchEditions(uri); done != nil {
		timer := time.NewTimer(editionWait)
		select {
		case <-done:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	if n, ok := s.editions.Latest(uri); ok && n > uri.Edition {
		return uri.WithEdition(n)
	}
	return uri
}

// searchEditions starts a search for newer editions of uri's site unless one is running or
// ran recently. It returns a channel closed when the running search ends, or nil if there is
// none.
func (s *Server) searchEditions(uri crypto.RequestURI) <-chan struct{} {
	site := uri.WithEdition(0).WithPath("").String()
	es := &s.searches
	es.mu.Lock()
	defer es.mu.Unlock()
	if done, ok := es.running[site]; ok {
		return done
	}
	now := s.cfg.Now()
	if t, ok := es.checked[site]; ok && now.Sub(t) < editionRecheck {
		return nil
	}
	if !s.begin() {
		return nil
	}
	if es.running == nil {
		es.running, es.checked = map[string]chan struct{}{}, map[string]time.Time{}
	}
	done := make(chan struct{})
	es.running[site] = done
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, editionSearchTime)
		_, err := s.fetcher().LatestEdition(ctx, uri.WithPath(""))
		cancel()
		if err != nil {
			s.log.Debug("proxy: edition search", "site", uri.WithPath(""), "err", private.Error{Err: err})
		}
		es.mu.Lock()
		delete(es.running, site)
		es.checked[site] = s.cfg.Now()
		if len(es.checked) > 4096 {
			for k, t := range es.checked {
				if s.cfg.Now().Sub(t) >= editionRecheck {
					delete(es.checked, k)
				}
			}
		}
		es.mu.Unlock()
		close(done)
	}()
	return done
}
