package ipset

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Key is one element of a set, the same struct for every type so that one
// map serves all of them: the first address dimension in A1 (with its
// prefix length in C1), the second in A2/C2, the port and protocol (an
// ICMP type and code are type<<8|code), the MAC, the mark and the
// interface. IPv4 addresses take the first four bytes of A1/A2. The key
// is comparable and fixed-size, so a lookup hashes it without allocating.
type Key struct {
	A1, A2 [16]byte
	Mark   uint32
	Port   uint16
	Proto  uint8
	C1, C2 uint8
	Phys   bool // hash:net,iface: the name is a physdev's
	MAC    [6]byte
	Iface  [16]byte
}

// IP protocol numbers the port dimension names.
const (
	protoICMP    = 1
	protoTCP     = 6
	protoUDP     = 17
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136
)

// withPorts reports whether a protocol's packets carry ports; for any
// other protocol the kernel stores port 0 (ip_set_proto_with_ports).
func withPorts(p uint8) bool {
	return p == protoTCP || p == protoUDP || p == protoSCTP || p == protoUDPLite
}

var protoNames = map[string]uint8{
	"ip": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8, "igp": 9,
	"pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36,
	"ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45,
	"rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "skip": 57, "ipv6-icmp": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "rspf": 73, "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94,
	"etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124,
	"sctp": 132, "fc": 133, "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137,
	"manet": 138, "hip": 139, "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
}

// protoName is the name ipset prints for a protocol (getprotobynumber as
// /etc/protocols of Debian has it; ICMPv6 as ipset spells it).
func protoName(p uint8) string {
	switch p {
	case protoICMPv6:
		return "icmpv6"
	case 0:
		return "ip"
	}
	for n, v := range protoNames {
		if v == p && n != "ip" && n != "ipv6-icmp" {
			return n
		}
	}
	return strconv.Itoa(int(p))
}

// icmpNames are ipset's names for ICMP type/code pairs (lib/icmp.c),
// first name wins when printing.
var icmpNames = []struct {
	name      string
	typ, code uint8
}{
	{"echo-reply", 0, 0}, {"pong", 0, 0},
	{"network-unreachable", 3, 0}, {"host-unreachable", 3, 1}, {"protocol-unreachable", 3, 2},
	{"port-unreachable", 3, 3}, {"fragmentation-needed", 3, 4}, {"source-route-failed", 3, 5},
	{"network-unknown", 3, 6}, {"host-unknown", 3, 7}, {"network-prohibited", 3, 9},
	{"host-prohibited", 3, 10}, {"TOS-network-unreachable", 3, 11}, {"TOS-host-unreachable", 3, 12},
	{"communication-prohibited", 3, 13}, {"host-precedence-violation", 3, 14},
	{"precedence-cutoff", 3, 15}, {"source-quench", 4, 0}, {"network-redirect", 5, 0},
	{"host-redirect", 5, 1}, {"TOS-network-redirect", 5, 2}, {"TOS-host-redirect", 5, 3},
	{"echo-request", 8, 0}, {"ping", 8, 0}, {"router-advertisement", 9, 0},
	{"router-solicitation", 10, 0}, {"ttl-zero-during-transit", 11, 0},
	{"ttl-zero-during-reassembly", 11, 1}, {"ip-header-bad", 12, 0},
	{"required-option-missing", 12, 1}, {"timestamp-request", 13, 0},
	{"timestamp-reply", 14, 0}, {"address-mask-request", 17, 0}, {"address-mask-reply", 18, 0},
}

// icmpv6Names are ipset's ICMPv6 names (lib/icmpv6.c).
var icmpv6Names = []struct {
	name      string
	typ, code uint8
}{
	{"no-route", 1, 0}, {"communication-prohibited", 1, 1}, {"address-unreachable", 1, 3},
	{"port-unreachable", 1, 4}, {"packet-too-big", 2, 0}, {"ttl-zero-during-transit", 3, 0},
	{"ttl-zero-during-reassembly", 3, 1}, {"bad-header", 4, 0},
	{"unknown-header-type", 4, 1}, {"unknown-option", 4, 2}, {"echo-request", 128, 0},
	{"ping", 128, 0}, {"echo-reply", 129, 0}, {"pong", 129, 0}, {"router-solicitation", 133, 0},
	{"router-advertisement", 134, 0}, {"neighbour-solicitation", 135, 0},
	{"neigbour-solicitation", 135, 0}, {"neighbour-advertisement", 136, 0},
	{"neigbour-advertisement", 136, 0}, {"redirect", 137, 0},
}

// services is the part of /etc/services ipset users write by name.
var services = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "tftp": 69,
	"gopher": 70, "finger": 79, "http": 80, "www": 80, "kerberos": 88, "pop3": 110,
	"sunrpc": 111, "auth": 113, "nntp": 119, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
	"netbios-ssn": 139, "imap2": 143, "imap": 143, "snmp": 161, "snmp-trap": 162, "bgp": 179,
	"irc": 194, "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500, "syslog": 514,
	"submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993, "pop3s": 995, "socks": 1080,
	"openvpn": 1194, "ms-sql-s": 1433, "radius": 1812, "nfs": 2049, "mysql": 3306,
	"rdp": 3389, "ms-wbt-server": 3389, "sip": 5060, "postgresql": 5432, "x11": 6000,
	"http-alt": 8080, "tproxy": 8081,
}

// errSyntax is a parse error as ipset words it.
func errSyntax(format string, a ...any) error {
	return &Error{Msg: "Syntax error: " + fmt.Sprintf(format, a...)}
}

// parseAddr parses one address of the set's family.
func parseAddr(s string, fam Family) (a [16]byte, err error) {
	ip, e := netip.ParseAddr(s)
	if e != nil && fam == Inet {
		// getaddrinfo takes inet_aton's short forms ("0", "10.1")
		ip, e = parseShortV4(s)
	}
	if e != nil || ip.Zone() != "" {
		if fam == Inet6 {
			return a, errSyntax("cannot parse %s: resolving to IPv6 address failed", s)
		}
		return a, errSyntax("cannot parse %s: resolving to IPv4 address failed", s)
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	switch {
	case fam == Inet && ip.Is4():
		b := ip.As4()
		copy(a[:], b[:])
	case fam == Inet6 && ip.Is6():
		a = ip.As16()
	default:
		return a, errSyntax("cannot parse %s: resolving to %s address failed", s, map[Family]string{Inet: "IPv4", Inet6: "IPv6"}[fam])
	}
	return a, nil
}

func hostLen(fam Family) uint8 {
	if fam == Inet6 {
		return 128
	}
	return 32
}

// ipRange is one address dimension as given: a first and last address
// (equal for a plain address) and the prefix length when given as CIDR.
type ipRange struct {
	from, to [16]byte
	cidr     uint8 // hostLen when no prefix was given
	isRange  bool  // written FROM-TO
}

// parseIPSpec parses IP, IP/CIDR or (IPv4) FROM-TO.
func parseIPSpec(s string, fam Family, allowRange bool) (r ipRange, err error) {
	hl := hostLen(fam)
	r.cidr = hl
	if i := strings.IndexByte(s, '/'); i >= 0 {
		n, e := strconv.ParseUint(s[i+1:], 10, 8)
		if e != nil || uint8(n) > hl {
			return r, &Error{Msg: "The value of the CIDR parameter of the IP address is invalid", Code: errInvalidCIDR}
		}
		if r.from, err = parseAddr(s[:i], fam); err != nil {
			return r, err
		}
		r.cidr = uint8(n)
		r.from = andMask(r.from, prefixMask(r.cidr))
		r.to = orMask(r.from, prefixMask(r.cidr))
		return r, nil
	}
	if i := strings.IndexByte(s, '-'); i >= 0 && fam == Inet {
		if !allowRange {
			return r, errSyntax("plain IP address must be supplied: %s", s)
		}
		if r.from, err = parseAddr(s[:i], fam); err != nil {
			return r, err
		}
		if r.to, err = parseAddr(s[i+1:], fam); err != nil {
			return r, err
		}
		if cmp16(r.from, r.to) > 0 {
			r.from, r.to = r.to, r.from
		}
		r.isRange = true
		return r, nil
	} else if i >= 0 && fam == Inet6 && strings.Contains(s[:i], ":") {
		return r, errSyntax("IP address or IP/cidr must be specified: %s", s)
	}
	if r.from, err = parseAddr(s, fam); err != nil {
		return r, err
	}
	r.to = r.from
	return r, nil
}

// prefixMask is the mask of a prefix length (IPv4 prefixes count from
// the first byte as well).
func prefixMask(n uint8) (m [16]byte) {
	for i := 0; i < 16 && n > 0; i++ {
		if n >= 8 {
			m[i] = 0xff
			n -= 8
		} else {
			m[i] = ^byte(0xff >> n)
			n = 0
		}
	}
	return m
}

var masks [129][16]byte

func init() {
	for i := range masks {
		masks[i] = prefixMask(uint8(i))
	}
}

func andMask(a, m [16]byte) (r [16]byte) {
	// two word operations: this is on the lookup path of every
	// network dimension, once per prefix length tried
	binary.LittleEndian.PutUint64(r[0:8], binary.LittleEndian.Uint64(a[0:8])&binary.LittleEndian.Uint64(m[0:8]))
	binary.LittleEndian.PutUint64(r[8:16], binary.LittleEndian.Uint64(a[8:16])&binary.LittleEndian.Uint64(m[8:16]))
	return r
}

func orMask(a, m [16]byte) (r [16]byte) {
	for i := range r {
		r[i] = a[i] | ^m[i]
	}
	return r
}

func cmp16(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func v4(a [16]byte) uint32        { return binary.BigEndian.Uint32(a[:4]) }
func setV4(a *[16]byte, v uint32) { binary.BigEndian.PutUint32(a[:4], v) }

// addrString prints an address of the family.
func addrString(a [16]byte, fam Family) string {
	if fam == Inet {
		return netip.AddrFrom4([4]byte(a[:4])).String()
	}
	return netip.AddrFrom16(a).String()
}

// portSpec is a parsed [proto:]port[-port].
type portSpec struct {
	proto    uint8
	from, to uint16
}

// parsePortSpec parses the port dimension of a hash:*port* element, with
// tcp the default protocol; ICMP takes a type name or TYPE/CODE.
func parsePortSpec(s string, fam Family, allowRange bool) (p portSpec, err error) {
	p.proto = protoTCP
	rest := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		name := s[:i]
		rest = s[i+1:]
		if v, ok := protoNames[name]; ok {
			p.proto = v
		} else if name == "icmpv6" {
			p.proto = protoICMPv6
		} else if n, e := strconv.ParseUint(name, 10, 8); e == nil {
			p.proto = uint8(n)
		} else {
			return p, errSyntax("cannot parse '%s' as a protocol", name)
		}
	}
	switch {
	case p.proto == protoICMP || p.proto == protoICMPv6:
		if p.proto == protoICMP && fam == Inet6 {
			return p, errSyntax("Protocol ICMP can be used with family inet only")
		}
		if p.proto == protoICMPv6 && fam == Inet {
			return p, errSyntax("Protocol ICMPv6 can be used with family inet6 only")
		}
		v, err := parseICMP(rest, p.proto)
		if err != nil {
			return p, err
		}
		p.from, p.to = v, v
		return p, nil
	case withPorts(p.proto):
		return p, parsePortRange(rest, &p.from, &p.to, allowRange)
	default:
		// The kernel stores port 0 for protocols without ports; ipset
		// wants a number there all the same.
		if _, e := strconv.ParseUint(rest, 10, 16); e != nil {
			return p, errSyntax("cannot parse '%s' as a port", rest)
		}
		return p, nil
	}
}

func parseICMP(s string, proto uint8) (uint16, error) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		t, e1 := strconv.ParseUint(s[:i], 10, 8)
		c, e2 := strconv.ParseUint(s[i+1:], 10, 8)
		if e1 != nil || e2 != nil {
			return 0, errSyntax("cannot parse %s as ICMP type/code", s)
		}
		return uint16(t)<<8 | uint16(c), nil
	}
	if proto == protoICMP {
		for _, n := range icmpNames {
			if strings.EqualFold(n.name, s) {
				return uint16(n.typ)<<8 | uint16(n.code), nil
			}
		}
		return 0, errSyntax("cannot parse %s as an ICMP type", s)
	}
	for _, n := range icmpv6Names {
		if strings.EqualFold(n.name, s) {
			return uint16(n.typ)<<8 | uint16(n.code), nil
		}
	}
	return 0, errSyntax("cannot parse %s as an ICMPv6 type", s)
}

func parsePort(s string) (uint16, error) {
	if n, e := strconv.ParseUint(s, 10, 16); e == nil {
		return uint16(n), nil
	}
	if v, ok := services[s]; ok {
		return v, nil
	}
	return 0, errSyntax("cannot parse '%s' as a port", s)
}

// parsePortRange parses PORT or FROM-TO (bitmap:port, and ports of
// tcp/udp/sctp/udplite in hash types).
func parsePortRange(s string, from, to *uint16, allowRange bool) (err error) {
	if i := strings.IndexByte(s, '-'); i > 0 {
		if !allowRange {
			return errSyntax("port range is not allowed here: %s", s)
		}
		if *from, err = parsePort(s[:i]); err != nil {
			return err
		}
		if *to, err = parsePort(s[i+1:]); err != nil {
			return err
		}
		if *from > *to {
			*from, *to = *to, *from
		}
		return nil
	}
	if *from, err = parsePort(s); err != nil {
		return err
	}
	*to = *from
	return nil
}

func portString(proto uint8, port uint16) string {
	switch proto {
	case protoICMP:
		for _, n := range icmpNames {
			if uint16(n.typ)<<8|uint16(n.code) == port {
				return "icmp:" + n.name
			}
		}
		return fmt.Sprintf("icmp:%d/%d", port>>8, port&0xff)
	case protoICMPv6:
		for _, n := range icmpv6Names {
			if uint16(n.typ)<<8|uint16(n.code) == port {
				return "icmpv6:" + n.name
			}
		}
		return fmt.Sprintf("icmpv6:%d/%d", port>>8, port&0xff)
	}
	return protoName(proto) + ":" + strconv.Itoa(int(port))
}

func parseMAC(s string) (m [6]byte, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return m, errSyntax("cannot parse '%s' as an Ethernet address", s)
	}
	for i, p := range parts {
		v, e := strconv.ParseUint(p, 16, 8)
		if e != nil || len(p) == 0 || len(p) > 2 {
			return m, errSyntax("cannot parse '%s' as an Ethernet address", s)
		}
		m[i] = byte(v)
	}
	return m, nil
}

func macString(m [6]byte) string {
	return fmt.Sprintf("%02X:%02X:%02X:%02X:%02X:%02X", m[0], m[1], m[2], m[3], m[4], m[5])
}

// ifaceKey stores an interface name in a key.
func ifaceKey(name string) (k [16]byte) {
	copy(k[:], name)
	return k
}

func ifaceString(k [16]byte) string {
	n := 0
	for n < len(k) && k[n] != 0 {
		n++
	}
	return string(k[:n])
}

// parseShortV4 parses inet_aton's forms with fewer than four parts: the
// last part fills the remaining bytes.
func parseShortV4(s string) (netip.Addr, error) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, errSyntax("bad address")
	}
	var v uint64
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 0, 32)
		if err != nil {
			return netip.Addr{}, err
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, errSyntax("bad address")
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, errSyntax("bad address")
		}
		v |= n
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), nil
}
