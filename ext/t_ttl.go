package ext

import (
	"strconv"
	"strings"
)

// TTL (iptables' libipt_TTL, the kernel's xt_HL): set, raise or lower
// the IPv4 TTL, in the mangle table only. Raising stops at 255, lowering
// at 0; the header checksum is fixed incrementally.

const (
	ttlSet = iota
	ttlInc
	ttlDec
)

type ttlTarget struct {
	mode int
	ttl  uint8
	set  bool
}

var ttlOps = []string{"ttl-set", "ttl-dec", "ttl-inc"}

func init() {
	var opts []Option
	for _, n := range ttlOps {
		opts = append(opts, Option{Name: n, Arg: OneArg, Excludes: exclusive(ttlOps, n)})
	}
	RegisterTarget(&TargetType{
		Name:    "TTL",
		Family:  IPv4,
		Options: opts,
		Tables:  []string{"mangle"},
		New:     func() Target { return &ttlTarget{} },
	})
}

// Parse implements Parser.
func (t *ttlTarget) Parse(opt, arg string, invert bool, more *Args) error {
	min := uint64(1)
	switch opt {
	case "ttl-set":
		t.mode, min = ttlSet, 0
	case "ttl-inc":
		t.mode = ttlInc
	case "ttl-dec":
		t.mode = ttlDec
	}
	v, err := ParseUint(arg, min, 255)
	if err != nil {
		return Errorf("bad value for --%s: %v", opt, err)
	}
	t.ttl, t.set = uint8(v), true
	return nil
}

// Finish implements Parser.
func (t *ttlTarget) Finish(r *RuleInfo) error {
	if !t.set {
		return Errorf("TTL needs --ttl-set, --ttl-inc or --ttl-dec")
	}
	return nil
}

// Save implements Parser.
func (t *ttlTarget) Save(b *strings.Builder) {
	b.WriteString(" --" + [...]string{"ttl-set", "ttl-inc", "ttl-dec"}[t.mode] + " " + strconv.Itoa(int(t.ttl)))
}

// Print implements Parser.
func (t *ttlTarget) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" TTL " + [...]string{"set to", "increment by", "decrement by"}[t.mode] + " " + strconv.Itoa(int(t.ttl)))
}

// Compile implements Target.
func (t *ttlTarget) Compile(c *Compiler) (Action, error) {
	mode, v := t.mode, int(t.ttl)
	return ActionFunc(func(c *Ctx) Verdict {
		p := c.Pkt
		if p == nil || len(p.Data) < 20 {
			return Continue
		}
		old := int(p.Data[8])
		n := v
		switch mode {
		case ttlInc:
			n = min(old+v, 255)
		case ttlDec:
			n = max(old-v, 0)
		}
		if n != old {
			ipv4Word(p.Data, 8, uint16(n)<<8|uint16(p.Data[9]))
			p.TTL = uint8(n)
		}
		return Continue
	}), nil
}
