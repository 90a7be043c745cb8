package conntrack

import (
	"errors"
	"time"
)

// Preload is a connection to put into the table as it stood when a
// capture began (from conntrack -L -o extended), for replay.
type Preload struct {
	Orig, Reply Tuple // the reply tuple differs from Orig inverted when NAT rewrote it
	TCPState    TCPState
	Assured     bool // [ASSURED]
	SeenReply   bool // no [UNREPLIED]
	Mark        uint32
	Timeout     time.Duration // left when it was listed
}

// ErrPreloadTaken is returned by Insert when a tuple is in the table.
var ErrPreloadTaken = errors.New("conntrack: a connection with this tuple is in the table already")

// Insert puts a confirmed connection into the table at time now, as
// ctnetlink does for conntrack -I. NAT status comes from the tuples
// (SRC_NAT when the reply goes to another source, DST_NAT when it comes
// from another destination), both bindings done. A TCP connection's
// windows are unknown (conntrack -L does not print them): each
// direction's is taken from its first packet, checked liberally, as the
// kernel does for a connection it picks up in the middle (tcp_new sets
// IP_CT_TCP_FLAG_BE_LIBERAL and SACK_PERM on both sides).
func (t *Table) Insert(p Preload, now int64) (*Entry, error) {
	inv, ok := p.Orig.Invert()
	if !ok || p.Reply.Proto != p.Orig.Proto || p.Reply.V6 != p.Orig.V6 {
		return nil, errors.New("conntrack: the tuples do not make a connection")
	}
	nowJ := t.clock(now)
	t.lookup(p.Orig, nowJ) // expired connections in the way are gone
	t.lookup(p.Reply, nowJ)
	e := &Entry{}
	e.t = t
	e.tuple = [2]Tuple{p.Orig, p.Reply}
	status := uint32(IPSConfirmed | IPSSrcNATDone | IPSDstNATDone)
	if p.Assured {
		status |= IPSAssured
	}
	if p.SeenReply {
		status |= IPSSeenReply
	}
	if p.Reply.Dst != inv.Dst || p.Reply.DstPort != inv.DstPort {
		status |= IPSSrcNAT
	}
	if p.Reply.Src != inv.Src || p.Reply.SrcPort != inv.SrcPort {
		status |= IPSDstNAT
	}
	if p.Orig.Proto == protoTCP {
		e.tcp.state = uint8(p.TCPState)
		e.tcp.seen[0].flags = tcpFlagSackPerm | tcpFlagBeLiberal
		e.tcp.seen[1].flags = tcpFlagSackPerm | tcpFlagBeLiberal
	}
	e.mark.Store(p.Mark)
	e.timeout.Store(nowJ + jiffiesOf(p.Timeout, t.hz))
	e.status.Store(status)

	s0, s1, h0, h1 := t.lock2(p.Orig, p.Reply)
	c0, _ := s0.m.get(&p.Orig, h0)
	c1, _ := s1.m.get(&p.Reply, h1)
	if c0 != nil || c1 != nil {
		unlock2(s0, s1)
		return nil, ErrPreloadTaken
	}
	s0.m.set(&p.Orig, h0, e, 0)
	s1.m.set(&p.Reply, h1, e, 1)
	if status&IPSAssured == 0 {
		s0.link(e)
	}
	unlock2(s0, s1)
	t.count.Add(1)
	if status&IPSSrcNAT != 0 {
		t.indexSrcNAT(e, 0)
	}
	return e, nil
}
