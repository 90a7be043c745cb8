package ext

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/classify"
	"github.com/ipsift/ipsift/packet"
)

// The multiport match: up to 15 ports or port ranges (a range takes two
// of the 15 places), matched against the source port, the destination
// port, or either, as iptables' libxt_multiport.c (revision 1) reads and
// prints them and the kernel's xt_multiport.c tests them. It works for
// tcp, udp, udplite, sctp and dccp, whose headers all start with the two
// ports; the rule must say which with -p.
//
// A later fragment never matches; a packet too short to hold the four
// port bytes is dropped (see Hotdropper).
//
// iptables checks -p while it reads the ports, so there -p must come
// first; ipsift checks it in Finish, wherever -p stands.

// multiportMax is XT_MULTI_PORTS.
const multiportMax = 15

// Which ports multiport compares (XT_MULTIPORT_*).
const (
	multiportSource = iota
	multiportDest
	multiportEither
)

// multiportMatch is one -m multiport in one rule (struct
// xt_multiport_v1): ports[i] with pflags[i] set starts a range that ends
// at ports[i+1].
type multiportMatch struct {
	flags  uint8
	count  int
	ports  [multiportMax]uint16
	pflags [multiportMax]bool
	invert bool
	given  bool
	arg    string // the port list as given, read again in Finish
	proto  uint8  // the rule's -p, for service names
}

func init() {
	all := []string{"source-ports", "sports", "destination-ports", "dports", "ports"}
	opt := func(name string) Option {
		var ex []string
		for _, n := range all {
			if n != name {
				ex = append(ex, n)
			}
		}
		return Option{Name: name, Arg: OneArg, Invert: true, Excludes: ex}
	}
	RegisterMatch(&MatchType{
		Name:    "multiport",
		Family:  AnyFamily,
		Options: []Option{opt("source-ports"), opt("sports"), opt("destination-ports"), opt("dports"), opt("ports")},
		New:     func() Match { return &multiportMatch{} },
	})
}

// Parse implements Parser.
func (m *multiportMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if m.given {
		return Errorf("only one of --sports, --dports and --ports may be given (they exclude each other)")
	}
	switch opt {
	case "source-ports", "sports":
		m.flags = multiportSource
	case "destination-ports", "dports":
		m.flags = multiportDest
	case "ports":
		m.flags = multiportEither
	default:
		return Errorf("unknown option --%s", opt)
	}
	// Service names depend on the protocol, which is known only in
	// Finish: here names of any protocol are accepted, to report other
	// mistakes at once; Finish reads the list again for the rule's -p.
	if err := m.parsePorts(arg, func(s string) (uint16, error) {
		if p, ok := parseAnyServicePort(s); ok {
			return p, nil
		}
		return parseXtPort(s, 6)
	}); err != nil {
		return err
	}
	m.arg = arg
	m.invert = invert
	m.given = true
	return nil
}

// parsePorts reads "PORT[,PORT|,LO:HI]..." as parse_multi_ports_v1: at
// most 15 places, a range taking two; a range must go upwards strictly
// ("80:80" is refused, as in iptables).
func (m *multiportMatch) parsePorts(arg string, port func(string) (uint16, error)) error {
	words := strings.Split(arg, ",")
	i := 0
	for _, w := range words {
		if i >= multiportMax {
			return Errorf("too many ports specified in %q: multiport takes at most %d ports (a range counts as two); split the rule", arg, multiportMax)
		}
		lo, hi, isRange := strings.Cut(w, ":")
		if isRange && i == multiportMax-1 {
			return Errorf("too many ports specified in %q: multiport takes at most %d ports (a range counts as two); split the rule", arg, multiportMax)
		}
		p, err := port(lo)
		if err != nil {
			return err
		}
		m.ports[i] = p
		if isRange {
			q, err := port(hi)
			if err != nil {
				return err
			}
			if p >= q {
				return Errorf("invalid port range %q: the first port must be below the second (write %d for one port)", w, p)
			}
			m.pflags[i] = true
			i++
			m.ports[i] = q
		}
		i++
	}
	m.count = i
	return nil
}

// Finish implements Parser: the ports need a protocol that has them.
func (m *multiportMatch) Finish(r *RuleInfo) error {
	if !m.given {
		return Errorf("no ports specified: add --dports, --sports or --ports")
	}
	if r.InvProto {
		return Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP, not with ! -p")
	}
	switch r.Proto {
	case 6, 17, 136, 132, 33:
		m.proto = r.Proto
		return m.parsePorts(m.arg, func(s string) (uint16, error) { return parseXtPort(s, r.Proto) })
	case 0:
		return Errorf("multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp' before it")
	}
	return Errorf("multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP")
}

var multiportWhich = [...]string{"sports", "dports", "ports"}

// list writes the port list, each port through port.
func (m *multiportMatch) list(b *strings.Builder, port func(uint16)) {
	for i := 0; i < m.count; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		port(m.ports[i])
		if m.pflags[i] {
			b.WriteByte(':')
			i++
			port(m.ports[i])
		}
	}
}

// Save implements Parser.
func (m *multiportMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --" + multiportWhich[m.flags] + " ")
	m.list(b, func(p uint16) { b.WriteString(strconv.Itoa(int(p))) })
}

// Print implements Parser: " multiport dports 22,80"; iptables puts the
// "!" after a space of its own (" multiport dports  !22").
func (m *multiportMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" multiport " + multiportWhich[m.flags] + " ")
	if m.invert {
		b.WriteString(" !")
	}
	m.list(b, func(p uint16) { appendPort(b, p, m.proto, numeric) })
}

// Compile implements Match.
func (m *multiportMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// test is ports_match_v1.
func (m *multiportMatch) test(src, dst uint16) bool {
	for i := 0; i < m.count; i++ {
		s, e := m.ports[i], m.ports[i]
		if m.pflags[i] {
			i++
			e = m.ports[i]
		}
		switch m.flags {
		case multiportSource:
			if src >= s && src <= e {
				return !m.invert
			}
		case multiportDest:
			if dst >= s && dst <= e {
				return !m.invert
			}
		case multiportEither:
			if src >= s && src <= e || dst >= s && dst <= e {
				return !m.invert
			}
		}
	}
	return m.invert
}

// Match implements Matcher.
func (m *multiportMatch) Match(c *Ctx) bool {
	src, dst, ok := l4Ports(c.Pkt)
	return ok && m.test(src, dst)
}

// Hotdrop implements Hotdropper: a first fragment or whole packet
// without its port bytes is dropped.
func (m *multiportMatch) Hotdrop(c *Ctx) bool {
	p := c.Pkt
	if p.FragOff != 0 {
		return false
	}
	_, _, ok := l4Ports(p)
	return !ok
}

// Explain implements Explainer.
func (m *multiportMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	if p.FragOff != 0 {
		return "a later fragment has no ports: multiport never matches it"
	}
	src, dst, ok := l4Ports(p)
	if !ok {
		return "the packet is too short to hold its ports: it is dropped"
	}
	var want strings.Builder
	m.Save(&want)
	w := strings.TrimSpace(want.String())
	switch m.flags {
	case multiportSource:
		return fmt.Sprintf("%s: the packet's source port is %d", w, src)
	case multiportDest:
		return fmt.Sprintf("%s: the packet's destination port is %d", w, dst)
	}
	return fmt.Sprintf("%s: the packet's ports are %d and %d", w, src, dst)
}

// Classify implements Classifiable: the span of the listed ports, for a
// tcp or udp rule (for other protocols multiport reads raw bytes that
// can be missing from a regular packet, and hotdrops).
func (m *multiportMatch) Classify(r *classify.Rule) bool {
	if m.proto != packet.ProtoTCP && m.proto != packet.ProtoUDP {
		return false
	}
	if m.invert || m.count == 0 || m.flags == multiportEither {
		return true
	}
	lo, hi := m.ports[0], m.ports[0]
	for i := 0; i < m.count; i++ {
		lo, hi = min(lo, m.ports[i]), max(hi, m.ports[i])
	}
	if m.flags == multiportSource {
		r.NarrowSPort(lo, hi)
	} else {
		r.NarrowDPort(lo, hi)
	}
	return true
}
