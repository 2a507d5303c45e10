package fcp

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
)

// The node-management messages (spec §16.11): GetNode, ListPeers, AddPeer, ModifyPeer,
// RemovePeer, GetConfig, ModifyConfig and Shutdown. The server parses and answers them; what
// they read and change is the node's, reached through Config.Admin.

// More ProtocolError codes, Freenet's numbers, for the management messages.
const (
	CodeShuttingDown       = 18
	CodeNoSuchNode         = 19
	CodeRefParse           = 21
	CodeCannotPeerWithSelf = 28
	CodeDuplicatePeer      = 29
)

// Sentinels an Admin wraps so that the server answers with Freenet's codes.
var (
	ErrNoSuchPeer      = errors.New("no such peer")                                      // ProtocolError 19
	ErrBadNodeRef      = errors.New("the noderef is not valid")                          // ProtocolError 21
	ErrPeerIsSelf      = errors.New("the noderef is this node's own")                    // ProtocolError 28
	ErrDuplicatePeer   = errors.New("already a peer")                                    // ProtocolError 29
	ErrSettingReadOnly = errors.New("the setting cannot be changed while the node runs") // ProtocolError 8
)

// Admin is the node's side of the management messages. Its methods return soon; they run on
// the connection's reading goroutine.
type Admin interface {
	// NodeData describes the node, as NodeData's fields (identity, location, version, …).
	NodeData() []Field
	// Peers lists the node's peers, connected or not.
	Peers() []PeerData
	// AddPeer makes the node whose noderef text is given a peer (a darknet friend) and
	// returns it.
	AddPeer(ctx context.Context, noderef string) (PeerData, error)
	// Peer finds a peer by its identity or a prefix of it.
	Peer(id string) (PeerData, error)
	// RemovePeer removes a peer, found as Peer finds it, and returns what it was.
	RemovePeer(id string) (PeerData, error)
	// Config lists the node's settings.
	Config() []Setting
	// ModifyConfig changes the settings named, all or none; a setting that cannot change
	// while the node runs is ErrSettingReadOnly.
	ModifyConfig(changes map[string]string) error
	// Shutdown stops the node, as SIGTERM does; it returns at once.
	Shutdown()
}

// PeerData is one peer as Peer messages describe it.
type PeerData struct {
	Identity string  // the node ID
	Fields   []Field // the rest: location, physical.tcp, opennet, volatile.status, …
}

// Setting is one of the node's settings, as ConfigData describes it.
type Setting struct {
	Key, Current, Default, Description string
	Type                               string // Freenet's data types: "number", "boolean", "string"
	ReadOnly                           bool   // set at start only (lethe.conf, flags)
}

// adminMessage handles a management message; it reports whether the connection goes on.
func (c *conn) adminMessage(m *Message) bool {
	id := m.Value("Identifier")
	a := c.srv.cfg.Admin
	if a == nil {
		c.protocolError(CodeNotSupported, m.Name+": this server manages no node", id, false, false)
		return true
	}
	switch m.Name {
	case "GetNode":
		reply := NewMessage("NodeData")
		for _, f := range a.NodeData() {
			reply.Set(f.Key, f.Value)
		}
		c.send(withIdentifier(reply, id), nil)
	case "ListPeers":
		for _, p := range a.Peers() {
			c.send(withIdentifier(peerMessage("Peer", p), id), nil)
		}
		c.send(withIdentifier(NewMessage("EndListPeers"), id), nil)
	case "ListPeer":
		p, err := a.Peer(nodeIdentifier(m))
		c.answerPeer(m, "Peer", p, err)
	case "AddPeer":
		ref, err := c.noderefOf(m)
		if err != nil {
			c.fieldError(m, err)
			break
		}
		p, err := a.AddPeer(c.srv.ctx, ref)
		c.answerPeer(m, "Peer", p, err)
	case "ModifyPeer":
		// Freenet's switches (IsDisabled, IsListenOnly, AllowLocalAddresses, …) have no
		// meaning for Lethe's peers: asking for one is refused, naming it.
		for _, f := range m.Fields {
			if f.Key != "Identifier" && f.Key != "NodeIdentifier" {
				c.protocolError(CodeNotSupported, "ModifyPeer: Lethe's peers have no setting "+truncate(f.Key, 64), id, false, false)
				return true
			}
		}
		p, err := a.Peer(nodeIdentifier(m))
		c.answerPeer(m, "Peer", p, err)
	case "RemovePeer":
		p, err := a.RemovePeer(nodeIdentifier(m))
		if err == nil {
			reply := NewMessage("PeerRemoved", "Identity", p.Identity, "NodeIdentifier", nodeIdentifier(m))
			c.send(withIdentifier(reply, id), nil)
			break
		}
		c.answerPeer(m, "", p, err)
	case "GetConfig":
		c.sendConfig(m, a.Config())
	case "ModifyConfig":
		changes := map[string]string{}
		for _, f := range m.Fields {
			if f.Key != "Identifier" {
				changes[f.Key] = f.Value
			}
		}
		if err := a.ModifyConfig(changes); err != nil {
			c.protocolError(adminCode(err), "ModifyConfig: "+err.Error(), id, false, false)
			break
		}
		c.sendConfig(NewMessage("GetConfig", "Identifier", id, "WithCurrent", "true"), a.Config())
	case "Shutdown":
		c.protocolError(CodeShuttingDown, "the node is shutting down", id, true, false)
		a.Shutdown()
		return false
	}
	return true
}

// isAdminMessage reports whether name is one of the management messages.
func isAdminMessage(name string) bool {
	switch name {
	case "GetNode", "ListPeers", "ListPeer", "AddPeer", "ModifyPeer", "RemovePeer", "GetConfig", "ModifyConfig", "Shutdown":
		return true
	}
	return false
}

// nodeIdentifier is the peer a message names: NodeIdentifier, Freenet's field.
func nodeIdentifier(m *Message) string { return m.Value("NodeIdentifier") }

// noderefOf is the noderef text AddPeer carries: NodeRef, its lines joined by the two
// characters \n (a field value cannot hold a line end), or File, a file the node reads,
// which only a client on this machine may name.
func (c *conn) noderefOf(m *Message) (string, error) {
	if v, ok := m.Get("NodeRef"); ok {
		return strings.ReplaceAll(v, `\n`, "\n"), nil
	}
	if path, ok := m.Get("File"); ok {
		if !c.loopback() {
			return "", &fieldError{CodeDiskAccessDenied, "AddPeer: File is read only for clients on this machine"}
		}
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<10 {
			return "", &fieldError{CodeFileNotFound, "AddPeer: " + truncate(path, 200) + " is not a readable noderef file"}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", &fieldError{CodeFileNotFound, "AddPeer: " + err.Error()}
		}
		return string(b), nil
	}
	if _, ok := m.Get("URL"); ok {
		return "", &fieldError{CodeNotSupported, "AddPeer: the node fetches no URL; send the noderef in NodeRef or File"}
	}
	return "", missing(m, "NodeRef or File")
}

func (c *conn) answerPeer(m *Message, name string, p PeerData, err error) {
	id := m.Value("Identifier")
	if err != nil {
		reply := protocolErrorMessage(adminCode(err), err.Error(), id, false, false)
		if errors.Is(err, ErrNoSuchPeer) {
			// Freenet answers an unknown peer with UnknownNodeIdentifier.
			reply = NewMessage("UnknownNodeIdentifier", "NodeIdentifier", nodeIdentifier(m))
			withIdentifier(reply, id)
		}
		c.send(reply, nil)
		return
	}
	c.send(withIdentifier(peerMessage(name, p), id), nil)
}

func peerMessage(name string, p PeerData) *Message {
	m := NewMessage(name, "identity", p.Identity)
	for _, f := range p.Fields {
		m.Set(f.Key, f.Value)
	}
	return m
}

// sendConfig answers GetConfig: ConfigData with, for each setting, what the request's With*
// switches ask for (current.KEY, default.KEY, shortDescription.KEY, dataType.KEY,
// forceWriteFlag.KEY); WithCurrent alone if none is set.
func (c *conn) sendConfig(req *Message, settings []Setting) {
	with := func(k string) bool { return isTrue(req.Value(k)) }
	current := with("WithCurrent")
	anySet := current || with("WithDefaults") || with("WithShortDescription") || with("WithDataTypes") || with("WithForceWriteFlag")
	reply := NewMessage("ConfigData")
	for _, s := range settings {
		if current || !anySet {
			reply.Set("current."+s.Key, s.Current)
		}
		if with("WithDefaults") {
			reply.Set("default."+s.Key, s.Default)
		}
		if with("WithShortDescription") {
			reply.Set("shortDescription."+s.Key, s.Description)
		}
		if with("WithDataTypes") {
			reply.Set("dataType."+s.Key, s.Type)
		}
		if with("WithForceWriteFlag") {
			reply.SetBool("forceWriteFlag."+s.Key, s.ReadOnly)
		}
	}
	c.send(withIdentifier(reply, req.Value("Identifier")), nil)
}

// adminCode is the ProtocolError code of an Admin's error.
func adminCode(err error) int {
	switch {
	case errors.Is(err, ErrNoSuchPeer):
		return CodeNoSuchNode
	case errors.Is(err, ErrBadNodeRef):
		return CodeRefParse
	case errors.Is(err, ErrPeerIsSelf):
		return CodeCannotPeerWithSelf
	case errors.Is(err, ErrDuplicatePeer):
		return CodeDuplicatePeer
	case errors.Is(err, ErrSettingReadOnly):
		return CodeInvalidField
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.code
	}
	return CodeInternal
}

// withIdentifier adds Identifier=id to m when the request had one.
func withIdentifier(m *Message, id string) *Message {
	if id != "" {
		m.Set("Identifier", id)
	}
	return m
}

// loopback reports whether the client connects from this machine.
func (c *conn) loopback() bool {
	a, ok := c.nc.RemoteAddr().(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}
