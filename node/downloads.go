package node

import (
	"os"
	"path/filepath"
	"time"

	"lethe/crypto"
	"lethe/fetch"
)

// downloadKeep is how long the blocks of a fetch that stopped short are kept for a fetch of
// the same URI to resume from (spec §19.5); older ones are removed when the node starts.
const downloadKeep = 7 * 24 * time.Hour

// downloadCache is where a fetch of uri keeps its blocks until it is done: the blocks of an
// earlier fetch of the same URI that stopped short are there already, and are not asked of
// the network again.
func (n *Node) downloadCache(uri crypto.RequestURI) (*fetch.DirCache, error) {
	return fetch.NewDirCache(filepath.Join(n.path(downloadsDir), n.keys.downloadName(uri.String())))
}

// pruneDownloads removes the kept blocks of fetches that stopped more than downloadKeep ago.
func (n *Node) pruneDownloads(now time.Time) {
	entries, err := os.ReadDir(n.path(downloadsDir))
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && now.Sub(info.ModTime()) > downloadKeep {
			os.RemoveAll(filepath.Join(n.path(downloadsDir), e.Name()))
		}
	}
}
