package ext

import (
	"fmt"
	"strings"
)

// The devgroup match (-m devgroup, libxt_devgroup and the kernel's
// xt_devgroup) tests the device group of the interface a packet came in
// by (--src-group) or leaves by (--dst-group): dev->group, which `ip link
// set dev X group N` sets and ipsift's host file gives as `group N` on an
// interface line (0, the default group, when it says nothing). Each test
// is VALUE[/MASK], true when the group's bits under MASK equal VALUE's;
// "!" inverts it.
//
// The kernel reads the device without looking whether there is one, so
// its checkentry allows --src-group only where packets have an input
// interface (PREROUTING, INPUT, FORWARD) and --dst-group only where they
// have an output one (FORWARD, OUTPUT, POSTROUTING), and ipsift does the
// same (AllowedHooks); the engine never runs the match without the
// device it reads.
//
// iptables names groups from /etc/iproute2/group; ipsift knows the one
// name Debian's file defines, "default" for 0, so that "--src-group 0"
// saves as iptables does there ("--src-group default").

// devgroupNames are the group names of Debian's /etc/iproute2/group.
var devgroupNames = LMap{{"default", 0}}

// XT_DEVGROUP_* flags.
const (
	dgMatchSrc  = 0x1
	dgInvertSrc = 0x2
	dgMatchDst  = 0x4
	dgInvertDst = 0x8
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "devgroup",
		Family: AnyFamily,
		Options: []Option{
			{Name: "src-group", Arg: OneArg, Invert: true},
			{Name: "dst-group", Arg: OneArg, Invert: true},
		},
		New: func() Match { return &devgroupMatch{} },
	})
}

// devgroupMatch is one -m devgroup in a rule (struct xt_devgroup_info).
type devgroupMatch struct {
	flags             uint8
	srcGroup, srcMask uint32
	dstGroup, dstMask uint32
}

// Parse implements Parser: xtables_parse_val_mask with the group names.
func (m *devgroupMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	g, mask, err := ParseValMaskNamed(arg, devgroupNames, "--"+opt)
	if err != nil {
		return err
	}
	switch opt {
	case "src-group":
		m.srcGroup, m.srcMask = g, mask
		m.flags |= dgMatchSrc
		if invert {
			m.flags |= dgInvertSrc
		}
	case "dst-group":
		m.dstGroup, m.dstMask = g, mask
		m.flags |= dgMatchDst
		if invert {
			m.flags |= dgInvertDst
		}
	default:
		return Errorf("unknown option --%s", opt)
	}
	return nil
}

// Finish implements Parser: devgroup_check.
func (m *devgroupMatch) Finish(*RuleInfo) error {
	if m.flags == 0 {
		return Errorf("devgroup match: You must specify either '--src-group' or '--dst-group'")
	}
	return nil
}

// AllowedHooks implements HookChecker: devgroup_mt_checkentry.
func (m *devgroupMatch) AllowedHooks() (HookMask, string) {
	h, why := AllHooks, ""
	if m.flags&dgMatchSrc != 0 {
		h &= HookPreRouting | HookLocalIn | HookForward
		why = "--src-group reads the input interface, which locally generated packets do not have"
	}
	if m.flags&dgMatchDst != 0 {
		h &= HookForward | HookLocalOut | HookPostRouting
		if why != "" {
			why = "--src-group needs an input and --dst-group an output interface: only forwarded packets have both"
		} else {
			why = "--dst-group reads the output interface, which packets do not have before routing"
		}
	}
	return h, why
}

// show is devgroup_show: pfx is "--" for save, "" for print.
func (m *devgroupMatch) show(b *strings.Builder, pfx string, names bool) {
	if m.flags&dgMatchSrc != 0 {
		if m.flags&dgInvertSrc != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" " + pfx + "src-group" + FormatValMaskNamed(m.srcGroup, m.srcMask, devgroupNames, names))
	}
	if m.flags&dgMatchDst != 0 {
		if m.flags&dgInvertDst != 0 {
			b.WriteString(" !")
		}
		b.WriteString(" " + pfx + "dst-group" + FormatValMaskNamed(m.dstGroup, m.dstMask, devgroupNames, names))
	}
}

// Save implements Parser.
func (m *devgroupMatch) Save(b *strings.Builder) { m.show(b, "--", true) }

// Print implements Parser.
func (m *devgroupMatch) Print(b *strings.Builder, numeric bool) { m.show(b, "", !numeric) }

// Compile implements Match.
func (m *devgroupMatch) Compile(*Compiler) (Matcher, error) {
	c := *m
	return &c, nil
}

// differs reports whether group g fails the test value/mask (before
// the test's inversion).
func differs(value, mask, g uint32) bool { return (value^g)&mask != 0 }

// Match implements Matcher: devgroup_mt. A missing device (which the
// hook checks rule out) fails the test rather than reading nothing.
func (m *devgroupMatch) Match(c *Ctx) bool {
	if m.flags&dgMatchSrc != 0 {
		if c.In == nil || differs(m.srcGroup, m.srcMask, c.In.Group) != (m.flags&dgInvertSrc != 0) {
			return false
		}
	}
	if m.flags&dgMatchDst != 0 {
		if c.Out == nil || differs(m.dstGroup, m.dstMask, c.Out.Group) != (m.flags&dgInvertDst != 0) {
			return false
		}
	}
	return true
}

// Explain implements Explainer.
func (m *devgroupMatch) Explain(c *Ctx, matched bool) string {
	var parts []string
	one := func(what string, ifc *Iface, value, mask uint32, inv bool) {
		if ifc == nil {
			parts = append(parts, what+": the packet has no such interface here")
			return
		}
		not := ""
		if inv {
			not = "! "
		}
		parts = append(parts, fmt.Sprintf("%s %s%s: %s is in group 0x%x", what, not, strings.TrimSpace(FormatValMaskNamed(value, mask, nil, false)), ifc.Name, ifc.Group))
	}
	if m.flags&dgMatchSrc != 0 {
		one("--src-group", c.In, m.srcGroup, m.srcMask, m.flags&dgInvertSrc != 0)
	}
	if m.flags&dgMatchDst != 0 {
		one("--dst-group", c.Out, m.dstGroup, m.dstMask, m.flags&dgInvertDst != 0)
	}
	return strings.Join(parts, "; ")
}
