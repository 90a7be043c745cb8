package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/ipsift/ipsift/ext"
)

// Address lists: -s and -d with several comma-separated elements, each
// an address with its mask in the rule's family, one rule per pair.

// expandAddresses turns the rule into one rule per source and destination
// address, as iptables does for "-s A,B -d C,D" (sources outer).
func (p *parser) expandAddresses() error {
	if (p.r.InvSrc || p.r.InvDst) && (len(p.srcs) > 1 || len(p.dsts) > 1) {
		w := p.srcWord
		if len(p.dsts) > 1 {
			w = p.dstWord
		}
		return errAt(w, "! not allowed with multiple source or destination IP addresses: a negated list would match everything; write one rule per address")
	}
	srcs, err := p.addressList(p.srcs, p.srcWord, p.r.InvSrc, 's')
	if err != nil {
		return err
	}
	dsts, err := p.addressList(p.dsts, p.dstWord, p.r.InvDst, 'd')
	if err != nil {
		return err
	}
	if p.cmd.Rules == nil {
		p.cmd.Rules = make([]*Rule, 0, len(srcs)*len(dsts))
	}
	for _, s := range srcs {
		for _, d := range dsts {
			r := p.r
			if len(srcs)*len(dsts) > 1 {
				// Each rule its own list (p.r is not used after this).
				r.Matches = append([]*MatchUse(nil), p.r.Matches...)
			}
			r.Src, r.SrcMask = s.addr, s.mask
			r.Dst, r.DstMask = d.addr, d.mask
			p.cmd.Rules = append(p.cmd.Rules, &r)
		}
	}
	return nil
}

// addrMask is one parsed -s or -d element; the zero value is "none given".
type addrMask struct{ addr, mask netipAddr }

// noAddress is addressList's answer for an option not given (shared:
// read only).
var noAddress = []addrMask{{}}

// addressList reads the elements of an -s or -d argument (nil when the
// option was not given), each with the position it was written at.
func (p *parser) addressList(list []string, w Word, inv bool, letter byte) ([]addrMask, error) {
	if list == nil {
		return noAddress, nil
	}
	// Where the argument starts in the word that holds it: the word
	// itself ("-s A,B" as two words), or its tail ("-sA,B").
	col := w.Pos.Col
	if strings.HasSuffix(w.Text, strings.Join(list, ",")) {
		col += utf8.RuneCountInString(w.Text) - utf8.RuneCountInString(strings.Join(list, ","))
	}
	out := make([]addrMask, 0, len(list))
	for _, s := range list {
		at := Word{Text: s, Pos: w.Pos}
		if w.Pos.Col > 0 {
			at.Pos.Col = col
		}
		col += utf8.RuneCountInString(s) + 1
		a, m, err := parseAddress(s, p.opts.Family)
		if err != nil {
			if ae, ok := err.(*ext.AddrError); ok && at.Pos.Col > 0 {
				// Point at the part that is wrong: the mask, or the name.
				if i := strings.LastIndex(s, ae.Word); i > 0 {
					at.Pos.Col += utf8.RuneCountInString(s[:i])
				}
			}
			d := &Diag{Pos: at.Pos, Word: s, Msg: err.Error()}
			if looksLikePlaceholder(s) {
				d.Msg = fmt.Sprintf("%q looks like a placeholder from a how-to: put a real address here (e.g. 192.0.2.10 or 192.0.2.0/24)", s)
				d.Assume = "192.0.2.1"
			}
			return nil, d
		}
		if inv && m.IsUnspecified() && !p.opts.Legacy && !p.opts.Userspace {
			// iptables-nft turns a zero mask into no payload match at
			// all and the inversion into a comparison of nothing, which
			// the kernel refuses (RULE_APPEND failed: Invalid argument).
			return nil, &Diag{Pos: at.Pos, Word: s, Msg: fmt.Sprintf("! -%c %s matches no packet, and iptables-nft refuses it (the kernel answers Invalid argument; only iptables-legacy loads it): drop the rule, or drop the ! and the address", letter, s)}
		}
		out = append(out, addrMask{a, m})
	}
	return out, nil
}

// parseAddress reads one -s/-d element for the rule's address family.
func parseAddress(s string, f ext.Family) (addr, mask netipAddr, err error) {
	if f == ext.IPv6 {
		return ext.ParseIPv6Spec(s)
	}
	if a, m, ok := plainIPv4(s); ok {
		return a, m, nil
	}
	return ext.ParseIPv4Spec(s)
}

// plainIPv4 reads the commonest form of an IPv4 -s/-d element, four
// decimal bytes without leading zeros and an optional decimal prefix
// length without leading zeros (what iptables-save writes), as
// ext.ParseIPv4Spec reads it, without its general paths (names, octal
// and hex, dotted masks): ok is false for anything else.
func plainIPv4(s string) (addr, mask netipAddr, ok bool) {
	var a [4]byte
	i := 0
	num := func(max int) (int, bool) {
		start, v := i, 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 3 {
			v = v*10 + int(s[i]-'0')
			i++
		}
		n := i - start
		return v, n > 0 && v <= max && (n == 1 || s[start] != '0')
	}
	for k := range a {
		if k > 0 {
			if i >= len(s) || s[i] != '.' {
				return addr, mask, false
			}
			i++
		}
		v, good := num(255)
		if !good {
			return addr, mask, false
		}
		a[k] = byte(v)
	}
	bits := 32
	if i < len(s) {
		if s[i] != '/' {
			return addr, mask, false
		}
		i++
		v, good := num(32)
		if !good {
			return addr, mask, false
		}
		bits = v
	}
	if i != len(s) {
		return addr, mask, false
	}
	mask = ext.PrefixMask4(bits)
	if bits == 0 {
		return mask, mask, true // the name is ignored, as ParseIPv4Spec does
	}
	m := mask.As4()
	for k := range a {
		a[k] &= m[k]
	}
	return netip.AddrFrom4(a), mask, true
}
