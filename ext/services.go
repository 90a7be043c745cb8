package ext

import (
	"fmt"
	"strings"
)

//go:generate go run gen_services.go

// This file is the one place where port words are read. iptables has
// three ways, and each extension uses one of them:
//
//   - xtables_parse_port(word, proto) (tcp, sctp, multiport): a C number
//     in base 0 ("0x16" is 22, "026" is 22), else getservbyname(word,
//     proto): "mdns" is a udp service only, so -p tcp --dport mdns fails;
//   - XTTYPE_PORT and XTTYPE_PORTRC (udp, dccp, conntrack's ports,
//     TPROXY, ipvs): getaddrinfo(NULL, word, NULL), which takes a decimal
//     number (its low 16 bits, if it fits an int) or a name of tcp or udp;
//   - getservbyname(word, NULL) (libxt_NAT's first port): a name of any
//     protocol, the first line of the file that has it.
//
// Names come from services_table.go, the reference system's /etc/services
// (Debian 12, netbase 6.4), so that a ruleset reads the same everywhere.
// Lookups are case-sensitive and take aliases ("www" is 80/tcp), as
// glibc's are.

// service is one name of a line of /etc/services.
type service struct {
	name  string
	port  uint16
	proto string // "tcp", "udp", "sctp", "ddp" ...
	alias bool   // an alias of the line, not its first name
}

// protoServiceName is the protocol name getservbyname is asked with
// for an IP protocol number ("" for one iptables never asks about).
func protoServiceName(proto uint8) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 132:
		return "sctp"
	case 33:
		return "dccp"
	case 136:
		return "udplite"
	}
	return ""
}

// serviceByName is getservbyname(name, proto) on the reference system;
// proto "" is getservbyname(name, NULL): any protocol.
func serviceByName(name, proto string) (uint16, bool) {
	for i := range services {
		s := &services[i]
		if s.name == name && (proto == "" || s.proto == proto) {
			return s.port, true
		}
	}
	return 0, false
}

// servicePortFor is getservbyname(name, proto) for an IP protocol number.
func servicePortFor(name string, proto uint8) (uint16, bool) {
	pn := protoServiceName(proto)
	if pn == "" {
		return 0, false
	}
	return serviceByName(name, pn)
}

// serviceNameFor is getservbyport(port, proto) on the reference system:
// the first name of the first line with that port and protocol, or ""
// (iptables -L then prints the number).
func serviceNameFor(port uint16, proto uint8) string {
	pn := protoServiceName(proto)
	if pn == "" {
		return ""
	}
	for i := range services {
		s := &services[i]
		if s.port == port && s.proto == pn && !s.alias {
			return s.name
		}
	}
	return ""
}

// ServiceName returns the name getservbyport gives a port for a protocol
// on the reference system (the canonical name, never an alias), for -L
// output without -n; "" when it has none.
func ServiceName(port uint16, proto uint8) string { return serviceNameFor(port, proto) }

// ParsePort reads a port as libxtables' XTTYPE_PORT does
// (xtables_getportbyname, that is getaddrinfo(NULL, word, NULL)): a
// decimal number as glibc reads it there (see strtoul10Mod16: "65536" is
// 0, "-1" is refused), or the name of a tcp or udp service ("mdns" is
// 5353, "0x35" is no port).
func ParsePort(s string) (uint16, error) {
	if s == "" {
		return 0, fmt.Errorf("empty port")
	}
	if v, ok := strtoul10Mod16(s); ok {
		return v, nil
	}
	if p, ok := serviceByName(s, "tcp"); ok {
		return p, nil
	}
	if p, ok := serviceByName(s, "udp"); ok {
		return p, nil
	}
	return 0, portError(s, "")
}

// strtoul10Mod16 is the number test of glibc's getaddrinfo for a
// service: strtoul(s, &end, 10) with *end == 0 required (blanks and a
// sign allowed, an overflow saturating at ULONG_MAX, a minus sign
// negating modulo 2^64), the result kept in an int, where a negative
// value means "not a number" (so "-1" and "4294967295" are refused), and
// the port being its low 16 bits ("65536" is 0).
func strtoul10Mod16(s string) (uint16, bool) {
	p := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if p != "" && (p[0] == '+' || p[0] == '-') {
		neg = p[0] == '-'
		p = p[1:]
	}
	if p == "" {
		return 0, false
	}
	var v uint64
	over := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			over = true
		}
		v = v*10 + d
	}
	switch {
	case over:
		v = ^uint64(0)
	case neg:
		v = -v
	}
	if n := int32(uint32(v)); n >= 0 {
		return uint16(n), true
	}
	return 0, false
}

// parseXtPort reads a port as xtables_parse_port(word, proto) does for
// the tcp, sctp and multiport matches: a number 0-65535 as strtoul reads
// it in base 0 (so "0x16" is 22 and "08080" is no number at all), or a
// service name of that protocol: "ssh" is a tcp service only, "amqp" the
// only sctp one, and dccp and udplite have none.
func parseXtPort(s string, proto uint8) (uint16, error) {
	if v, ok := ParseUintFull(s, 0, 65535); ok {
		return uint16(v), nil
	}
	if p, ok := servicePortFor(s, proto); ok {
		return p, nil
	}
	return 0, portError(s, protoServiceName(proto))
}

// parseAnyServicePort is xtables_service_to_port(word, NULL): a name of
// any protocol (libxt_NAT's ports).
func parseAnyServicePort(s string) (uint16, bool) { return serviceByName(s, "") }

// portError says why a port word was not read: a name the protocol does
// not have (and which protocols do have it), or no port at all.
func portError(s, proto string) error {
	var has []string
	seen := map[string]bool{}
	for i := range services {
		if sv := &services[i]; sv.name == s && !seen[sv.proto] {
			seen[sv.proto] = true
			has = append(has, fmt.Sprintf("%s/%d", sv.proto, sv.port))
		}
	}
	switch {
	case len(has) > 0 && proto != "":
		return fmt.Errorf("invalid port/service %q: it is not a %s service (/etc/services has it as %s only); write the port number", s, proto, strings.Join(has, ", "))
	case len(has) > 0:
		return fmt.Errorf("invalid port/service %q: this option takes a tcp or udp service name (/etc/services has it as %s); write the port number", s, strings.Join(has, ", "))
	}
	for i := range services {
		if strings.EqualFold(services[i].name, s) {
			return fmt.Errorf("invalid port/service %q: service names are case-sensitive: write %s", s, services[i].name)
		}
	}
	return fmt.Errorf("invalid port/service %q: a port is a number 0-65535 or a service name from /etc/services", s)
}
