package ext

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The NAT targets DNAT, SNAT, MASQUERADE and REDIRECT, as iptables'
// libxt_NAT.c declares, parses and prints them. Their Action does not
// rewrite anything itself: it hands the engine an ext.NATRequest in
// Ctx.NAT and accepts, and the engine and conntrack bind the connection
// as the kernel's nf_nat_setup_info does.
//
// Differences from iptables that cannot be seen in a valid rule:
//   - iptables checks "ports need -p tcp/udp/..." while it reads the
//     option, so it depends on -p coming first; ipsift checks it in
//     Finish, whatever the order.
//   - SNAT and MASQUERADE for IPv4 (and SNAT for IPv6) use the kernel's
//     older range struct, which has no room for the shifted base port of
//     ":1000-2000/100": the kernel keeps the flag and loses the base, so
//     iptables-save prints "/0". ipsift does the same.

const (
	natDNAT = iota
	natSNAT
	natMasquerade
	natRedirect
)

// natTarget is one DNAT, SNAT, MASQUERADE or REDIRECT in one rule.
type natTarget struct {
	kind  int
	r     NATRange
	ports bool // a port range was given (needs -p with ports)
	v6    bool // the addresses were IPv6 (set by parse)
	brack bool // the address was written in [brackets]
	req   NATRequest
}

func init() {
	for _, t := range []struct {
		name  string
		kind  int
		opts  []Option
		hooks HookMask
	}{
		{"DNAT", natDNAT, []Option{
			{Name: "to-destination", Arg: OneArg, Mandatory: true},
			{Name: "random", Arg: NoArg},
			{Name: "persistent", Arg: NoArg},
		}, HookPreRouting | HookLocalOut},
		{"SNAT", natSNAT, []Option{
			{Name: "to-source", Arg: OneArg, Mandatory: true},
			{Name: "random", Arg: NoArg},
			{Name: "random-fully", Arg: NoArg},
			{Name: "persistent", Arg: NoArg},
		}, HookPostRouting | HookLocalIn},
		{"MASQUERADE", natMasquerade, []Option{
			{Name: "to-ports", Arg: OneArg},
			{Name: "random", Arg: NoArg},
			{Name: "random-fully", Arg: NoArg},
		}, HookPostRouting},
		{"REDIRECT", natRedirect, []Option{
			{Name: "to-ports", Arg: OneArg},
			{Name: "random", Arg: NoArg},
		}, HookPreRouting | HookLocalOut},
	} {
		kind := t.kind
		RegisterTarget(&TargetType{
			// The kernel runs connection tracking for rules using it.
			Conntrack: true,
			Name:      t.name,
			Family:    AnyFamily,
			Options:   t.opts,
			Tables:    []string{"nat"},
			Hooks:     t.hooks,
			New:       func() Target { return &natTarget{kind: kind} },
		})
	}
}

// Parse implements Parser.
func (t *natTarget) Parse(opt, arg string, invert bool, more *Args) error {
	switch opt {
	case "to-destination", "to-source":
		return t.parseTo(arg)
	case "to-ports":
		return t.parsePorts(arg)
	case "random":
		t.r.Flags |= NATProtoRandom
	case "random-fully":
		t.r.Flags |= NATProtoRandomFully
	case "persistent":
		t.r.Flags |= NATPersistent
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// parseTo reads "[ADDR[-ADDR]][:PORT[-PORT[/BASE]]]", with an IPv6
// address in brackets when ports follow, as libxt_NAT's parse_to does.
func (t *natTarget) parseTo(arg string) error {
	var addrs, ports string
	hasPorts := false
	if i := strings.IndexByte(arg, '['); i >= 0 {
		end := strings.IndexByte(arg[i+1:], ']')
		if end < 0 {
			return Errorf("invalid address format %q: a [ needs its ]", arg)
		}
		addrs = arg[i+1 : i+1+end]
		rest := arg[i+1+end+1:]
		if c := strings.IndexByte(rest, ':'); c >= 0 {
			ports, hasPorts = rest[c+1:], true
		}
		t.brack = true
	} else {
		addrs = arg
		// One colon is a port; more make it an IPv6 address.
		if c := strings.IndexByte(arg, ':'); c >= 0 && !strings.Contains(arg[c+1:], ":") {
			addrs, ports, hasPorts = arg[:c], arg[c+1:], true
		}
	}
	if hasPorts {
		if err := t.parsePorts(ports); err != nil {
			return err
		}
		if addrs == "" && (t.brack && strings.HasPrefix(arg, "[]") || !t.brack) {
			// ":80" or "[]:80": ports only, no address.
			return nil
		}
	}
	lo, hi, dash := addrs, "", false
	if d := strings.IndexByte(addrs, '-'); d >= 0 {
		lo, hi, dash = addrs[:d], addrs[d+1:], true
	}
	min, err := netip.ParseAddr(lo)
	if err != nil || min.Zone() != "" {
		return Errorf("bad IP address %q (ipsift resolves no names; write an address)", lo)
	}
	max := min
	if dash {
		if max, err = netip.ParseAddr(hi); err != nil || max.Zone() != "" || max.Is4() != min.Is4() {
			return Errorf("bad IP address %q in range %q", hi, addrs)
		}
	}
	t.v6 = !min.Is4()
	t.r.Flags |= NATMapIPs
	t.r.MinAddr, t.r.MaxAddr = min, max
	return nil
}

// parsePorts reads "PORT", "PORT-PORT" or "PORT-PORT/BASE" as
// libxt_NAT's parse_ports does: the first port may be a service name
// (only when it stands alone), the others are numbers; numbers may be
// hex or octal as strtoul reads them.
func (t *natTarget) parsePorts(arg string) error {
	t.ports = true
	t.r.Flags |= NATProtoSpecified
	port, rest, ok := leadingUint(arg, 0, 65535)
	if !ok {
		p, ok := parseAnyServicePort(arg)
		if !ok || arg == "" || arg[0] >= '0' && arg[0] <= '9' {
			return Errorf("port %q not valid: write a number 0-65535 or a service name", arg)
		}
		port, rest = uint64(p), ""
	}
	switch {
	case rest == "":
		t.r.MinPort, t.r.MaxPort = uint16(port), uint16(port)
		return nil
	case rest[0] == '-':
	case rest[0] == ':':
		return Errorf("invalid port:port syntax %q: write a range with a dash, e.g. %d-%s", arg, port, rest[1:])
	default:
		return Errorf("garbage after port value: %q", rest)
	}
	maxArg := rest[1:]
	maxPort, rest, ok := leadingUint(maxArg, 0, 65535)
	if !ok {
		return Errorf("port %q not valid: the end of a range must be a number 0-65535", maxArg)
	}
	if maxPort < port {
		return Errorf("port range %q is reversed: write %d-%d", arg, maxPort, port)
	}
	t.r.MinPort, t.r.MaxPort = uint16(port), uint16(maxPort)
	switch {
	case rest == "":
		return nil
	case rest[0] == '/':
	default:
		return Errorf("garbage after port range: %q", rest)
	}
	baseArg := rest[1:]
	base, _, ok := leadingUint(baseArg, 1, 65535)
	if !ok {
		p, ok := parseAnyServicePort(baseArg)
		if !ok || baseArg == "" || baseArg[0] >= '0' && baseArg[0] <= '9' {
			return Errorf("port %q not valid: the base of a shifted range is 1-65535 or a service name", baseArg)
		}
		base = uint64(p)
	}
	t.r.Flags |= NATProtoOffset
	t.r.BasePort = uint16(base)
	return nil
}

// leadingUint reads the number at the start of s as strtoul with base 0
// does (decimal, 0x hex, 0 octal) and returns it with the rest of s; ok
// is false when s starts with no digit, with a sign, or the number is
// outside [min, max] (xtables_strtoui with an end pointer).
func leadingUint(s string, min, max uint64) (v uint64, rest string, ok bool) {
	i := 0
	base := 10
	switch {
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && len(s) > 2 && isHex(s[2]):
		base, i = 16, 2
	case len(s) >= 1 && s[0] == '0':
		base = 8
	}
	start := i
	for i < len(s) {
		c := s[i]
		var d int
		switch {
		case c >= '0' && c <= '9':
			d = int(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = int(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = int(c-'A') + 10
		default:
			d = 99
		}
		if d >= base {
			break
		}
		v = v*uint64(base) + uint64(d)
		if v > 1<<40 {
			return 0, s, false
		}
		i++
	}
	if i == start {
		return 0, s, false
	}
	if v < min || v > max {
		return v, s[i:], false
	}
	return v, s[i:], true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// natPortProto reports whether -p names a protocol NAT can map ports
// of (libxt_NAT's portok: tcp, udp, sctp, dccp, icmp). iptables looks at
// the protocol number whether or not it is negated.
func natPortProto(p uint8) bool {
	return p == 6 || p == 17 || p == 132 || p == 33 || p == 1
}

// Finish implements Parser.
func (t *natTarget) Finish(r *RuleInfo) error {
	if t.ports && !natPortProto(r.Proto) {
		return Errorf("a port needs -p tcp, udp, sctp or dccp before -j %s", t.name())
	}
	if t.r.Flags&NATMapIPs != 0 {
		if r.Family == IPv4 && t.v6 {
			return Errorf("bad IP address %s: iptables takes IPv4 addresses (use ip6tables for IPv6)", t.r.MinAddr)
		}
		if r.Family == IPv6 && !t.v6 {
			return Errorf("bad IP address %s: ip6tables takes IPv6 addresses", t.r.MinAddr)
		}
	}
	if t.brack && r.Family == IPv4 {
		return Errorf("invalid address format: [brackets] are for IPv6 addresses only")
	}
	if t.r.Flags&NATProtoOffset != 0 {
		switch t.kind {
		case natRedirect:
			return Errorf("shifted portmap ranges (/BASE) are not supported by REDIRECT: write --to-ports %s", FormatNATPorts(t.r.MinPort, t.r.MaxPort))
		case natSNAT, natMasquerade:
			// The kernel's range for these has no base port: it
			// keeps the flag and loses the base (saved as "/0").
			t.r.BasePort = 0
		}
	}
	t.req = NATRequest{Kind: NATDst, Range: t.r}
	switch t.kind {
	case natSNAT:
		t.req.Kind = NATSrc
	case natMasquerade:
		t.req.Kind = NATSrc
		t.req.Masquerade = true
	case natRedirect:
		t.req.Redirect = true
	}
	return nil
}

func (t *natTarget) name() string {
	return [...]string{"DNAT", "SNAT", "MASQUERADE", "REDIRECT"}[t.kind]
}

// FormatNATPorts prints a NAT port range as iptables does: "N" or "LO-HI".
func FormatNATPorts(lo, hi uint16) string {
	if lo == hi {
		return strconv.Itoa(int(lo))
	}
	return strconv.Itoa(int(lo)) + "-" + strconv.Itoa(int(hi))
}

// rangeString is libxt_NAT's sprint_range: addresses (bracketed for IPv6
// when ports follow), then ":PORT[-PORT][/BASE]".
func (t *natTarget) rangeString() string {
	var b strings.Builder
	r := &t.r
	if r.Flags&NATMapIPs != 0 {
		brackets := t.v6 && r.Flags&NATProtoSpecified != 0
		if brackets {
			b.WriteByte('[')
		}
		b.WriteString(r.MinAddr.String())
		if r.MaxAddr != r.MinAddr {
			b.WriteByte('-')
			b.WriteString(r.MaxAddr.String())
		}
		if brackets {
			b.WriteByte(']')
		}
	}
	if r.Flags&NATProtoSpecified != 0 {
		b.WriteByte(':')
		b.WriteString(FormatNATPorts(r.MinPort, r.MaxPort))
		if r.Flags&NATProtoOffset != 0 {
			fmt.Fprintf(&b, "/%d", r.BasePort)
		}
	}
	return b.String()
}

func (t *natTarget) print(b *strings.Builder, rangeopt, flagPfx string, skipColon bool) {
	s := t.rangeString()
	if s != "" {
		if skipColon && s[0] == ':' {
			s = s[1:]
		}
		b.WriteByte(' ')
		b.WriteString(rangeopt)
		b.WriteString(s)
	}
	if t.r.Flags&NATProtoRandom != 0 {
		b.WriteString(" " + flagPfx + "random")
	}
	if t.r.Flags&NATProtoRandomFully != 0 {
		b.WriteString(" " + flagPfx + "random-fully")
	}
	if t.r.Flags&NATPersistent != 0 {
		b.WriteString(" " + flagPfx + "persistent")
	}
}

// Save implements Parser.
func (t *natTarget) Save(b *strings.Builder) {
	switch t.kind {
	case natDNAT:
		t.print(b, "--to-destination ", "--", false)
	case natSNAT:
		t.print(b, "--to-source ", "--", false)
	default:
		t.print(b, "--to-ports ", "--", true)
	}
}

// Print implements Parser.
func (t *natTarget) Print(b *strings.Builder, numeric bool) {
	switch t.kind {
	case natDNAT, natSNAT:
		t.print(b, "to:", "", false)
	case natMasquerade:
		t.print(b, "masq ports: ", "", true)
	case natRedirect:
		t.print(b, "redir ports ", "", true)
	}
}

// Compile implements Target. The request is built once; the Action only
// points Ctx.NAT at it, so the engine must treat it as read-only.
func (t *natTarget) Compile(c *Compiler) (Action, error) {
	req := new(NATRequest)
	*req = t.req
	return ActionFunc(func(c *Ctx) Verdict {
		c.NAT = req
		return Accept
	}), nil
}
