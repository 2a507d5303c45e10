package node

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"lethe/crypto"
	"lethe/wire"
)

func testRefs(tb testing.TB, n int) []*wire.NodeRef {
	tb.Helper()
	var refs []*wire.NodeRef
	for i := range n {
		id := crypto.NewNodeIdentity(sha256.Sum256([]byte(fmt.Sprint("friend ", i))))
		ref, err := wire.NewNodeRef(id, wire.NodeRefInfo{Addresses: []string{fmt.Sprintf("192.0.2.%d:41000", i+1)}, Location: crypto.Location(float64(i) / 10), WithLocation: true})
		if err != nil {
			tb.Fatal(err)
		}
		refs = append(refs, ref)
	}
	return refs
}

func TestNodeRefsRoundTrip(t *testing.T) {
	refs := testRefs(t, 3)
	text := "# my friends\n\n" + FormatNodeRefs(refs) + "\n# the end\n"
	got, err := ParseNodeRefs(strings.ReplaceAll(text, "\n", "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(refs) {
		t.Fatalf("got %d noderefs, want %d", len(got), len(refs))
	}
	for i := range refs {
		if !got[i].Equal(refs[i]) {
			t.Errorf("noderef %d changed", i)
		}
	}
	// Twice the same noderef is kept once.
	if got, err := ParseNodeRefs(refs[0].Text() + refs[0].Text()); err != nil || len(got) != 1 {
		t.Errorf("a repeated noderef: %d kept, %v", len(got), err)
	}
}

func TestNodeRefsErrors(t *testing.T) {
	refs := testRefs(t, 2)
	edited := strings.Replace(refs[1].Text(), "192.0.2.2", "192.0.2.9", 1)
	for name, text := range map[string]string{
		"stray line":   "hello\n" + refs[0].Text(),
		"edited":       refs[0].Text() + edited,
		"cut short":    refs[0].Text()[:60],
		"garbage line": refs[0].Text() + "lethe-noderef v1\nid x\n",
	} {
		if _, err := ParseNodeRefs(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseNodeRefs(strings.Repeat("#", maxNodeRefsFile+1)); err == nil {
		t.Error("an oversized list was accepted")
	}
}

func TestFriendsFile(t *testing.T) {
	dir := t.TempDir()
	refs := testRefs(t, 3)
	own := refs[2].ID()
	if _, err := AddFriend(dir, own, refs[2]); err != ErrSelf {
		t.Errorf("adding the node's own noderef: %v, want ErrSelf", err)
	}
	list, err := AddFriend(dir, own, refs[0], refs[1])
	if err != nil || len(list) != 2 {
		t.Fatalf("AddFriend: %d, %v", len(list), err)
	}
	fl, err := loadFriends(FriendsFile(dir))
	if err != nil || !fl.has(refs[0].ID()) || !fl.has(refs[1].ID()) {
		t.Fatalf("loadFriends: %v", err)
	}
	if _, err := RemoveFriend(dir, "ab"); err == nil {
		t.Error("a 2-character prefix was accepted")
	}
	gone, err := RemoveFriend(dir, refs[0].ID().String()[:8])
	if err != nil || len(gone) != 1 || gone[0].ID() != refs[0].ID() {
		t.Fatalf("RemoveFriend: %v, %v", gone, err)
	}
	added, removed, err := fl.reload()
	if err != nil || len(added) != 0 || len(removed) != 1 || removed[0] != refs[0].ID() {
		t.Errorf("reload after remove: added %d, removed %v, %v", len(added), removed, err)
	}
}

// The seed list built into the binary parses, and every seed in it can be dialled.
func TestDefaultSeedsParse(t *testing.T) {
	refs, err := ParseNodeRefs(defaultSeedList)
	if err != nil {
		t.Fatalf("the built-in seed list: %v", err)
	}
	for _, r := range refs {
		if len(r.Addresses())+len(r.QUICAddresses()) == 0 {
			t.Errorf("built-in seed %v lists no address", r.ID().Short())
		}
	}
	if len(DefaultSeeds()) != len(refs) {
		t.Error("DefaultSeeds differs from the list")
	}
}

func FuzzParseNodeRefs(f *testing.F) {
	refs := testRefs(f, 2)
	f.Add(FormatNodeRefs(refs))
	f.Add("# comment\n" + refs[0].Text())
	f.Add("lethe-noderef v1\n")
	f.Fuzz(func(t *testing.T, text string) {
		got, err := ParseNodeRefs(text)
		if err != nil {
			return
		}
		// What parses formats back into a list that parses to the same noderefs.
		again, err := ParseNodeRefs(FormatNodeRefs(got))
		if err != nil || len(again) != len(got) {
			t.Fatalf("round trip: %d → %d, %v", len(got), len(again), err)
		}
		for i := range got {
			if !again[i].Equal(got[i]) {
				t.Fatalf("noderef %d changed in the round trip", i)
			}
		}
	})
}
