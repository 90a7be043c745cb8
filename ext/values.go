package ext

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// This file holds the value parsers and printers that many extensions
// share, written once so that every extension reads a port, a number, a
// mark or an address the way iptables' libxtables does.

// ParseUint parses a number the way xtables_strtoul does (C's strtoul
// with base 0: decimal, 0x hex or 0 octal, nothing else), within
// [min, max]; see ParseUintFull.
func ParseUint(s string, min, max uint64) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	v, ok := ParseUintFull(s, 0, ^uint64(0))
	if !ok || s[0] == '-' || s[0] == '+' || s[0] == ' ' {
		return 0, fmt.Errorf("%q is not a number in %d-%d", s, min, max)
	}
	if v < min || v > max {
		return 0, fmt.Errorf("%s is out of range %d-%d", s, min, max)
	}
	return v, nil
}

// ParseValueMask parses "VALUE[/MASK]" (marks, tos): each part a number as
// ParseUint reads it, at most max; without a mask the mask is max (all
// bits of the field).
func ParseValueMask(s string, max uint64) (value, mask uint64, err error) {
	v, m, hasMask := strings.Cut(s, "/")
	value, err = ParseUint(v, 0, max)
	if err != nil {
		return 0, 0, err
	}
	mask = max
	if hasMask {
		if mask, err = ParseUint(m, 0, max); err != nil {
			return 0, 0, err
		}
	}
	return value, mask, nil
}

// FormatValueMask prints "0xVALUE" or "0xVALUE/0xMASK" as
// xtables_save_mark_mask does: the mask is left out when it is all ones
// over max.
func FormatValueMask(value, mask, max uint64) string {
	if mask == max {
		return fmt.Sprintf("0x%x", value)
	}
	return fmt.Sprintf("0x%x/0x%x", value, mask)
}

// SaveString appends " WORD" or " \"WORD\"" the way xtables_save_string
// quotes a string for iptables-save: no quotes when the string is made only
// of letters, digits, '_' and '-'; otherwise double quotes, with '"', '\\'
// and '\” escaped by a backslash.
func SaveString(b *strings.Builder, s string) {
	b.WriteByte(' ')
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if plain {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' || s[i] == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// protocols is the built-in protocol table: iptables' own list
// (xtables_chain_protos) first, then the names of Debian's /etc/protocols
// that firewalls use, so that ipsift needs no /etc/protocols.
var protocols = []struct {
	name string
	num  uint8
}{
	{"tcp", 6}, {"sctp", 132}, {"udp", 17}, {"udplite", 136},
	{"icmp", 1}, {"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50},
	{"ah", 51}, {"mobility-header", 135}, {"ipv6-mh", 135}, {"mh", 135},
	{"dccp", 33}, {"ipcomp", 108}, {"all", 0},
	{"ip", 0}, {"hopopt", 0}, {"igmp", 2}, {"ggp", 3}, {"ipencap", 4},
	{"st", 5}, {"egp", 8}, {"igp", 9}, {"pup", 12}, {"hmp", 20},
	{"xns-idp", 22}, {"rdp", 27}, {"iso-tp4", 29}, {"dccp", 33},
	{"xtp", 36}, {"ddp", 37}, {"idpr-cmtp", 38}, {"ipv6", 41},
	{"ipv6-route", 43}, {"ipv6-frag", 44}, {"idrp", 45}, {"rsvp", 46},
	{"gre", 47}, {"ipv6-crypt", 50}, {"ipv6-auth", 51}, {"skip", 57},
	{"ipv6-nonxt", 59}, {"ipv6-opts", 60}, {"rspf", 73}, {"vmtp", 81},
	{"eigrp", 88}, {"ospf", 89}, {"ax.25", 93}, {"ipip", 94},
	{"etherip", 97}, {"encap", 98}, {"pim", 103}, {"ipcomp", 108},
	{"vrrp", 112}, {"l2tp", 115}, {"isis", 124}, {"fc", 133},
	{"manet", 138}, {"hip", 139}, {"shim6", 140}, {"wesp", 141},
	{"rohc", 142}, {"ethernet", 143},
}

// ParseProto reads a protocol as iptables' -p does: a number 0-255 or a
// name, case-insensitively ("TCP" is tcp).
func ParseProto(s string) (uint8, error) {
	if s == "" {
		return 0, errors.New("empty protocol")
	}
	if s[0] >= '0' && s[0] <= '9' {
		v, err := ParseUint(s, 0, 255)
		if err != nil {
			return 0, fmt.Errorf("unknown protocol %q: a number must be 0-255", s)
		}
		return uint8(v), nil
	}
	l := strings.ToLower(s)
	for _, p := range protocols {
		if p.name == l {
			return p.num, nil
		}
	}
	return 0, fmt.Errorf("unknown protocol %q", s)
}

// SystemProtoName returns the first name of a protocol number in the
// protocol table, as getprotobynumber answers from /etc/protocols, or ""
// (iptables-translate names protocols this way).
func SystemProtoName(p uint8) string {
	for _, e := range protocols {
		if e.num == p {
			return e.name
		}
	}
	return ""
}

// ProtoName returns the name iptables prints for a protocol number, or ""
// when it prints the number. iptables-save names only the protocols of
// its own list (xtables_chain_protos) and prints others as numbers.
func ProtoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	case 58:
		return "ipv6-icmp"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 135:
		return "mobility-header"
	case 33:
		return "dccp"
	case 108:
		return "ipcomp"
	case 0:
		return "all"
	}
	return ""
}

// ParsePortRange reads "PORT", "LO:HI", ":HI", "LO:" or ":" as the tcp
// and udp matches do; a reversed range is an error (iptables 1.8.11).
func ParsePortRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, ":")
	if !isRange {
		p, err := ParsePort(s)
		return p, p, err
	}
	lo, hi = 0, 65535
	if a != "" {
		if lo, err = ParsePort(a); err != nil {
			return 0, 0, err
		}
	}
	if b != "" {
		if hi, err = ParsePort(b); err != nil {
			return 0, 0, err
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("invalid port range %q: %d is above %d (write %d:%d)", s, lo, hi, hi, lo)
	}
	return lo, hi, nil
}

// FormatPortRange prints a port range as iptables-save does: "N" when
// lo == hi, else "LO:HI".
func FormatPortRange(lo, hi uint16) string {
	if lo == hi {
		return strconv.Itoa(int(lo))
	}
	return strconv.Itoa(int(lo)) + ":" + strconv.Itoa(int(hi))
}

// ParseIPv4Mask reads "ADDR[/LEN|/MASK]" as iptables' -s does for IPv4:
// a prefix length or a dotted mask (non-contiguous masks allowed); the
// address comes back masked, as the kernel stores it. No name is ever
// resolved: a word that is not an address is an error.
func ParseIPv4Mask(s string) (addr, mask netip.Addr, err error) {
	a, m, hasMask := strings.Cut(s, "/")
	addr, err = netip.ParseAddr(a)
	if err != nil || !addr.Is4() {
		return addr, mask, fmt.Errorf("host/network %q not found (ipsift resolves no names; write an IPv4 address)", a)
	}
	mask = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	if hasMask {
		if strings.Contains(m, ".") {
			mask, err = netip.ParseAddr(m)
			if err != nil || !mask.Is4() {
				return addr, mask, fmt.Errorf("invalid mask %q specified", m)
			}
		} else {
			n, err := strconv.Atoi(m)
			if err != nil || n < 0 || n > 32 {
				return addr, mask, fmt.Errorf("invalid mask %q specified", m)
			}
			mask = PrefixMask4(n)
		}
	}
	a4, m4 := addr.As4(), mask.As4()
	for i := range a4 {
		a4[i] &= m4[i]
	}
	return netip.AddrFrom4(a4), mask, nil
}

// PrefixMask4 returns the IPv4 mask of a prefix length 0-32.
func PrefixMask4(n int) netip.Addr {
	var v uint32
	if n > 0 {
		v = ^uint32(0) << (32 - n)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// PrefixMask6 returns the IPv6 mask of a prefix length 0-128, as bytes.
func PrefixMask6(n int) [16]byte {
	var m [16]byte
	for i := range m {
		switch {
		case n >= 8:
			m[i] = 0xff
			n -= 8
		case n > 0:
			m[i] = ^byte(0xff >> n)
			n = 0
		}
	}
	return m
}

// MaskLen returns the prefix length of a contiguous mask, or -1 when the
// mask is not contiguous.
func MaskLen(mask netip.Addr) int {
	b := mask.AsSlice()
	n := 0
	seenZero := false
	for _, x := range b {
		for i := 7; i >= 0; i-- {
			if x&(1<<i) != 0 {
				if seenZero {
					return -1
				}
				n++
			} else {
				seenZero = true
			}
		}
	}
	return n
}

// FormatAddrMask prints an address and mask as iptables-save does:
// "ADDR/LEN", or "ADDR/MASK" when the mask is not contiguous.
func FormatAddrMask(addr, mask netip.Addr) string {
	if n := MaskLen(mask); n >= 0 {
		return FormatIP(addr) + "/" + strconv.Itoa(n)
	}
	return FormatIP(addr) + "/" + FormatIP(mask)
}

// U32 returns an IPv4 address as a big-endian number, for fast masking on
// the hot path. Non-IPv4 addresses give 0.
func U32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// LMap is a table of names for numbers, read as libxtables'
// xtables_lmap reads iproute2's files (/etc/iproute2/group,
// rt_realms): in file order, the first entry of a number naming it.
type LMap []struct {
	Name string
	ID   uint32
}

// ParseValMaskNamed reads VALUE[/MASK] as xtables_parse_val_mask does
// with a name table: each part a number as ParseUintPrefix reads it (at
// most 0xffffffff; the mask all ones when left out), or, when the word
// does not start with a number followed by nothing or "/", a name of
// names (with no mask). what names the option in the errors.
func ParseValMaskNamed(arg string, names LMap, what string) (val, mask uint32, err error) {
	mask = 0xffffffff
	if v, rest, ok := ParseUintPrefix(arg, 0, 0xffffffff); ok {
		switch {
		case rest == "":
			return uint32(v), mask, nil
		case rest[0] == '/':
			m, rest, ok := ParseUintPrefix(rest[1:], 0, 0xffffffff)
			if !ok {
				return 0, 0, Errorf("bad value for option %s: the mask after / in %q must be a number up to 0xffffffff", what, arg)
			}
			if rest != "" {
				return 0, 0, Errorf("trailing garbage after value for option %s: %q (write VALUE or VALUE/MASK)", what, arg)
			}
			return uint32(v), uint32(m), nil
		}
	}
	if id, ok := names.ID(arg); ok {
		return id, mask, nil
	}
	known := make([]string, len(names))
	for i, n := range names {
		known[i] = n.Name
	}
	return 0, 0, Errorf("could not map name %s to an integer value for option %s: write a number VALUE[/MASK] up to 0xffffffff (names ipsift knows: %s)", arg, what, strings.Join(known, ", "))
}

// ID returns the number of a name.
func (l LMap) ID(name string) (uint32, bool) {
	for _, e := range l {
		if e.Name == name {
			return e.ID, true
		}
	}
	return 0, false
}

// FormatValMaskNamed prints " 0xV/0xM" when the mask is not all ones,
// else " NAME" when useNames and names has the number, else " 0xV", as
// the print functions of realm and devgroup do.
func FormatValMaskNamed(val, mask uint32, names LMap, useNames bool) string {
	if mask != 0xffffffff {
		return fmt.Sprintf(" 0x%x/0x%x", val, mask)
	}
	if useNames {
		for _, e := range names {
			if e.ID == val {
				return " " + e.Name
			}
		}
	}
	return fmt.Sprintf(" 0x%x", val)
}
