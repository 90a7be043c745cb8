package ext

import (
	"fmt"
	"strings"
)

// The physdev match (-m physdev, libxt_physdev and the kernel's
// xt_physdev) tests the bridge ports of bridged packets. ipsift's host
// model has no bridges, so no packet carries bridge information; for
// such packets the kernel matches exactly when every given test is
// inverted, and that is what the compiled match does. Parsing, the
// kernel's checks and printing are complete.

// XT_PHYSDEV_OP_* bits.
const (
	pdIn      = 0x01
	pdOut     = 0x02
	pdBridged = 0x04
	pdIsIn    = 0x08
	pdIsOut   = 0x10
)

func init() {
	RegisterMatch(&MatchType{
		Name:   "physdev",
		Family: AnyFamily,
		Options: []Option{
			{Name: "physdev-in", Arg: OneArg, Invert: true},
			{Name: "physdev-out", Arg: OneArg, Invert: true},
			{Name: "physdev-is-in", Invert: true},
			{Name: "physdev-is-out", Invert: true},
			{Name: "physdev-is-bridged", Invert: true},
		},
		New: func() Match { return &physdevMatch{} },
	})
}

// physdevMatch is one -m physdev in a rule (struct xt_physdev_info).
type physdevMatch struct {
	in, out         string
	bitmask, invert uint8
}

// checkIfaceName is xtables_parse_interface's check: at most 15
// characters (IFNAMSIZ - 1); a trailing '+' is a wildcard.
func checkIfaceName(name string) error {
	if len(name) > 15 {
		return fmt.Errorf("interface name %q must be shorter than IFNAMSIZ (15)", name)
	}
	return nil
}

// Parse implements Parser.
func (m *physdevMatch) Parse(opt, arg string, invert bool, _ *Args) error {
	var bit uint8
	switch opt {
	case "physdev-in", "physdev-out":
		if err := checkIfaceName(arg); err != nil {
			return err
		}
		if opt == "physdev-in" {
			m.in, bit = arg, pdIn
		} else {
			m.out, bit = arg, pdOut
		}
	case "physdev-is-in":
		bit = pdIsIn
	case "physdev-is-out":
		bit = pdIsOut
	case "physdev-is-bridged":
		bit = pdBridged
	default:
		return fmt.Errorf("unknown option --%s", opt)
	}
	m.bitmask |= bit
	if invert {
		m.invert |= bit
	}
	return nil
}

// Finish implements Parser: physdev_check and the kernel's
// physdev_mt_check, which refuses the output tests in OUTPUT, FORWARD and
// POSTROUTING unless the rule also insists on bridged packets.
func (m *physdevMatch) Finish(r *RuleInfo) error {
	if m.bitmask == 0 {
		return fmt.Errorf("no physdev option specified")
	}
	if m.bitmask&(pdOut|pdIsOut) != 0 &&
		(m.bitmask&pdBridged == 0 || m.invert&pdBridged != 0) &&
		r.Hooks&(HookLocalOut|HookForward|HookPostRouting) != 0 {
		return fmt.Errorf("--physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING chains with bridged traffic (add --physdev-is-bridged)")
	}
	return nil
}

func (m *physdevMatch) dump(b *strings.Builder) {
	not := func(bit uint8) string {
		if m.invert&bit != 0 {
			return " !"
		}
		return ""
	}
	if m.bitmask&pdIsIn != 0 {
		b.WriteString(not(pdIsIn) + " --physdev-is-in")
	}
	if m.bitmask&pdIn != 0 {
		b.WriteString(not(pdIn) + " --physdev-in " + m.in)
	}
	if m.bitmask&pdIsOut != 0 {
		b.WriteString(not(pdIsOut) + " --physdev-is-out")
	}
	if m.bitmask&pdOut != 0 {
		b.WriteString(not(pdOut) + " --physdev-out " + m.out)
	}
	if m.bitmask&pdBridged != 0 {
		b.WriteString(not(pdBridged) + " --physdev-is-bridged")
	}
}

// Save implements Parser.
func (m *physdevMatch) Save(b *strings.Builder) { m.dump(b) }

// Print implements Parser.
func (m *physdevMatch) Print(b *strings.Builder, _ bool) {
	b.WriteString(" PHYSDEV match")
	m.dump(b)
}

// Compile implements Match.
func (m *physdevMatch) Compile(*Compiler) (Matcher, error) {
	return &physdevMatcher{match: m.bitmask&^m.invert == 0}, nil
}

// physdevMatcher is physdev_mt for packets that did not cross a bridge.
type physdevMatcher struct{ match bool }

// Match implements Matcher.
func (p *physdevMatcher) Match(*Ctx) bool { return p.match }

// Explain implements Explainer.
func (p *physdevMatcher) Explain(*Ctx, bool) string {
	return "physdev: the packet did not cross a bridge (ipsift models no bridges)"
}
