package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestBenchCommand runs `lethe bench -nodes 4 -sizes 1` and checks that it prints every
// figure, not how fast: the raw limits and a link's floor, for each phase its speed, ratio,
// CPU, links per block and CPU per MB per link beside the floor, the proxy's time to first
// byte beside plain HTTP, and the memory; and that -cpuprofile writes a profile per phase.
func TestBenchCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profiles := t.TempDir()
	r := lethe(t, ctx, nil, nil, "bench", "-nodes", "4", "-sizes", "1", "--dir", t.TempDir(), "-cpuprofile", filepath.Join(profiles, "p"))
	r.wantCode(t, exitOK)
	num := `[0-9]+(\.[0-9]+)?`
	dur := num + `(ns|µs|ms|s|m[0-9.]+s)`
	phase := func(name string) string {
		return `\n1 MiB +` + name + ` +` + num + ` MB/s +` + num + ` +` + dur + `( +` + num + `){4}\n`
	}
	for _, want := range []string{
		`4 nodes on 127\.0\.0\.1, [0-9]+ links; insert at node [0-9]+, fetch at node 0, [0-9]+ links? away, which keeps no cache but, in so few nodes, a store`,
		`SHA-256 of 32 KiB blocks +` + num + ` MB/s`,
		`AES-256-GCM seal of 32 KiB blocks +` + num + ` MB/s`,
		`loopback TCP copy +` + num + ` MB/s`,
		`raw limit: all three, once a byte +` + num + ` MB/s`,
		`TLS 1\.3 seal \+ open, over loopback +` + num + ` cpu-ms/MB`,
		`SHA-256 verify +` + num + ` cpu-ms/MB`,
		`store seal \(HMAC key \+ AES-GCM\) +` + num + ` cpu-ms/MB`,
		`store put: verify, seal, bbolt +` + num + ` cpu-ms/MB`,
		`a link's floor: TLS \+ verify \+ put +` + num + ` cpu-ms/MB`,
		`file +phase +speed +ratio +took +MB/cpu-s +links/block +cpu-ms/MB/link +×floor`,
		`\n1 MiB +key +` + num + ` MB/s +` + num + ` +` + dur + ` +` + num + ` +- +- +-\n`,
		phase("insert"),
		`\n +` + num + ` copies a block kept long-term \(sink and tail\), ` + num + ` in caches\n`,
		// In 4 nodes, each keeping the blocks nearest it, the fetching node may hold every
		// block of a 1 MiB file in its own store: then no block crossed a link, and the row
		// says so.
		`\n1 MiB +fetch, cold +` + num + ` MB/s +` + num + ` +` + dur + ` +` + num + `(( +` + num + `){3}| +- +- +-)\n`,
		`proxy, cold +median +` + dur + ` +\(` + dur + `, ` + dur + `, ` + dur + `\); whole file ` + dur,
		`plain HTTP on loopback +median +` + dur,
		`RSS +anonymous +mapped files +Go heap`,
		`idle, after start( +` + num + ` \(` + num + ` a node\)){4}\n`,
		`peak( +` + num + ` \(` + num + ` a node\)){4}\n`,
		`at the end( +` + num + ` \(` + num + ` a node\)){4}\n`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("the output lacks %s:\n%s", want, r.stdout)
		}
	}
	for _, name := range []string{"p-insert-1MiB.pprof", "p-fetch-1MiB.pprof"} {
		if st, err := os.Stat(filepath.Join(profiles, name)); err != nil || st.Size() == 0 {
			t.Errorf("no CPU profile %s: %v", name, err)
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-sizes", "0"},
		{"bench", "-sizes", "1,x"},
		{"bench", "-sizes", "65537"},
		{"bench", "-nodes", "1"},
		{"bench", "extra"},
	} {
		r := lethe(t, context.Background(), nil, nil, args...)
		r.wantCode(t, exitUsage)
	}
}
