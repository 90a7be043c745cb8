package ext

import "net/netip"

// This file declares what the stateful matches need from the conntrack
// table and the host model beyond the Conn and Host interfaces of
// runtime.go. Each is an optional interface: a match type-asserts
// Ctx.Conn or Ctx.Host to it (no allocation) and, when the engine's
// objects do not implement it yet, falls back to what the kernel does when
// the information is absent (documented at each use).

// Conntrack status bits (IPS_*), as Conn.Status returns them.
const (
	IPSExpected  = 1 << 0
	IPSSeenReply = 1 << 1
	IPSAssured   = 1 << 2
	IPSConfirmed = 1 << 3
	IPSSrcNAT    = 1 << 4
	IPSDstNAT    = 1 << 5
)

// ConnTuple is one direction of a connection as the kernel's
// nf_conntrack_tuple holds it: addresses, the protocol's "ports" (TCP, UDP,
// SCTP, DCCP ports; the ICMP id in SrcPort and type<<8|code in DstPort;
// zero for protocols without) and the layer-4 protocol.
type ConnTuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// ConnTable is the part of the conntrack table that connlimit's counting
// (the kernel's nf_conncount) needs: whether a connection counted earlier
// still exists. The conntrack package's table implements it.
type ConnTable interface {
	// ConnAlive reports whether the table holds a confirmed connection
	// (one in its hash, as nf_conntrack_find_get finds them) whose
	// original-direction tuple is t in zone zone and that still counts:
	// nf_conncount drops connections that are gone or were never
	// confirmed and, for TCP, those in TIME_WAIT or CLOSE (its
	// already_closed check).
	ConnAlive(t ConnTuple, zone uint16) bool
}

// TableConn is implemented by Conn entries that can name the table they
// live in; connlimit reaches the table this way. (A Ctx field for the
// table would serve as well; see the report that came with this file.)
type TableConn interface {
	ConnTable() ConnTable
}

// ZoneConn is implemented by Conn entries that belong to a conntrack zone
// other than 0 (CT --zone). Entries that do not implement it are in zone 0.
type ZoneConn interface {
	Zone() uint16
}

// AcctConn is implemented by Conn entries that keep the kernel's
// accounting counters (nf_conn_acct), which connbytes reads: packets and
// bytes (IP total lengths) per direction, 0 original, 1 reply, including
// the current packet.
type AcctConn interface {
	Counters(dir int) (packets, bytes uint64)
}

// MasterConn is implemented by Conn entries that know the connection
// they are related to (an expectation's master: the FTP control
// connection of an FTP data connection); helper and cluster read it.
type MasterConn interface {
	// Master returns the master connection, or nil.
	Master() Conn
}

// HelperConn is implemented by Conn entries that have a conntrack helper
// assigned (ftp, sip, ...); the helper match reads the master's helper.
type HelperConn interface {
	// HelperName returns the name of the helper assigned to the
	// connection ("" for none).
	HelperName() string
}

// LabelConn is implemented by Conn entries that carry conntrack labels
// (connlabel): 128 bits, bit i of the set is label i.
type LabelConn interface {
	Labels() [2]uint64
	// SetLabel sets label bit i (the kernel's connlabel --set).
	SetLabel(i uint)
}

// ReverseRouter is implemented by Host models that can look a route up
// the way rpfilter does (fib_lookup of the packet's source with iif
// loopback): the route's type (RTN_*) and whether one of its nexthops
// uses the device dev. ok is false when there is no route at all.
type ReverseRouter interface {
	ReverseRoute(dst, src netip.Addr, mark uint32, tos uint8, dev string) (rtnType int, usesDev bool, ok bool)
}
