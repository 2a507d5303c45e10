package main

import (
	"context"
	"regexp"
	"testing"
	"time"
)

// TestBenchCommand runs `lethe bench` on a small network with a 1 MiB file and checks that it
// prints every figure: the raw limits, the insert and fetch speeds with their ratios, the
// proxy's time to first byte beside plain HTTP, and the memory.
func TestBenchCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := lethe(t, ctx, nil, nil, "bench", "-nodes", "6", "-sizes", "1", "--dir", t.TempDir())
	r.wantCode(t, exitOK)
	num := `[0-9]+(\.[0-9]+)?`
	dur := num + `(ns|µs|ms|s|m[0-9.]+s)`
	for _, want := range []string{
		`6 nodes on 127\.0\.0\.1, [0-9]+ links; insert at node [0-9]+, fetch at node 0`,
		`SHA-256 of 32 KiB blocks +` + num + ` MB/s`,
		`AES-256-GCM seal of 32 KiB blocks +` + num + ` MB/s`,
		`loopback TCP copy +` + num + ` MB/s`,
		`raw limit: all three, once a byte +` + num + ` MB/s`,
		`\n1 MiB +` + num + ` MB/s +` + num + ` +` + dur + ` +` + num + ` +` + num + ` MB/s +` + num + ` +` + dur + ` +` + num + `\n`,
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
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-sizes", "0"},
		{"bench", "-sizes", "1,x"},
		{"bench", "-sizes", "2048"},
		{"bench", "-nodes", "4"},
		{"bench", "extra"},
	} {
		r := lethe(t, context.Background(), nil, nil, args...)
		r.wantCode(t, exitUsage)
	}
}
