package session

import (
	"context"
	"testing"
)

func TestSession(t *testing.T) {
	if _, ok := ID(context.Background()); ok {
		t.Fatal("a bare context is in a session")
	}
	a := Start(context.Background())
	b := Start(context.Background())
	ida, oka := ID(a)
	idb, _ := ID(b)
	if !oka || ida == 0 || ida == idb {
		t.Fatalf("two sessions: %d and %d", ida, idb)
	}
	if inner, _ := ID(Start(a)); inner != ida {
		t.Error("an operation inside a session started a new one")
	}
}
