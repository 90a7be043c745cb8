package packet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Proto is an IP protocol number as a packet description gives it. In
// JSON and in text it is "tcp", "udp", "icmp", "icmpv6" or a decimal
// number 0-255,
// and the value is the protocol number either way (ParseProto("6") is
// ProtoTCP). In a packet description the way it is written matters too
// (packets.md): a name gives the packet that protocol's header, a number
// only the IP header and len bytes, which Desc keeps in Raw.
type Proto uint8

// String returns "tcp", "udp", "icmp" or "icmpv6" for those protocols
// and the decimal number for any other.
func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}

// ParseProto parses "tcp", "udp", "icmp", "icmpv6" (lower case, as packets.md
// writes them) or a decimal number 0-255. It does not say which of the
// two forms it read; a packet description needs to know (Desc.Raw), and
// its parsers use parseProtoNumber.
func ParseProto(s string) (Proto, error) {
	p, _, err := parseProtoNumber(s)
	return p, err
}

// parseProtoNumber is ParseProto that also reports whether s was a
// number rather than a name.
func parseProtoNumber(s string) (p Proto, number bool, err error) {
	switch s {
	case "tcp":
		return ProtoTCP, false, nil
	case "udp":
		return ProtoUDP, false, nil
	case "icmp":
		return ProtoICMP, false, nil
	case "icmpv6":
		return ProtoICMPv6, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, false, fmt.Errorf("protocol %q: want tcp, udp, icmp, icmpv6 or a number 0-255", s)
	}
	return Proto(n), true, nil
}

// named reports whether p is one of the protocols a name can give:
// tcp, udp, icmp and icmpv6, the ones Build writes a header for (icmp
// in IPv4 packets, icmpv6 in IPv6 ones).
func named(p Proto) bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoICMP || p == ProtoICMPv6
}

// MarshalText implements encoding.TextMarshaler with String's form.
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalJSON accepts a JSON string that ParseProto accepts, or a JSON
// integer 0-255. Like ParseProto, it keeps the number and forgets the
// form; ParseDescLine reads a packet's "proto" itself to set Desc.Raw.
func (p *Proto) UnmarshalJSON(b []byte) error {
	v, _, err := parseProtoJSON(b)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// parseProtoJSON parses a JSON string that ParseProto accepts, or a
// JSON integer 0-255, and reports whether it was a number (an integer,
// or a string holding one).
func parseProtoJSON(b []byte) (Proto, bool, error) {
	s := string(b)
	if strings.HasPrefix(s, `"`) {
		u, err := strconv.Unquote(s)
		if err != nil {
			return 0, false, fmt.Errorf("protocol %s: not a valid JSON string", s)
		}
		s = u
	}
	return parseProtoNumber(s)
}

// TCPFlags is a set of TCP flag bits (TCPFin ... TCPCwr), written as
// letters from "FSRPAUEC" (FIN SYN RST PSH ACK URG ECE CWR).
type TCPFlags uint8

const tcpFlagLetters = "FSRPAUEC" // letter i is bit 1<<i

// String returns the flags' letters in the order FSRPAUEC (so SYN+ACK is
// "SA", RST+ACK "RA", as packets.md writes them), or "" for none.
func (f TCPFlags) String() string {
	var b [8]byte
	n := 0
	for i := 0; i < 8; i++ {
		if f&(1<<i) != 0 {
			b[n] = tcpFlagLetters[i]
			n++
		}
	}
	return string(b[:n])
}

// ParseTCPFlags parses flag letters from "FSRPAUEC" in any order; "" is
// no flag. Letters are upper case only; a repeated letter is an error,
// as it is more likely a typo than a meaning.
func ParseTCPFlags(s string) (TCPFlags, error) {
	var f TCPFlags
	for i := 0; i < len(s); i++ {
		j := strings.IndexByte(tcpFlagLetters, s[i])
		if j < 0 {
			return 0, fmt.Errorf("tcp flags %q: unknown flag %q (want letters from FSRPAUEC)", s, s[i:i+1])
		}
		if f&(1<<j) != 0 {
			return 0, fmt.Errorf("tcp flags %q: flag %q given twice", s, s[i:i+1])
		}
		f |= 1 << j
	}
	return f, nil
}

// MarshalText implements encoding.TextMarshaler with String's form.
func (f TCPFlags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseTCPFlags.
func (f *TCPFlags) UnmarshalText(b []byte) error {
	v, err := ParseTCPFlags(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// MAC is an Ethernet address. The zero MAC means "not given".
type MAC [6]byte

// String returns the address as six lower-case hex pairs separated by
// colons, as ip link and the kernel's LOG target print it.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, x := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[x>>4], hex[x&15])
	}
	return string(b)
}

// ParseMAC parses exactly six colon-separated pairs of hex digits (either
// case), the form iptables' --mac-source takes.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, fmt.Errorf("mac address %q: want six hex pairs like 02:00:00:00:01:01", s)
	}
	for i := range m {
		if i > 0 && s[3*i-1] != ':' {
			return MAC{}, fmt.Errorf("mac address %q: want six hex pairs like 02:00:00:00:01:01", s)
		}
		v, err := strconv.ParseUint(s[3*i:3*i+2], 16, 8)
		if err != nil {
			return MAC{}, fmt.Errorf("mac address %q: want six hex pairs like 02:00:00:00:01:01", s)
		}
		m[i] = byte(v)
	}
	return m, nil
}

// IsZero reports whether m is the zero MAC (not given).
func (m MAC) IsZero() bool { return m == MAC{} }

// MarshalText implements encoding.TextMarshaler with String's form.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseMAC.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Inner describes the packet an ICMP error quotes (packets.md, "inner"):
// a TCP or UDP packet from Src:Sport to Dst:Dport. Its protocol may be
// written as a name or as the number 6 or 17, meaning the same: a quoted
// packet always has its ports (there is no raw inner packet).
type Inner struct {
	Src   netip.Addr `json:"src"`
	Dst   netip.Addr `json:"dst"`
	Proto Proto      `json:"proto"`
	Sport uint16     `json:"sport"`
	Dport uint16     `json:"dport"`
}

// Desc describes one packet to simulate, with exactly the fields of the
// JSON lines in formats/packets.md (see that file for their meaning).
// Fields whose default is not the zero value, or for which an explicit
// zero differs from "absent", are pointers: nil means "use the default"
// (Flags: "S"; Seq: 1000; Ack: 1001 when Flags has A, else 0; Window:
// 8192; TTL: 64; ID: the packet's index + 1). In Go, write them with
// new: Desc{..., Flags: new(TCPFlags(0)), TTL: new(uint8(1))}.
//
// A zero SrcMAC means "the peer's address on In", which the host model
// knows, not this package. Build ignores In, Local, SrcMAC and DelayMS:
// they say where and when the packet appears, not what its bytes are.
//
// Raw is not a field of the format but the form of "proto": packets.md
// makes a protocol written as a number (a JSON number, or a string of
// digits) an IP header and len zero bytes, with no transport header,
// whichever protocol it is. For protocols other than tcp, udp and icmp
// that is all Build can make anyway, so Raw matters for 6, 17 and 1
// alone: Desc{Proto: ProtoTCP, Raw: true, Len: 8} is "proto":6,"len":8,
// an IP packet of protocol 6 with 8 zero bytes where a TCP header
// would be (too short for one; 20 zero bytes are a TCP header with data
// offset 0). Such a packet has no ports, flags, seq, ack, window, type,
// code or inner. ParseDescLine and ParseShort set Raw for 1, 6 and 17
// written as numbers (and never for other protocols, so that each
// packet has one Desc), MarshalJSON writes the number back, and String
// writes "tcp(raw)", "udp(raw)" or "icmp(raw)".
//
// An IPv6 packet is one whose Src and Dst are IPv6 addresses (an
// IPv4-mapped address counts as IPv6, as it is written); packets.md's
// "IPv6" section gives its fields: Flow, Ext, Target, MTU and Pointer
// are for IPv6 (MTU also for an IPv4 fragmentation needed), TTL is the
// Hop Limit, TOS the Traffic Class, ID the Fragment header's
// Identification (up to 65535 here; an Ext fragment takes 32 bits), and
// DF is refused.
type Desc struct {
	In      string     `json:"in,omitempty"`
	Local   bool       `json:"local,omitempty"`
	Src     netip.Addr `json:"src"`
	Dst     netip.Addr `json:"dst"`
	Proto   Proto      `json:"proto"`
	Raw     bool       `json:"-"` // proto 1, 6 or 17 written as a number: no transport header
	Sport   uint16     `json:"sport"`
	Dport   uint16     `json:"dport"`
	Flags   *TCPFlags  `json:"flags"`
	Seq     *uint32    `json:"seq"`
	Ack     *uint32    `json:"ack"`
	Window  *uint16    `json:"window"`
	Type    uint8      `json:"type"`
	Code    uint8      `json:"code"`
	Inner   *Inner     `json:"inner"`
	Len     int        `json:"len"`
	TTL     *uint8     `json:"ttl"`
	TOS     uint8      `json:"tos"`
	ID      *uint16    `json:"id"`
	DF      bool       `json:"df"`
	FragOff uint16     `json:"frag_off"`
	MF      bool       `json:"mf"`
	SrcMAC  MAC        `json:"src_mac"`
	DelayMS int64      `json:"delay_ms"`
	Flow    uint32     `json:"flow"`    // IPv6 Flow Label
	Ext     []Ext      `json:"ext"`     // IPv6 extension headers, in order
	Target  netip.Addr `json:"target"`  // ICMPv6 135, 136
	MTU     *uint32    `json:"mtu"`     // ICMPv6 2; ICMP 3 code 4
	Pointer uint32     `json:"pointer"` // ICMPv6 4
	CT      *CT        `json:"ct"`      // connection context: the conntrack entry the packet belongs to
}

// Defaults packets.md gives.
const (
	DefaultSeq    = 1000
	DefaultWindow = 8192
	DefaultTTL    = 64
)

// hasPorts reports whether the protocol carries ports in a Desc.
func hasPorts(p Proto) bool { return p == ProtoTCP || p == ProtoUDP }

// is reports whether d is a p packet with p's header: its protocol is p
// and not written as a number.
func (d Desc) is(p Proto) bool { return d.Proto == p && !d.Raw }

// hasPorts reports whether d has a header with ports (tcp or udp, not
// raw).
func (d Desc) hasPorts() bool { return d.is(ProtoTCP) || d.is(ProtoUDP) }

// protoWord is the protocol as the short form writes it: "tcp(raw)",
// "udp(raw)" or "icmp(raw)" for a raw packet, else Proto.String.
func (d Desc) protoWord() string {
	if d.Raw {
		return d.Proto.String() + "(raw)"
	}
	return d.Proto.String()
}

// protoWhat names d's protocol in an error about a field that does not
// apply to it.
func (d Desc) protoWhat() string {
	if d.Raw && named(d.Proto) {
		return fmt.Sprintf(`proto %d written as a number (a raw packet: the IP header and len zero bytes; "%s" gives a %s header)`, d.Proto, d.Proto, d.Proto)
	}
	return "proto " + d.Proto.String()
}

// Validate reports the first thing that makes d impossible to build or
// contradictory, as an error naming the field: src or dst missing, or
// not of one family; both in and local; an interface name the kernel
// would refuse; Raw with a protocol other than tcp, udp, icmp and
// icmpv6; icmp in an IPv6 packet or icmpv6 in an IPv4 one (written as a
// number, either is just a protocol); a field that does not apply to
// the protocol (flags, seq, ack, window: tcp only; non-zero sport,
// dport: tcp and udp only; non-zero type, code and inner: icmp and
// icmpv6 only; none of them to a raw packet, which has no transport
// header); inner on an ICMP type that is not an error (IPv4: 3, 4, 5,
// 11, 12; IPv6: 1-4), of another family, or with an inner protocol
// other than tcp or udp; len negative or too large for the packet's
// length field (IPv4 total length, IPv6 payload length, 65535);
// frag_off above 8191; src_mac on a local packet; delay_ms negative;
// and the IPv6 fields (see validate6): flow, ext, target, mtu, pointer
// where they do not apply, df on IPv6. Validate cannot see absent
// fields that have a zero value (a missing sport is port 0);
// ParseDescLine and ParseShort check those.
func (d Desc) Validate() error {
	if err := checkAddr("src", d.Src); err != nil {
		return err
	}
	if err := checkAddr("dst", d.Dst); err != nil {
		return err
	}
	v6 := d.IsIPv6()
	if d.Dst.Is4() == v6 {
		return fmt.Errorf(`fields "src" and "dst": %s and %s are not of one family`, d.Src, d.Dst)
	}
	if d.In != "" && d.Local {
		return errors.New(`"in" and "local" exclude each other: a local packet is sent by the host itself`)
	}
	if d.In != "" {
		if err := checkIfName(d.In); err != nil {
			return err
		}
	}
	if d.Raw && !named(d.Proto) {
		return fmt.Errorf("raw applies only to tcp, udp, icmp and icmpv6 (6, 17, 1, 58): proto %s never gets a transport header, whichever way it is written", d.Proto)
	}
	if !d.Raw {
		if v6 && d.Proto == ProtoICMP {
			return errors.New(`proto "icmp" is IPv4's ICMP: an IPv6 packet has "icmpv6" (or write the number 1 for protocol 1 with no header)`)
		}
		if !v6 && d.Proto == ProtoICMPv6 {
			return errors.New(`proto "icmpv6" is for IPv6 packets: an IPv4 packet has "icmp" (or write the number 58 for protocol 58 with no header)`)
		}
	}
	if !d.is(ProtoTCP) {
		for _, f := range []struct {
			name string
			set  bool
		}{{"flags", d.Flags != nil}, {"seq", d.Seq != nil}, {"ack", d.Ack != nil}, {"window", d.Window != nil}} {
			if f.set {
				return fmt.Errorf("field %q applies only to tcp, not to %s", f.name, d.protoWhat())
			}
		}
	}
	if !d.hasPorts() {
		if d.Sport != 0 {
			return fmt.Errorf(`field "sport" applies only to tcp and udp, not to %s`, d.protoWhat())
		}
		if d.Dport != 0 {
			return fmt.Errorf(`field "dport" applies only to tcp and udp, not to %s`, d.protoWhat())
		}
	}
	icmp := d.icmpWord()
	if !d.isICMP() {
		if d.Type != 0 {
			return fmt.Errorf(`field "type" applies only to %s, not to %s`, icmp, d.protoWhat())
		}
		if d.Code != 0 {
			return fmt.Errorf(`field "code" applies only to %s, not to %s`, icmp, d.protoWhat())
		}
		if d.Inner != nil {
			return fmt.Errorf(`field "inner" applies only to %s errors, not to %s`, icmp, d.protoWhat())
		}
	}
	if d.Inner != nil {
		if !d.isICMPErrorType() {
			if v6 {
				return fmt.Errorf(`field "inner" applies only to icmpv6 errors (type 1, 2, 3, 4), not to type %d`, d.Type)
			}
			return fmt.Errorf(`field "inner" applies only to icmp errors (type 3, 4, 5, 11, 12), not to type %d`, d.Type)
		}
		if err := checkAddr("inner.src", d.Inner.Src); err != nil {
			return err
		}
		if err := checkAddr("inner.dst", d.Inner.Dst); err != nil {
			return err
		}
		if d.Inner.Src.Is4() == v6 || d.Inner.Dst.Is4() == v6 {
			return fmt.Errorf(`field "inner": %s > %s is not of the outer packet's family`, d.Inner.Src, d.Inner.Dst)
		}
		if !hasPorts(d.Inner.Proto) {
			return fmt.Errorf(`field "inner.proto": want tcp or udp, not %s`, d.Inner.Proto)
		}
	}
	if d.Len < 0 {
		return fmt.Errorf(`field "len": %d is negative`, d.Len)
	}
	hl := d.headerLen()
	if v6 {
		hl -= ipv6HdrLen // the payload length field leaves the IPv6 header out
	}
	if limit := 0xffff - hl; d.Len > limit {
		return fmt.Errorf(`field "len": %d is too large (at most %d for this packet, whose %s must fit 65535)`, d.Len, limit, map[bool]string{false: "total length", true: "payload length"}[v6])
	}
	if d.FragOff > 0x1fff {
		return fmt.Errorf(`field "frag_off": %d is too large (at most 8191, in 8-byte units)`, d.FragOff)
	}
	if d.Local && !d.SrcMAC.IsZero() {
		return errors.New(`field "src_mac" applies only to packets that arrive on an interface, not to local ones`)
	}
	if d.DelayMS < 0 {
		return fmt.Errorf(`field "delay_ms": %d is negative`, d.DelayMS)
	}
	if d.MTU != nil && !(v6 && d.is(ProtoICMPv6) && d.Type == 2) && !(!v6 && d.is(ProtoICMP) && d.Type == 3 && d.Code == 4) {
		return errors.New(`field "mtu" applies only to an icmpv6 packet too big (type 2) and an icmp fragmentation needed (type 3 code 4)`)
	}
	if d.MTU != nil && !v6 && *d.MTU > 0xffff {
		return fmt.Errorf(`field "mtu": %d is too large (an icmp next-hop MTU has 16 bits)`, *d.MTU)
	}
	if err := d.validateCT(); err != nil {
		return err
	}
	if v6 {
		return d.validate6()
	}
	switch {
	case d.Flow != 0:
		return errors.New(`field "flow" (the IPv6 Flow Label) applies only to IPv6 packets`)
	case d.Ext != nil:
		return errors.New(`field "ext" (IPv6 extension headers) applies only to IPv6 packets`)
	case d.Target.IsValid():
		return errors.New(`field "target" applies only to icmpv6 neighbour solicitations and advertisements (type 135, 136)`)
	case d.Pointer != 0:
		return errors.New(`field "pointer" applies only to an icmpv6 parameter problem (type 4)`)
	}
	return nil
}

// IsIPv6 reports whether d describes an IPv6 packet: its source is an
// IPv6 address (Validate wants the destination of the same family).
func (d Desc) IsIPv6() bool { return d.Src.IsValid() && !d.Src.Is4() }

// isICMP reports whether d has an ICMP header of either family.
func (d Desc) isICMP() bool { return d.is(ProtoICMP) || d.is(ProtoICMPv6) }

// icmpWord names d's family's ICMP.
func (d Desc) icmpWord() string {
	if d.IsIPv6() {
		return "icmpv6"
	}
	return "icmp"
}

// isICMPErrorType reports whether d's type is an error of its family's
// ICMP that packets.md lets quote a packet.
func (d Desc) isICMPErrorType() bool {
	if d.IsIPv6() {
		return d.Type >= 1 && d.Type <= 4
	}
	return isICMPErrorType(d.Type)
}

func checkAddr(field string, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return fmt.Errorf("missing field %q", field)
	case a.Zone() != "":
		return fmt.Errorf("field %q: %s has a zone, which a packet cannot carry", field, a)
	}
	return nil
}

// checkIfName applies the kernel's dev_valid_name: 1-15 bytes, not "."
// or "..", no '/', ':', white space or NUL; and, unlike the kernel, wants
// UTF-8, because the name must survive the JSON and text forms.
func checkIfName(s string) error {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." || strings.ContainsAny(s, "/: \t\n\v\f\r\x00") {
		return fmt.Errorf("interface name %q: the kernel allows 1-15 characters, not \".\" or \"..\", without '/', ':' or spaces", s)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("interface name %q: not valid UTF-8", s)
	}
	return nil
}

// headerLen returns the bytes Build puts between the IP header's start
// and the payload zeros.
func (d Desc) headerLen() int {
	if d.IsIPv6() {
		return d.headerLen6()
	}
	n := ipv4HdrLen
	if d.Raw {
		return n
	}
	switch d.Proto {
	case ProtoTCP:
		n += tcpHdrLen
	case ProtoUDP:
		n += udpHdrLen
	case ProtoICMP:
		n += icmpHdrLen
		if d.Inner != nil {
			n += innerLen
		}
	}
	return n
}

// innerLen is the size of a quoted packet: its IP header and the first
// 8 bytes of its transport header (what RFC 792 requires an error to
// carry; the kernel quotes more, packets.md fixes 28).
const innerLen = ipv4HdrLen + 8

// TCPFlagBits returns the flags Build uses: *d.Flags, or SYN when Flags
// is nil.
func (d Desc) TCPFlagBits() TCPFlags {
	if d.Flags == nil {
		return TCPSyn
	}
	return *d.Flags
}

// Build returns the IPv4 packet d describes, as packets.md defines it;
// index is the packet's position in its input (from 0), which gives the
// default IP id index+1 (truncated to 16 bits). The bytes are:
//
//   - an IPv4 header without options: version 4, IHL 5, d.TOS, total
//     length, id, DF/MF/fragment offset as given, TTL (64), protocol,
//     a correct header checksum, Src, Dst;
//   - tcp: a 20-byte header (data offset 5, no options): ports, seq
//     (1000), ack (1001 when A is set, else 0), flags (S), window
//     (8192), urgent pointer 0;
//   - udp: an 8-byte header: ports, length 8+len;
//   - icmp: type, code, checksum, then 4 zero bytes (echo id and
//     sequence 0; unused, MTU, gateway or pointer 0 in errors); then,
//     with Inner, the 28-byte quoted packet: its IP header (IHL 5, tos 0,
//     total length 40 for tcp or 28 for udp, id 1, no DF, ttl 64, its
//     correct header checksum) and its first 8 transport bytes: tcp
//     ports and seq 1000; udp ports, length 8 and the checksum the
//     sender's stack would have put on that empty datagram;
//   - another protocol, or tcp, udp or icmp written as a number (Raw):
//     nothing, and no checksum is written either;
//   - then len zero bytes (for ICMP errors, after the quoted packet).
//
// The transport checksum is computed over these bytes as if they were
// the whole datagram, fragment fields notwithstanding: frag_off, mf and
// df change only the IP header, so a "later fragment" still holds the
// bytes of a transport header that no one will read as one.
//
// Build fails with Validate's error and returns nil if d is invalid.
func (d Desc) Build(index int) ([]byte, error) {
	return d.BuildWith(index, BuildOpts{LinkAddr: d.SrcMAC})
}

// BuildOpts gives Build what a packet's bytes depend on beyond its own
// description.
type BuildOpts struct {
	// LinkAddr is the sender's link-layer address, which a neighbour
	// solicitation or advertisement carries in its option: SrcMAC, or
	// for an arriving packet without one the peer's address on its
	// interface, or for a local one the host interface's address. The
	// host model knows those; Build writes zeros when it is zero.
	LinkAddr MAC
	// Rest are the packets that follow this one in its file, which
	// make a first fragment (fragment offset 0, more fragments set)
	// carry the whole datagram's transport length and checksum, as
	// packets.md wants: see BuildWith.
	Rest []Desc
}

// BuildWith is Build with the options o. Build(index) is
// BuildWith(index, BuildOpts{LinkAddr: d.SrcMAC}).
//
// With o.Rest, a first fragment whose datagram continues in o.Rest
// (packets of the same family, source, destination and identification,
// and for IPv4 protocol, with a non-zero fragment offset, up to the
// next first fragment of that datagram) gets the transport length field
// (UDP) and the checksum (TCP, UDP, ICMPv6; ICMP) of the datagram that
// reassembly makes of it and them: each fragment's data (after its
// Fragment header, or its IPv4 header) at its offset, gaps as zeros.
// Index i+1+j is o.Rest[j]'s index, for its default identification.
func (d Desc) BuildWith(index int, o BuildOpts) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	var b []byte
	if d.IsIPv6() {
		b = d.build6(index, o.LinkAddr)
	} else {
		b = d.build4(index)
	}
	if len(o.Rest) > 0 {
		fixDatagram(b, index, o)
	}
	return b, nil
}

// build4 is Build for a valid IPv4 d.
func (d Desc) build4(index int) []byte {
	b := make([]byte, d.headerLen()+d.Len)

	ttl := uint8(DefaultTTL)
	if d.TTL != nil {
		ttl = *d.TTL
	}
	id := uint16(index + 1)
	if d.ID != nil {
		id = *d.ID
	}
	frag := d.FragOff
	if d.DF {
		frag |= 0x4000
	}
	if d.MF {
		frag |= 0x2000
	}
	putIPHeader(b, d.TOS, len(b), id, frag, ttl, uint8(d.Proto), d.Src, d.Dst)

	l4 := b[ipv4HdrLen:]
	if d.Raw {
		return b // the IP header and len zero bytes, nothing else
	}
	switch d.Proto {
	case ProtoTCP, ProtoUDP:
		d.putPorts(l4)
	case ProtoICMP:
		l4[0], l4[1] = d.Type, d.Code
		if d.MTU != nil {
			binary.BigEndian.PutUint16(l4[6:], uint16(*d.MTU))
		}
		if in := d.Inner; in != nil {
			buildInner(l4[icmpHdrLen:icmpHdrLen+innerLen], in)
		}
	}
	fixL4Checksum(l4, uint8(d.Proto), d.Src, d.Dst)
	return b
}

func putIPHeader(b []byte, tos uint8, total int, id, frag uint16, ttl, proto uint8, src, dst netip.Addr) {
	b[0] = 0x45
	b[1] = tos
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = ttl
	b[9] = proto
	s, t := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], t[:])
	setIPChecksum(b[:ipv4HdrLen])
}

// buildInner writes the 28-byte quoted packet of packets.md into b.
func buildInner(b []byte, in *Inner) {
	total := ipv4HdrLen + tcpHdrLen
	if in.Proto == ProtoUDP {
		total = ipv4HdrLen + udpHdrLen
	}
	putIPHeader(b, 0, total, 1, 0, DefaultTTL, uint8(in.Proto), in.Src, in.Dst)
	putQuotedL4(b[ipv4HdrLen:], in)
}

// putQuotedL4 writes the first 8 transport bytes of a quoted packet
// into t: tcp ports and seq 1000; udp ports, length 8 and the checksum
// its sender computed (the original datagram was exactly this header),
// with the pseudo-header of in's family.
func putQuotedL4(t []byte, in *Inner) {
	binary.BigEndian.PutUint16(t[0:], in.Sport)
	binary.BigEndian.PutUint16(t[2:], in.Dport)
	if in.Proto == ProtoTCP {
		binary.BigEndian.PutUint32(t[4:], DefaultSeq)
		return
	}
	binary.BigEndian.PutUint16(t[4:], udpHdrLen)
	fixL4Checksum(t[:udpHdrLen], ProtoUDP, in.Src, in.Dst)
}

// descFields lists the JSON fields of a packet line, in packets.md's
// order; a field's index is its bit in a presence mask.
var descFields = [...]string{
	"in", "local", "src", "dst", "proto", "sport", "dport", "flags",
	"seq", "ack", "window", "type", "code", "inner", "len", "ttl", "tos",
	"id", "df", "frag_off", "mf", "src_mac", "delay_ms",
	"flow", "ext", "target", "mtu", "pointer", "ct",
}

var innerFields = [...]string{"src", "dst", "proto", "sport", "dport"}

func fieldBit(names []string, name string) uint32 {
	for i, n := range names {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

func descBit(name string) uint32  { return fieldBit(descFields[:], name) }
func innerBit(name string) uint32 { return fieldBit(innerFields[:], name) }

// ParseDescLine parses one JSON line of the packet format (packets.md)
// and returns the description it gives, checked with Validate.
//
// It is strict, because a field the reader ignores is a test that
// silently tests something else: the line must be one JSON object and
// nothing after it; field names must match exactly (encoding/json alone
// would accept "Src"), appear once, and be known ("unknown field
// \"foo\""); src, dst and proto are required, sport and dport for tcp
// and udp, type for icmp, and "in" unless "local" is true ("missing
// field \"sport\" (required for tcp)"); inner needs all of its fields;
// a protocol written as a number (6 or "6", not "tcp") is a raw packet
// (Desc.Raw), to which no transport field applies;
// a field that does not apply to the protocol is an error even when it
// is zero. A field given as null counts as absent. Numbers must be
// integers in the field's range. Errors name the field.
func ParseDescLine(line []byte) (Desc, error) {
	var d Desc
	var innerPresent uint32
	dec := json.NewDecoder(bytes.NewReader(line))
	present, err := scanObject(dec, descFields[:], "", func(name string, raw json.RawMessage) error {
		if name == "proto" {
			p, number, err := parseProtoJSON(raw)
			if err != nil {
				return fmt.Errorf("field %q: %v", name, err)
			}
			d.Proto, d.Raw = p, number && named(p)
			return nil
		}
		if name == "ext" {
			ext, err := parseExtList(raw)
			d.Ext = ext
			return err
		}
		if name != "inner" {
			return decodeField(name, raw, d.fieldPtr(name))
		}
		if raw[0] != '{' {
			return errors.New(`field "inner": want an object {"src","dst","proto","sport","dport"}`)
		}
		in := new(Inner)
		var err error
		innerPresent, err = scanObject(json.NewDecoder(bytes.NewReader(raw)), innerFields[:], "inner.",
			func(name string, raw json.RawMessage) error {
				return decodeField("inner."+name, raw, in.fieldPtr(name))
			})
		d.Inner = in
		return err
	})
	if err != nil {
		return Desc{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Desc{}, errors.New("unexpected data after the JSON object (one packet per line)")
	}

	has := func(name string) bool { return present&descBit(name) != 0 }
	for _, f := range []string{"src", "dst", "proto"} {
		if !has(f) {
			return Desc{}, fmt.Errorf("missing field %q", f)
		}
	}
	if !has("in") && !d.Local {
		return Desc{}, errors.New(`missing field "in" (or "local":true for a packet the host sends)`)
	}
	if has("in") && d.In == "" {
		// Validate reads "" as "not given"; here it was given.
		return Desc{}, errors.New(`field "in": "" is not an interface name`)
	}
	if d.hasPorts() {
		for _, f := range []string{"sport", "dport"} {
			if !has(f) {
				return Desc{}, fmt.Errorf("missing field %q (required for %s)", f, d.Proto)
			}
		}
	} else {
		for _, f := range []string{"sport", "dport"} {
			if has(f) {
				return Desc{}, fmt.Errorf("field %q applies only to tcp and udp, not to %s", f, d.protoWhat())
			}
		}
	}
	if d.isICMP() {
		if !has("type") {
			return Desc{}, fmt.Errorf(`missing field "type" (required for %s)`, d.Proto)
		}
	} else {
		for _, f := range []string{"type", "code", "inner"} {
			if has(f) {
				return Desc{}, fmt.Errorf("field %q applies only to %s, not to %s", f, d.icmpWord(), d.protoWhat())
			}
		}
	}
	// Fields whose zero value Validate cannot tell from absent.
	if has("flow") && !d.IsIPv6() {
		return Desc{}, errors.New(`field "flow" (the IPv6 Flow Label) applies only to IPv6 packets`)
	}
	if has("pointer") && !(d.IsIPv6() && d.is(ProtoICMPv6) && d.Type == 4) {
		return Desc{}, errors.New(`field "pointer" applies only to an icmpv6 parameter problem (type 4)`)
	}
	if has("ext") && !d.IsIPv6() {
		return Desc{}, errors.New(`field "ext" (IPv6 extension headers) applies only to IPv6 packets`)
	}
	if d.Inner != nil {
		for _, f := range innerFields {
			if innerPresent&innerBit(f) == 0 {
				return Desc{}, fmt.Errorf("missing field %q", "inner."+f)
			}
		}
	}
	if err := d.Validate(); err != nil {
		return Desc{}, err
	}
	return d, nil
}

// UnmarshalJSON parses b as ParseDescLine does, so json.Unmarshal into
// a Desc is as strict as the packet format.
func (d *Desc) UnmarshalJSON(b []byte) error {
	v, err := ParseDescLine(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// fieldPtr returns where the JSON field name goes in d.
func (d *Desc) fieldPtr(name string) any {
	switch name {
	case "in":
		return &d.In
	case "local":
		return &d.Local
	case "src":
		return &d.Src
	case "dst":
		return &d.Dst
	case "proto":
		return &d.Proto
	case "sport":
		return &d.Sport
	case "dport":
		return &d.Dport
	case "flags":
		return &d.Flags
	case "seq":
		return &d.Seq
	case "ack":
		return &d.Ack
	case "window":
		return &d.Window
	case "type":
		return &d.Type
	case "code":
		return &d.Code
	case "len":
		return &d.Len
	case "ttl":
		return &d.TTL
	case "tos":
		return &d.TOS
	case "id":
		return &d.ID
	case "df":
		return &d.DF
	case "frag_off":
		return &d.FragOff
	case "mf":
		return &d.MF
	case "src_mac":
		return &d.SrcMAC
	case "delay_ms":
		return &d.DelayMS
	case "flow":
		return &d.Flow
	case "target":
		return &d.Target
	case "mtu":
		return &d.MTU
	case "pointer":
		return &d.Pointer
	case "ct":
		return &d.CT
	}
	return nil
}

func (in *Inner) fieldPtr(name string) any {
	switch name {
	case "src":
		return &in.Src
	case "dst":
		return &in.Dst
	case "proto":
		return &in.Proto
	case "sport":
		return &in.Sport
	case "dport":
		return &in.Dport
	}
	return nil
}

// decodeField decodes one field's JSON value into ptr, with an error
// that names the field and says what it wants.
func decodeField(name string, raw json.RawMessage, ptr any) error {
	if a, ok := ptr.(*netip.Addr); ok {
		// netip's own error does not say which field, nor that the
		// value must be a string.
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return fmt.Errorf("field %q: want an IP address as a string, got %s", name, raw)
		}
		v, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("field %q: %q is not an IP address", name, s)
		}
		*a = v
		return nil
	}
	err := json.Unmarshal(raw, ptr)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q: got %s, want %s", name, raw, wantOf(te.Type))
	}
	return fmt.Errorf("field %q: %v", name, err)
}

// scanObject reads one JSON object from dec, field by field, calling
// each with the name and raw value of every known field that is not
// null, and returns the presence mask. It rejects what encoding/json
// would let through: names that differ only in case, and duplicates.
func scanObject(dec *json.Decoder, names []string, prefix string, each func(string, json.RawMessage) error) (uint32, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, jsonSyntax(err)
	}
	if tok != json.Delim('{') {
		return 0, errors.New("want a JSON object {...}")
	}
	var present, seen uint32
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return 0, jsonSyntax(err)
		}
		name, _ := tok.(string)
		bit := fieldBit(names, name)
		if bit == 0 {
			return 0, fmt.Errorf("unknown field %q", prefix+name)
		}
		if seen&bit != 0 {
			return 0, fmt.Errorf("field %q given twice", prefix+name)
		}
		seen |= bit
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, jsonSyntax(err)
		}
		if string(raw) == "null" {
			continue
		}
		present |= bit
		if err := each(name, raw); err != nil {
			return 0, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return 0, jsonSyntax(err)
	}
	return present, nil
}

func jsonSyntax(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errors.New("invalid JSON: unexpected end of line")
	}
	return fmt.Errorf("invalid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
}

func wantOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[TCPFlags]():
		return `a string of flag letters from "FSRPAUEC"`
	case reflect.TypeFor[MAC]():
		return `a string like "02:00:00:00:01:01"`
	case reflect.TypeFor[Proto]():
		return "tcp, udp, icmp or a number 0-255"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Uint8:
		return "an integer 0-255"
	case reflect.Uint16:
		return "an integer 0-65535"
	case reflect.Uint32:
		return "an integer 0-4294967295"
	case reflect.Slice:
		return "a list"
	case reflect.Int, reflect.Int64:
		return "an integer"
	case reflect.String:
		return "a string"
	}
	return t.String()
}

// LineError is an error in one line of a packet file. Error gives
// "FILE:LINE: message", or "line LINE: message" when the file has no
// name.
type LineError struct {
	File string // the file's name, or ""
	Line int    // counted from 1
	Err  error
}

// Error returns "FILE:LINE: message", or "line LINE: message" when File
// is empty.
func (e *LineError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the error of the line.
func (e *LineError) Unwrap() error { return e.Err }

// ReadDescs reads a packet file: one JSON object per line, parsed by
// ParseDescLine. Lines that are empty or only white space are skipped
// and do not count as packets, so the index of a Desc in the result (the
// "i" of the trace output, and the default id minus 1) counts packets,
// not lines. The first bad line stops reading, and the error is a
// *LineError whose File is r's Name() when r has one (an *os.File does):
// "packets.jsonl:3: unknown field \"foo\"". A read error is returned as
// is; lines may be up to 1 MiB long.
func ReadDescs(r io.Reader) ([]Desc, error) {
	var file string
	if n, ok := r.(interface{ Name() string }); ok {
		file = n.Name()
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []Desc
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		d, err := ParseDescLine(b)
		if err != nil {
			return nil, &LineError{File: file, Line: line, Err: err}
		}
		out = append(out, d)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{File: file, Line: line + 1, Err: errors.New("line longer than 1 MiB")}
		}
		return nil, err
	}
	return out, nil
}

// MarshalJSON writes d as one line of the packet format, fields in
// packets.md's order, leaving out fields that do not apply to the
// protocol and optional fields at their default (nil pointers, zero
// values; ports always appear for tcp and udp, type for icmp). The
// protocol is a name for tcp, udp and icmp and a number for the others
// and for raw packets (Raw). For every d that Validate accepts,
// ParseDescLine of the result gives d back (with "in" or "local"
// required as ParseDescLine requires).
func (d Desc) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	field := func(name string, v any) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		j, err := json.Marshal(v)
		if err != nil { // only strings, numbers and bools reach here
			j = []byte("null")
		}
		b = append(b, j...)
	}
	if d.In != "" {
		field("in", d.In)
	}
	if d.Local {
		field("local", true)
	}
	field("src", addrText(d.Src))
	field("dst", addrText(d.Dst))
	field("proto", protoJSON(d.Proto, d.Raw))
	if d.hasPorts() || d.Sport != 0 || d.Dport != 0 {
		field("sport", d.Sport)
		field("dport", d.Dport)
	}
	if d.Flags != nil {
		field("flags", d.Flags.String())
	}
	if d.Seq != nil {
		field("seq", *d.Seq)
	}
	if d.Ack != nil {
		field("ack", *d.Ack)
	}
	if d.Window != nil {
		field("window", *d.Window)
	}
	if d.isICMP() || d.Type != 0 {
		field("type", d.Type)
	}
	if d.Code != 0 {
		field("code", d.Code)
	}
	if in := d.Inner; in != nil {
		// Never raw: an inner packet always has its ports.
		sub := Desc{Src: in.Src, Dst: in.Dst, Proto: in.Proto, Sport: in.Sport, Dport: in.Dport}
		j, _ := sub.MarshalJSON() // cannot fail: no Inner, In, pointers
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"inner":`...)
		b = append(b, j...)
	}
	if d.Len != 0 {
		field("len", d.Len)
	}
	if d.TTL != nil {
		field("ttl", *d.TTL)
	}
	if d.TOS != 0 {
		field("tos", d.TOS)
	}
	if d.ID != nil {
		field("id", *d.ID)
	}
	if d.DF {
		field("df", true)
	}
	if d.FragOff != 0 {
		field("frag_off", d.FragOff)
	}
	if d.MF {
		field("mf", true)
	}
	if !d.SrcMAC.IsZero() {
		field("src_mac", d.SrcMAC.String())
	}
	if d.DelayMS != 0 {
		field("delay_ms", d.DelayMS)
	}
	if d.Flow != 0 {
		field("flow", d.Flow)
	}
	if len(d.Ext) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"ext":`...)
		b = appendExtList(b, d.Ext)
	}
	if d.Target.IsValid() {
		field("target", d.Target.String())
	}
	if d.MTU != nil {
		field("mtu", *d.MTU)
	}
	if d.Pointer != 0 {
		field("pointer", d.Pointer)
	}
	if d.CT != nil {
		field("ct", d.CT.String())
	}
	return append(b, '}'), nil
}

// addrText is the JSON text for an address; the zero Addr gives "" so
// that the line fails to parse rather than claiming some address.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// protoJSON is the names as strings and other protocols, and raw
// packets of any protocol, as numbers, as packets.md writes them.
func protoJSON(p Proto, raw bool) any {
	if named(p) && !raw {
		return p.String()
	}
	return uint8(p)
}
