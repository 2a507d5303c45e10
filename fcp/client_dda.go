package fcp

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// TestDDARead proves to the node that this client can read dir, an absolute directory of the
// node's machine, with the TestDDA handshake (spec §16.14): the node writes a file of random
// content there and the client reads it back. It reports whether the node allowed reading
// there; then Put may name a file below dir (PutRequest.Filename) for the node to read itself.
//
// A node on another machine, or one that does not share this client's view of the disk,
// answers with a ProtocolError or finds the content wrong: the error, or false, says to send
// the data instead.
func (c *Client) TestDDARead(ctx context.Context, dir string) (bool, error) {
	if !filepath.IsAbs(dir) {
		return false, fmt.Errorf("fcp: TestDDA: %s is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	res, err := c.do(ctx, NewMessage("TestDDARequest", "Directory", dir, "WantReadDirectory", "true", "WantWriteDirectory", "false"), nil, &call{})
	if err != nil {
		return false, err
	}
	if res.msg.Name != "TestDDAReply" {
		return false, fmt.Errorf("fcp: the node answered TestDDARequest with %s", res.msg.Name)
	}
	// The client reads only the node's own test file: a name directly in dir, of the form
	// the node gives it, and at most a few bytes. A node that named any other file could
	// otherwise have this client send it back that file's content.
	name := res.msg.Value("ReadFilename")
	var content string
	if filepath.Dir(name) == dir && strings.HasPrefix(filepath.Base(name), "DDACheck-") {
		if b, err := readSmall(name, 64); err == nil {
			content = strings.TrimSpace(string(b))
		}
	}
	// The response goes even when the file could not be read, so that the node removes it.
	res, err = c.do(ctx, NewMessage("TestDDAResponse", "Directory", dir, "ReadContent", content), nil, &call{})
	if err != nil {
		return false, err
	}
	if res.msg.Name != "TestDDAComplete" {
		return false, fmt.Errorf("fcp: the node answered TestDDAResponse with %s", res.msg.Name)
	}
	return content != "" && isTrue(res.msg.Value("ReadDirectoryAllowed")), nil
}
