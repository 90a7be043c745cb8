package packet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// Ext is one IPv6 extension header of a packet description (packets.md,
// "ext"). Type says which, and only that type's fields may be set:
//
//   - "hbh" (Hop-by-Hop Options) and "dst" (Destination Options): Len,
//     the length in 8-byte units beyond the first 8 (0-255), filled with
//     at most 7 bytes of padding (Pad1/PadN) and, beyond that, options
//     of the unassigned type 0x1E (skippable, RFC 4727), at most 8 of
//     them: what the kernel's ip6_parse_tlv accepts;
//   - "rt" (Routing): RtType 0 or 2 (8 bytes, then Addrs), or 4 (a
//     Segment Routing header, RFC 8754: Addrs is its Segment List, last
//     entry len(Addrs)-1, flags and tag 0); SegLeft;
//   - "frag" (Fragment): Offset (8-byte units, 0-8191), MF, ID (nil: the
//     packet's index + 1, as the top-level id);
//   - "ah" (Authentication Header): SPI; sequence number 0 and 12 bytes
//     of ICV, zeros (24 bytes in all).
type Ext struct {
	Type    string       `json:"type"`
	Len     uint8        `json:"len"`
	RtType  uint8        `json:"rt_type"`
	SegLeft uint8        `json:"segleft"`
	Addrs   []netip.Addr `json:"addrs"`
	Offset  uint16       `json:"offset"`
	MF      bool         `json:"mf"`
	ID      *uint32      `json:"id"`
	SPI     uint32       `json:"spi"`
}

// extFields are the JSON fields of an ext entry, in the order Ext
// lists them; extTypeFields says which apply to each type.
var extFields = [...]string{"type", "len", "rt_type", "segleft", "addrs", "offset", "mf", "id", "spi"}

var extTypeFields = map[string][]string{
	"hbh":  {"len"},
	"dst":  {"len"},
	"rt":   {"rt_type", "segleft", "addrs"},
	"frag": {"offset", "mf", "id"},
	"ah":   {"spi"},
}

// extNumber is the Next Header value of an ext type.
func extNumber(t string) uint8 {
	switch t {
	case "hbh":
		return ProtoHopOpts
	case "dst":
		return ProtoDstOpts
	case "rt":
		return ProtoRouting
	case "frag":
		return ProtoFragment
	}
	return ProtoAH
}

// size is the header's length in bytes.
func (e Ext) size() int {
	switch e.Type {
	case "hbh", "dst":
		return (int(e.Len) + 1) * 8
	case "rt":
		return 8 + 16*len(e.Addrs)
	case "frag":
		return 8
	}
	return 24 // ah: 12 bytes of fields, 12 of ICV
}

// validate checks one ext entry; i is its position, for the message.
func (e Ext) validate(i int) error {
	where := fmt.Sprintf("ext[%d]", i)
	allowed, ok := extTypeFields[e.Type]
	if !ok {
		return fmt.Errorf(`field "%s.type": %q is not an extension header (want hbh, dst, rt, frag or ah)`, where, e.Type)
	}
	has := func(f string) bool {
		for _, a := range allowed {
			if a == f {
				return true
			}
		}
		return false
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"len", e.Len != 0}, {"rt_type", e.RtType != 0}, {"segleft", e.SegLeft != 0}, {"addrs", e.Addrs != nil},
		{"offset", e.Offset != 0}, {"mf", e.MF}, {"id", e.ID != nil}, {"spi", e.SPI != 0},
	} {
		if f.set && !has(f.name) {
			return fmt.Errorf(`field "%s.%s" does not apply to a %s header (it takes %v)`, where, f.name, e.Type, allowed)
		}
	}
	switch e.Type {
	case "rt":
		if e.RtType != 0 && e.RtType != 2 && e.RtType != 4 {
			return fmt.Errorf(`field "%s.rt_type": %d is not a routing header type Build makes (0, 2, or 4 for segment routing)`, where, e.RtType)
		}
		if len(e.Addrs) > 127 {
			return fmt.Errorf(`field "%s.addrs": %d addresses do not fit a routing header (at most 127)`, where, len(e.Addrs))
		}
		for j, a := range e.Addrs {
			if !a.IsValid() || a.Is4() || a.Zone() != "" {
				return fmt.Errorf(`field "%s.addrs[%d]": want an IPv6 address`, where, j)
			}
		}
	case "frag":
		if e.Offset > 0x1fff {
			return fmt.Errorf(`field "%s.offset": %d is too large (at most 8191, in 8-byte units)`, where, e.Offset)
		}
	}
	return nil
}

// validate6 is the part of Validate for IPv6 packets.
func (d Desc) validate6() error {
	if d.DF {
		return errors.New(`field "df" does not apply to IPv6: IPv6 routers never fragment (there is no DF bit)`)
	}
	if d.Flow > 0xfffff {
		return fmt.Errorf(`field "flow": %d is too large (the Flow Label has 20 bits: at most 1048575)`, d.Flow)
	}
	for i, e := range d.Ext {
		if err := e.validate(i); err != nil {
			return err
		}
	}
	nd := d.is(ProtoICMPv6) && (d.Type == 135 || d.Type == 136)
	if d.Target.IsValid() && !nd {
		return errors.New(`field "target" applies only to icmpv6 neighbour solicitations and advertisements (type 135, 136)`)
	}
	if nd {
		if !d.Target.IsValid() {
			return fmt.Errorf(`missing field "target" (required for icmpv6 type %d)`, d.Type)
		}
		if d.Target.Is4() || d.Target.Zone() != "" {
			return fmt.Errorf(`field "target": %s is not an IPv6 address`, d.Target)
		}
	}
	if d.Pointer != 0 && !(d.is(ProtoICMPv6) && d.Type == 4) {
		return errors.New(`field "pointer" applies only to an icmpv6 parameter problem (type 4)`)
	}
	return nil
}

// hasFragHeader reports whether the top-level frag_off and mf ask for a
// Fragment header after the ext headers.
func (d Desc) hasFragHeader() bool { return d.FragOff != 0 || d.MF }

// extLen6 is the bytes between the IPv6 header and the upper layer.
func (d Desc) extLen6() int {
	n := 0
	for _, e := range d.Ext {
		n += e.size()
	}
	if d.hasFragHeader() {
		n += 8
	}
	return n
}

// icmp6BodyLen is the bytes of an ICMPv6 message after its 8-byte
// header, before len: the quoted packet of an error with inner, the
// target and link-layer option of a neighbour solicitation or
// advertisement, and the fixed part of a router advertisement (8 more
// bytes) and of a redirect (target and destination, 32).
func (d Desc) icmp6BodyLen() int {
	switch {
	case d.Inner != nil:
		return inner6Len
	case d.Type == 135 || d.Type == 136:
		return 16 + 8
	case d.Type == 134:
		return 8
	case d.Type == 137:
		return 32
	}
	return 0
}

// inner6Len is the size of a quoted IPv6 packet (packets.md): its IPv6
// header and the first 8 bytes of its transport header.
const inner6Len = ipv6HdrLen + 8

// headerLen6 is headerLen for IPv6.
func (d Desc) headerLen6() int {
	n := ipv6HdrLen + d.extLen6()
	if d.Raw {
		return n
	}
	switch d.Proto {
	case ProtoTCP:
		n += tcpHdrLen
	case ProtoUDP:
		n += udpHdrLen
	case ProtoICMPv6:
		n += icmpHdrLen + d.icmp6BodyLen()
	}
	return n
}

// DefaultTTL6ND is the Hop Limit of neighbour discovery messages (types
// 133-137) unless ttl says otherwise: RFC 4861 makes receivers ignore
// any other.
const DefaultTTL6ND = 255

// DefaultMTU is the MTU of a Packet Too Big unless mtu says otherwise:
// IPv6's minimum link MTU.
const DefaultMTU = 1280

// build6 is Build for a valid IPv6 d: the IPv6 header (version 6,
// Traffic Class TOS, Flow Label, payload length, Hop Limit 64 or 255 for
// neighbour discovery), the Ext headers in order, a Fragment header
// when frag_off or mf is set, then the upper layer as for IPv4 (tcp,
// udp) or ICMPv6: type, code, checksum, then 4 bytes (echo identifier
// and sequence 0; the MTU of a Packet Too Big, 1280 by default; the
// pointer of a Parameter Problem; the flags of a neighbour
// advertisement, solicited and override), then the body (see
// icmp6BodyLen; a solicitation carries a source link-layer address
// option, an advertisement a target one, each link's address), then len
// zero bytes. The transport checksum covers the IPv6 pseudo-header with
// the final destination (see FixChecksums).
func (d Desc) build6(index int, link MAC) []byte {
	b := make([]byte, d.headerLen()+d.Len)
	ttl := uint8(DefaultTTL)
	if d.is(ProtoICMPv6) && d.Type >= 133 && d.Type <= 137 {
		ttl = DefaultTTL6ND
	}
	if d.TTL != nil {
		ttl = *d.TTL
	}
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(d.TOS)<<20|d.Flow)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-ipv6HdrLen))
	b[7] = ttl
	s, t := d.Src.As16(), d.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], t[:])

	// The chain: each header's first byte is the next one's type.
	nextAt := 6
	off := ipv6HdrLen
	defID := uint32(uint16(index + 1))
	for _, e := range d.Ext {
		b[nextAt] = extNumber(e.Type)
		h := b[off : off+e.size()]
		nextAt = off
		off += len(h)
		e.put(h, defID)
	}
	if d.hasFragHeader() {
		b[nextAt] = ProtoFragment
		id := defID
		if d.ID != nil {
			id = uint32(*d.ID)
		}
		putFrag(b[off:off+8], d.FragOff, d.MF, id)
		nextAt = off
		off += 8
	}
	b[nextAt] = uint8(d.Proto)
	l4 := b[off:]
	if d.Raw {
		return b
	}
	switch d.Proto {
	case ProtoTCP, ProtoUDP:
		d.putPorts(l4)
	case ProtoICMPv6:
		l4[0], l4[1] = d.Type, d.Code
		body := l4[icmpHdrLen:]
		switch {
		case d.Type == 2:
			mtu := uint32(DefaultMTU)
			if d.MTU != nil {
				mtu = *d.MTU
			}
			binary.BigEndian.PutUint32(l4[4:], mtu)
		case d.Type == 4:
			binary.BigEndian.PutUint32(l4[4:], d.Pointer)
		case d.Type == 135 || d.Type == 136:
			a := d.Target.As16()
			copy(body[0:16], a[:])
			opt := body[16:24]
			opt[0], opt[1] = 1, 1 // source link-layer address, 8 bytes
			if d.Type == 136 {
				l4[4] = 0x60 // solicited, override
				opt[0] = 2   // target link-layer address
			}
			copy(opt[2:8], link[:])
		}
		if in := d.Inner; in != nil {
			buildInner6(body[:inner6Len], in)
		}
	}
	fixL4Checksum(l4, uint8(d.Proto), d.Src, finalDst(b, b[6], d.Dst))
	return b
}

// putPorts writes d's tcp or udp header at the start of l4 (which runs
// to the packet's end), checksum field zero.
func (d Desc) putPorts(l4 []byte) {
	binary.BigEndian.PutUint16(l4[0:], d.Sport)
	binary.BigEndian.PutUint16(l4[2:], d.Dport)
	if d.Proto == ProtoUDP {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		return
	}
	flags := d.TCPFlagBits()
	seq := uint32(DefaultSeq)
	if d.Seq != nil {
		seq = *d.Seq
	}
	var ack uint32
	if d.Ack != nil {
		ack = *d.Ack
	} else if flags&TCPAck != 0 {
		ack = DefaultSeq + 1
	}
	win := uint16(DefaultWindow)
	if d.Window != nil {
		win = *d.Window
	}
	binary.BigEndian.PutUint32(l4[4:], seq)
	binary.BigEndian.PutUint32(l4[8:], ack)
	l4[12] = (tcpHdrLen / 4) << 4
	l4[13] = uint8(flags)
	binary.BigEndian.PutUint16(l4[14:], win)
}

// putFrag writes a Fragment header (its Next Header left to the chain).
func putFrag(h []byte, offset uint16, mf bool, id uint32) {
	fo := offset << 3
	if mf {
		fo |= 1
	}
	binary.BigEndian.PutUint16(h[2:], fo)
	binary.BigEndian.PutUint32(h[4:], id)
}

// put writes e into h (len(h) == e.size()), all but its Next Header.
func (e Ext) put(h []byte, defID uint32) {
	switch e.Type {
	case "hbh", "dst":
		h[1] = e.Len
		putOptions(h[2:])
	case "rt":
		h[1] = uint8(2 * len(e.Addrs))
		h[2], h[3] = e.RtType, e.SegLeft
		if e.RtType == 4 && len(e.Addrs) > 0 {
			h[4] = uint8(len(e.Addrs) - 1) // last entry
		}
		for i, a := range e.Addrs {
			v := a.As16()
			copy(h[8+16*i:], v[:])
		}
	case "frag":
		id := defID
		if e.ID != nil {
			id = *e.ID
		}
		putFrag(h, e.Offset, e.MF, id)
	case "ah":
		h[1] = uint8(len(h)/4 - 2)
		binary.BigEndian.PutUint32(h[4:], e.SPI)
	}
}

// optUnknown is the option type that fills options beyond padding: 0x1E,
// an experimental type (RFC 4727) whose top bits 00 tell a receiver to
// skip it.
const optUnknown = 0x1e

// putOptions fills an options area (zeros on entry) as the kernel's
// ip6_parse_tlv accepts it: options of type 0x1E of up to 257 bytes
// while more than 7 bytes are left, then one Pad1 or PadN for the rest.
func putOptions(o []byte) {
	for len(o) > 7 {
		n := min(len(o), 2+255)
		o[0], o[1] = optUnknown, uint8(n-2)
		o = o[n:]
	}
	switch len(o) {
	case 0:
	case 1: // Pad1 is a zero byte
	default:
		o[0], o[1] = 1, uint8(len(o)-2) // PadN
	}
}

// buildInner6 writes the 48-byte quoted IPv6 packet of packets.md.
func buildInner6(b []byte, in *Inner) {
	plen := tcpHdrLen
	if in.Proto == ProtoUDP {
		plen = udpHdrLen
	}
	binary.BigEndian.PutUint32(b[0:], 6<<28)
	binary.BigEndian.PutUint16(b[4:], uint16(plen))
	b[6], b[7] = uint8(in.Proto), DefaultTTL
	s, t := in.Src.As16(), in.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], t[:])
	putQuotedL4(b[ipv6HdrLen:], in)
}

// fragInfo locates the fragment data of a built packet b: the offset of
// the data after its IPv4 header or its first Fragment header, the
// fragment offset (8-byte units), MF, identification and protocol (for
// IPv6, the Fragment header's Next Header). ok is false when b is not a
// fragment.
func fragInfo(b []byte) (data int, off uint16, mf bool, id uint32, proto uint8, ok bool) {
	var p Packet
	if p.Decode(b) != nil || !p.IsFragment() {
		return 0, 0, false, 0, 0, false
	}
	if p.Version == 4 {
		return p.HdrLen, p.FragOff, p.MF, uint32(p.ID), p.Proto, true
	}
	w := p.FindHdr(ProtoFragment, 0)
	if w.Err != ExtOK || w.Off+8 > len(b) {
		return 0, 0, false, 0, 0, false
	}
	return w.Off + 8, p.FragOff, p.MF, p.FragID, b[w.Off], true
}

// fixDatagram gives the first fragment b the transport length and
// checksum of its datagram, reassembled from b and the later fragments
// in o.Rest (see BuildWith). It leaves b alone when b is not a first
// fragment or no later fragment follows.
func fixDatagram(b []byte, index int, o BuildOpts) {
	start, off, mf, id, proto, ok := fragInfo(b)
	if !ok || off != 0 || !mf {
		return
	}
	var p Packet
	if p.Decode(b) != nil || p.ExtErr != ExtOK || !p.L4Fixed {
		return
	}
	// The datagram's fragmentable part: b's fragment data, then each
	// later fragment's at its offset.
	whole := append([]byte(nil), b[start:]...)
	found := false
	for j, r := range o.Rest {
		if r.Src != p.Src || r.Dst != p.Dst || r.Validate() != nil {
			continue
		}
		var rb []byte
		if r.IsIPv6() {
			rb = r.build6(index+1+j, o.LinkAddr)
		} else {
			rb = r.build4(index + 1 + j)
		}
		rs, roff, _, rid, rproto, ok := fragInfo(rb)
		if !ok || rid != id || (p.Version == 4 && rproto != proto) {
			continue
		}
		if roff == 0 {
			break // a new first fragment: another datagram
		}
		at := int(roff) * 8
		if need := at + len(rb) - rs; need > len(whole) {
			whole = append(whole, make([]byte, need-len(whole))...)
		}
		copy(whole[at:], rb[rs:])
		found = true
	}
	if !found {
		return
	}
	// The upper-layer header starts HdrLen-start bytes into the
	// fragmentable part (after headers behind the Fragment header).
	u := p.HdrLen - start
	if u < 0 || u > len(whole) {
		return
	}
	l4 := whole[u:]
	if p.Proto == ProtoUDP && len(l4) <= 0xffff {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	dst := p.Dst
	if p.Version == 6 {
		dst = finalDst(b, p.NextHdr, p.Dst)
	}
	fixL4Checksum(l4, p.Proto, p.Src, dst)
	// Back into b: the header bytes that changed (length, checksum).
	copy(b[p.HdrLen:], l4[:min(len(l4), len(b)-p.HdrLen)])
}

// parseExtList parses the JSON value of "ext": a list of objects with
// the fields of Ext, each strict as the packet line is (known fields
// only, once each, only the fields of its type even when zero). An
// empty list is no extension header (nil).
func parseExtList(raw []byte) ([]Ext, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonSyntax(err)
	}
	if tok != json.Delim('[') {
		return nil, errors.New(`field "ext": want a list of headers like [{"type":"hbh"},{"type":"frag","offset":1}]`)
	}
	var out []Ext
	for i := 0; dec.More(); i++ {
		var item json.RawMessage
		if err := dec.Decode(&item); err != nil {
			return nil, jsonSyntax(err)
		}
		var e Ext
		prefix := fmt.Sprintf("ext[%d].", i)
		present, err := scanObject(json.NewDecoder(bytes.NewReader(item)), extFields[:], prefix,
			func(name string, raw json.RawMessage) error {
				return decodeField(prefix+name, raw, e.fieldPtr(name))
			})
		if err != nil {
			return nil, err
		}
		if present&fieldBit(extFields[:], "type") == 0 {
			return nil, fmt.Errorf(`missing field "%stype" (hbh, dst, rt, frag or ah)`, prefix)
		}
		if allowed, ok := extTypeFields[e.Type]; ok {
			for _, f := range extFields[1:] {
				if present&fieldBit(extFields[:], f) == 0 {
					continue
				}
				if !slices.Contains(allowed, f) {
					return nil, fmt.Errorf(`field "%s%s" does not apply to a %s header (it takes %v)`, prefix, f, e.Type, allowed)
				}
			}
		}
		if len(e.Addrs) == 0 {
			e.Addrs = nil
		}
		if err := e.validate(i); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonSyntax(err)
	}
	return out, nil
}

func (e *Ext) fieldPtr(name string) any {
	switch name {
	case "type":
		return &e.Type
	case "len":
		return &e.Len
	case "rt_type":
		return &e.RtType
	case "segleft":
		return &e.SegLeft
	case "addrs":
		return &e.Addrs
	case "offset":
		return &e.Offset
	case "mf":
		return &e.MF
	case "id":
		return &e.ID
	case "spi":
		return &e.SPI
	}
	return nil
}

// appendExtList appends the JSON list of exts, each with its type and
// the fields it sets, in Ext's order.
func appendExtList(b []byte, exts []Ext) []byte {
	b = append(b, '[')
	for i, e := range exts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":`...)
		b = strconv.AppendQuote(b, e.Type)
		num := func(name string, v uint64) {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = strconv.AppendUint(b, v, 10)
		}
		if e.Len != 0 {
			num("len", uint64(e.Len))
		}
		if e.RtType != 0 {
			num("rt_type", uint64(e.RtType))
		}
		if e.SegLeft != 0 {
			num("segleft", uint64(e.SegLeft))
		}
		if e.Addrs != nil {
			b = append(b, `,"addrs":[`...)
			for j, a := range e.Addrs {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendQuote(b, addrText(a))
			}
			b = append(b, ']')
		}
		if e.Offset != 0 {
			num("offset", uint64(e.Offset))
		}
		if e.MF {
			b = append(b, `,"mf":true`...)
		}
		if e.ID != nil {
			num("id", uint64(*e.ID))
		}
		if e.SPI != 0 {
			num("spi", uint64(e.SPI))
		}
		b = append(b, '}')
	}
	return append(b, ']')
}
