package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// This file reads the addresses of -s and -d as iptables does
// (libxtables' xtables_ipparse_multiple), without ever asking a resolver:
//
//  1. iptables' own numeric form (xtables_numeric_to_ipaddr): up to four
//     dot-separated bytes, each read by strtoul in base 0 (so "010" is 8
//     and "0x7f" 127), the missing bytes zero on the right ("10" is
//     10.0.0.0, "127.1" is 127.1.0.0, unlike inet_aton);
//  2. the names of /etc/networks (getnetbyname);
//  3. what getaddrinfo takes as a number (inet_aton: "256" is 0.0.1.0,
//     "0x7f000001" 127.0.0.1);
//  4. the names of /etc/hosts.
//
// iptables would go on to DNS. ipsift stops before it: steps 2 and 4 use
// the files of a default Debian 12 installation (hostsV4, networksV4), so
// that a ruleset reads the same on every machine and offline, and any
// other name is an error saying that it needs a lookup ipsift does not do.

// hostsV4 are the IPv4 names of Debian's default /etc/hosts (the line
// "127.0.1.1 HOSTNAME" names the machine and differs on each). glibc
// compares host names without regard to case.
var hostsV4 = map[string]netip.Addr{
	"localhost": netip.AddrFrom4([4]byte{127, 0, 0, 1}),
}

// hostsV6 are the IPv6 names of the same file, for when ip6tables rules
// are read (the IPv4 lookup never sees them: "-s ip6-localhost" is not
// found by iptables).
var hostsV6 = map[string]netip.Addr{
	"localhost":      netip.IPv6Loopback(),
	"ip6-localhost":  netip.IPv6Loopback(),
	"ip6-loopback":   netip.IPv6Loopback(),
	"ip6-allnodes":   netip.MustParseAddr("ff02::1"),
	"ip6-allrouters": netip.MustParseAddr("ff02::2"),
}

// networksV4 is Debian's default /etc/networks, which getnetbyname reads
// (also without regard to case): "-s loopback/8" is 127.0.0.0/8.
var networksV4 = map[string]netip.Addr{
	"default":    netip.AddrFrom4([4]byte{0, 0, 0, 0}),
	"loopback":   netip.AddrFrom4([4]byte{127, 0, 0, 0}),
	"link-local": netip.AddrFrom4([4]byte{169, 254, 0, 0}),
}

// HostName looks a name up in the built-in copy of Debian's default
// /etc/hosts for an address family (IPv4 or IPv6), as glibc's files
// backend would: case-insensitively.
func HostName(name string, f Family) (netip.Addr, bool) {
	table := hostsV4
	if f == IPv6 {
		table = hostsV6
	}
	a, ok := table[strings.ToLower(name)]
	return a, ok
}

// xtNumericBuf is the size of the buffer __numeric_to_ipaddr copies its
// argument into: longer words are cut to 19 bytes before they are read,
// so "00000000000000000001.2.3.4" is 0.0.0.0.
const xtNumericBuf = 20

// xtNumericIPv4 is xtables_numeric_to_ipaddr (isMask false) and
// xtables_numeric_to_ipmask (isMask true: all four bytes required).
func xtNumericIPv4(s string, isMask bool) (netip.Addr, bool) {
	if len(s) > xtNumericBuf-1 {
		s = s[:xtNumericBuf-1]
	}
	var b [4]byte
	for i := 0; i < 4; i++ {
		part, rest, dot := strings.Cut(s, ".")
		if i == 3 {
			part, dot = s, false
		}
		if !dot && i < 3 && isMask {
			return netip.Addr{}, false
		}
		v, ok := StrtoulFull(part, 0, 0, 255)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
		if !dot {
			break
		}
		s = rest
	}
	return netip.AddrFrom4(b), true
}

// InetAtonExact is glibc's __inet_aton_exact, the numeric test
// getaddrinfo makes before it looks a name up: one to four parts, each a
// C number (decimal, 0x hex, 0 octal) starting with a digit, the last part
// filling the remaining bytes ("10.65535" is 10.0.255.255, "2130706433"
// is 127.0.0.1). Nothing may follow.
func InetAtonExact(s string) (netip.Addr, bool) {
	var parts [4]uint64
	n := 0
	for {
		if s == "" || s[0] < '0' || s[0] > '9' {
			return netip.Addr{}, false
		}
		v, rest, ok := StrtoulPrefix(s, 0, 0, 0xffffffff)
		if !ok {
			return netip.Addr{}, false
		}
		if n == 4 {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
		if rest == "" {
			break
		}
		if rest[0] != '.' || n == 4 {
			return netip.Addr{}, false
		}
		s = rest[1:]
	}
	var v uint32
	for i := 0; i < n-1; i++ {
		if parts[i] > 0xff {
			return netip.Addr{}, false
		}
		v |= uint32(parts[i]) << (24 - 8*i)
	}
	last := parts[n-1]
	if last > 0xffffffff>>(8*(n-1)) {
		return netip.Addr{}, false
	}
	v |= uint32(last)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// ResolveIPv4 finds the address of one host or network word as
// iptables' ipparse_hostnetwork does, in the order described at the top
// of this file; ok is false for a word that would need DNS (or an
// /etc/hosts entry this machine's file has and Debian's does not).
func ResolveIPv4(name string) (netip.Addr, bool) {
	if a, ok := xtNumericIPv4(name, false); ok {
		return a, true
	}
	if a, ok := networksV4[strings.ToLower(name)]; ok {
		return a, true
	}
	if a, ok := InetAtonExact(name); ok {
		return a, true
	}
	return HostName(name, IPv4)
}

// AddrError is a -s/-d word iptables would refuse, or one that would need
// a name lookup ipsift does not do (NeedsLookup).
type AddrError struct {
	Word        string // the address part or mask, as written
	NeedsLookup bool
	msg         string
}

func (e *AddrError) Error() string { return e.msg }

// ParseIPv4Spec reads one element of an -s/-d list as
// xtables_ipparse_multiple does: "ADDR", "ADDR/LEN" or "ADDR/MASK" (the
// mask after the last '/'), leading blanks skipped. The length is a C
// number 0-32 ("0x8" is 8, "08" is refused as a bad octal number); a
// dotted mask may be non-contiguous and is kept. A zero mask makes
// iptables ignore the name ("any/0" is 0.0.0.0/0). The address comes back
// with its host bits cleared, as the kernel stores it.
func ParseIPv4Spec(s string) (addr, mask netip.Addr, err error) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if len(s) > 255 {
		return addr, mask, &AddrError{Word: s, msg: "address too long (iptables: Hostname too long)"}
	}
	name := s
	mask = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		name = s[:i]
		m := s[i+1:]
		if mk, ok := xtNumericIPv4(m, true); ok {
			mask = mk
		} else if n, ok := StrtoulFull(m, 0, 0, 32); ok {
			mask = PrefixMask4(int(n))
		} else {
			msg := fmt.Sprintf("invalid mask %q specified: write a prefix length 0-32 or a dotted mask such as 255.255.255.0", m)
			if len(m) > 1 && m[0] == '0' && strings.Trim(m, "0123456789") == "" {
				msg += fmt.Sprintf(" (a length with a leading 0 is octal, as in C: write %s)", strings.TrimLeft(m, "0"))
			}
			return addr, mask, &AddrError{Word: m, msg: msg}
		}
	}
	if mask.IsUnspecified() {
		return mask, mask, nil // "if a null mask is given, the name is ignored"
	}
	a, ok := ResolveIPv4(name)
	if !ok {
		return addr, mask, lookupError(name, IPv4)
	}
	a4, m4 := a.As4(), mask.As4()
	for i := range a4 {
		a4[i] &= m4[i]
	}
	return netip.AddrFrom4(a4), mask, nil
}

// lookupError says why a host word was not found: either it is no valid
// name at all, or it is one iptables would look up and ipsift does not.
func lookupError(name string, f Family) *AddrError {
	if f == IPv6 {
		if _, ok := ResolveIPv4(name); ok {
			return &AddrError{Word: name, msg: fmt.Sprintf("host/network %q not found: ip6tables reads only IPv6 addresses (an IPv4 address belongs in an iptables rule); write an IPv6 address (e.g. 2001:db8::10 or 2001:db8::/32), or ::/0 for any", name)}
		}
		if !validHostName(name) {
			return &AddrError{Word: name, msg: fmt.Sprintf("host/network %q not found: it is neither an IPv6 address nor a host name; write the address (e.g. 2001:db8::10 or 2001:db8::/32)", name)}
		}
	} else if !validHostName(name) {
		return &AddrError{Word: name, msg: fmt.Sprintf("host/network %q not found: it is neither an IPv4 address nor a host name; write the address (e.g. 192.0.2.10 or 192.0.2.0/24)", name)}
	}
	return &AddrError{Word: name, NeedsLookup: true, msg: fmt.Sprintf("host/network %q is a name: iptables would look it up in /etc/hosts or DNS when the rule is added, and ipsift does no such lookup (it knows only the names of a default /etc/hosts and /etc/networks, such as localhost); write the address", name)}
}

// validHostName reports whether s could be a host name a resolver looks
// up: letters, digits, '-', '_' and dots, no empty label.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// ParseIPv6Spec reads one element of an ip6tables -s/-d list as
// xtables_ip6parse_multiple does: "ADDR", "ADDR/LEN" or "ADDR/MASK" (the
// mask after the last '/'), leading blanks skipped. ADDR is what
// inet_pton(AF_INET6) reads (no zone, no IPv4 short forms: "-s 0" and
// "-s 10/8" are refused, as getaddrinfo(AF_INET6) refuses IPv4 numbers)
// or an IPv6 name of Debian's default /etc/hosts; getnetbyname plays no
// part (libxtables' network_to_ip6addr is empty). The length is a C
// number 0-128; a mask written as an address may be non-contiguous. A
// zero mask ignores the name ("any/0" is ::/0). The address comes back
// with its host bits cleared.
func ParseIPv6Spec(s string) (addr, mask netip.Addr, err error) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	if len(s) > 255 {
		return addr, mask, &AddrError{Word: s, msg: "address too long (ip6tables: Hostname too long)"}
	}
	name := s
	mask = PrefixMask(128, 128)
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		name = s[:i]
		m := s[i+1:]
		if mk, ok := InetPton6(m); ok {
			mask = mk
		} else if n, ok := StrtoulFull(m, 0, 0, 128); ok {
			mask = PrefixMask(128, int(n))
		} else {
			msg := fmt.Sprintf("invalid mask %q specified: write a prefix length 0-128 or a mask written as an IPv6 address such as ffff:ffff::", m)
			if len(m) > 1 && m[0] == '0' && strings.Trim(m, "0123456789") == "" {
				msg += fmt.Sprintf(" (a length with a leading 0 is octal, as in C: write %s)", strings.TrimLeft(m, "0"))
			}
			return addr, mask, &AddrError{Word: m, msg: msg}
		}
	}
	if mask.IsUnspecified() {
		return mask, mask, nil // "if a null mask is given, the name is ignored"
	}
	a, ok := InetPton6(name)
	if !ok {
		a, ok = HostName(name, IPv6)
	}
	if !ok {
		return addr, mask, lookupError(name, IPv6)
	}
	return MaskAddr(a, mask), mask, nil
}

// InetPton6 is inet_pton(AF_INET6): the textual IPv6 forms, including
// an embedded dotted quad, and nothing else (no zone, no bare IPv4).
func InetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// MaskAddr clears the bits of an address that its mask (of the same
// family) does not cover.
func MaskAddr(a, mask netip.Addr) netip.Addr {
	if a.Is4() {
		a4, m4 := a.As4(), mask.As4()
		for i := range a4 {
			a4[i] &= m4[i]
		}
		return netip.AddrFrom4(a4)
	}
	a16, m16 := a.As16(), mask.As16()
	for i := range a16 {
		a16[i] &= m16[i]
	}
	return netip.AddrFrom16(a16)
}

// FormatIP prints an address as inet_ntop does, which is how iptables
// prints every address: IPv4 dotted, IPv6 per glibc's inet_ntop6 (the
// longest run of two or more zero groups as "::", and the last 32 bits
// as a dotted quad when the first 96 are zero or ::ffff:0:0/96, so
// "::1.2.3.4" where Go's String writes "::102:304").
func FormatIP(a netip.Addr) string {
	if !a.Is6() {
		return a.String()
	}
	b := a.As16()
	var w [8]int
	for i := range w {
		w[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	bestBase, bestLen, curBase, curLen := -1, 0, -1, 0
	for i := 0; i < 8; i++ {
		if w[i] == 0 {
			if curBase < 0 {
				curBase, curLen = i, 1
			} else {
				curLen++
			}
			if curLen > bestLen {
				bestBase, bestLen = curBase, curLen
			}
		} else {
			curBase = -1
		}
	}
	if bestLen < 2 {
		bestBase = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if bestBase >= 0 && i >= bestBase && i < bestBase+bestLen {
			if i == bestBase {
				sb.WriteByte(':')
			}
			continue
		}
		if i != 0 {
			sb.WriteByte(':')
		}
		if i == 6 && bestBase == 0 && (bestLen == 6 || bestLen == 5 && w[5] == 0xffff) {
			fmt.Fprintf(&sb, "%d.%d.%d.%d", b[12], b[13], b[14], b[15])
			return sb.String()
		}
		fmt.Fprintf(&sb, "%x", w[i])
	}
	if bestBase >= 0 && bestBase+bestLen == 8 {
		sb.WriteByte(':')
	}
	return sb.String()
}
