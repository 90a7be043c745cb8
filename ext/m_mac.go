package ext

import (
	"fmt"
	"strings"
)

// The mac match (-m mac --mac-source XX:XX:XX:XX:XX:XX): the Ethernet
// source address of a packet that came in, as iptables' libxt_mac.c
// reads and prints it and the kernel's xt_mac.c tests it. Only packets
// with an Ethernet header (Ctx.HasMAC) can match, inverted or not; the
// kernel allows the match in PREROUTING, INPUT and FORWARD only.

// macMatch is one -m mac in one rule (struct xt_mac_info).
type macMatch struct {
	addr   [6]byte
	invert bool
}

func init() {
	RegisterMatch(&MatchType{
		Name:    "mac",
		Family:  AnyFamily,
		Options: []Option{{Name: "mac-source", Arg: OneArg, Invert: true, Mandatory: true}},
		Hooks:   HookPreRouting | HookLocalIn | HookForward,
		New:     func() Match { return &macMatch{} },
	})
}

// ParseMAC reads an Ethernet address as libxtables' XTTYPE_ETHERMAC:
// six groups of at most two hex digits separated by colons (an empty
// group is 0, as strtoul reads it).
func ParseMAC(s string) ([6]byte, error) {
	var mac [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, fmt.Errorf("invalid MAC address %q: write six hex bytes such as 42:01:02:03:04:05", s)
	}
	for i, p := range parts {
		if len(p) > 2 {
			return mac, fmt.Errorf("invalid MAC address %q: write six hex bytes such as 42:01:02:03:04:05", s)
		}
		var v byte
		for j := 0; j < len(p); j++ {
			d := digitVal(p[j])
			if d >= 16 {
				return mac, fmt.Errorf("invalid MAC address %q: write six hex bytes such as 42:01:02:03:04:05", s)
			}
			v = v<<4 | byte(d)
		}
		mac[i] = v
	}
	return mac, nil
}

// FormatMAC prints an Ethernet address as xtables_print_mac does.
func FormatMAC(mac [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

// Parse implements Parser.
func (m *macMatch) Parse(opt, arg string, invert bool, more *Args) error {
	if opt != "mac-source" {
		return Errorf("unknown option --%s", opt)
	}
	mac, err := ParseMAC(arg)
	if err != nil {
		return err
	}
	m.addr, m.invert = mac, invert
	return nil
}

// Finish implements Parser.
func (m *macMatch) Finish(r *RuleInfo) error { return nil }

// Save implements Parser.
func (m *macMatch) Save(b *strings.Builder) {
	if m.invert {
		b.WriteString(" !")
	}
	b.WriteString(" --mac-source " + FormatMAC(m.addr))
}

// Print implements Parser.
func (m *macMatch) Print(b *strings.Builder, numeric bool) {
	b.WriteString(" MAC ")
	if m.invert {
		b.WriteString("! ")
	}
	b.WriteString(FormatMAC(m.addr))
}

// Compile implements Match.
func (m *macMatch) Compile(c *Compiler) (Matcher, error) {
	cm := *m
	return &cm, nil
}

// Match implements Matcher.
func (m *macMatch) Match(c *Ctx) bool {
	return c.HasMAC && (c.SrcMAC == m.addr) != m.invert
}

// Explain implements Explainer.
func (m *macMatch) Explain(c *Ctx, matched bool) string {
	if !c.HasMAC {
		return "the packet has no Ethernet source address (not received on an Ethernet interface)"
	}
	return fmt.Sprintf("%s--mac-source %s: the packet's is %s", bang(m.invert), FormatMAC(m.addr), FormatMAC(c.SrcMAC))
}
