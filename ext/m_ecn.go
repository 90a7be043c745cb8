package ext

import (
	"fmt"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// The ecn match: the ECN field of the IP header (--ecn-ip-ect 0-3) and
// the TCP ECE and CWR flags, as iptables' libxt_ecn.c reads and prints
// them and the kernel's xt_ecn.c tests them. The TCP tests need -p tcp;
// the kernel reads the TCP header wherever the packet's transport bytes
// start, without looking at the fragment offset, and fails the test (no
// drop) when 20 bytes are not there.

// ECN operations (XT_ECN_OP_MATCH_*).
const (
	ecnIP  = 0x01
	ecnECE = 0x10
	ecnCWR = 0x20
)

// ecnMatch is one -m ecn in one rule (struct xt_ecn_info).
type ecnMatch struct {
	operation, invert uint8
	ipECT             uint8
}

func init() {
	RegisterMatch(&MatchType{
		Name:   "ecn",
		Family: AnyFamily,
		Options: []Option{
			{Name: "ecn-tcp-cwr", Arg: NoArg, Invert: true},
			{Name: "ecn-tcp-ece", Arg: NoArg, Invert: true},
			{Name: "ecn-ip-ect", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &ecnMatch{} },
	})
}

// Parse implements Parser.
func (m *ecnMatch) Parse(opt, arg string, invert bool, more *Args) error {
	var bit uint8
	switch opt {
	case "ecn-tcp-cwr":
		bit = ecnCWR
	case "ecn-tcp-ece":
		bit = ecnECE
	case "ecn-ip-ect":
		v, ok := ParseUintFull(arg, 0, 3)
		if !ok {
			return Errorf("bad value %q: the ECN codepoint is 0-3 (0 not-ECT, 1 ECT(1), 2 ECT(0), 3 CE)", arg)
		}
		m.ipECT = uint8(v)
		bit = ecnIP
	default:
		return Errorf("unknown option --%s", opt)
	}
	m.operation |= bit
	if invert {
		m.invert |= bit
	}
	return nil
}

// Finish implements Parser: the TCP tests need the rule to be about TCP
// (the kernel's ecn_mt_check4).
func (m *ecnMatch) Finish(r *RuleInfo) error {
	if m.operation == 0 {
		return Errorf("ECN match: some option required (--ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect)")
	}
	if m.operation&(ecnECE|ecnCWR) != 0 && (r.Proto != packet.ProtoTCP || r.InvProto) && !r.Userspace {
		return Errorf("--ecn-tcp-ece and --ecn-tcp-cwr cannot match TCP bits for non-tcp packets: add -p tcp")
	}
	return nil
}

// Save implements Parser.
func (m *ecnMatch) Save(b *strings.Builder) {
	if m.operation&ecnECE != 0 {
		if m.invert&ecnECE != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --ecn-tcp-ece")
	}
	if m.operation&ecnCWR != 0 {
		if m.invert&ecnCWR != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" --ecn-tcp-cwr")
	}
	if m.operation&ecnIP != 0 {
		if m.invert&ecnIP != 0 {
			b.WriteString(" !")
		}
		fmt.Fprintf(b, " --ecn-ip-ect %d", m.ipECT)
	}
}

// Print implements Parser.
func (m *ecnMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ECN match")
	if m.operation&ecnECE != 0 {
		b.WriteString(" " + bangNoSpace(m.invert&ecnECE != 0) + "ECE")
	}
	if m.operation&ecnCWR != 0 {
		b.WriteString(" " + bangNoSpace(m.invert&ecnCWR != 0) + "CWR")
	}
	if m.operation&ecnIP != 0 {
		fmt.Fprintf(b, " %sECT=%d", bangNoSpace(m.invert&ecnIP != 0), m.ipECT)
	}
}

// Compile implements Match.
func (m *ecnMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *ecnMatch) Match(c *Ctx) bool {
	p := c.Pkt
	if m.operation&ecnIP != 0 && (p.TOS&3 == m.ipECT) == (m.invert&ecnIP != 0) {
		return false
	}
	if m.operation&(ecnECE|ecnCWR) == 0 {
		return true
	}
	h, ok := l4Bytes(p, 0, 20)
	if !ok {
		return false
	}
	for _, bit := range [2]uint8{ecnECE, ecnCWR} {
		if m.operation&bit == 0 {
			continue
		}
		flag := uint8(packet.TCPEce)
		if bit == ecnCWR {
			flag = packet.TCPCwr
		}
		if (h[13]&flag != 0) == (m.invert&bit != 0) {
			return false
		}
	}
	return true
}

// Explain implements Explainer.
func (m *ecnMatch) Explain(c *Ctx, matched bool) string {
	p := c.Pkt
	s := fmt.Sprintf("the packet's ECN field is %d", p.TOS&3)
	if m.operation&(ecnECE|ecnCWR) != 0 {
		if h, ok := l4Bytes(p, 0, 20); ok {
			s += fmt.Sprintf(", ECE %v, CWR %v", h[13]&packet.TCPEce != 0, h[13]&packet.TCPCwr != 0)
		} else {
			s += ", and it has no whole tcp header"
		}
	}
	var want strings.Builder
	m.Save(&want)
	return strings.TrimSpace(want.String()) + ": " + s
}
