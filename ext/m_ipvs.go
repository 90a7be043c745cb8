package ext

import (
	"fmt"
	"net/netip"
	"strings"
)

// The ipvs match (-m ipvs --ipvs, --vaddr, --vport, --vproto, --vdir,
// --vmethod, --vportctl): properties of the IPVS (Linux virtual server)
// connection a packet belongs to, as iptables' libxt_ipvs.c reads and
// prints them. ipsift has no IPVS load balancer, so a rule with it
// parses, saves and prints, but Compile refuses it.

// Option bits (XT_IPVS_*), in the order of their option ids.
const (
	ipvsProperty = 1 << iota
	ipvsProto
	ipvsVaddr
	ipvsVport
	ipvsDir
	ipvsMethod
	ipvsVportctl
)

var ipvsOptBits = map[string]uint8{
	"ipvs": ipvsProperty, "vproto": ipvsProto, "vaddr": ipvsVaddr, "vport": ipvsVport,
	"vdir": ipvsDir, "vmethod": ipvsMethod, "vportctl": ipvsVportctl,
}

// ipvsMethods are the forwarding methods by IP_VS_CONN_F_* value.
var ipvsMethods = map[string]uint8{"MASQ": 0, "GATE": 3, "IPIP": 2}

// ipvsMatch is one -m ipvs in one rule (struct xt_ipvs_mtinfo).
type ipvsMatch struct {
	vaddr, vmask    netip.Addr
	vport, vportctl uint16
	l4proto         uint8
	method          uint8
	invert, bitmask uint8
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "ipvs",
		Family: AnyFamily,
		Options: []Option{
			{Name: "ipvs", Arg: NoArg, Invert: true},
			{Name: "vproto", Arg: OneArg, Invert: true},
			{Name: "vaddr", Arg: OneArg, Invert: true},
			{Name: "vport", Arg: OneArg, Invert: true},
			{Name: "vdir", Arg: OneArg},
			{Name: "vmethod", Arg: OneArg, Invert: true},
			{Name: "vportctl", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &ipvsMatch{} },
	})
}

// Parse implements Parser.
func (m *ipvsMatch) Parse(opt, arg string, invert bool, more *Args) error {
	bit, ok := ipvsOptBits[opt]
	if !ok {
		return Errorf("unknown option --%s", opt)
	}
	switch opt {
	case "vproto":
		p, err := ParseProto(arg)
		if err != nil {
			return err
		}
		m.l4proto = p
	case "vaddr":
		a, mk, err := ParseHostMask(arg)
		if err != nil {
			return err
		}
		m.vaddr, m.vmask = a, mk
	case "vport", "vportctl":
		p, err := ParsePort(arg)
		if err != nil {
			return err
		}
		if opt == "vport" {
			m.vport = p
		} else {
			m.vportctl = p
		}
	case "vdir":
		switch strings.ToUpper(arg) {
		case "ORIGINAL":
			m.invert &^= ipvsDir
		case "REPLY":
			m.invert |= ipvsDir
		default:
			return Errorf("bad value %q for --vdir: use ORIGINAL or REPLY", arg)
		}
	case "vmethod":
		v, ok := ipvsMethods[strings.ToUpper(arg)]
		if !ok {
			return Errorf("bad value %q for --vmethod: use GATE, IPIP or MASQ", arg)
		}
		m.method = v
	}
	m.bitmask |= bit
	if invert {
		m.invert |= bit
	}
	return nil
}

// Finish implements Parser: every option but --ipvs implies --ipvs, which
// then may not be inverted.
func (m *ipvsMatch) Finish(r *RuleInfo) error {
	if m.bitmask == 0 {
		return Errorf("IPVS: at least one option is required")
	}
	if m.bitmask&^ipvsProperty != 0 {
		if m.invert&ipvsProperty != 0 {
			return Errorf("! --ipvs cannot be together with other options")
		}
		m.bitmask |= ipvsProperty
	}
	if m.vaddr.IsValid() && (m.vaddr.Is4() && r.Family == IPv6 || m.vaddr.Is6() && r.Family == IPv4) {
		return Errorf("--vaddr %s is not of the rule's address family", m.vaddr)
	}
	return nil
}

func (m *ipvsMatch) dump(b *strings.Builder, prefix string, numeric bool) {
	inv := func(bit uint8) {
		if m.invert&bit != 0 {
			b.WriteString(" !")
		}
	}
	if m.bitmask == ipvsProperty {
		inv(ipvsProperty)
		b.WriteString(" " + prefix + "ipvs")
	}
	if m.bitmask&ipvsProto != 0 {
		inv(ipvsProto)
		fmt.Fprintf(b, " %svproto %d", prefix, m.l4proto)
	}
	if m.bitmask&ipvsVaddr != 0 {
		inv(ipvsVaddr)
		b.WriteString(" " + prefix + "vaddr")
		if !numeric && m.vaddr.IsUnspecified() {
			b.WriteString(" anywhere")
		} else {
			b.WriteString(" " + FormatHostMask(m.vaddr, m.vmask))
		}
	}
	if m.bitmask&ipvsVport != 0 {
		inv(ipvsVport)
		fmt.Fprintf(b, " %svport %d", prefix, m.vport)
	}
	if m.bitmask&ipvsDir != 0 {
		if m.invert&ipvsDir != 0 {
			b.WriteString(" " + prefix + "vdir REPLY")
		} else {
			b.WriteString(" " + prefix + "vdir ORIGINAL")
		}
	}
	if m.bitmask&ipvsMethod != 0 {
		inv(ipvsMethod)
		b.WriteString(" " + prefix + "vmethod")
		for n, v := range ipvsMethods {
			if v == m.method {
				b.WriteString(" " + n)
			}
		}
	}
	if m.bitmask&ipvsVportctl != 0 {
		inv(ipvsVportctl)
		fmt.Fprintf(b, " %svportctl %d", prefix, m.vportctl)
	}
}

// Save implements Parser.
func (m *ipvsMatch) Save(b *strings.Builder) { m.dump(b, "--", true) }

// Print implements Parser.
func (m *ipvsMatch) Print(b *strings.Builder, numeric bool) { m.dump(b, "", numeric) }

// Compile implements Match: refused, see the file comment.
func (m *ipvsMatch) Compile(c *Compiler) (Matcher, error) {
	return nil, Errorf("-m ipvs: ipsift has no IPVS (Linux virtual server) connections, so it cannot know whether or how a packet is load-balanced by IPVS; remove the rule")
}
