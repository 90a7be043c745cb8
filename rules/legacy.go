package rules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipsift/ipsift/ext"
)

// NthInfo records a rule written with the legacy "-m nth" match, which
// Linux dropped in 2.6.x and how-tos still print. ipsift reads it as the
// statistic match in nth mode, which behaves the same for one rule. The
// old match's counter was shared by every rule naming the same --counter;
// statistic keeps one counter per rule, so a group of rules sharing a
// counter needs rewriting as a whole (see TranslateNthGroups).
type NthInfo struct {
	Counter, Every, Packet int
	Pos                    Pos
}

// loadNth handles "-m nth": it loads statistic in nth mode and maps nth's
// options onto it (--every, --packet, --start); --counter is recorded for
// the group translation.
func (p *parser) loadNth(w Word) error {
	t := ext.LookupMatch("statistic", p.opts.Family)
	if t == nil {
		return errAt(w, "-m nth is the removed legacy match, and the statistic match that replaces it is not available")
	}
	inst := p.addMatch(w, t)
	if err := inst.p.Parse("mode", "nth", false, nil); err != nil {
		return errAt(w, "%v", err)
	}
	inst.see("mode")
	info := &NthInfo{Every: -1, Pos: w.Pos}
	p.r.Nth = info
	// nth's own options, consumed here before getopt sees them.
	for p.i < len(p.words) {
		o := p.words[p.i]
		name := ""
		switch o.Text {
		case "--counter", "--every", "--packet", "--start":
			name = o.Text[2:]
		default:
			goto done
		}
		if p.i+1 >= len(p.words) {
			return errAt(o, "-m nth: %s needs a number", o.Text)
		}
		val := p.words[p.i+1]
		n, err := strconv.Atoi(val.Text)
		if err != nil || n < 0 {
			return errAt(val, "-m nth: %s needs a number, not %q", o.Text, val.Text)
		}
		p.i += 2
		switch name {
		case "counter":
			info.Counter = n
		case "every":
			info.Every = n
			if err := inst.p.Parse("every", val.Text, false, nil); err != nil {
				return errAt(val, "-m nth: --every: %v", err)
			}
			inst.see("every")
		case "packet":
			info.Packet = n
			if err := inst.p.Parse("packet", val.Text, false, nil); err != nil {
				return errAt(val, "-m nth: --packet: %v", err)
			}
			inst.see("packet")
		case "start":
			return errAt(o, "-m nth --start has no equivalent in the statistic match: remove it (the counter then starts at 0)")
		}
	}
done:
	if info.Every < 0 {
		return errAt(w, "-m nth needs --every N")
	}
	if !inst.saw("packet") {
		if err := inst.p.Parse("packet", "0", false, nil); err == nil {
			inst.see("packet")
		}
	}
	p.cmd.Warnings = append(p.cmd.Warnings, &Diag{Pos: w.Pos, Severity: SevWarning, Word: "nth", Fails: true,
		Msg: fmt.Sprintf("-m nth was removed from Linux long ago and iptables refuses it; ipsift reads it as -m statistic --mode nth --every %d --packet %d (rules that shared an nth counter are rewritten together: a note shows them)", info.Every, info.Packet)})
	return nil
}

// TranslateNthGroups rewrites the rules that shared a legacy nth counter
// into statistic rules that give the same sequence. Under the old match
// the rules naming one --counter shared it, so with --every N and
// --packet 0..N-1 in N consecutive rules, the k-th new packet to reach
// them matched the rule with --packet k mod N. statistic keeps a counter
// per rule; the same sequence comes from giving the i-th of the N rules
// --every N-i --packet 0 (each takes the first of what the rules before it
// left), and the last no statistic match at all. That holds only when the
// rules follow each other in one chain, in packet order, with the same
// other matches; otherwise the group is left as read and a warning says
// what differs.
func TranslateNthGroups(rs *Ruleset) Diags {
	var diags Diags
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			groups := map[int][]int{}
			var order []int
			for i, r := range c.Rules {
				if r.Nth == nil {
					continue
				}
				if _, ok := groups[r.Nth.Counter]; !ok {
					order = append(order, r.Nth.Counter)
				}
				groups[r.Nth.Counter] = append(groups[r.Nth.Counter], i)
			}
			for _, counter := range order {
				idx := groups[counter]
				if d := translateGroup(c, idx, counter); d != nil {
					diags = append(diags, d)
				}
			}
		}
	}
	return diags
}

func translateGroup(c *Chain, idx []int, counter int) *Diag {
	first := c.Rules[idx[0]]
	n := first.Nth.Every
	if len(idx) == 1 {
		return nil // one rule: statistic nth behaves exactly like nth
	}
	why := ""
	switch {
	case len(idx) != n:
		why = fmt.Sprintf("%d rules share counter %d but --every is %d", len(idx), counter, n)
	default:
		for k, i := range idx {
			r := c.Rules[i]
			switch {
			case i != idx[0]+k:
				why = fmt.Sprintf("other rules stand between the rules sharing counter %d", counter)
			case r.Nth.Every != n:
				why = fmt.Sprintf("the rules sharing counter %d have different --every", counter)
			case r.Nth.Packet != k:
				why = fmt.Sprintf("the rules sharing counter %d are not in --packet order 0..%d", counter, n-1)
			case otherMatches(r) != otherMatches(first):
				why = fmt.Sprintf("the rules sharing counter %d differ in their other matches, so they do not see the same packets", counter)
			}
			if why != "" {
				break
			}
		}
	}
	if why != "" {
		return &Diag{Pos: first.Nth.Pos, Severity: SevWarning, Word: "nth",
			Msg: fmt.Sprintf("-m nth counter %d cannot be translated exactly: %s; each rule is read as -m statistic --mode nth with its own counter, which spreads packets differently", counter, why)}
	}
	st := ext.LookupMatch("statistic", ext.AnyFamily)
	var became []string
	for k, i := range idx {
		r := c.Rules[i]
		for mi, m := range r.Matches {
			if m.Type != st {
				continue
			}
			if k == n-1 {
				r.Matches = append(r.Matches[:mi:mi], r.Matches[mi+1:]...)
			} else {
				inst := st.New()
				for _, kv := range [][2]string{{"mode", "nth"}, {"every", strconv.Itoa(n - k)}, {"packet", "0"}} {
					if err := inst.Parse(kv[0], kv[1], false, nil); err != nil {
						return &Diag{Pos: first.Nth.Pos, Severity: SevWarning, Msg: "-m nth: " + err.Error()}
					}
				}
				if err := inst.Finish(&ext.RuleInfo{Family: ext.IPv4}); err != nil {
					return &Diag{Pos: first.Nth.Pos, Severity: SevWarning, Msg: "-m nth: " + err.Error()}
				}
				r.Matches[mi] = &MatchUse{Type: st, M: inst}
			}
			break
		}
		r.Nth = nil
		became = append(became, "-A "+c.Name+" "+r.Spec())
	}
	return &Diag{Pos: first.Pos, Severity: SevNote, Word: "nth",
		Msg: fmt.Sprintf("the %d rules sharing nth counter %d become, with statistic's per-rule counters, the same sequence:\n        %s", n, counter, strings.Join(became, "\n        "))}
}

// otherMatches is the rule's text without its statistic match and
// target, to compare what packets the rules see.
func otherMatches(r *Rule) string {
	cp := *r
	cp.Matches = nil
	for _, m := range r.Matches {
		if m.Type.Name != "statistic" {
			cp.Matches = append(cp.Matches, m)
		}
	}
	cp.Verdict, cp.Target = "", nil
	return cp.Spec()
}
