package ext

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The policy match (-m policy, libxt_policy and the kernel's xt_policy)
// tests the IPsec policy a packet was decapsulated with (--dir in) or
// will be encapsulated with (--dir out). ipsift models no IPsec: no packet
// carries a security path or an xfrm bundle, which is the kernel's view of
// a host without IPsec, so "--pol none" always matches and "--pol ipsec"
// never does. Parsing, checking and printing are complete.
//
// Real scripts write "--protocol esp" inside -m policy; getopt_long reads
// that as the core -p option (an exact name wins over policy's "proto"),
// which is the rule parser's business. Policy's own option is --proto.

// XT_POLICY_* flags.
const (
	polIn     = 0x1
	polOut    = 0x2
	polNone   = 0x4
	polStrict = 0x8

	polMaxElem   = 4
	polTransport = 0
	polTunnel    = 1
)

// Policy element spec bits (struct xt_policy_spec).
const (
	pesSaddr = 1 << iota
	pesDaddr
	pesProto
	pesMode
	pesSPI
	pesReqid
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "policy",
		Family: AnyFamily,
		Options: []Option{
			{Name: "dir", Arg: OneArg},
			{Name: "pol", Arg: OneArg},
			{Name: "strict"},
			{Name: "reqid", Arg: OneArg, Multi: true, Invert: true},
			{Name: "spi", Arg: OneArg, Multi: true, Invert: true},
			{Name: "tunnel-src", Arg: OneArg, Multi: true, Invert: true},
			{Name: "tunnel-dst", Arg: OneArg, Multi: true, Invert: true},
			{Name: "proto", Arg: OneArg, Multi: true, Invert: true},
			{Name: "mode", Arg: OneArg, Multi: true, Invert: true},
			{Name: "next", Multi: true, Also: []string{"strict"}},
		},
		New: func() Match { return &policyMatch{} },
	})
}

// policyElem is struct xt_policy_elem.
type policyElem struct {
	saddr, smask, daddr, dmask netip.Addr
	spi, reqid                 uint32
	proto, mode                uint8
	match, invert              uint8
}

// policyMatch is one -m policy in a rule (struct xt_policy_info).
type policyMatch struct {
	pol   [polMaxElem]policyElem
	flags uint16
	len   int
}

// Parse implements Parser.
func (m *policyMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	e := &m.pol[m.len]
	set := func(bit uint8, name string) error {
		if e.match&bit != 0 {
			return fmt.Errorf("double --%s option in one policy element (start the next element with --next)", name)
		}
		e.match |= bit
		if invert {
			e.invert |= bit
		}
		return nil
	}
	switch opt {
	case "dir":
		switch arg {
		case "in":
			m.flags |= polIn
		case "out":
			m.flags |= polOut
		default:
			return fmt.Errorf("invalid dir %q: write in or out", arg)
		}
	case "pol":
		switch arg {
		case "none":
			m.flags |= polNone
		case "ipsec":
		default:
			return fmt.Errorf("invalid policy %q: write none or ipsec", arg)
		}
	case "strict":
		m.flags |= polStrict
	case "reqid", "spi":
		v, ok := StrtoulFull(arg, 0, 0, 1<<32-1)
		if !ok {
			return fmt.Errorf("bad value %q, or out of range (0-4294967295)", arg)
		}
		if opt == "reqid" {
			if err := set(pesReqid, opt); err != nil {
				return err
			}
			e.reqid = uint32(v)
		} else {
			if err := set(pesSPI, opt); err != nil {
				return err
			}
			e.spi = uint32(v)
		}
	case "tunnel-src", "tunnel-dst":
		a, mk, err := ParseHostMask(arg)
		if err != nil {
			return err
		}
		if opt == "tunnel-src" {
			if err := set(pesSaddr, opt); err != nil {
				return err
			}
			e.saddr, e.smask = a, mk
		} else {
			if err := set(pesDaddr, opt); err != nil {
				return err
			}
			e.daddr, e.dmask = a, mk
		}
	case "proto":
		p, err := ParseProto(arg)
		if err != nil {
			return err
		}
		if e.match&pesProto != 0 {
			return fmt.Errorf("double --proto option in one policy element (start the next element with --next)")
		}
		if p != 50 && p != 51 && p != 108 {
			return fmt.Errorf("protocol must be ah, esp or ipcomp, not %q", arg)
		}
		e.proto = p
		if err := set(pesProto, opt); err != nil {
			return err
		}
	case "mode":
		if err := set(pesMode, opt); err != nil {
			return err
		}
		switch arg {
		case "transport":
			e.mode = polTransport
		case "tunnel":
			e.mode = polTunnel
		default:
			return fmt.Errorf("invalid mode %q: write transport or tunnel", arg)
		}
	case "next":
		m.len++
		if m.len == polMaxElem {
			return fmt.Errorf("maximum policy depth reached (%d elements)", polMaxElem)
		}
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: policy_check and the kernel's
// policy_mt_check.
func (m *policyMatch) Finish(r *RuleInfo) error {
	if m.flags&(polIn|polOut) == 0 {
		return fmt.Errorf("neither --dir in nor --dir out specified")
	}
	if m.flags&polNone != 0 {
		if m.flags&polStrict != 0 {
			return fmt.Errorf("policy none but --strict given")
		}
		if m.len != 0 {
			return fmt.Errorf("policy none but policy given")
		}
	} else {
		m.len++
	}
	for i := 0; i < m.len; i++ {
		e := &m.pol[i]
		if m.flags&polStrict != 0 && e.match == 0 {
			return fmt.Errorf("empty policy element %d: --strict is in effect, but at least one of reqid, spi, tunnel-src, tunnel-dst, proto or mode is required", i)
		}
		if e.match&(pesSaddr|pesDaddr) != 0 &&
			((e.mode == polTunnel && e.invert&pesMode != 0) || (e.mode == polTransport && e.invert&pesMode == 0)) {
			return fmt.Errorf("--tunnel-src/--tunnel-dst is only valid in tunnel mode (add --mode tunnel)")
		}
		for _, a := range []netip.Addr{e.saddr, e.daddr} {
			if a.IsValid() && r.Family != 0 && AddrFamily(a)&r.Family == 0 {
				return fmt.Errorf("tunnel address %s is not an %s address", a, ctFamWord(r.Family))
			}
		}
	}
	if r.Hooks&(HookPreRouting|HookLocalIn) != 0 && m.flags&polOut != 0 {
		return fmt.Errorf("output policy not valid in PREROUTING and INPUT (use --dir in)")
	}
	if r.Hooks&(HookPostRouting|HookLocalOut) != 0 && m.flags&polIn != 0 {
		return fmt.Errorf("input policy not valid in POSTROUTING and OUTPUT (use --dir out)")
	}
	return nil
}

var polProtoNames = map[uint8]string{50: "esp", 51: "ah", 108: "ipcomp"}

func (m *policyMatch) entry(b *strings.Builder, prefix string, e *policyElem, numeric bool) {
	inv := func(bit uint8) {
		if e.invert&bit != 0 {
			b.WriteString(" !")
		}
	}
	if e.match&pesReqid != 0 {
		inv(pesReqid)
		b.WriteString(" " + prefix + "reqid " + strconv.FormatUint(uint64(e.reqid), 10))
	}
	if e.match&pesSPI != 0 {
		inv(pesSPI)
		b.WriteString(" " + prefix + "spi 0x" + strconv.FormatUint(uint64(e.spi), 16))
	}
	if e.match&pesProto != 0 {
		inv(pesProto)
		b.WriteString(" " + prefix + "proto ")
		if n := polProtoNames[e.proto]; n != "" && !numeric {
			b.WriteString(n)
		} else {
			b.WriteString(strconv.Itoa(int(e.proto)))
		}
	}
	if e.match&pesMode != 0 {
		inv(pesMode)
		if e.mode == polTunnel {
			b.WriteString(" " + prefix + "mode tunnel")
		} else {
			b.WriteString(" " + prefix + "mode transport")
		}
	}
	if e.match&pesDaddr != 0 {
		inv(pesDaddr)
		b.WriteString(" " + prefix + "tunnel-dst " + FormatHostMask(e.daddr, e.dmask))
	}
	if e.match&pesSaddr != 0 {
		inv(pesSaddr)
		b.WriteString(" " + prefix + "tunnel-src " + FormatHostMask(e.saddr, e.smask))
	}
}

func (m *policyMatch) writeFlags(b *strings.Builder, prefix string) {
	if m.flags&polIn != 0 {
		b.WriteString(" " + prefix + "dir in")
	} else {
		b.WriteString(" " + prefix + "dir out")
	}
	if m.flags&polNone != 0 {
		b.WriteString(" " + prefix + "pol none")
	} else {
		b.WriteString(" " + prefix + "pol ipsec")
	}
	if m.flags&polStrict != 0 {
		b.WriteString(" " + prefix + "strict")
	}
}

// Save implements Parser (iptables-save names the protocols).
func (m *policyMatch) Save(b *strings.Builder) {
	m.writeFlags(b, "--")
	for i := 0; i < m.len; i++ {
		m.entry(b, "--", &m.pol[i], false)
		if i+1 < m.len {
			b.WriteString(" --next")
		}
	}
}

// Print implements Parser.
func (m *policyMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" policy match")
	m.writeFlags(b, "")
	for i := 0; i < m.len; i++ {
		if m.len > 1 {
			fmt.Fprintf(b, " [%d]", i)
		}
		m.entry(b, "", &m.pol[i], numeric)
	}
}

// Compile implements Match.
func (m *policyMatch) Compile(*Compiler) (Matcher, error) {
	return &policyMatcher{none: m.flags&polNone != 0}, nil
}

// policyMatcher is policy_mt for a host without IPsec: match_policy_in
// and match_policy_out find no policy (-1), so the result is "--pol
// none".
type policyMatcher struct{ none bool }

// Match implements Matcher.
func (p *policyMatcher) Match(*Ctx) bool { return p.none }

// Explain implements Explainer.
func (p *policyMatcher) Explain(*Ctx, bool) string {
	return "policy: the packet has no IPsec policy (ipsift models no IPsec)"
}
