package conntrack

import (
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ipsift/ipsift/ext"
)

// Status bits of a connection, the kernel's IPS_* (enum
// ip_conntrack_status). ext.IPSExpected ... ext.IPSDstNAT are the same
// values.
const (
	IPSExpected     = 1 << 0
	IPSSeenReply    = 1 << 1
	IPSAssured      = 1 << 2
	IPSConfirmed    = 1 << 3
	IPSSrcNAT       = 1 << 4
	IPSDstNAT       = 1 << 5
	IPSSeqAdjust    = 1 << 6
	IPSSrcNATDone   = 1 << 7
	IPSDstNATDone   = 1 << 8
	IPSDying        = 1 << 9
	IPSFixedTimeout = 1 << 10
	IPSNATClash     = 1 << 12 // shares its bit with IPS_UNTRACKED, as in the kernel
	IPSNATMask      = IPSSrcNAT | IPSDstNAT
	IPSNATDoneMask  = IPSSrcNATDone | IPSDstNATDone
)

// Entry is one tracked connection (the kernel's struct nf_conn): its
// original and reply tuples, status bits, mark, timeout, protocol state
// and NAT binding. An Entry is shared by every packet of the connection
// and is safe for concurrent use.
//
// *Entry implements ext.Conn as seen by a packet in the original
// direction (Reply reports false); Conn returns the view for either
// direction. Both views are the same memory (a pointer conversion), so
// handing one to the matches allocates nothing and keeps the packet's
// direction out of the shared entry.
type Entry struct{ conn }

// ReplyView is an Entry as seen by a packet in the reply direction: the
// same connection, whose Reply method reports true. Get one with
// Entry.Conn(true); ReplyView.Entry returns the connection.
type ReplyView struct{ conn }

// conn holds the connection; its methods are those common to both
// direction views.
type conn struct {
	// The fields are ordered so that no padding is left: an entry of
	// either family takes 256 bytes, a size class of its own.
	t     *Table
	tuple [2]Tuple // original, reply

	mu  sync.Mutex // guards tcp (the kernel's ct->lock)
	tcp tcpConn

	status  atomic.Uint32
	mark    atomic.Uint32
	timeout atomic.Int64 // jiffies: the deadline once confirmed, the relative timeout before

	streamTS int64 // UDP: jiffies after which a replied flow counts as a stream

	acct [2]struct{ packets, bytes atomic.Uint64 }

	// prev and next link the confirmed entries that are not yet ASSURED,
	// oldest first, in the shard of the original tuple: the early-drop
	// candidates. Guarded by that shard's lock.
	prev, next *Entry
	// natPrev and natNext link the entries with a source NAT binding that
	// share an original source (the kernel's nf_nat_bysource), newest
	// first. Guarded by Table.natMu.
	natPrev, natNext *Entry

	// note is the table user's (SetNote); flow is the engine's flow
	// cache (SetFlowCache). Two pointers, not an interface each, so
	// that an entry stays within 256 bytes.
	note, flow unsafe.Pointer
}

var (
	_ ext.Conn      = (*Entry)(nil)
	_ ext.Conn      = (*ReplyView)(nil)
	_ ext.TableConn = (*Entry)(nil)
	_ ext.AcctConn  = (*Entry)(nil)
	_ ext.TableConn = (*ReplyView)(nil)
	_ ext.AcctConn  = (*ReplyView)(nil)
	_ ext.ConnTable = (*Table)(nil)
)

// Reply reports false: *Entry is the original-direction view.
func (e *Entry) Reply() bool { return false }

// Reply reports true.
func (v *ReplyView) Reply() bool { return true }

// Entry returns the connection v is a view of.
func (v *ReplyView) Entry() *Entry { return (*Entry)(v) }

// Conn returns the connection as the stateful matches should see it for
// a packet travelling in the given direction (Track's reply result):
// e itself for the original direction, its ReplyView for the reply
// direction. It allocates nothing.
func (e *Entry) Conn(reply bool) ext.Conn {
	if reply {
		return (*ReplyView)(e)
	}
	return e
}

// Attach returns the state and direction of a packet the firewall
// itself sends in answer to a packet of the connection that travelled in
// direction reply: REJECT's TCP RST or ICMP error. As the kernel's
// nf_conntrack_attach, the answer belongs to the connection as RELATED,
// in the opposite direction. Conntrack leaves such a packet alone at
// OUTPUT (do not Track it) and does not confirm the connection for it
// (do not Confirm); NAT rewrites it with Translate as a RELATED packet.
func (c *conn) Attach(reply bool) (state ext.CTState, replyDir bool) {
	return ext.CTRelated, !reply
}

// SetClosing is nf_ct_set_closing, called when REJECT answers one of the
// connection's packets with a RST: a confirmed TCP connection goes to
// CLOSE and, unless it was there already or has a fixed timeout, gets
// the CLOSE timeout from now. Other protocols are left alone.
func (c *conn) SetClosing(now int64) {
	if c.Proto() != 6 || c.status.Load()&IPSConfirmed == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.tcp.state
	c.tcp.state = sCL
	if old == sCL || c.status.Load()&IPSFixedTimeout != 0 {
		return
	}
	c.timeout.Store(jiffies(now, c.t.hz) + c.t.tcpTimeouts[sCL])
}

// Mark returns the connection mark (ct->mark).
func (c *conn) Mark() uint32 { return c.mark.Load() }

// SetMark sets the connection mark.
func (c *conn) SetMark(m uint32) { c.mark.Store(m) }

// Status returns the IPS_* status bits.
func (c *conn) Status() uint32 { return c.status.Load() }

// Proto returns the layer-4 protocol number.
func (c *conn) Proto() uint8 { return c.tuple[0].Proto }

// Tuple returns the original (dir 0) or reply (dir 1) tuple's addresses
// and "ports" (see Tuple for what they hold for each protocol).
func (c *conn) Tuple(dir int) (src, dst netip.Addr, sport, dport uint16) {
	t := c.tuple[dir&1]
	return t.SrcAddr(), t.DstAddr(), t.SrcPort, t.DstPort
}

// OrigTuple returns the original-direction tuple.
func (c *conn) OrigTuple() Tuple { return c.tuple[0] }

// ReplyTuple returns the reply-direction tuple (after NAT, the tuple
// replies arrive with).
func (c *conn) ReplyTuple() Tuple { return c.tuple[1] }

// Expires returns the time left before the connection times out, in
// nanoseconds of the engine clock, counted in whole jiffies as the
// kernel's nf_ct_expires (so Expires(now)/1e9 is what --ctexpire and
// conntrack -L see). It is 0 once expired, and 0 for a connection not
// yet confirmed (the kernel's value there is meaningless; on a machine
// up for more than the timeout it is 0 too).
func (c *conn) Expires(now int64) int64 {
	if c.status.Load()&IPSConfirmed == 0 {
		return 0
	}
	left := c.timeout.Load() - jiffies(now, c.t.hz)
	if left <= 0 {
		return 0
	}
	return left * 1e9 / int64(c.t.hz)
}

// ConnTable returns the table the connection lives in (for connlimit).
func (c *conn) ConnTable() ext.ConnTable { return c.t }

// Counters returns the packets and bytes (IP total lengths) counted in
// direction dir (0 original, 1 reply): every packet the tracker
// accepted and refreshed the connection with, as the kernel's
// nf_conn_acct counts them.
func (c *conn) Counters(dir int) (packets, bytes uint64) {
	a := &c.acct[dir&1]
	return a.packets.Load(), a.bytes.Load()
}

// TCPState returns the TCP state (TCPNone for other protocols).
func (c *conn) TCPState() TCPState {
	if c.tuple[0].Proto != protoTCP {
		return TCPNone
	}
	c.mu.Lock()
	s := c.tcp.state
	c.mu.Unlock()
	return TCPState(s)
}

// HasNAT reports whether the connection's NAT binding for the given
// manipulation (ext.NATSrc or ext.NATDst) is set up, by a NAT rule or
// the null binding: the kernel's nf_nat_initialized. The nat chains of
// that manipulation's hooks are then not traversed for the connection.
func (c *conn) HasNAT(kind int) bool {
	return c.status.Load()&natDoneBit(kind) != 0
}

func natDoneBit(kind int) uint32 {
	if kind == ext.NATSrc {
		return IPSSrcNATDone
	}
	return IPSDstNATDone
}

// expired reports whether a confirmed entry's timeout has passed at nowJ
// (the kernel's nf_ct_is_expired).
func (c *conn) expired(nowJ int64) bool {
	return c.status.Load()&IPSConfirmed != 0 && c.timeout.Load()-nowJ <= 0
}

// String returns the connection as conntrack -L prints it, with the
// time left counted at the latest clock the table has seen:
//
//	tcp      6 431999 ESTABLISHED src=203.0.113.7 dst=192.0.2.50 sport=40000 dport=22 src=192.0.2.50 dst=203.0.113.7 sport=22 dport=40000 [ASSURED] mark=0 use=1
func (c *conn) String() string {
	b := make([]byte, 0, 200)
	p := c.tuple[0].Proto
	name := protoName(p)
	b = append(b, name...)
	for i := len(name); i < 8; i++ {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(p), 10)
	b = append(b, ' ')
	left := int64(0)
	if c.status.Load()&IPSConfirmed != 0 {
		if l := c.timeout.Load() - c.t.lastJ.Load(); l > 0 {
			left = l / int64(c.t.hz)
		}
	}
	b = strconv.AppendInt(b, left, 10)
	b = append(b, ' ')
	if p == protoTCP {
		b = append(b, c.TCPState().String()...)
		b = append(b, ' ')
	}
	st := c.status.Load()
	b = c.tuple[0].appendTo(b)
	if st&IPSSeenReply == 0 {
		b = append(b, " [UNREPLIED]"...)
	}
	b = append(b, ' ')
	b = c.tuple[1].appendTo(b)
	if st&IPSAssured != 0 {
		b = append(b, " [ASSURED]"...)
	}
	b = append(b, " mark="...)
	b = strconv.AppendUint(b, uint64(c.mark.Load()), 10)
	b = append(b, " use=1"...)
	return string(b)
}

func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoUDPLite:
		return "udplite"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmpv6"
	case protoGRE:
		return "gre"
	case 132:
		return "sctp"
	case 33:
		return "dccp"
	}
	return "unknown"
}

// refresh is the kernel's nf_ct_refresh_acct: set the timeout (unless
// fixed) to timeoutJ jiffies from now, or to timeoutJ itself while the
// entry is unconfirmed (Confirm adds the clock then), and count the
// packet in direction dir.
func (c *conn) refresh(dir int, bytes int, nowJ, timeoutJ int64) {
	st := c.status.Load()
	if st&IPSFixedTimeout == 0 {
		if st&IPSConfirmed != 0 {
			timeoutJ += nowJ
		}
		if c.timeout.Load() != timeoutJ {
			c.timeout.Store(timeoutJ)
		}
	}
	c.count(dir, bytes)
}

func (c *conn) count(dir int, bytes int) {
	a := &c.acct[dir&1]
	a.packets.Add(1)
	a.bytes.Add(uint64(bytes))
}

func (c *conn) setStatus(bits uint32) { c.status.Or(bits) }

// testAndSet sets bits and reports whether any of them was already set.
func (c *conn) testAndSet(bits uint32) bool { return c.status.Or(bits)&bits != 0 }

// Note returns what SetNote attached to the connection, or nil. It
// means nothing to connection tracking: it lets a user of the table keep
// its own record of a connection without a map beside the table (replay
// follows its flows so). The table has one such user: it alone knows
// the pointer's type.
func (c *conn) Note() unsafe.Pointer { return atomic.LoadPointer(&c.note) }

// SetNote attaches p to the connection, replacing what was there.
func (c *conn) SetNote(p unsafe.Pointer) { atomic.StorePointer(&c.note, p) }

// FlowCache returns what SetFlowCache attached, or nil: the engine's
// proven paths of the connection (engine/flowcache.go). Like Note, it
// means nothing to connection tracking.
func (c *conn) FlowCache() unsafe.Pointer { return atomic.LoadPointer(&c.flow) }

// SetFlowCache attaches the engine's flow cache to the connection.
func (c *conn) SetFlowCache(p unsafe.Pointer) { atomic.StorePointer(&c.flow, p) }
