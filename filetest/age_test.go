package filetest

import (
	"context"
	"errors"
	"testing"

	"lethe/crypto"
	"lethe/fetch"
	"lethe/insert"
	"lethe/metadata"
)

func TestAgeRecipients(t *testing.T) {
	for _, pq := range []bool{false, true} {
		name := map[bool]string{false: "x25519", true: "post-quantum"}[pq]
		t.Run(name, func(t *testing.T) {
			id, rcpt, err := crypto.GenerateAgeIdentity(pq)
			if err != nil {
				t.Fatal(err)
			}
			other, _, _ := crypto.GenerateAgeIdentity(pq)
			for _, size := range []int{10, seg + 3} {
				st := NewStore()
				data := textBytes(uint64(size), size)
				uri := insertBytes(t, st, data, insert.Config{Name: "secret.txt", Recipients: []string{rcpt}})

				got, res, err := fetchBytes(st, uri, fetch.Config{Identities: []byte(id + "\n")})
				if err != nil {
					t.Fatal(err)
				}
				equalBytes(t, got, data)
				if res.ContentType != metadata.DefaultMIMEType {
					t.Errorf("the metadata of encrypted content tells its type: %q", res.ContentType)
				}
				if _, _, err := fetchBytes(st, uri, fetch.Config{}); !errors.Is(err, fetch.ErrEncrypted) {
					t.Errorf("fetch without identity: %v, want ErrEncrypted", err)
				}
				if _, _, err := fetchBytes(st, uri, fetch.Config{Identities: []byte(other)}); !errors.Is(err, crypto.ErrAgeNoIdentity) {
					t.Errorf("fetch with another identity: %v, want ErrAgeNoIdentity", err)
				}
				doc, err := fetch.New(st, fetch.Config{}).Resolve(context.Background(), uri)
				if err != nil || !doc.Age {
					t.Errorf("metadata does not record age encryption: %v", err)
				}
			}
		})
	}
}
