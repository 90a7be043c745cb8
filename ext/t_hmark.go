package ext

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/internal/jhash"
	"github.com/ipsift/ipsift/packet"
)

// HMARK (iptables' libxt_HMARK, the kernel's xt_HMARK): set the packet's
// mark to a hash of its addresses, ports and protocol (or of its
// connection's tuples with --hmark-tuple ct), scaled into --hmark-mod
// buckets plus --hmark-offset, as hmark_tg_v4 and hmark_tg_v6 do. Both directions of a
// flow get the same mark. An ICMP error is hashed by the packet it
// quotes; fragments and ICMP are hashed without ports.

// HMARK flag bits (XT_HMARK_*), also the option ids.
const (
	hmSrcMask = iota
	hmDstMask
	hmSPI
	hmSPIMask
	hmSport
	hmDport
	hmSportMask
	hmDportMask
	hmProtoMask
	hmRnd
	hmMod
	hmOffset
	hmCT
)

type hmarkTarget struct {
	flags             uint32
	srcMask, dstMask  uint32 // host order
	portMask, portSet [4]byte
	protoMask         uint16
	rnd, mod, offset  uint32
	srcBits, dstBits  int
	// srcAll and dstAll: the mask came from --hmark-tuple src/dst, which
	// means every bit of the family's address.
	srcAll, dstAll bool
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "HMARK",
		Family: AnyFamily,
		Options: []Option{
			{Name: "hmark-tuple", Arg: OneArg},
			{Name: "hmark-src-prefix", Arg: OneArg},
			{Name: "hmark-dst-prefix", Arg: OneArg},
			{Name: "hmark-sport-mask", Arg: OneArg},
			{Name: "hmark-dport-mask", Arg: OneArg},
			{Name: "hmark-spi-mask", Arg: OneArg},
			{Name: "hmark-sport", Arg: OneArg},
			{Name: "hmark-dport", Arg: OneArg},
			{Name: "hmark-spi", Arg: OneArg},
			{Name: "hmark-proto-mask", Arg: OneArg},
			{Name: "hmark-rnd", Arg: OneArg},
			{Name: "hmark-mod", Arg: OneArg, Mandatory: true},
			{Name: "hmark-offset", Arg: OneArg},
		},
		New: func() Target { return &hmarkTarget{} },
	})
}

func (t *hmarkTarget) setTuple(w string) bool {
	l := strings.ToLower(w)
	switch {
	case l == "":
		return false
	case strings.HasPrefix("ct", l):
		t.flags |= 1 << hmCT
	case strings.HasPrefix("src", l):
		t.srcMask, t.srcBits, t.srcAll = 0xffffffff, 32, true
		t.flags |= 1 << hmSrcMask
	case strings.HasPrefix("dst", l):
		t.dstMask, t.dstBits, t.dstAll = 0xffffffff, 32, true
		t.flags |= 1 << hmDstMask
	case strings.HasPrefix("sport", l):
		t.portMask[0], t.portMask[1] = 0xff, 0xff
		t.flags |= 1 << hmSportMask
	case strings.HasPrefix("dport", l):
		t.portMask[2], t.portMask[3] = 0xff, 0xff
		t.flags |= 1 << hmDportMask
	case strings.HasPrefix("proto", l):
		t.protoMask = 0xffff
		t.flags |= 1 << hmProtoMask
	case strings.HasPrefix("spi", l):
		t.portMask = [4]byte{0xff, 0xff, 0xff, 0xff}
		t.flags |= 1 << hmSPIMask
	default:
		return false
	}
	return true
}

// Parse implements Parser.
func (t *hmarkTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "hmark-tuple":
		for _, w := range strings.Split(arg, ",") {
			if !t.setTuple(w) {
				return Errorf("bad --hmark-tuple type %q: use ct, src, dst, sport, dport, proto, spi separated by commas", w)
			}
		}
		return nil
	case "hmark-src-prefix", "hmark-dst-prefix":
		// XTTYPE_PLENMASK: 0-32 for iptables, 0-128 for ip6tables;
		// Finish checks the family's bound.
		n, ok := ParseUintFull(arg, 0, 128)
		if !ok {
			return Errorf("bad --%s %q: write a prefix length (0-32, or 0-128 for ip6tables)", opt, arg)
		}
		mask := U32(PrefixMask4(min(int(n), 32)))
		if opt == "hmark-src-prefix" {
			t.srcMask, t.srcBits, t.srcAll = mask, int(n), false
			t.flags |= 1 << hmSrcMask
		} else {
			t.dstMask, t.dstBits, t.dstAll = mask, int(n), false
			t.flags |= 1 << hmDstMask
		}
		return nil
	}
	max := uint64(0xffffffff)
	switch opt {
	case "hmark-sport-mask", "hmark-dport-mask", "hmark-sport", "hmark-dport", "hmark-proto-mask":
		max = 0xffff
	}
	min := uint64(0)
	if opt == "hmark-mod" {
		min = 1
	}
	v, err := ParseUint(arg, min, max)
	if err != nil {
		return Errorf("bad --%s: %v", opt, err)
	}
	switch opt {
	case "hmark-sport-mask":
		binary.BigEndian.PutUint16(t.portMask[0:], uint16(v))
		t.flags |= 1 << hmSportMask
	case "hmark-dport-mask":
		binary.BigEndian.PutUint16(t.portMask[2:], uint16(v))
		t.flags |= 1 << hmDportMask
	case "hmark-spi-mask":
		binary.BigEndian.PutUint32(t.portMask[:], uint32(v))
		t.flags |= 1 << hmSPIMask
	case "hmark-sport":
		binary.BigEndian.PutUint16(t.portSet[0:], uint16(v))
		t.flags |= 1 << hmSport
	case "hmark-dport":
		binary.BigEndian.PutUint16(t.portSet[2:], uint16(v))
		t.flags |= 1 << hmDport
	case "hmark-spi":
		binary.BigEndian.PutUint32(t.portSet[:], uint32(v))
		t.flags |= 1 << hmSPI
	case "hmark-proto-mask":
		t.protoMask = uint16(v)
		t.flags |= 1 << hmProtoMask
	case "hmark-rnd":
		t.rnd = uint32(v)
		t.flags |= 1 << hmRnd
	case "hmark-mod":
		t.mod = uint32(v)
		t.flags |= 1 << hmMod
	case "hmark-offset":
		t.offset = uint32(v)
		t.flags |= 1 << hmOffset
	}
	return nil
}

func (t *hmarkTarget) has(bit int) bool { return t.flags&(1<<bit) != 0 }

// Finish implements Parser: iptables' HMARK_check and the kernel's.
func (t *hmarkTarget) Finish(r *RuleInfo) error {
	if r.Family == IPv6 {
		// --hmark-tuple src/dst stand for the whole address: 128 bits.
		if t.srcAll {
			t.srcBits = 128
		}
		if t.dstAll {
			t.dstBits = 128
		}
	} else if t.srcBits > 32 || t.dstBits > 32 {
		return Errorf("bad --hmark-src-prefix/--hmark-dst-prefix: an IPv4 prefix length is 0-32")
	}
	if !t.has(hmRnd) {
		return Errorf("HMARK needs --hmark-rnd")
	}
	if t.has(hmSPIMask) && (t.has(hmSportMask) || t.has(hmDportMask)) {
		return Errorf("HMARK: --hmark-spi-mask cannot be combined with --hmark-sport-mask or --hmark-dport-mask")
	}
	if t.has(hmSPI) && (t.has(hmSport) || t.has(hmDport)) {
		return Errorf("HMARK: --hmark-spi cannot be combined with --hmark-sport or --hmark-dport")
	}
	const pkt = 1<<hmSrcMask | 1<<hmDstMask | 1<<hmSPIMask | 1<<hmSportMask | 1<<hmDportMask | 1<<hmProtoMask | 1<<hmSport | 1<<hmDport | 1<<hmSPI
	if t.flags&(pkt|1<<hmCT) == 0 {
		return Errorf("HMARK needs --hmark-tuple (or the masks it stands for)")
	}
	return nil
}

// Save implements Parser.
func (t *hmarkTarget) Save(b *strings.Builder) {
	if t.has(hmSrcMask) {
		fmt.Fprintf(b, " --hmark-src-prefix %d", t.srcBits)
	}
	if t.has(hmDstMask) {
		fmt.Fprintf(b, " --hmark-dst-prefix %d", t.dstBits)
	}
	pm, ps := t.portMask[:], t.portSet[:]
	if t.has(hmSportMask) {
		fmt.Fprintf(b, " --hmark-sport-mask 0x%04x", binary.BigEndian.Uint16(pm[0:]))
	}
	if t.has(hmDportMask) {
		fmt.Fprintf(b, " --hmark-dport-mask 0x%04x", binary.BigEndian.Uint16(pm[2:]))
	}
	if t.has(hmSPIMask) {
		fmt.Fprintf(b, " --hmark-spi-mask 0x%08x", binary.BigEndian.Uint32(pm))
	}
	if t.has(hmSport) {
		fmt.Fprintf(b, " --hmark-sport 0x%04x", binary.BigEndian.Uint16(ps[0:]))
	}
	if t.has(hmDport) {
		fmt.Fprintf(b, " --hmark-dport 0x%04x", binary.BigEndian.Uint16(ps[2:]))
	}
	if t.has(hmSPI) {
		fmt.Fprintf(b, " --hmark-spi 0x%08x", binary.BigEndian.Uint32(ps))
	}
	if t.has(hmProtoMask) {
		fmt.Fprintf(b, " --hmark-proto-mask 0x%02x", t.protoMask)
	}
	if t.has(hmRnd) {
		fmt.Fprintf(b, " --hmark-rnd 0x%08x", t.rnd)
	}
	if t.has(hmMod) {
		fmt.Fprintf(b, " --hmark-mod %d", t.mod)
	}
	if t.has(hmOffset) {
		fmt.Fprintf(b, " --hmark-offset %d", t.offset)
	}
	if t.has(hmCT) {
		b.WriteString(" --hmark-tuple ct")
	}
}

// Print implements Parser.
func (t *hmarkTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" HMARK ")
	if t.has(hmMod) {
		fmt.Fprintf(b, "mod %d ", t.mod)
	}
	if t.has(hmOffset) {
		fmt.Fprintf(b, "+ 0x%x ", t.offset)
	}
	if t.has(hmCT) {
		b.WriteString("ct, ")
	}
	if t.has(hmSrcMask) {
		fmt.Fprintf(b, "src-prefix %d ", t.srcBits)
	}
	if t.has(hmDstMask) {
		fmt.Fprintf(b, "dst-prefix %d ", t.dstBits)
	}
	pm, ps := t.portMask[:], t.portSet[:]
	if t.has(hmSportMask) {
		fmt.Fprintf(b, "sport-mask 0x%x ", binary.BigEndian.Uint16(pm[0:]))
	}
	if t.has(hmDportMask) {
		fmt.Fprintf(b, "dport-mask 0x%x ", binary.BigEndian.Uint16(pm[2:]))
	}
	if t.has(hmSPIMask) {
		fmt.Fprintf(b, "spi-mask 0x%x ", binary.BigEndian.Uint32(pm))
	}
	if t.has(hmSport) {
		fmt.Fprintf(b, "sport 0x%x ", binary.BigEndian.Uint16(ps[0:]))
	}
	if t.has(hmDport) {
		fmt.Fprintf(b, "dport 0x%x ", binary.BigEndian.Uint16(ps[2:]))
	}
	if t.has(hmSPI) {
		fmt.Fprintf(b, "spi 0x%x ", binary.BigEndian.Uint32(ps))
	}
	if t.has(hmProtoMask) {
		fmt.Fprintf(b, "proto-mask 0x%x ", t.protoMask)
	}
	if t.has(hmRnd) {
		fmt.Fprintf(b, "rnd 0x%x ", t.rnd)
	}
}

// hmarkPortsOffset is proto_ports_offset: where the 32 bits HMARK hashes
// as ports start in the transport header, or -1 for none.
func hmarkPortsOffset(proto uint8) int {
	switch proto {
	case 6, 17, 33, 132, 136, 50: // TCP UDP DCCP SCTP UDP-Lite ESP
		return 0
	case 51: // AH
		return 4
	}
	return -1
}

// hmarkTuple is the kernel's hmark_tuple: the masked addresses folded to
// 32 bits (host order; an IPv6 address is the XOR of its four masked
// words), the ports word as hmark_swap_ports leaves it, the protocol.
type hmarkTuple struct {
	src, dst, ports uint32
	proto           uint8
}

// swapPorts is hmark_swap_ports: the 32 bits at the ports offset,
// masked and set, read as two port numbers, the larger in the high half.
func (t *hmarkTarget) swapPorts(b []byte) uint32 {
	var p [4]byte
	for i := range p {
		p[i] = b[i]&t.portMask[i] | t.portSet[i]
	}
	s, d := uint32(binary.BigEndian.Uint16(p[0:])), uint32(binary.BigEndian.Uint16(p[2:]))
	if d > s {
		return d<<16 | s
	}
	return s<<16 | d
}

// hash is hmark_hash.
func (t *hmarkTarget) hash(tu hmarkTuple) uint32 {
	src, dst := tu.src, tu.dst
	if dst < src {
		src, dst = dst, src
	}
	h := jhash.Words3(src, dst, tu.ports, t.rnd)
	h ^= uint32(tu.proto) & uint32(t.protoMask)
	return ReciprocalScale(h, t.mod) + t.offset
}

// mask6 is the 128-bit mask of a prefix length as four words.
func mask6(bits int) (m [4]uint32) {
	for i := range m {
		switch n := bits - 32*i; {
		case n >= 32:
			m[i] = 0xffffffff
		case n > 0:
			m[i] = ^uint32(0) << (32 - n)
		}
	}
	return m
}

// fold6 is hmark_addr6_mask: the XOR of the address's masked words.
func fold6(a []byte, m [4]uint32) uint32 {
	var v uint32
	for i := range m {
		v ^= binary.BigEndian.Uint32(a[4*i:]) & m[i]
	}
	return v
}

// hmarkRun is a compiled HMARK: the target with its IPv6 masks.
type hmarkRun struct {
	hmarkTarget
	src6, dst6 [4]uint32
}

// fold masks an address of either family (hmark_addr_mask).
func (r *hmarkRun) fold(a netip.Addr, src bool) uint32 {
	if a.Is4() {
		if src {
			return U32(a) & r.srcMask
		}
		return U32(a) & r.dstMask
	}
	b := a.As16()
	if src {
		return fold6(b[:], r.src6)
	}
	return fold6(b[:], r.dst6)
}

// ctTuple is hmark_ct_set_htuple: the connection's original source and
// reply source, and their ports (ids for ICMPv6) except for ICMP.
func (r *hmarkRun) ctTuple(c *Ctx) (hmarkTuple, bool) {
	if c.Conn == nil {
		return hmarkTuple{}, false
	}
	osrc, _, osport, _ := c.Conn.Tuple(0)
	rsrc, _, rsport, _ := c.Conn.Tuple(1)
	tu := hmarkTuple{src: r.fold(osrc, true), dst: r.fold(rsrc, false), proto: c.Conn.Proto()}
	if tu.proto != 1 {
		var p [4]byte
		binary.BigEndian.PutUint16(p[0:], osport)
		binary.BigEndian.PutUint16(p[2:], rsport)
		tu.ports = r.swapPorts(p[:])
	}
	return tu, true
}

// tuple4 is hmark_pkt_set_htuple_ipv4: an ICMP error is hashed by the
// packet it quotes (no mark when that header is cut short); ICMP and
// fragments are hashed without ports.
func (r *hmarkRun) tuple4(d []byte) (hmarkTuple, bool) {
	if len(d) < 20 {
		return hmarkTuple{}, false
	}
	off, ihl := 0, int(d[0]&0x0f)*4
	if d[9] == 1 && len(d) >= ihl+8 && d[ihl] <= 18 && icmpIsErrorMsg(d[ihl]) {
		if len(d) < ihl+8+20 {
			return hmarkTuple{}, false
		}
		off = ihl + 8
		ihl = int(d[off]&0x0f) * 4
	}
	ih := d[off:]
	tu := hmarkTuple{src: binary.BigEndian.Uint32(ih[12:]) & r.srcMask, dst: binary.BigEndian.Uint32(ih[16:]) & r.dstMask, proto: ih[9]}
	if tu.proto == 1 || binary.BigEndian.Uint16(ih[6:])&0x3fff != 0 {
		return tu, true
	}
	if po := hmarkPortsOffset(tu.proto); po >= 0 && len(d) >= off+ihl+po+4 {
		tu.ports = r.swapPorts(d[off+ihl+po:])
	}
	return tu, true
}

// tuple6 is hmark_pkt_set_htuple_ipv6: the walk to the upper-layer
// header stops at AH (whose SPI is hashed as ESP's is); a packet whose
// walk fails is hashed as all zeros; an ICMPv6 error (type 1-127) is
// hashed by the packet it quotes (no mark when that one's walk fails);
// ICMPv6 and any packet with a Fragment header are hashed without
// ports.
func (r *hmarkRun) tuple6(d []byte) (hmarkTuple, bool) {
	if len(d) < 40 {
		return hmarkTuple{}, false
	}
	w := packet.FindHdr(d, 40, d[6], -1, packet.FindAuth)
	if w.Err != packet.ExtOK {
		return hmarkTuple{}, true
	}
	ip := d[:40]
	if !w.Frag && w.Proto == packet.ProtoICMPv6 && len(d) >= w.Off+8 && d[w.Off] != 0 && d[w.Off] < 128 {
		nh := w.Off + 8
		if len(d) < nh+40 || d[nh]>>4 != 6 {
			return hmarkTuple{}, false
		}
		ip = d[nh : nh+40]
		if w = packet.FindHdr(d, nh+40, d[nh+6], -1, packet.FindAuth); w.Err != packet.ExtOK {
			return hmarkTuple{}, false
		}
	}
	tu := hmarkTuple{src: fold6(ip[8:24], r.src6), dst: fold6(ip[24:40], r.dst6), proto: w.Proto}
	if tu.proto == packet.ProtoICMPv6 || w.Frag {
		return tu, true
	}
	if po := hmarkPortsOffset(tu.proto); po >= 0 && len(d) >= w.Off+po+4 {
		tu.ports = r.swapPorts(d[w.Off+po:])
	}
	return tu, true
}

// Compile implements Target.
func (t *hmarkTarget) Compile(c *Compiler) (Action, error) {
	r := &hmarkRun{hmarkTarget: *t, src6: mask6(t.srcBits), dst6: mask6(t.dstBits)}
	six := c.Family == IPv6
	return ActionFunc(func(c *Ctx) Verdict {
		var tu hmarkTuple
		ok := false
		switch {
		case r.has(hmCT):
			tu, ok = r.ctTuple(c)
		case c.Pkt == nil:
		case six:
			tu, ok = r.tuple6(rejectData(c.Pkt))
		default:
			tu, ok = r.tuple4(rejectData(c.Pkt))
		}
		if ok {
			c.Mark = r.hash(tu)
		}
		return Continue
	}), nil
}

// icmpIsErrorMsg is the kernel's icmp_is_err: the ICMP types that quote
// a packet (destination unreachable, source quench, redirect, time
// exceeded, parameter problem).
func icmpIsErrorMsg(typ uint8) bool {
	switch typ {
	case 3, 4, 5, 11, 12:
		return true
	}
	return false
}
