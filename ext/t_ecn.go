package ext

import (
	"strconv"
	"strings"
)

// ECN (iptables' libipt_ECN, the kernel's ipt_ECN): set the ECN field of
// the IP header and the ECE/CWR bits of TCP, in the mangle table. TCP
// changes need a rule for -p tcp. Like the kernel, the TCP bits are
// written in whatever follows the IP header of a TCP packet (it does not
// look at the fragment offset), and the checksums are fixed
// incrementally.

const (
	ecnSetECE = 0x10
	ecnSetCWR = 0x20
	ecnSetIP  = 0x40
)

type ecnTarget struct {
	op       uint8
	ece, cwr uint8
	ect      uint8
}

func init() {
	RegisterTarget(&TargetType{
		Name:   "ECN",
		Family: IPv4,
		Options: []Option{
			{Name: "ecn-tcp-remove", Arg: NoArg, Excludes: []string{"ecn-tcp-cwr", "ecn-tcp-ece"}},
			{Name: "ecn-tcp-cwr", Arg: OneArg, Excludes: []string{"ecn-tcp-remove"}},
			{Name: "ecn-tcp-ece", Arg: OneArg, Excludes: []string{"ecn-tcp-remove"}},
			{Name: "ecn-ip-ect", Arg: OneArg},
		},
		Tables: []string{"mangle"},
		New:    func() Target { return &ecnTarget{} },
	})
}

// Parse implements Parser.
func (t *ecnTarget) Parse(opt, arg string, invert bool, more *Args) error {
	if opt == "ecn-tcp-remove" {
		t.op, t.ece, t.cwr = ecnSetECE|ecnSetCWR, 0, 0
		return nil
	}
	max := uint64(1)
	if opt == "ecn-ip-ect" {
		max = 3
	}
	v, err := ParseUint(arg, 0, max)
	if err != nil {
		return Errorf("bad value for --%s: %v", opt, err)
	}
	switch opt {
	case "ecn-tcp-cwr":
		t.op |= ecnSetCWR
		t.cwr = uint8(v)
	case "ecn-tcp-ece":
		t.op |= ecnSetECE
		t.ece = uint8(v)
	case "ecn-ip-ect":
		t.op |= ecnSetIP
		t.ect = uint8(v)
	}
	return nil
}

// Finish implements Parser.
func (t *ecnTarget) Finish(r *RuleInfo) error {
	if t.op == 0 {
		return Errorf("ECN needs an operation: --ecn-tcp-remove, --ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect")
	}
	if t.op&(ecnSetECE|ecnSetCWR) != 0 && (r.Proto != 6 || r.InvProto) {
		return Errorf("ECN's TCP operations need -p tcp (the kernel refuses them otherwise)")
	}
	return nil
}

func (t *ecnTarget) remove() bool { return t.op == ecnSetECE|ecnSetCWR && t.ece == 0 && t.cwr == 0 }

// Save implements Parser.
func (t *ecnTarget) Save(b *strings.Builder) {
	if t.remove() {
		b.WriteString(" --ecn-tcp-remove")
		return
	}
	if t.op&ecnSetECE != 0 {
		b.WriteString(" --ecn-tcp-ece " + strconv.Itoa(int(t.ece)))
	}
	if t.op&ecnSetCWR != 0 {
		b.WriteString(" --ecn-tcp-cwr " + strconv.Itoa(int(t.cwr)))
	}
	if t.op&ecnSetIP != 0 {
		b.WriteString(" --ecn-ip-ect " + strconv.Itoa(int(t.ect)))
	}
}

// Print implements Parser.
func (t *ecnTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" ECN")
	if t.remove() {
		b.WriteString(" TCP remove")
		return
	}
	if t.op&ecnSetECE != 0 {
		b.WriteString(" ECE=" + strconv.Itoa(int(t.ece)))
	}
	if t.op&ecnSetCWR != 0 {
		b.WriteString(" CWR=" + strconv.Itoa(int(t.cwr)))
	}
	if t.op&ecnSetIP != 0 {
		b.WriteString(" ECT codepoint=" + strconv.Itoa(int(t.ect)))
	}
}

// Compile implements Target.
func (t *ecnTarget) Compile(c *Compiler) (Action, error) {
	r := *t
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p == nil || len(p.Data) < 20 {
			return Continue
		}
		d := p.Data
		if r.op&ecnSetIP != 0 && d[1]&3 != r.ect {
			tos := d[1]&^3 | r.ect
			ipv4Word(d, 0, uint16(d[0])<<8|uint16(tos))
			p.TOS = tos
		}
		if r.op&(ecnSetECE|ecnSetCWR) != 0 && d[9] == 6 {
			hl := int(d[0]&0x0f) * 4
			if len(rejectData(p)) < hl+20 {
				return Drop // the kernel drops when the header is not there
			}
			th := d[hl:]
			f := th[13]
			if r.op&ecnSetECE != 0 {
				f = f&^0x40 | r.ece<<6
			}
			if r.op&ecnSetCWR != 0 {
				f = f&^0x80 | r.cwr<<7
			}
			if f != th[13] {
				old := uint16(th[12])<<8 | uint16(th[13])
				th[13] = f
				sum := uint16(th[16])<<8 | uint16(th[17])
				sum = CsumReplace2(sum, old, uint16(th[12])<<8|uint16(f))
				th[16], th[17] = byte(sum>>8), byte(sum)
				p.TCPFlags = f
			}
		}
		return Continue
	}), nil
}
