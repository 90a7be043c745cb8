package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// Helpers shared by the ip6tables-only extensions (libip6t_*).

// cStrtoul is C's strtoul(s, &end, 0) as the older libip6t_ parsers call
// it: leading blanks and a sign are read, a minus negates modulo 2^64, an
// overflow gives ULONG_MAX with erange set. digits is false when nothing
// was read (end == s); rest is what follows the number.
func cStrtoul(s string) (v uint64, rest string, digits, erange bool) {
	p := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if p != "" && (p[0] == '+' || p[0] == '-') {
		neg = p[0] == '-'
		p = p[1:]
	}
	if p == "" || strtoulDigit(p[0]) < 0 || strtoulDigit(p[0]) > 9 {
		return 0, s, false, false
	}
	// StrtoulPrefix reads the digits (base 0); its range check is not
	// strtoul's, so only its overflow flag matters here.
	v, rest, ok := StrtoulPrefix(p, 0, 0, 0)
	if !ok {
		return ^uint64(0), rest, true, true
	}
	if neg {
		v = -v
	}
	return v, rest, true, false
}

// saveBang is " !" before an inverted option in save output.
func saveBang(inv bool) string {
	if inv {
		return " !"
	}
	return ""
}

// printAs writes "NAME:[!]N" or "NAMEs:[!]LO:HI" unless the range is
// the full one, as libip6t_ah/frag/rt/mh print their ranges in -L.
func (r spiRange) printAs(b *strings.Builder, name string) {
	if r.full() {
		return
	}
	if r.lo == r.hi {
		b.WriteString(name + ":")
	} else {
		b.WriteString(name + "s:")
	}
	b.WriteString(bangNoSpace(r.inv) + r.String())
}

// saveFull writes " [!] --OPT LO[:HI]" unless the range is the full one.
func (r spiRange) saveFull(b *strings.Builder, opt string) {
	if !r.full() {
		r.save(b, opt)
	}
}

// hdrLenOpt is the "--X-len N" option of the extension-header matches
// (XTTYPE_UINT32 with XTOPT_INVERT).
type hdrLenOpt struct {
	set, inv bool
	n        uint32
}

func (l *hdrLenOpt) parse(arg string, invert bool) error {
	v, ok := ParseUintFull(arg, 0, 0xffffffff)
	if !ok {
		return Errorf("bad value %q: a header length is a number 0-4294967295", arg)
	}
	l.set, l.inv, l.n = true, invert, uint32(v)
	return nil
}

// save writes " [!] --OPT N" when given.
func (l hdrLenOpt) save(b *strings.Builder, opt string) {
	if l.set {
		fmt.Fprintf(b, "%s --%s %d", saveBang(l.inv), opt, l.n)
	}
}

// print writes " length:[!]N" when given.
func (l hdrLenOpt) print(b *strings.Builder) {
	if l.set {
		fmt.Fprintf(b, " length:%s%d", bangNoSpace(l.inv), l.n)
	}
}

// parseHostMask6 reads an IPv6 XTTYPE_HOSTMASK argument, ADDR[/LEN]: the
// address as inet_pton or Debian's /etc/hosts has it, the length 0-128
// (128 when not given). The address is returned as written.
func parseHostMask6(opt, arg string) (netip.Addr, int, error) {
	a, l, hasLen := strings.Cut(arg, "/")
	bits := uint64(128)
	if hasLen {
		n, ok := ParseUintFull(l, 0, 128)
		if !ok {
			return netip.Addr{}, 0, Errorf("bad prefix length %q in --%s %s: write 0-128", l, opt, arg)
		}
		bits = n
	}
	addr, ok := InetPton6(a)
	if !ok {
		if addr, ok = HostName(a, IPv6); !ok {
			return netip.Addr{}, 0, Errorf("bad --%s %q: write an IPv6 address or network such as 2001:db8::/64 (ipsift resolves no names)", opt, arg)
		}
	}
	return addr, int(bits), nil
}
