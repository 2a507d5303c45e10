// Package cputime reads the CPU time the running process has used, user and system together,
// on every platform Lethe builds for. Benchmarks report bytes per CPU second with it: on a
// shared machine wall-clock rates swing with the load, CPU cost per byte does not.
package cputime
