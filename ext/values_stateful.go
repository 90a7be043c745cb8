package ext

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds value parsers and printers that the stateful matches
// (conntrack, recent, hashlimit, policy, limit ...) share and that other
// extensions may use too: libxtables' number reading with an end pointer,
// C's atoi, and xtables' host/mask option type, whose address is kept as
// written (not masked) and whose printing leaves out a full mask.

// StrtoulPrefix reads a number at the start of s the way
// xtables_strtoul_base does when the caller passes an end pointer: leading
// blanks are skipped, a '+' is allowed, a '-' is refused, base 0 reads
// 0x hex and 0 octal; it returns the value and the unread rest. ok is false
// when no digit was read, the value overflows 64 bits, or it lies outside
// [min, max] (max 0 means no upper bound, as in libxtables).
func StrtoulPrefix(s string, base int, min, max uint64) (v uint64, rest string, ok bool) {
	p := strings.TrimLeft(s, " \t\n\v\f\r")
	if strings.HasPrefix(p, "-") {
		return 0, s, false
	}
	p = strings.TrimPrefix(p, "+")
	b := base
	digits := p
	if b == 0 || b == 16 {
		if len(p) > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && strtoulDigit(p[2]) >= 0 {
			b, digits = 16, p[2:]
		} else if b == 0 && len(p) > 0 && p[0] == '0' {
			b = 8
		} else if b == 0 {
			b = 10
		}
	}
	n := 0
	overflow := false
	for n < len(digits) {
		d := strtoulDigit(digits[n])
		if d < 0 || d >= b {
			break
		}
		if v > (^uint64(0)-uint64(d))/uint64(b) {
			overflow = true
		}
		v = v*uint64(b) + uint64(d)
		n++
	}
	if n == 0 {
		return 0, s, false
	}
	rest = digits[n:]
	if overflow || v < min || (max != 0 && v > max) {
		return v, rest, false
	}
	return v, rest, true
}

func strtoulDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	}
	return 99
}

// StrtoulFull reads s as a whole number the way xtables_strtoul_base does
// without an end pointer: like StrtoulPrefix, but trailing characters make
// it fail.
func StrtoulFull(s string, base int, min, max uint64) (uint64, bool) {
	v, rest, ok := StrtoulPrefix(s, base, min, max)
	return v, ok && rest == ""
}

// Atoll reads a number the way C's atoll does: blanks, an optional sign,
// decimal digits up to the first other character; 0 when there are none.
// Values beyond 64 bits saturate, as strtoll's do.
func Atoll(s string) int64 {
	p := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if p != "" && (p[0] == '+' || p[0] == '-') {
		neg = p[0] == '-'
		p = p[1:]
	}
	var v uint64
	sat := false
	for i := 0; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		if v > (1<<63)/10 {
			sat = true
		}
		v = v*10 + uint64(p[i]-'0')
		if v > 1<<63 {
			sat = true
		}
	}
	if sat {
		if neg {
			return -1 << 63
		}
		return 1<<63 - 1
	}
	if neg {
		return -int64(v)
	}
	if v == 1<<63 {
		return 1<<63 - 1
	}
	return int64(v)
}

// Atoi reads a number the way C's atoi does (glibc: strtol truncated to
// int), so "7x" is 7, "" is 0 and "-1" is -1.
func Atoi(s string) int32 { return int32(Atoll(s)) }

// ParseHostMask reads xtables' host/mask option type (XTTYPE_HOSTMASK) as
// conntrack's --ctorigsrc and policy's --tunnel-src do: "ADDR",
// "ADDR/LEN" or "ADDR/MASK", IPv4 or IPv6. Unlike -s, the address is kept
// as written, not masked: iptables-save prints "10.1.2.3/8" back. A mask
// that is not a prefix is kept as given. No name is resolved.
func ParseHostMask(s string) (addr, mask netip.Addr, err error) {
	a, m, hasMask := strings.Cut(s, "/")
	addr, err = netip.ParseAddr(a)
	if err != nil || addr.Zone() != "" {
		return addr, mask, fmt.Errorf("host/network %q not found (ipsift resolves no names; write an address)", a)
	}
	addr = addr.Unmap()
	bits := addr.BitLen()
	mask = PrefixMask(bits, bits)
	if !hasMask {
		return addr, mask, nil
	}
	if n, ok := StrtoulFull(m, 10, 0, uint64(bits)); ok && m != "" && m[0] >= '0' && m[0] <= '9' {
		return addr, PrefixMask(bits, int(n)), nil
	}
	mk, err := netip.ParseAddr(m)
	if err != nil || mk.BitLen() != bits || mk.Zone() != "" {
		return addr, mask, fmt.Errorf("bad mask %q: neither a valid network mask nor a prefix length 0-%d", m, bits)
	}
	return addr, mk, nil
}

// PrefixMask returns the mask of a prefix length n for an address of bits
// bits (32 or 128).
func PrefixMask(bits, n int) netip.Addr {
	if bits == 32 {
		return PrefixMask4(n)
	}
	var b [16]byte
	for i := 0; i < 16; i++ {
		switch {
		case n >= 8:
			b[i] = 0xff
			n -= 8
		case n > 0:
			b[i] = byte(0xff << (8 - n))
			n = 0
		}
	}
	return netip.AddrFrom16(b)
}

// FormatHostMask prints an address and mask as xtables_ipaddr_to_numeric
// and xtables_ipmask_to_numeric do: "ADDR" for a full mask, "ADDR/LEN"
// for a prefix, "ADDR/MASK" otherwise.
func FormatHostMask(addr, mask netip.Addr) string {
	return FormatIP(addr) + FormatMaskSuffix(mask)
}

// FormatMaskSuffix is xtables_ipmask_to_numeric (and its IPv6 twin): ""
// for a full mask, "/LEN" for a prefix, "/MASK" for any other mask.
func FormatMaskSuffix(mask netip.Addr) string {
	n := MaskLen(mask)
	switch {
	case n < 0:
		return "/" + FormatIP(mask)
	case n == mask.BitLen():
		return ""
	}
	return "/" + strconv.Itoa(n)
}

// AddrFamily is the family of an address: IPv4 or IPv6 (0 when invalid).
func AddrFamily(a netip.Addr) Family {
	switch {
	case a.Is4():
		return IPv4
	case a.Is6():
		return IPv6
	}
	return 0
}

// Addr16 is an address as 16 bytes, IPv4 in the first four (as the
// kernel's union nf_inet_addr holds it), for masking without allocation.
type Addr16 [16]byte

// ToAddr16 converts an address to the kernel's nf_inet_addr layout: IPv4
// in bytes 0-3, the rest zero.
func ToAddr16(a netip.Addr) Addr16 {
	var r Addr16
	if a.Is4() {
		b := a.As4()
		copy(r[:], b[:])
		return r
	}
	if a.Is6() {
		return a.As16()
	}
	return r
}

// MaskedEqual reports whether a and b agree on every bit set in mask.
func (a Addr16) MaskedEqual(b, mask Addr16) bool {
	for i := range a {
		if (a[i]^b[i])&mask[i] != 0 {
			return false
		}
	}
	return true
}

// And returns a masked by m.
func (a Addr16) And(m Addr16) Addr16 {
	for i := range a {
		a[i] &= m[i]
	}
	return a
}

// Jiffies converts the engine clock (ns) to the kernel's jiffies at hz
// ticks per second: floor(now*hz/1e9), without overflow for any clock
// value. Time-based matches keep their state in jiffies so that they
// round exactly as the kernel does.
func Jiffies(now int64, hz int) uint64 {
	q, r := now/1e9, now%1e9
	if r < 0 {
		q--
		r += 1e9
	}
	return uint64(q)*uint64(hz) + uint64(r)*uint64(hz)/1e9
}

// MsecsToJiffies is the kernel's msecs_to_jiffies: milliseconds rounded
// up to whole jiffies.
func MsecsToJiffies(ms uint64, hz int) uint64 {
	return (ms*uint64(hz) + 999) / 1000
}

// Pow2Below32 is the kernel's POW2_BELOW32: the largest power of two not
// above x (x > 0).
func Pow2Below32(x uint32) uint32 {
	return uint32(Pow2Below64(uint64(x)))
}

// Pow2Below64 is the kernel's POW2_BELOW64: the largest power of two not
// above x (x > 0).
func Pow2Below64(x uint64) uint64 {
	if x == 0 {
		return 1
	}
	p := uint64(1)
	for x > 1 {
		x >>= 1
		p <<= 1
	}
	return p
}
