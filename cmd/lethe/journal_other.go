//go:build !unix

package main

import "os"

// isJournal: only systemd has a journal; elsewhere auto is text.
func isJournal(f *os.File, stream string) bool { return false }
