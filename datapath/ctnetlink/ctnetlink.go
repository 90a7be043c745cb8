// Package ctnetlink talks to the kernel's connection tracking over
// netlink (nfnetlink_conntrack): it creates a connection with its NAT
// binding, TCP state and mark, deletes one, reads and zeroes its
// per-direction counters (nf_conntrack_acct), and listens for the
// destroy events of connections that end, with reliable delivery
// (NETLINK_BROADCAST_ERROR), so that no ended connection's counters are
// lost. IPv4 only, TCP and UDP tuples.
package ctnetlink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink and ctnetlink constants (linux/netfilter/nfnetlink.h,
// nfnetlink_conntrack.h).
const (
	subsysCT = 1 // NFNL_SUBSYS_CTNETLINK

	msgNew       = 0 // IPCTNL_MSG_CT_NEW
	msgGet       = 1
	msgDelete    = 2
	msgGetZero   = 3 // IPCTNL_MSG_CT_GET_CTRZERO
	groupDestroy = 3 // NFNLGRP_CONNTRACK_DESTROY

	ctaTupleOrig     = 1
	ctaTupleReply    = 2
	ctaStatus        = 3
	ctaProtoinfo     = 4
	ctaNATSrc        = 6
	ctaTimeout       = 7
	ctaMark          = 8
	ctaCountersOrig  = 9
	ctaCountersReply = 10
	ctaNATDst        = 13
	ctaMarkMask      = 21

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaIPv4Src    = 1
	ctaIPv4Dst    = 2
	ctaProtoNum   = 1
	ctaProtoSrc   = 2
	ctaProtoDst   = 3

	ctaProtoinfoTCP      = 1
	ctaTCPState          = 1
	ctaTCPWscaleOrig     = 2
	ctaTCPWscaleReply    = 3
	ctaTCPFlagsOrig      = 4
	ctaTCPFlagsReply     = 5
	ctaCountersPackets   = 1
	ctaCountersBytes     = 2
	ctaCountersPackets32 = 3
	ctaCountersBytes32   = 4

	ctaNATMinIP    = 1
	ctaNATMaxIP    = 2
	ctaNATProto    = 3
	ctaPNATPortMin = 1
	ctaPNATPortMax = 2
)

// Status bits (enum ip_conntrack_status) a created connection may ask for.
const (
	StatusSeenReply = 1 << 1
	StatusAssured   = 1 << 2
	statusConfirmed = 1 << 3
)

// Tuple is one direction's addresses, protocol and ports.
type Tuple struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
}

func (t Tuple) String() string {
	return fmt.Sprintf("proto %d %s:%d > %s:%d", t.Proto, t.Src, t.SrcPort, t.Dst, t.DstPort)
}

// TCPInfo is the TCP state ctnetlink sets: the state (enum
// tcp_conntrack), each direction's flags (IP_CT_TCP_FLAG_*) and window
// scale.
type TCPInfo struct {
	State        uint8
	Flags, Scale [2]uint8
}

// Conn is a connection to create. Its NAT binding is Reply: when Reply
// is not Orig inverted, the source of the original direction is mapped
// to Reply.Dst:DstPort (SNAT) and its destination to Reply.Src:SrcPort
// (DNAT), as the kernel's NAT core sets them up (nf_nat_setup_info).
type Conn struct {
	Orig, Reply Tuple
	Status      uint32 // StatusSeenReply, StatusAssured
	Timeout     uint32 // seconds
	Mark        uint32
	TCP         *TCPInfo
}

// Counters are a connection's packets and bytes per direction (0
// original, 1 reply).
type Counters struct {
	Packets, Bytes [2]uint64
}

// ErrNotFound is returned for a connection the kernel does not have.
var ErrNotFound = errors.New("ctnetlink: no such connection")

// Client sends requests to ctnetlink in the caller's network namespace.
type Client struct {
	c    *netlink.Conn
	seq  uint32
	fd   int // Create's, Delete's and Get's socket (fast.go), 0 until used
	rbuf []byte
	r    req
}

// Dial opens a ctnetlink socket.
func Dial() (*Client, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return &Client{c: c}, nil
}

// Close closes the sockets.
func (c *Client) Close() error {
	if c.fd != 0 {
		unix.Close(c.fd)
		c.fd = 0
	}
	return c.c.Close()
}

func header(msg uint8, flags netlink.HeaderFlags) netlink.Header {
	return netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | uint16(msg)), Flags: netlink.Request | flags}
}

// nfgenmsg: family AF_INET, version 0, resource id 0.
var genmsg = []byte{unix.AF_INET, 0, 0, 0}

func encoder() *netlink.AttributeEncoder {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	return ae
}

func (c *Client) do(msg uint8, flags netlink.HeaderFlags, ae *netlink.AttributeEncoder) ([]netlink.Message, error) {
	b, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	m := netlink.Message{Header: header(msg, flags), Data: append(append([]byte{}, genmsg...), b...)}
	ms, err := c.c.Execute(m)
	if err != nil {
		var oe *netlink.OpError
		if errors.As(err, &oe) && errors.Is(oe.Err, unix.ENOENT) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return ms, nil
}

// Create puts a confirmed connection into the kernel's table with its
// NAT binding, status, TCP state, timeout and mark. The kernel refuses
// a tuple it has already (EEXIST).
func (c *Client) Create(ct *Conn) error {
	c.createMsg(ct, unix.NLM_F_ACK, c.nextSeq())
	return c.exec()
}

// CreateMsg returns the request Create sends, with sequence number seq
// and an acknowledgement asked for when ack, for another socket of the
// subsystem to send (nfqueue's, with its verdicts). The message is valid
// until the client's next request.
func (c *Client) CreateMsg(ct *Conn, seq uint32, ack bool) []byte {
	var f uint16
	if ack {
		f = unix.NLM_F_ACK
	}
	c.createMsg(ct, f, seq)
	c.r.finish()
	return c.r.b
}

// DeleteMsg is CreateMsg for Delete.
func (c *Client) DeleteMsg(orig Tuple, seq uint32, ack bool) []byte {
	var f uint16
	if ack {
		f = unix.NLM_F_ACK
	}
	c.r.start(msgDelete, f, seq)
	c.r.tuple(ctaTupleOrig, orig)
	c.r.finish()
	return c.r.b
}

func (c *Client) createMsg(ct *Conn, ack uint16, seq uint32) {
	r := &c.r
	r.start(msgNew, unix.NLM_F_CREATE|unix.NLM_F_EXCL|ack, seq)
	o := ct.Orig
	r.tuple(ctaTupleOrig, o)
	// The reply tuple as it is before NAT: nf_nat_setup_info computes
	// the bound one from it and the ranges below, and sets the NAT
	// status bits only when the two differ.
	r.tuple(ctaTupleReply, Tuple{Src: o.Dst, Dst: o.Src, Proto: o.Proto, SrcPort: o.DstPort, DstPort: o.SrcPort})
	if ct.Reply.Src != o.Dst || ct.Reply.SrcPort != o.DstPort {
		r.nat(ctaNATDst, ct.Reply.Src, ct.Reply.SrcPort)
	}
	if ct.Reply.Dst != o.Src || ct.Reply.DstPort != o.SrcPort {
		r.nat(ctaNATSrc, ct.Reply.Dst, ct.Reply.DstPort)
	}
	r.be32(ctaTimeout, ct.Timeout)
	r.be32(ctaMark, ct.Mark)
	if ct.Status != 0 {
		// ctnetlink_change_status refuses a status without the
		// CONFIRMED bit the new entry has already (EBUSY).
		r.be32(ctaStatus, ct.Status|statusConfirmed)
	}
	if t := ct.TCP; t != nil {
		pi := r.nest(ctaProtoinfo)
		tcp := r.nest(ctaProtoinfoTCP)
		r.u8(ctaTCPState, t.State)
		r.u8(ctaTCPWscaleOrig, t.Scale[0])
		r.u8(ctaTCPWscaleReply, t.Scale[1])
		// struct nf_ct_tcp_flags: the flags, then the mask of the
		// flags to set.
		r.attr(ctaTCPFlagsOrig, []byte{t.Flags[0], 0xff})
		r.attr(ctaTCPFlagsReply, []byte{t.Flags[1], 0xff})
		r.end(tcp)
		r.end(pi)
	}
}

// Delete removes the connection whose original tuple is orig; its
// destroy event carries its last counters.
func (c *Client) Delete(orig Tuple) error {
	c.r.start(msgDelete, unix.NLM_F_ACK, c.nextSeq())
	c.r.tuple(ctaTupleOrig, orig)
	return c.exec()
}

// DumpZero reads and zeroes the counters of every connection whose mark
// has the bits of mask set as in mark (IPCTNL_MSG_CT_GET_CTRZERO, read
// and zero in one step for each), and calls f for each. (A GET of one
// connection answers with NLM_F_MULTI and no NLMSG_DONE, which the
// netlink package cannot end: a dump is the way.)
func (c *Client) DumpZero(mark, mask uint32, f func(Event)) error {
	return c.dump(msgGetZero, mark, mask, f)
}

// Dump lists every connection whose mark has mask's bits as in mark,
// without zeroing.
func (c *Client) Dump(mark, mask uint32, f func(Event)) error {
	return c.dump(msgGet, mark, mask, f)
}

func (c *Client) dump(msg uint8, mark, mask uint32, f func(Event)) error {
	ae := encoder()
	ae.Uint32(ctaMark, mark)
	ae.Uint32(ctaMarkMask, mask)
	ms, err := c.do(msg, netlink.Dump, ae)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if ev, ok := parse(m); ok {
			f(ev)
		}
	}
	return nil
}

// Event is a connection as ctnetlink reports it (a destroy event, a
// dump entry).
type Event struct {
	Orig, Reply Tuple
	Mark        uint32
	Status      uint32   // IPS_* bits
	Timeout     uint32   // seconds left
	TCPState    uint8    // enum tcp_conntrack, for TCP
	TCPFlags    [2]uint8 // IP_CT_TCP_FLAG_* per direction (dumps and gets)
	Counters    Counters
	Destroy     bool
}

func parse(m netlink.Message) (Event, bool) {
	var ev Event
	if m.Header.Type>>8 != subsysCT || len(m.Data) < 4 {
		return ev, false
	}
	ev.Destroy = uint8(m.Header.Type) == msgDelete
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return ev, false
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleOrig:
			ad.Nested(func(nd *netlink.AttributeDecoder) error { ev.Orig = parseTuple(nd); return nil })
		case ctaTupleReply:
			ad.Nested(func(nd *netlink.AttributeDecoder) error { ev.Reply = parseTuple(nd); return nil })
		case ctaMark:
			ev.Mark = ad.Uint32()
		case ctaStatus:
			ev.Status = ad.Uint32()
		case ctaTimeout:
			ev.Timeout = ad.Uint32()
		case ctaProtoinfo:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == ctaProtoinfoTCP {
						nd.Nested(func(td *netlink.AttributeDecoder) error {
							for td.Next() {
								switch td.Type() {
								case ctaTCPState:
									ev.TCPState = td.Uint8()
								case ctaTCPFlagsOrig, ctaTCPFlagsReply:
									// struct nf_ct_tcp_flags: flags, mask
									if b := td.Bytes(); len(b) >= 1 {
										ev.TCPFlags[td.Type()-ctaTCPFlagsOrig] = b[0]
									}
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		case ctaCountersOrig, ctaCountersReply:
			d := 0
			if ad.Type() == ctaCountersReply {
				d = 1
			}
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					switch nd.Type() {
					case ctaCountersPackets:
						ev.Counters.Packets[d] = nd.Uint64()
					case ctaCountersBytes:
						ev.Counters.Bytes[d] = nd.Uint64()
					case ctaCountersPackets32:
						ev.Counters.Packets[d] = uint64(nd.Uint32())
					case ctaCountersBytes32:
						ev.Counters.Bytes[d] = uint64(nd.Uint32())
					}
				}
				return nil
			})
		}
	}
	return ev, ad.Err() == nil
}

func parseTuple(ad *netlink.AttributeDecoder) Tuple {
	var t Tuple
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleIP:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					b := nd.Bytes()
					if len(b) != 4 {
						continue
					}
					a := netip.AddrFrom4([4]byte(b))
					switch nd.Type() {
					case ctaIPv4Src:
						t.Src = a
					case ctaIPv4Dst:
						t.Dst = a
					}
				}
				return nil
			})
		case ctaTupleProto:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					switch nd.Type() {
					case ctaProtoNum:
						t.Proto = nd.Uint8()
					case ctaProtoSrc:
						t.SrcPort = nd.Uint16()
					case ctaProtoDst:
						t.DstPort = nd.Uint16()
					}
				}
				return nil
			})
		}
	}
	return t
}
