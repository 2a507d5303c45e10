//go:build linux

package lab_test

import (
	"os"
	"testing"

	"lethe/tests/lab"
)

func TestMain(m *testing.M) { os.Exit(lab.Main(m)) }
