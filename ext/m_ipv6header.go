package ext

import (
	"fmt"
	"strings"
)

// The ipv6header match (-m ipv6header [!] --header NAME,... [--soft]):
// which extension headers an IPv6 packet carries, as libip6t_ipv6header.c
// reads and prints it and the kernel's ip6t_ipv6header.c tests it. Without
// --soft the packet must carry exactly the named headers; with it, at
// least them. ip6tables only.

// ipv6HeaderFlags are the headers in the order ip6tables prints them,
// with their bit in matchflags (MASK_*) and the name it prints.
var ipv6HeaderFlags = []struct {
	proto uint8
	flag  uint8
	name  string
}{
	{0, 128, "hop-by-hop"}, {60, 64, "ipv6-opts"}, {43, 32, "ipv6-route"},
	{44, 16, "ipv6-frag"}, {51, 8, "ah"}, {50, 4, "esp"}, {59, 2, "ipv6-nonxt"},
	{255, 1, "protocol"},
}

// ipv6HeaderNames are the names ip6tables reads after getprotobyname
// fails (its chain_protos table).
var ipv6HeaderNames = map[string]uint8{
	"hop-by-hop": 0, "protocol": 255, "hop": 0, "dst": 60, "route": 43,
	"frag": 44, "auth": 51, "esp": 50, "none": 59, "prot": 255, "0": 0,
	"60": 60, "43": 43, "44": 44, "51": 51, "50": 50, "59": 59, "255": 255,
}

// ipv6ProtoAliases are the capitalised aliases of Debian's
// /etc/protocols for the extension headers (getprotobyname is
// case-sensitive and reads aliases too).
var ipv6ProtoAliases = map[string]uint8{
	"HOPOPT": 0, "IPv6-Route": 43, "IPv6-Frag": 44, "IPSEC-ESP": 50,
	"IPSEC-AH": 51, "IPv6-NoNxt": 59, "IPv6-Opts": 60,
}

type ipv6headerMatch struct {
	flags uint8
	inv   bool
	soft  bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "ipv6header",
		Family: IPv6,
		Options: []Option{
			{Name: "header", Arg: OneArg, Invert: true, Mandatory: true},
			{Name: "soft", Arg: NoArg},
		},
		New: func() Match { return &ipv6headerMatch{} },
	})
}

// headerProto is name_to_proto: /etc/protocols first, then ip6tables'
// own names.
func headerProto(s string) (uint8, bool) {
	if s != "all" && s != "icmpv6" && s != "mh" && s != "" && (s[0] < '0' || s[0] > '9') {
		for _, p := range protocols {
			if p.name == s {
				return p.num, true
			}
		}
	}
	if p, ok := ipv6ProtoAliases[s]; ok {
		return p, true
	}
	p, ok := ipv6HeaderNames[s]
	return p, ok
}

// Parse implements Parser.
func (m *ipv6headerMatch) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "soft":
		m.soft = true
		return nil
	case "header":
	default:
		return Errorf("unknown option --%s", opt)
	}
	var flags uint8
	for _, name := range strings.Split(arg, ",") {
		if name == "" {
			continue // strtok skips empty fields
		}
		p, ok := headerProto(name)
		if !ok {
			return Errorf("unknown header %q specified: write hop, dst, route, frag, auth, esp, none or prot (or their protocol names)", name)
		}
		found := false
		for _, f := range ipv6HeaderFlags {
			if f.proto == p {
				flags |= f.flag
				found = true
			}
		}
		if !found {
			return Errorf("unknown header `%d' specified: %q is a protocol, not an IPv6 extension header (write hop, dst, route, frag, auth, esp, none or prot)", p, name)
		}
	}
	if flags == 0 {
		return Errorf("ip6t_ipv6header: cannot parse header names in %q", arg)
	}
	m.flags, m.inv = flags, invert
	return nil
}

// Finish implements Parser.
func (m *ipv6headerMatch) Finish(r *RuleInfo) error { return nil }

func (m *ipv6headerMatch) names(b *strings.Builder) {
	first := true
	for _, f := range ipv6HeaderFlags {
		if m.flags&f.flag != 0 {
			if !first {
				b.WriteByte(',')
			}
			b.WriteString(f.name)
			first = false
		}
	}
	if first {
		b.WriteString("NONE")
	}
}

// Save implements Parser.
func (m *ipv6headerMatch) Save(b *strings.Builder) {
	b.WriteString(saveBang(m.inv) + " --header ")
	m.names(b)
	if m.soft {
		b.WriteString(" --soft")
	}
}

// Print implements Parser: " ipv6header flags:!hop-by-hop soft"; -n
// prints the flags in hex.
func (m *ipv6headerMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ipv6header")
	if m.flags != 0 || m.inv {
		b.WriteString(" flags:" + bangNoSpace(m.inv))
		if numeric {
			fmt.Fprintf(b, "0x%02X", m.flags)
		} else {
			m.names(b)
		}
	}
	if m.soft {
		b.WriteString(" soft")
	}
}

// Compile implements Match.
func (m *ipv6headerMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher: ipv6header_mt6 over the headers the packet
// carries (packet.IPv6HeaderMask). Without --soft the packet's set of
// headers must equal the named one (with "!": differ); with --soft it
// must include them all, and with "!" include none of them: the
// kernel's !((temp ^ matchflags ^ invflags) & matchflags) with invflags
// 0xFF (kerneldiff's testdata/regress/ipv6header-soft-inverted).
func (m *ipv6headerMatch) Match(c *Ctx) bool {
	mask, ok := c.Pkt.IPv6HeaderMask()
	if !ok {
		return false
	}
	if m.soft {
		if m.inv {
			return mask&m.flags == 0
		}
		return mask&m.flags == m.flags
	}
	return (mask == m.flags) != m.inv
}
