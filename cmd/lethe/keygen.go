package main

import (
	"context"
	"crypto/rand"
	"fmt"

	"lethe/crypto"
)

func init() {
	register(&command{
		name: "keygen",
		args: "[--age [--pq]]",
		summary: `Make a new signed subspace key (SSK) and print its insert and request URIs.
The insert URI (first line) lets you publish under the key: keep it secret, and give it to
` + "`lethe insert --ssk`" + `. The request URI (second line) is what readers fetch with.
With --age, make an age identity instead: the identity (keep it, for ` + "`fetch --identity`" + `)
and the recipient to give to ` + "`insert --to`" + `. No node is needed.`,
		run: runKeygen,
	})
}

func runKeygen(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["keygen"])
	age := flags.Bool("age", false, "make an age identity and recipient instead of an SSK")
	pq := flags.Bool("pq", false, "with --age: the post-quantum hybrid kind (ML-KEM-768 + X25519)")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("keygen", "keygen takes no arguments")
	}
	if *age {
		identity, recipient, err := crypto.GenerateAgeIdentity(*pq)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "# recipient: %s\n%s\n", recipient, identity)
		fmt.Fprintf(e.stderr, "Save the lines above as an identity file (keep it secret); share the recipient:\n%s\n", recipient)
		return nil
	}
	if *pq {
		return usageError("keygen", "--pq goes with --age")
	}
	ins, err := crypto.GenerateSSKURI(rand.Reader)
	if err != nil {
		return err
	}
	req, err := ins.RequestURI()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n%s\n", ins, req)
	fmt.Fprintln(e.stderr, "Line 1 is the insert URI: keep it secret. Line 2 is the request URI: share it.")
	return nil
}
