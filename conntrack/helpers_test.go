package conntrack

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/ipsift/ipsift/ext"
	"github.com/ipsift/ipsift/packet"
)

// Addresses of the test network (documentation ranges only): a client
// outside (behind eth0 of the kernel harness), a server inside (behind
// wlan0), the firewall's own addresses.
var (
	client  = netip.MustParseAddr("203.0.113.7")
	server  = netip.MustParseAddr("192.0.2.50")
	server2 = netip.MustParseAddr("192.0.2.10")
	fwOut   = netip.MustParseAddr("198.51.100.1")
	gateway = netip.MustParseAddr("198.51.100.254")
)

// ipPacket builds an IPv4 packet (header: ttl 64, id 1) or, for IPv6
// addresses, an IPv6 one (hop limit 64, no extension header; see
// withExt), then l4.
func ipPacket(src, dst netip.Addr, proto uint8, l4 []byte) []byte {
	if src.Is6() {
		b := make([]byte, 40+len(l4))
		b[0] = 0x60
		binary.BigEndian.PutUint16(b[4:], uint16(len(l4)))
		b[6], b[7] = proto, 64
		s, d := src.As16(), dst.As16()
		copy(b[8:], s[:])
		copy(b[24:], d[:])
		copy(b[40:], l4)
		return b
	}
	b := make([]byte, 20+len(l4))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 1)
	b[8] = 64
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], packet.Checksum(b[:20]))
	copy(b[20:], l4)
	return b
}

// psum is the pseudo-header sum of src's family.
func psum(src, dst netip.Addr, proto uint8, n int) uint32 {
	if src.Is6() {
		return packet.PseudoHeaderSum6(src, dst, proto, n)
	}
	return packet.PseudoHeaderSum(src, dst, proto, n)
}

// tcpOpt are TCP options for a SYN: window scale and SACK permitted.
func wscaleOpt(shift uint8) []byte { return []byte{1, 3, 3, shift} }

var sackPermOpt = []byte{1, 1, 4, 2}

// tcpSegment builds a TCP packet with the given flags ("S", "SA", "PA",
// ...), sequence numbers, window, options (padded to 4 bytes) and n
// payload bytes.
func tcpSegment(src, dst netip.Addr, sport, dport uint16, flags string, seq, ack uint32, win uint16, opts []byte, n int) []byte {
	f, err := packet.ParseTCPFlags(flags)
	if err != nil {
		panic(err)
	}
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	hl := 20 + len(opts)
	l4 := make([]byte, hl+n)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint32(l4[4:], seq)
	binary.BigEndian.PutUint32(l4[8:], ack)
	l4[12] = byte(hl/4) << 4
	l4[13] = byte(f)
	binary.BigEndian.PutUint16(l4[14:], win)
	copy(l4[20:], opts)
	for i := hl; i < len(l4); i++ {
		l4[i] = byte(i)
	}
	binary.BigEndian.PutUint16(l4[16:], packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, 6, len(l4)), l4)))
	return ipPacket(src, dst, 6, l4)
}

func udpDatagram(src, dst netip.Addr, sport, dport uint16, n int) []byte {
	l4 := make([]byte, 8+n)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	cs := packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, 17, len(l4)), l4))
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(l4[6:], cs)
	return ipPacket(src, dst, 17, l4)
}

// icmpMsg builds an ICMP message (ICMPv6 for IPv6 addresses, its
// checksum over the pseudo-header) with id/seq (bytes 4-7) and a body.
func icmpMsg(src, dst netip.Addr, typ, code uint8, id, seq uint16, body []byte) []byte {
	l4 := make([]byte, 8+len(body))
	l4[0], l4[1] = typ, code
	binary.BigEndian.PutUint16(l4[4:], id)
	binary.BigEndian.PutUint16(l4[6:], seq)
	copy(l4[8:], body)
	if src.Is6() {
		binary.BigEndian.PutUint16(l4[2:], packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, 58, len(l4)), l4)))
		return ipPacket(src, dst, 58, l4)
	}
	binary.BigEndian.PutUint16(l4[2:], packet.Checksum(l4))
	return ipPacket(src, dst, 1, l4)
}

// icmpError quotes the first 28 bytes of the packet q (IPv6: 48 bytes)
// or all of it when full is true, in an ICMP (ICMPv6) error of the
// given type and code.
func icmpError(src, dst netip.Addr, typ, code uint8, q []byte, full bool) []byte {
	n := 28
	if src.Is6() {
		n = 48
	}
	if !full && len(q) > n {
		q = q[:n]
	}
	return icmpMsg(src, dst, typ, code, 0, 0, q)
}

func rawIP(src, dst netip.Addr, proto uint8, n int) []byte {
	return ipPacket(src, dst, proto, make([]byte, n))
}

func decode(t testing.TB, b []byte) *packet.Packet {
	t.Helper()
	p := new(packet.Packet)
	if err := p.Decode(b); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return p
}

// step is one packet of a scenario: injected on in ("eth0" from the
// client side, "wlan0" from the server side) after waiting wait seconds.
type step struct {
	in   string
	pkt  []byte
	wait float64
	want string // expected state, as stateName gives it ("" to skip)
}

// stateName names a packet's conntrack state as the counting rules of
// the kernel test see it.
func stateName(st ext.CTState, reply bool) string {
	switch st {
	case ext.CTInvalid:
		return "INVALID"
	case ext.CTNew:
		return "NEW"
	case ext.CTEstablished:
		if reply {
			return "ESTABLISHED/REPLY"
		}
		return "ESTABLISHED"
	case ext.CTRelated:
		if reply {
			return "RELATED/REPLY"
		}
		return "RELATED"
	case ext.CTUntracked:
		return "UNTRACKED"
	case Drop:
		return "DROP"
	}
	return "?"
}

// simulate runs steps through a fresh table as forwarded packets: Track,
// then Confirm (every packet is accepted). It returns each packet's state
// and the table's listing.
func simulate(t testing.TB, cfg Config, steps []step) ([]string, []string, *Table) {
	t.Helper()
	tb := New(cfg)
	now := int64(1e12) // any clock will do; start away from 0
	var states []string
	for _, s := range steps {
		now += int64(s.wait * 1e9)
		p := decode(t, append([]byte(nil), s.pkt...))
		e, st, reply := tb.Track(p, now)
		states = append(states, stateName(st, reply))
		if e != nil && !tb.Confirm(e, now) {
			states[len(states)-1] += "+DROP"
		}
	}
	return states, listing(tb), tb
}

// listing returns the table as conntrack -L lines, sorted.
func listing(tb *Table) []string {
	var l []string
	tb.Each(func(e *Entry) { l = append(l, e.String()) })
	sortStrings(l)
	return l
}

// sortStrings sorts conntrack -L lines by everything but the time left.
func sortStrings(l []string) {
	key := func(s string) string {
		f := strings.Fields(s)
		if len(f) > 2 {
			f[2] = ""
		}
		return strings.Join(f, " ")
	}
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && key(l[j]) < key(l[j-1]); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// sameListing compares conntrack -L listings, allowing the time left to
// differ by up to slack seconds (the kernel's clock runs on while the
// test sends its packets).
func sameListing(a, b []string, slack int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		fa, fb := strings.Fields(a[i]), strings.Fields(b[i])
		if len(fa) != len(fb) {
			return false
		}
		for j := range fa {
			if j == 2 {
				x, y := atoi(fa[j]), atoi(fb[j])
				if x-y > slack || y-x > slack {
					return false
				}
				continue
			}
			if fa[j] != fb[j] {
				return false
			}
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1 << 30
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// udpliteDatagram builds a UDP-Lite datagram whose checksum covers cov
// bytes (0: all), as RFC 3828 computes it, or, with kernelSum, as the
// kernel's conntrack checks it (see udplitePacket).
func udpliteDatagram(src, dst netip.Addr, sport, dport uint16, n, cov int, kernelSum bool) []byte {
	l4 := make([]byte, 8+n)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint16(l4[4:], uint16(cov))
	c := cov
	if c == 0 {
		c = len(l4)
	}
	cs := packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, 136, len(l4)), l4[:c]))
	if kernelSum {
		n := len(l4) & 0xff
		if src.Is6() {
			n = len(l4)
		}
		cs = packet.ChecksumFinish(packet.ChecksumAdd(psum(src, dst, 17, n), l4[:c]))
	}
	if cs == 0 {
		cs = 0xffff
	}
	binary.BigEndian.PutUint16(l4[6:], cs)
	return ipPacket(src, dst, 136, l4)
}

// withExt inserts IPv6 extension headers between the IPv6 header of b
// and what follows it. Each header is given whole (its length field
// set); its Next Header byte is filled in to chain them.
func withExt(b []byte, hdrs ...[]byte) []byte {
	out := append([]byte(nil), b[:40]...)
	next := b[6]
	out[6] = 0
	at := 6 // where the Next Header of the previous header is
	for _, h := range hdrs {
		out[at] = h[0]
		at = len(out)
		out = append(out, h...)
	}
	out[at] = next
	out = append(out, b[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

// Extension headers for withExt: the first byte is the header's own
// type (moved into the previous Next Header by withExt).
var (
	hbh8 = []byte{packet.ProtoHopOpts, 0, 1, 4, 0, 0, 0, 0} // PadN
	dst8 = []byte{packet.ProtoDstOpts, 0, 1, 4, 0, 0, 0, 0}
)

// frag6 is a Fragment header (offset in 8-byte units).
func frag6(off uint16, mf bool, id uint32) []byte {
	h := []byte{packet.ProtoFragment, 0, 0, 0, 0, 0, 0, 0}
	v := off << 3
	if mf {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	binary.BigEndian.PutUint32(h[4:], id)
	return h
}
