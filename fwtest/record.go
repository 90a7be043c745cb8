package fwtest

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/ipsift/ipsift/packet"
)

// Record writes a spec that holds what the rules do today with descs:
// the header of s (rules, host, backend; its File only locates the
// files), then one case with every packet in order, each with its
// effect: its verdict, the packets that left, its LOG lines (each
// whole, or "log none") and its conntrack state. A refactored ruleset
// (rules reordered, chains renamed or split) is then checked against
// it. With counters, each packet's counters (rule lines) and the rule
// that decided it are recorded too: a record of the rules themselves,
// which fails when a rule moves.
func Record(w io.Writer, s *Spec, source string, descs []packet.Desc, counters bool) error {
	l, err := s.load()
	if err != nil {
		return err
	}
	sm, err := l.newSim()
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Recorded by ipsift test --record from %s with the %s backend:\n", source, s.Backend)
	fmt.Fprintf(&b, "# what these rules did with these packets.\n")
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "rules %s\n", r)
	}
	if s.Host != "" {
		fmt.Fprintf(&b, "host %s\n", s.Host)
	}
	fmt.Fprintf(&b, "backend %s\n\ncase %s\n", s.Backend, source)
	var logs bytes.Buffer
	sm.Engine.Log = &logs
	dec := &decider{}
	if counters {
		sm.State.SetTracer(dec)
	}
	for i, d := range descs {
		logs.Reset()
		dec.reset()
		res, err := sm.Run(i, d)
		if err != nil {
			return fmt.Errorf("packet %d: %v", i+1, err)
		}
		fmt.Fprintf(&b, "  packet %s\n", d.String())
		fmt.Fprintf(&b, "    verdict %s\n", res.Verdict)
		if counters {
			fmt.Fprintf(&b, "    decided %s\n", dec.decidedText(res.Verdict))
			for _, h := range res.Hits {
				fmt.Fprintf(&b, "    rule %s\n", ruleRef{Table: h.Table, Chain: h.Chain, Rule: h.Rule})
			}
		}
		n := 0
		for _, o := range res.Out {
			if !o.HostReply {
				fmt.Fprintf(&b, "    out %s\n", OutString(o))
				n++
			}
		}
		if n == 0 {
			b.WriteString("    out none\n")
		}
		lines := splitLines(logs.String())
		for _, l := range lines {
			fmt.Fprintf(&b, "    log %s\n", strings.TrimSpace(l))
		}
		if len(lines) == 0 {
			b.WriteString("    log none\n")
		}
		if st := ctName(sm.State.CTState()); !strings.HasPrefix(st, "none") {
			fmt.Fprintf(&b, "    ct %s\n", st)
		}
	}
	_, err = io.WriteString(w, b.String())
	return err
}
