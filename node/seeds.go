package node

import (
	_ "embed"

	"lethe/wire"
)

// defaultSeedList is the seed list built into the binary (seeds.txt, spec §19.12).
//
//go:embed seeds.txt
var defaultSeedList string

// DefaultSeeds are the opennet seeds a node uses when it is given none: the list built into
// the binary. It is checked by the tests, so it always parses.
func DefaultSeeds() []*wire.NodeRef {
	refs, err := ParseNodeRefs(defaultSeedList)
	if err != nil {
		return nil
	}
	return refs
}
