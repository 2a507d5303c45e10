package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"lethe/node"
)

func init() {
	register(&command{
		name:    "version",
		args:    "[--json]",
		summary: "Show this build: release, source revision, Go version and the protocols it speaks.",
		run:     runVersion,
	})
}

func runVersion(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["version"])
	asJSON := flags.Bool("json", false, "print the build as one JSON object")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("version", "version takes no arguments")
	}
	b := node.Build()
	if *asJSON {
		out, err := json.Marshal(b)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", out)
		return err
	}
	_, err = fmt.Fprintln(e.stdout, strings.Join(b.Lines(), "\n"))
	return err
}
