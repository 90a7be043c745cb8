package ext

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
)

// TCPMSS (iptables' libxt_TCPMSS, the kernel's xt_TCPMSS): lower the MSS
// option of TCP SYN packets, to a number (--set-mss) or to the path MTU
// less 40 bytes (--clamp-mss-to-pmtu), as tcpmss_mangle_packet does:
//   - a non-first fragment is left alone; a TCP header that is cut short
//     drops the packet;
//   - an MSS option is only ever lowered, never raised, with the TCP
//     checksum fixed incrementally;
//   - without an MSS option, one is added (MSS at most 536, the IPv4
//     default) when the header has room and no data follows, which
//     grows the packet by 4 bytes and fixes the IP total length and both
//     checksums; with data after the header the packet is left alone.
//
// With iptables-legacy the kernel refuses the rule unless it also
// matches SYN (-m tcp --tcp-flags ... SYN); with iptables-nft, which
// ipsift follows, the kernel skips that check (nft_compat), so ipsift
// accepts the rule either way.
//
// IPv6 (tcpmss_tg6) is the same with a 60-byte minimum (the IPv6 and
// TCP headers), an added option's MSS at most 1220 and the payload
// length grown instead of the total length.
//
// For --clamp-mss-to-pmtu the MTU is the smaller of the routes' MTUs
// towards the packet's destination and back to its source; a Host that
// implements RouteMTUer gives them, otherwise ipsift assumes 1500.

// RouteMTUer is what a Host may implement so that TCPMSS
// --clamp-mss-to-pmtu sees the MTU of the route to dst.
type RouteMTUer interface {
	RouteMTU(dst netip.Addr) int
}

const tcpmssClamp = 0xffff // XT_TCPMSS_CLAMP_PMTU

type tcpmssTarget struct {
	mss uint16
	set bool
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "TCPMSS",
		Family: AnyFamily,
		Proto:  6,
		Options: []Option{
			{Name: "set-mss", Arg: OneArg},
			{Name: "clamp-mss-to-pmtu", Arg: NoArg},
		},
		New: func() Target { return &tcpmssTarget{} },
	})
}

// Parse implements Parser.
func (t *tcpmssTarget) Parse(opt, arg string, invert bool, more *Args) error {
	t.set = true
	if opt == "clamp-mss-to-pmtu" {
		t.mss = tcpmssClamp
		return nil
	}
	v, err := ParseUint(arg, 0, 65535-20)
	if err != nil {
		return Errorf("bad --set-mss: %v", err)
	}
	t.mss = uint16(v)
	return nil
}

// Finish implements Parser.
func (t *tcpmssTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("TCPMSS needs --set-mss or --clamp-mss-to-pmtu")
	}
	if r.Family == IPv6 && t.mss != tcpmssClamp && t.mss > 65535-40 {
		return Errorf("bad --set-mss %d: for IPv6 the MSS is at most %d (65535 less the 40-byte IPv6 header)", t.mss, 65535-40)
	}
	if t.mss == tcpmssClamp && r.Hooks&^(HookForward|HookLocalOut|HookPostRouting) != 0 {
		return Errorf("--clamp-mss-to-pmtu works only in FORWARD, OUTPUT and POSTROUTING (the kernel refuses it in %s)", r.Chain)
	}
	return nil
}

// Save implements Parser.
func (t *tcpmssTarget) Save(b *strings.Builder) {
	if t.mss == tcpmssClamp {
		b.WriteString(" --clamp-mss-to-pmtu")
	} else {
		b.WriteString(" --set-mss " + strconv.Itoa(int(t.mss)))
	}
}

// Print implements Parser.
func (t *tcpmssTarget) Print(b *strings.Builder, numeric bool) {
	if t.mss == tcpmssClamp {
		b.WriteString(" TCPMSS clamp to PMTU")
	} else {
		b.WriteString(" TCPMSS set " + strconv.Itoa(int(t.mss)))
	}
}

// Compile implements Target.
func (t *tcpmssTarget) Compile(c *Compiler) (Action, error) {
	mss := t.mss
	// tcpmss_tg4/6's minlen: the IP and TCP headers.
	minlen := 20 + 20
	if c.Family == IPv6 {
		minlen = 40 + 20
	}
	return ActionFunc(func(c *Ctx) Verdict {
		newmss := mss
		if mss == tcpmssClamp {
			p := c.Pkt
			mtu := 1500
			if h, ok := c.Host.(RouteMTUer); ok && p != nil {
				mtu = min(h.RouteMTU(p.Dst), h.RouteMTU(p.Src))
			}
			if mtu <= minlen {
				return Drop // "unknown or invalid path-MTU"
			}
			newmss = uint16(mtu - minlen)
		}
		if !SetTCPMSS(c, newmss) {
			return Drop
		}
		return Continue
	}), nil
}

// SetTCPMSS lowers (or adds) the MSS option of the TCP packet in c to
// newmss as the kernel's TCPMSS target does (see the file comment); it
// returns false when the kernel would drop the packet. The packet's
// bytes and its Packet fields (TotalLen, L4, TCPDoff) are kept in step.
func SetTCPMSS(c *Ctx, newmss uint16) bool {
	p := c.Pkt
	if p == nil || p.FragOff != 0 {
		return true
	}
	d := rejectData(p)
	hl := p.HdrLen
	l := len(d) - hl
	if hl < 20 || l < 20 {
		return false
	}
	th := d[hl:]
	thl := int(th[12]>>4) * 4
	if l < thl || thl < 20 {
		return false
	}
	for i := 20; i <= thl-4; {
		if th[i] == 2 && th[i+1] == 4 { // TCPOPT_MSS, TCPOLEN_MSS
			old := binary.BigEndian.Uint16(th[i+2:])
			if old <= newmss {
				return true // never raise it
			}
			binary.BigEndian.PutUint16(th[i+2:], newmss)
			sum := binary.BigEndian.Uint16(th[16:])
			binary.BigEndian.PutUint16(th[16:], CsumReplace2(sum, old, newmss))
			return true
		}
		// Zero-length options still move on, as the kernel's optlen.
		if th[i] <= 1 || th[i+1] == 0 {
			i++
		} else {
			i += int(th[i+1])
		}
	}
	if l > thl || thl >= 60 {
		return true // data follows, or no room: leave it
	}
	// RFC 879's default MSS where none was given: 536 for IPv4, 1220
	// for IPv6 (tcpmss_mangle_packet).
	if p.Version == 6 {
		newmss = min(newmss, 1220)
	} else {
		newmss = min(newmss, 536)
	}
	// Grow the packet by 4 bytes; in place when the slice has room.
	n := len(d) + 4
	var nd []byte
	if cap(p.Data) >= n {
		nd = p.Data[:n]
	} else {
		nd = make([]byte, n, n+64)
		copy(nd, d)
	}
	th = nd[hl:]
	copy(th[24:], th[20:l]) // the options move down behind the new MSS
	opt := [4]byte{2, 4, byte(newmss >> 8), byte(newmss)}
	copy(th[20:24], opt[:])
	sum := binary.BigEndian.Uint16(th[16:])
	sum = CsumReplace2(sum, uint16(l), uint16(l+4)) // pseudo-header length
	sum = CsumReplace4(sum, 0, binary.BigEndian.Uint32(opt[:]))
	oldWord := binary.BigEndian.Uint16(th[12:])
	th[12] += 0x10 // data offset + 4 bytes
	sum = CsumReplace2(sum, oldWord, binary.BigEndian.Uint16(th[12:]))
	binary.BigEndian.PutUint16(th[16:], sum)
	if p.Version == 6 {
		binary.BigEndian.PutUint16(nd[4:], uint16(n-40)) // the payload length; no header checksum
	} else {
		ipv4Word(nd, 2, uint16(n))
	}
	p.Data = nd
	p.TotalLen = n
	p.L4 = nd[hl:n]
	p.TCPDoff = thl + 4
	return true
}
