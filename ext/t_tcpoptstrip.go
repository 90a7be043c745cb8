package ext

import (
	"strconv"
	"strings"
)

// TCPOPTSTRIP (iptables' libxt_TCPOPTSTRIP, the kernel's xt_TCPOPTSTRIP):
// overwrite the listed TCP options with NOPs, in the mangle table, for
// -p tcp rules. Like the kernel, a later fragment is left alone, a TCP
// header that is cut short drops the packet, and the checksum is fixed
// incrementally for every byte replaced.

type tcpoptstripTarget struct {
	strip [256]bool
	any   bool
}

var tcpOptionNames = []struct {
	name string
	kind uint8
}{{"wscale", 3}, {"mss", 2}, {"sack-permitted", 4}, {"sack", 5}, {"timestamp", 8}, {"md5", 19}}

func init() {
	RegisterTarget(&TargetType{
		Name:    "TCPOPTSTRIP",
		Family:  AnyFamily,
		Proto:   6,
		Options: []Option{{Name: "strip-options", Arg: OneArg}},
		Tables:  []string{"mangle"},
		New:     func() Target { return &tcpoptstripTarget{} },
	})
}

// Parse implements Parser: a comma-separated list of option names or
// numbers 2-255.
func (t *tcpoptstripTarget) Parse(opt, arg string, invert bool, more *Args) error {
	for _, w := range strings.Split(arg, ",") {
		kind := -1
		for _, o := range tcpOptionNames {
			if o.name == w {
				kind = int(o.kind)
			}
		}
		if kind < 0 {
			v, err := ParseUint(w, 0, 255)
			if err != nil {
				return Errorf("bad TCP option %q: use a number 2-255 or wscale, mss, sack-permitted, sack, timestamp, md5", w)
			}
			kind = int(v)
		}
		if kind < 2 {
			return Errorf("TCP option %q: 0 (end of list) and 1 (no-op) cannot be stripped", w)
		}
		if t.strip[kind] {
			return Errorf("TCP option %q given twice", w)
		}
		t.strip[kind], t.any = true, true
	}
	return nil
}

// Finish implements Parser.
func (t *tcpoptstripTarget) Finish(r *RuleInfo) error { return nil }

func (t *tcpoptstripTarget) list(numeric bool) string {
	var parts []string
	for i, s := range t.strip {
		if !s {
			continue
		}
		name := strconv.Itoa(i)
		if !numeric {
			for _, o := range tcpOptionNames {
				if int(o.kind) == i {
					name = o.name
				}
			}
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, ",")
}

// Save implements Parser.
func (t *tcpoptstripTarget) Save(b *strings.Builder) {
	if t.any {
		b.WriteString(" --strip-options " + t.list(true))
	}
}

// Print implements Parser.
func (t *tcpoptstripTarget) Print(b *strings.Builder, numeric bool) {
	if t.any {
		b.WriteString(" TCPOPTSTRIP options " + t.list(numeric))
	}
}

// Compile implements Target.
func (t *tcpoptstripTarget) Compile(c *Compiler) (Action, error) {
	strip := t.strip
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p == nil || p.FragOff != 0 {
			return Continue
		}
		d := rejectData(p)
		hl := p.HdrLen
		if hl < 20 || len(d)-hl < 20 {
			return Drop
		}
		th := d[hl:]
		thl := int(th[12]>>4) * 4
		if len(th) < thl {
			return Drop
		}
		sum := uint16(th[16])<<8 | uint16(th[17])
		for i := 20; i < thl-1; {
			optl := 1
			if th[i] > 1 && th[i+1] != 0 {
				optl = int(th[i+1])
			}
			if i+optl > thl {
				break
			}
			if strip[th[i]] {
				for j := i; j < i+optl; j++ {
					o, n := uint16(th[j]), uint16(1)
					if j%2 == 0 {
						o, n = o<<8, n<<8
					}
					sum = CsumReplace2(sum, o, n)
					th[j] = 1
				}
			}
			i += optl
		}
		th[16], th[17] = byte(sum>>8), byte(sum)
		return Continue
	}), nil
}
