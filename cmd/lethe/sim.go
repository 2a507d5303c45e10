package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"lethe/routing/sim"
)

func init() {
	register(&command{
		name: "sim",
		args: "[--nodes 1000] [--degree 20] [--darknet] [--kill 0.1,0.3] [--seed 1]",
		summary: `Simulate routing on a network of many nodes in memory, and print what it measured:
success rate, hops, link lengths, caching, what a neighbour can tell about who originated a
request, and (with --kill) how routing fares when nodes vanish. It runs the node's own
routing code; no node, disk or socket is used.`,
		run: runSim,
	})
}

func runSim(ctx context.Context, e *env, args []string) error {
	flags := newFlags(e, commands["sim"])
	var (
		nodes    = flags.Int("nodes", 1000, "network size")
		degree   = flags.Int("degree", 20, "peers each node aims for")
		darknet  = flags.Bool("darknet", false, "a fixed friend graph with location swapping, instead of opennet")
		seed     = flags.Uint64("seed", 1, "random seed; the same seed repeats the run")
		kill     = flags.String("kill", "", "comma-separated fractions of nodes to kill in turn, measuring after each (like 0.1,0.3)")
		requests = flags.Int("requests", 0, "probe requests (default 2000)")
		quiet    = flags.Bool("q", false, "print only the report")
	)
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError("sim", "sim takes no arguments")
	}
	if *nodes < 2 || *degree < 1 {
		return usageError("sim", "--nodes must be at least 2 and --degree at least 1")
	}
	cfg := sim.Config{Nodes: *nodes, Degree: *degree, Darknet: *darknet, Seed: *seed, ProbeRequests: *requests}
	for _, f := range strings.Split(*kill, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v >= 1 {
			return usageError("sim", "--kill: %q is not a fraction between 0 and 1", f)
		}
		cfg.Kill = append(cfg.Kill, v)
	}
	if !*quiet {
		cfg.Log = e.stderr
	}
	done := make(chan struct{})
	var report *sim.Report
	go func() {
		defer close(done)
		report, err = sim.Run(cfg)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err != nil {
		return fail(exitFailed, "", "simulation: %v", err)
	}
	fmt.Fprint(e.stdout, report.String())
	return nil
}
