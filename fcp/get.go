package fcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"lethe/crypto"
)

// ReturnType values of ClientGet.
const (
	returnDirect = "direct"
	returnNone   = "none"
	returnDisk   = "disk"
)

// parseGet reads a ClientGet (spec §16.5).
func (s *Server) parseGet(m *Message) (*request, error) {
	common, err := readCommon(m)
	if err != nil {
		return nil, err
	}
	uri, err := requestURIField(m, "URI")
	if err != nil {
		return nil, err
	}
	rt := strings.ToLower(m.Value("ReturnType"))
	switch rt {
	case "":
		rt = returnDirect
	case returnDirect, returnNone, returnDisk:
	default:
		return nil, invalid(m, "ReturnType", fmt.Sprintf("%q is not direct, none or disk", truncate(rt, 32)))
	}
	req := GetRequest{URI: uri, PriorityClass: common.priority, MaxRetries: common.maxRetries}
	if req.MaxSize, err = intField(m, "MaxSize", s.cfg.MaxDataLength); err != nil {
		return nil, err
	}
	if req.MaxSize < 0 {
		return nil, invalid(m, "MaxSize", "is negative")
	}
	if rt == returnDirect {
		// The server holds the content until it is sent, so its own limit applies too.
		req.MaxSize = min(req.MaxSize, s.cfg.MaxDataLength)
	}
	if req.IgnoreDS, err = boolField(m, "IgnoreDS", false); err != nil {
		return nil, err
	}
	if req.DSOnly, err = boolField(m, "DSOnly", false); err != nil {
		return nil, err
	}
	for _, key := range []string{"BinaryBlob", "FilterData"} {
		if on, err := boolField(m, key, false); err != nil {
			return nil, err
		} else if on {
			return nil, &fieldError{CodeNotSupported, "ClientGet: " + key + " is not supported"}
		}
	}
	r := &request{srv: s, kind: kindGet, common: common, msg: m, returnType: rt}
	if rt == returnDisk {
		// The file is written where the client proved it may write (spec §16.14); that
		// proof is the connection's, so the request cannot outlive the node's run.
		if common.persistence == persistForever {
			return nil, &fieldError{CodeDiskAccessDenied, "ClientGet: ReturnType=disk with Persistence=forever; use reboot or connection"}
		}
		if r.diskTarget, err = diskFileField(m, "Filename"); err != nil {
			return nil, err
		}
	}
	r.run = func(ctx context.Context, r *request) {
		found, data, err := s.fetch(ctx, r, req)
		if err == nil && r.returnType == returnDisk {
			err = saveToDisk(r.diskRoot, r.diskTarget, data.reader())
			data.remove()
			data = nil
		}
		r.finishGet(ctx, found, data, err)
	}
	return r, nil
}

// fetch runs the Backend's Get and takes in the content: into a spool for ReturnType=direct
// and disk, counted and dropped for ReturnType=none. It checks that the Backend gave as many bytes as
// it announced and no more than MaxSize.
func (s *Server) fetch(ctx context.Context, r *request, req GetRequest) (Found, *spool, error) {
	found, rc, err := s.cfg.Backend.Get(ctx, req, r.progress)
	if err != nil {
		return found, nil, err
	}
	defer rc.Close()
	if found.DataLength > req.MaxSize {
		return found, nil, fmt.Errorf("%w: %d bytes, MaxSize is %d", ErrTooBig, found.DataLength, req.MaxSize)
	}
	var sp *spool
	var n int64
	if r.returnType == returnNone {
		n, err = io.Copy(io.Discard, io.LimitReader(rc, req.MaxSize+1))
		if err == nil && n > req.MaxSize {
			err = errSpoolTooBig
		}
	} else {
		sp, err = newSpool(rc, req.MaxSize, r.spoolDir(), s.cfg.TempDir)
		if sp != nil {
			n = sp.size
		}
	}
	switch {
	case errors.Is(err, errSpoolTooBig):
		return found, nil, fmt.Errorf("%w: more than MaxSize %d bytes", ErrTooBig, req.MaxSize)
	case err != nil:
		return found, nil, fmt.Errorf("fetch %s: %w", req.URI, err)
	case n != found.DataLength:
		sp.remove()
		return found, nil, fmt.Errorf("fetch %s: the fetcher gave %d bytes but announced %d", req.URI, n, found.DataLength)
	}
	return found, sp, nil
}

// generateSSK answers GenerateSSK with a fresh key pair (spec §16.3). Both URIs end in '/',
// so that clients can append a site name.
func (c *conn) generateSSK(m *Message) {
	id := m.Value("Identifier")
	insert, err := crypto.GenerateSSKURI(c.srv.cfg.Rand)
	var request crypto.RequestURI
	if err == nil {
		request, err = insert.RequestURI()
	}
	if err != nil {
		c.protocolError(CodeInternal, err.Error(), id, false, false)
		return
	}
	reply := NewMessage("SSKKeypair", "InsertURI", insert.String(), "RequestURI", request.String())
	if id != "" {
		reply.Set("Identifier", id)
	}
	c.send(reply, nil)
}
