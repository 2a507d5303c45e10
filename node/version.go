package node

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"lethe/fcp"
	"lethe/wire"
)

// BuildInfo says which Lethe this is (spec §19.8): the release, what the Go toolchain
// recorded in the binary, and the protocol versions it speaks. `lethe version`, `lethe
// status`, the status page and FCP's NodeHello show it.
type BuildInfo struct {
	Version     string `json:"version"`    // the release, Version
	BuildNumber int    `json:"build"`      // BuildNumber
	Module      string `json:"module"`     // the main module's version: v0.1.0, a pseudo-version, or (devel)
	Revision    string `json:"revision"`   // the VCS commit it was built from; "" if not recorded
	Modified    bool   `json:"modified"`   // built from a work tree with uncommitted changes
	CommitTime  string `json:"commitTime"` // the commit's time, RFC 3339; "" if not recorded
	GoVersion   string `json:"go"`         // the toolchain that built it
	Platform    string `json:"platform"`   // GOOS/GOARCH
	WireMin     uint8  `json:"wireMin"`    // the link protocol versions it speaks (spec §10.1)
	WireMax     uint8  `json:"wireMax"`    //
	FCP         string `json:"fcp"`        // the client protocol version (spec §16)
}

// Build describes the running binary. A binary built with `go build` or `go install` from a
// git checkout records its revision; `go run` and test binaries record none.
func Build() BuildInfo {
	b := BuildInfo{
		Version: Version, BuildNumber: BuildNumber, Module: "(unknown)",
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		WireMin: wire.MinVersion, WireMax: wire.MaxVersion, FCP: fcp.ProtocolVersion,
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if info.Main.Version != "" {
		b.Module = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.CommitTime = s.Value
		}
	}
	return b
}

// ShortRevision is the first 12 hex digits of the revision, "+" after it for a modified
// tree, or "unknown".
func (b BuildInfo) ShortRevision() string {
	if b.Revision == "" {
		return "unknown"
	}
	r := b.Revision[:min(12, len(b.Revision))]
	if b.Modified {
		r += "+"
	}
	return r
}

// String is the build in one line: "Lethe 0.1.0 (revision 3b64ccb0a1f2, go1.26.8,
// linux/amd64; wire 1, FCP 2.0)".
func (b BuildInfo) String() string {
	return fmt.Sprintf("Lethe %s (revision %s, %s, %s; %s, FCP %s)",
		b.Version, b.ShortRevision(), b.GoVersion, b.Platform, b.wire(), b.FCP)
}

// Lines are the build as `lethe version` prints it, one fact a line.
func (b BuildInfo) Lines() []string {
	rev := b.ShortRevision()
	if b.Revision != "" {
		rev = b.Revision
		if b.Modified {
			rev += " (with uncommitted changes)"
		}
		if b.CommitTime != "" {
			rev += ", committed " + b.CommitTime
		}
	}
	return []string{
		"Lethe " + b.Version + " (build " + fmt.Sprint(b.BuildNumber) + ")",
		"module    " + b.Module,
		"revision  " + rev,
		"go        " + b.GoVersion + " " + b.Platform,
		"protocols " + b.wire() + "; FCP " + b.FCP,
	}
}

func (b BuildInfo) wire() string {
	if b.WireMin == b.WireMax {
		return fmt.Sprintf("wire %d", b.WireMax)
	}
	return fmt.Sprintf("wire %d to %d", b.WireMin, b.WireMax)
}

// compact is the build for the status page's Version line.
func (b BuildInfo) compact() string {
	return strings.TrimPrefix(b.String(), "Lethe ")
}
