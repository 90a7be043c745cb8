package rules

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// ListOptions are iptables -L's flags.
type ListOptions struct {
	Table       string
	Chain       string // "" for every chain
	Verbose     bool   // -v: counters and interfaces
	Numeric     bool   // -n
	Exact       bool   // -x: counters without K/M/G
	LineNumbers bool   // --line-numbers
	family      ext.Family
}

// List writes a table as iptables -L does (print_header,
// print_rule_details and the extensions' print functions), column for
// column. ipsift never resolves names: without -n it still prints
// addresses as numbers, and 0.0.0.0/0 as "anywhere" as iptables does.
func (rs *Ruleset) List(w io.Writer, o ListOptions) error {
	if o.Table == "" {
		o.Table = "filter"
	}
	o.family = rs.Family
	t := rs.Table(o.Table)
	if t == nil {
		if BuiltinChains(o.Table) == nil {
			return fmt.Errorf("table %q does not exist", o.Table)
		}
		t = &Table{Name: o.Table}
		for _, c := range builtin[o.Table] {
			t.Chains = append(t.Chains, &Chain{Name: c, Builtin: true, Policy: "ACCEPT"})
		}
	}
	chains := t.sortedChains()
	if o.Chain != "" {
		c := t.Chain(o.Chain)
		if c == nil {
			return fmt.Errorf("chain %q does not exist in table %s", o.Chain, o.Table)
		}
		chains = []*Chain{c}
	}
	var b strings.Builder
	for i, c := range chains {
		if i > 0 {
			b.WriteByte('\n')
		}
		o.header(&b, t, c)
		for n, r := range c.Rules {
			o.rule(&b, r, n+1)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// printNum is xtables_print_num: "%8llu " exact, or with -v and no -x
// the K/M/G/T form in 5 columns; notable is the compact header form.
func printNum(b *strings.Builder, n uint64, kmg, notable bool) {
	if !kmg {
		if notable {
			fmt.Fprintf(b, "%d ", n)
		} else {
			fmt.Fprintf(b, "%8d ", n)
		}
		return
	}
	if n <= 99999 {
		if notable {
			fmt.Fprintf(b, "%d ", n)
		} else {
			fmt.Fprintf(b, "%5d ", n)
		}
		return
	}
	for _, unit := range []string{"K", "M", "G"} {
		n = (n + 500) / 1000
		if n <= 9999 {
			if notable {
				fmt.Fprintf(b, "%d%s ", n, unit)
			} else {
				fmt.Fprintf(b, "%4d%s ", n, unit)
			}
			return
		}
	}
	n = (n + 500) / 1000
	if notable {
		fmt.Fprintf(b, "%dT ", n)
	} else {
		fmt.Fprintf(b, "%4dT ", n)
	}
}

func (o ListOptions) kmg() bool { return o.Verbose && !o.Exact }

func (o ListOptions) header(b *strings.Builder, t *Table, c *Chain) {
	fmt.Fprintf(b, "Chain %s", c.Name)
	if c.Builtin {
		fmt.Fprintf(b, " (policy %s", c.Policy)
		if o.Verbose {
			b.WriteByte(' ')
			printNum(b, c.Counters.Packets, o.kmg(), true)
			b.WriteString("packets, ")
			printNum(b, c.Counters.Bytes, o.kmg(), true)
			b.WriteString("bytes")
		}
		b.WriteString(")\n")
	} else {
		refs := 0
		for _, other := range t.Chains {
			for _, r := range other.Rules {
				if (r.IsJump() || r.Goto) && r.Verdict == c.Name {
					refs++
				}
			}
		}
		fmt.Fprintf(b, " (%d references)\n", refs)
	}
	if o.LineNumbers {
		fmt.Fprintf(b, "%-4s ", "num")
	}
	if o.Verbose {
		if o.kmg() {
			fmt.Fprintf(b, "%5s %5s ", "pkts", "bytes")
		} else {
			fmt.Fprintf(b, "%8s %10s ", "pkts", "bytes")
		}
	}
	fmt.Fprintf(b, "%-9s ", "target")
	b.WriteString(" prot opt")
	if o.Verbose {
		fmt.Fprintf(b, " %-6s %-6s ", "in", "out")
	}
	fmt.Fprintf(b, " %-19s  %-19s \n", "source", "destination")
}

func listAddr(addr, mask netipAddr, numeric bool, f ext.Family) string {
	if f == ext.IPv6 && !mask.IsValid() {
		addr, mask = netip.IPv6Unspecified(), netip.IPv6Unspecified()
	}
	if mask.Is6() {
		// ipv6_addr_to_string: "anywhere" goes by the address alone.
		if addr.IsUnspecified() && !numeric {
			return "anywhere"
		}
		return ext.FormatHostMask(addr, mask)
	}
	if !mask.IsValid() || mask.IsUnspecified() {
		if !numeric {
			return "anywhere"
		}
		return "0.0.0.0/0"
	}
	s := addr.String()
	switch n := ext.MaskLen(mask); n {
	case 32:
	case -1:
		s += "/" + mask.String()
	default:
		s += fmt.Sprintf("/%d", n)
	}
	return s
}

func (o ListOptions) rule(b *strings.Builder, r *Rule, num int) {
	if o.LineNumbers {
		fmt.Fprintf(b, "%-4d ", num)
	}
	if o.Verbose {
		printNum(b, r.Counters.Packets, o.kmg(), false)
		printNum(b, r.Counters.Bytes, o.kmg(), false)
	}
	target := r.Verdict
	fmt.Fprintf(b, "%-9s ", target)
	if r.InvProto {
		b.WriteByte('!')
	} else {
		b.WriteByte(' ')
	}
	if n := ext.ProtoName(r.Proto); n != "" {
		fmt.Fprintf(b, "%-4s ", n)
	} else {
		fmt.Fprintf(b, "%-4d ", r.Proto)
	}
	switch {
	case r.Frag && r.InvFrag:
		b.WriteString("!f ")
	case r.Frag:
		b.WriteString("-f ")
	default:
		b.WriteString("-- ")
	}
	if o.Verbose {
		any := "any"
		if o.Numeric {
			any = "*"
		}
		iface := func(name string, inv bool) string {
			if name == "" {
				name = any
			}
			if inv {
				name = "!" + name
			}
			return name
		}
		fmt.Fprintf(b, " %-6s ", iface(r.In, r.InvIn))
		fmt.Fprintf(b, "%-6s ", iface(r.Out, r.InvOut))
	}
	for _, a := range []struct {
		addr, mask netipAddr
		inv        bool
	}{{r.Src, r.SrcMask, r.InvSrc}, {r.Dst, r.DstMask, r.InvDst}} {
		if a.inv {
			b.WriteByte('!')
		} else {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "%-19s ", listAddr(a.addr, a.mask, o.Numeric, o.family))
	}
	if r.Goto {
		b.WriteString("[goto] ")
	}
	for _, m := range r.Matches {
		m.M.Print(b, o.Numeric)
	}
	if r.Target != nil {
		r.Target.Print(b, o.Numeric)
	}
	b.WriteByte('\n')
}
